//! Finding and loading `libonnxruntime.so` once per process.
//!
//! ort's own fallback (any ort call before `ort::init_from`) dlopens `ORT_DYLIB_PATH` or
//! `libonnxruntime.so` and *panics* when that fails; `ort::init_from` instead returns a
//! `Result`. So every path into ort goes through [`init_ort`] first, which always calls
//! `init_from` with an absolute path that it has checked.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::RuntimeError;

/// Environment variable naming the library file explicitly (the name ort also uses).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// File name searched for; `libonnxruntime.so.1.*` is accepted too.
const LIB_NAME: &str = "libonnxruntime.so";

/// Cache folder (below the workspace root) that `scripts/setup-ort.sh` fills.
const CACHE_DIR: &str = ".cache/onnxruntime";

pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) env: ort::environment::Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
/// Folders searched before the default ones (see [`prefer_library_dir`]).
static PREFERRED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
// Serialises attempts; a failed attempt leaves LOADED empty so a later call may retry.
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime (once per process; later calls return the same path) and returns the
/// library's path.
///
/// Search order: `ORT_DYLIB_PATH` if set (then nothing else is tried); the folders given to
/// [`prefer_library_dir`]; `libonnxruntime.so*`
/// beside the current executable or in its `../lib`; `.cache/onnxruntime/` in any folder above
/// the executable or above the current directory.
pub fn init_ort() -> Result<PathBuf, RuntimeError> {
    environment().map(|l| l.path.clone())
}

pub(crate) fn environment() -> Result<&'static Loaded, RuntimeError> {
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded);
    }
    // A panic elsewhere while holding the lock leaves nothing half-done worth refusing over.
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded);
    }
    let path = locate()?;
    check_shared_library(&path)?;
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::LibraryInvalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("widen")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::LibraryInvalid {
            path: path.clone(),
            reason: format!("creating the ONNX Runtime environment failed: {e}"),
        })?;
    Ok(LOADED.get_or_init(|| Loaded { path, env }))
}

/// Searches `dir` for the library before the default folders (when `ORT_DYLIB_PATH` is unset).
///
/// For code that is not the executable, e.g. an audio plugin, whose copy of the library lies
/// beside the plugin's own shared object rather than beside the host program. Call it before
/// [`init_ort`]; it has no effect once the library is loaded.
pub fn prefer_library_dir(dir: impl Into<PathBuf>) {
    let dir = dir.into();
    let mut dirs = PREFERRED.lock().unwrap_or_else(|p| p.into_inner());
    if !dirs.contains(&dir) {
        dirs.push(dir);
    }
}

/// The folders searched for the library when `ORT_DYLIB_PATH` is unset, in order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut dirs = PREFERRED
        .lock()
        .map(|d| d.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    if let Some(dir) = &exe_dir {
        dirs.push(dir.clone());
        if let Some(parent) = dir.parent() {
            dirs.push(parent.join("lib"));
        }
    }
    let cwd = std::env::current_dir().ok();
    for start in exe_dir.iter().chain(cwd.iter()) {
        for anc in start.ancestors() {
            let cache = anc.join(CACHE_DIR);
            if !dirs.contains(&cache) {
                dirs.push(cache);
            }
        }
    }
    dirs
}

fn locate() -> Result<PathBuf, RuntimeError> {
    if let Some(value) = std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        let path = absolute(PathBuf::from(value));
        if path.is_file() {
            return Ok(path);
        }
        return Err(RuntimeError::LibraryNotFound {
            searched: format!("{ORT_DYLIB_ENV}={} (no such file)", path.display()),
            env: ORT_DYLIB_ENV,
        });
    }
    let dirs = library_candidates();
    for dir in &dirs {
        if let Some(found) = find_in_dir(dir) {
            return Ok(absolute(found));
        }
    }
    let searched = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(RuntimeError::LibraryNotFound {
        searched: format!("{ORT_DYLIB_ENV} (unset), {searched}"),
        env: ORT_DYLIB_ENV,
    })
}

fn absolute(path: PathBuf) -> PathBuf {
    // ort resolves relative paths against the executable's folder; pin it to what we checked.
    if path.is_absolute() {
        return path;
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&path))
        .unwrap_or(path)
}

/// `libonnxruntime.so` in `dir`, else the highest-versioned `libonnxruntime.so.1.*`.
fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(LIB_NAME);
    if plain.is_file() {
        return Some(plain);
    }
    let prefix = format!("{LIB_NAME}.");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version: Vec<u32> = name
                .strip_prefix(&prefix)?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<_>>()?;
            let path = e.path();
            (version.first() == Some(&1) && path.is_file()).then_some((version, path))
        })
        .max()
        .map(|(_, path)| path)
}

/// Refuses files that cannot be a shared library before handing them to the dynamic loader.
///
/// Beyond the magic number this checks that the file holds every byte its ELF headers promise:
/// the loader maps segments past the end of a truncated file (an interrupted download) and the
/// process then dies of SIGBUS inside `dlopen`, which no `Result` can catch.
fn check_shared_library(path: &Path) -> Result<(), RuntimeError> {
    let invalid = |reason: String| RuntimeError::LibraryInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot open: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| invalid(format!("cannot stat: {e}")))?
        .len();
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|e| invalid(format!("cannot read its header ({len} bytes long): {e}")))?;
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    if magic != *b"\x7fELF" {
        return Err(invalid(format!(
            "not an ELF shared library (starts with {magic:02x?}, expected [7f, 45, 4c, 46])"
        )));
    }
    check_elf_extent(&mut file, len).map_err(invalid)
}

