//! Making libtorch's CUDA backend available to a binary linked on a CPU-only machine.
//!
//! `libtorch_cuda.so` registers the CUDA backend in its static initialisers, but the linker
//! drops it from the binary's NEEDED list (`--as-needed`), so it is loaded by hand from the
//! folder `libtorch_cpu.so` was loaded from (never mixing two torch installs).

/// Loads `libtorch_cuda.so` beside the loaded `libtorch_cpu.so`. Returns its path, or `None`
/// on CPU-only installs (harmless: CUDA is then simply unavailable).
pub fn load_torch_cuda() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let cpu = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))?;
    let so = format!("{}/libtorch_cuda.so", &cpu[..cpu.rfind('/')?]);
    if !std::path::Path::new(&so).exists() {
        return None;
    }
    let c = std::ffi::CString::new(so.clone()).ok()?;
    // SAFETY: dlopen with a valid NUL-terminated path; the handle is intentionally leaked so
    // the library stays loaded for the life of the process.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    (!h.is_null()).then_some(so)
}

/// The tch device for `--device cpu|cuda`, with a clear error when CUDA is not usable.
pub fn device(name: &str) -> anyhow::Result<tch::Device> {
    match name {
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => {
            if tch::Cuda::is_available() {
                Ok(tch::Device::Cuda(0))
            } else {
                anyhow::bail!(
                    "--device cuda: no CUDA device usable by libtorch (libtorch_cuda.so not loaded \
                     or no NVIDIA driver); use --device cpu"
                )
            }
        }
        other => anyhow::bail!("--device must be cpu or cuda, found `{other}`"),
    }
}
