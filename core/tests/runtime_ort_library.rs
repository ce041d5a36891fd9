//! Library discovery failures. ONNX Runtime is loaded once per process, so this binary holds a
//! single test that walks through the failures in order and only then loads the real library.

mod ort_support;

use std::path::PathBuf;

use widen_core::runtime::{init_ort, OrtModel, RuntimeError, SessionOptions, ORT_DYLIB_ENV};

/// A shared library this process already has mapped that is not ONNX Runtime (libc, libm, ...).
fn some_other_shared_library() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libm.so") || p.contains("/libgcc_s.so"))
        .map(PathBuf::from)
        .expect("no libc/libm/libgcc_s in /proc/self/maps")
}

#[test]
fn bad_library_paths_are_errors_then_the_real_one_loads() {
    let real = ort_support::cached_library();
    let dir = tempfile::tempdir().expect("tmp");
    let model = ort_support::ConvNet::random(1).onnx();
    let spec = ort_support::ConvNet::spec();
    let opts = SessionOptions::default();

    // 1. A path that does not exist: LibraryNotFound naming the path and the set-up command.
    let missing = dir.path().join("no-such-libonnxruntime.so");
    std::env::set_var(ORT_DYLIB_ENV, &missing);
    let err = init_ort().unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryNotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("no-such-libonnxruntime.so") && msg.contains("cargo xtask setup"),
        "{msg}"
    );
    // Model loading reports the same error instead of letting ort panic.
    let err = OrtModel::from_memory(&model, "net", &spec, &opts).unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryNotFound { .. }), "{err}");

    // 2. A file that is not a shared library at all.
    let junk = dir.path().join("libonnxruntime.so");
    std::fs::write(&junk, b"definitely not ELF").expect("write");
    std::env::set_var(ORT_DYLIB_ENV, &junk);
    let err = init_ort().unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryInvalid { .. }), "{err}");
    assert!(err.to_string().contains("not an ELF"), "{err}");

    // 3. An ELF file that dlopen rejects (truncated library).
    let truncated = dir.path().join("libonnxruntime.so.1.32.0");
    let head = std::fs::read(&real).expect("read real library");
    std::fs::write(&truncated, &head[..4096]).expect("write");
    std::env::set_var(ORT_DYLIB_ENV, &truncated);
    let err = init_ort().unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryInvalid { .. }), "{err}");
    eprintln!("truncated: {err}");

    // 4. A real shared library that is not ONNX Runtime: ort reports the missing OrtGetApiBase.
    let other = some_other_shared_library();
    std::env::set_var(ORT_DYLIB_ENV, &other);
    let err = init_ort().unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryInvalid { .. }), "{err}");
    assert!(err.to_string().contains("OrtGetApiBase"), "{err}");

    // 5. Failures are not cached: the real library still loads afterwards.
    std::env::set_var(ORT_DYLIB_ENV, &real);
    assert_eq!(init_ort().expect("real library"), real);
    OrtModel::from_memory(&model, "net", &spec, &opts).expect("model loads");
    // Once loaded, the library stays: a later bad setting does not matter.
    std::env::set_var(ORT_DYLIB_ENV, &missing);
    assert_eq!(init_ort().expect("still loaded"), real);
}
