//! Puts libtorch's folder into the binary's RUNPATH, so `widen-train` runs without
//! LD_LIBRARY_PATH; `TORCH_EXTRA_RPATH` adds folders tried after it (a GPU machine's torch).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=TORCH_EXTRA_RPATH");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{lib}");
    }
    let extra = std::env::var("TORCH_EXTRA_RPATH").unwrap_or_default();
    for d in extra.split(':').filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{d}");
    }
}