/// ELF header field reader for the native byte order (the only one `dlopen` accepts).
fn ne_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(v)
}

fn ne_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn ne_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks class, type and that program headers, loadable segments and section headers lie inside
/// the file (64-bit ELF only; other targets are left to the loader).
fn check_elf_extent(file: &mut std::fs::File, len: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    if !cfg!(target_pointer_width = "64") {
        return Ok(());
    }
    let mut h = [0u8; 64];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut h))
        .map_err(|_| format!("truncated ELF header (file is {len} bytes, header needs 64)"))?;
    if h[4] != 2 {
        return Err(format!("ELF class {} (expected 2, 64-bit)", h[4]));
    }
    let native = if cfg!(target_endian = "little") { 1 } else { 2 };
    if h[5] != native {
        return Err(format!("ELF data encoding {} (expected {native})", h[5]));
    }
    let e_type = ne_u16(&h, 16);
    if e_type != 3 {
        return Err(format!("ELF type {e_type} (expected 3, a shared object)"));
    }
    let (phoff, phentsize, phnum) = (ne_u64(&h, 32), ne_u16(&h, 54), ne_u16(&h, 56));
    let (shoff, shentsize, shnum) = (ne_u64(&h, 40), ne_u16(&h, 58), ne_u16(&h, 60));
    let truncated = |what: &str, end: u64| {
        format!("truncated: {what} ends at byte {end} but the file has {len} bytes")
    };
    let ph_end = phoff.saturating_add(u64::from(phentsize) * u64::from(phnum));
    if ph_end > len || phentsize < 56 {
        return Err(truncated("the program header table", ph_end));
    }
    let mut ph = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    file.seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut ph))
        .map_err(|e| format!("cannot read program headers: {e}"))?;
    for entry in ph.chunks_exact(usize::from(phentsize)) {
        const PT_LOAD: u32 = 1;
        if ne_u32(entry, 0) == PT_LOAD {
            let end = ne_u64(entry, 8).saturating_add(ne_u64(entry, 32));
            if end > len {
                return Err(truncated("a loadable segment", end));
            }
        }
    }
    if shoff != 0 {
        let sh_end = shoff.saturating_add(u64::from(shentsize) * u64::from(shnum));
        if sh_end > len {
            return Err(truncated("the section header table", sh_end));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_include_exe_dir_and_project_cache() {
        let dirs = library_candidates();
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf));
        assert_eq!(dirs.first(), exe_dir.as_ref());
        let root_cache = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|r| r.join(CACHE_DIR));
        assert!(
            root_cache.as_ref().is_some_and(|c| dirs.contains(c)),
            "{dirs:?}"
        );
    }

    #[test]
    fn non_elf_files_are_refused_before_dlopen() {
        let dir = std::env::temp_dir().join(format!("widen-ort-lib-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("libonnxruntime.so");
        std::fs::write(&fake, b"this is not a library").unwrap();
        let err = check_shared_library(&fake).unwrap_err();
        assert!(matches!(err, RuntimeError::LibraryInvalid { .. }), "{err}");
        assert!(err.to_string().contains("not an ELF"), "{err}");
        assert!(err.to_string().contains("cargo xtask setup"), "{err}");
        assert_eq!(find_in_dir(&dir), Some(fake.clone()));

        std::fs::remove_file(&fake).unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.9.0"), b"x").unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.32.0"), b"x").unwrap();
        std::fs::write(dir.join("libonnxruntime_providers_shared.so"), b"x").unwrap();
        assert_eq!(
            find_in_dir(&dir),
            Some(dir.join("libonnxruntime.so.1.32.0"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(find_in_dir(&dir), None);
    }

    #[test]
    fn truncated_and_non_library_elf_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("widen-ort-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A real shared object this process has mapped passes, and fails once truncated.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let lib = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| p.contains("/libc.so"))
            .map(PathBuf::from)
            .unwrap();
        check_shared_library(&lib).unwrap();
        let bytes = std::fs::read(&lib).unwrap();
        for cut in [10, 100, 4096, bytes.len() / 2, bytes.len() - 1] {
            let t = dir.join(format!("cut{cut}.so"));
            std::fs::write(&t, &bytes[..cut]).unwrap();
            let err = check_shared_library(&t).unwrap_err().to_string();
            assert!(err.contains("truncated"), "cut {cut}: {err}");
        }
        // The same bytes marked as an executable (ET_EXEC) or a 32-bit file.
        let mut exec = bytes.clone();
        exec[16..18].copy_from_slice(&2u16.to_ne_bytes());
        let t = dir.join("exec.so");
        std::fs::write(&t, &exec).unwrap();
        let err = check_shared_library(&t).unwrap_err().to_string();
        assert!(err.contains("expected 3, a shared object"), "{err}");
        let mut class32 = bytes;
        class32[4] = 1;
        std::fs::write(&t, &class32).unwrap();
        let err = check_shared_library(&t).unwrap_err().to_string();
        assert!(err.contains("64-bit"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
