//! Where this plugin's shared object lies, so that the ONNX Runtime library shipped beside it
//! is found wherever the user copied the bundle (hosts do not set `ORT_DYLIB_PATH`).
//!
//! Reads `/proc/self/maps` for the mapping that contains one of this library's own functions
//! (the same answer `dladdr` gives, without unsafe code).

use std::path::PathBuf;

/// A function of this library whose address identifies its mapping.
#[inline(never)]
fn marker() -> usize {
    marker as *const () as usize
}

/// The path of the loaded plugin binary (`None` when `/proc` is unavailable).
pub fn plugin_binary() -> Option<PathBuf> {
    let addr = marker();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        // "start-end perms offset dev inode path"
        let mut fields = line.split_whitespace();
        let range = fields.next()?;
        let (lo, hi) = range.split_once('-')?;
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).ok()?,
            usize::from_str_radix(hi, 16).ok()?,
        );
        if (lo..hi).contains(&addr) {
            let path = fields.nth(4)?;
            return path.starts_with('/').then(|| PathBuf::from(path));
        }
    }
    None
}

/// Tells the runtime to look for `libonnxruntime.so` beside the plugin binary first. Called
/// once when the host loads the plugin (its entry's `init`).
pub fn prefer_ort_beside_plugin() {
    if let Some(dir) = plugin_binary().and_then(|p| p.parent().map(PathBuf::from)) {
        widen_core::runtime::prefer_library_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_binary_containing_this_code() {
        let p = super::plugin_binary().expect("a mapped file");
        assert!(p.is_file(), "{}", p.display());
    }
}
