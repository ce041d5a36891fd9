//! `OrtModel` on real ONNX Runtime (the library `cargo xtask setup` caches in .cache/onnxruntime/):
//! tiny random-weight models written with widen-onnx must match a pure-Rust evaluation of the same
//! graph, and every way of getting a model wrong must be a typed error.

mod ort_support;

use ort_support::*;
use widen_core::runtime::{
    init_ort, Device, IoSpec, ModelRuntime, OrtModel, RuntimeError, SessionOptions,
};

const TOL: f64 = 1e-5;

fn cpu() -> SessionOptions {
    SessionOptions::default()
}

fn run_one(model: &mut OrtModel, x: &[f32], ch: usize, frames: usize) -> Vec<Vec<f32>> {
    let mut outs = vec![Vec::new(); model.output_names().len()];
    model.run(x, ch, frames, &mut outs).expect("run");
    outs
}

#[test]
fn conv_net_matches_reference_and_memory_equals_file() {
    require_ort();
    let net = ConvNet::random(1);
    let bytes = net.onnx();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("convnet.onnx");
    std::fs::write(&path, &bytes).expect("write");

    let mut from_file = OrtModel::from_file(&path, &ConvNet::spec(), &cpu()).expect("load file");
    let mut from_mem = OrtModel::from_memory(&bytes, "convnet (memory)", &ConvNet::spec(), &cpu())
        .expect("load mem");
    assert_eq!(from_file.input_name(), "mel_lr");
    assert_eq!(from_file.output_names(), ["mel_hr"]);
    assert_eq!(from_file.output_channels(), [80]);

    for frames in [1, 7, 64, 200] {
        let x = signal(frames as u64, 80, frames);
        let a = run_one(&mut from_file, &x, 80, frames);
        let b = run_one(&mut from_mem, &x, 80, frames);
        assert_eq!(a, b, "file and memory sessions differ at {frames} frames");
        let err = max_err(&a[0], &net.reference(&x, frames));
        eprintln!("convnet, {frames} frames: max error {err:.2e}");
        assert!(err < TOL, "frames {frames}: max error {err:e}");
    }
}

#[test]
fn vocos_head_matches_reference_with_outputs_mapped_by_name() {
    require_ort();
    let head = VocosHead::random(2);
    let mut model = OrtModel::from_memory(&head.onnx(), "vocos head", &VocosHead::spec(), &cpu())
        .expect("load");
    assert_eq!(model.output_names(), ["mag", "cos", "sin"]);
    assert_eq!(model.output_channels(), [513, 513, 513]);
    let frames = 50;
    let x = signal(3, 80, frames);
    let outs = run_one(&mut model, &x, 80, frames);
    let refs = head.reference(&x, frames);
    for (name, (o, r)) in ["mag", "cos", "sin"].iter().zip(outs.iter().zip(&refs)) {
        assert_eq!(o.len(), 513 * frames, "{name}");
        let err = max_err(o, r);
        eprintln!("vocos head `{name}`: max error {err:.2e}");
        assert!(err < TOL, "{name}: max error {err:e}");
    }
    // The clip must be active on both sides for the test to mean something.
    let (lo, hi) = (head.clip.0.exp(), head.clip.1.exp());
    assert!(
        outs[0].iter().any(|&m| (m - lo).abs() < 1e-6),
        "no value clipped low"
    );
    assert!(
        outs[0].iter().any(|&m| (m - hi).abs() < 1e-4),
        "no value clipped high"
    );
}

#[test]
fn convnext_block_matches_reference() {
    require_ort();
    let block = NextBlock::random(4);
    let mut model = OrtModel::from_memory(&block.onnx(), "next block", &NextBlock::spec(), &cpu())
        .expect("load");
    for frames in [1, 9, 120] {
        let x = signal(5 + frames as u64, 16, frames);
        let outs = run_one(&mut model, &x, 16, frames);
        let err = max_err(&outs[0], &block.reference(&x, frames));
        eprintln!("next block, {frames} frames: max error {err:.2e}");
        assert!(err < TOL, "frames {frames}: max error {err:e}");
    }
}

#[test]
fn more_threads_give_the_same_result() {
    require_ort();
    let head = VocosHead::random(2);
    let bytes = head.onnx();
    let x = signal(9, 80, 100);
    let mut one =
        OrtModel::from_memory(&bytes, "1 thread", &VocosHead::spec(), &cpu()).expect("load");
    let opts = SessionOptions {
        intra_op_threads: 2,
        ..cpu()
    };
    let mut two =
        OrtModel::from_memory(&bytes, "2 threads", &VocosHead::spec(), &opts).expect("load");
    let a = run_one(&mut one, &x, 80, 100);
    let b = run_one(&mut two, &x, 80, 100);
    for (a, b) in a.iter().zip(&b) {
        assert!(max_err(a, b) < TOL);
    }
}

#[test]
fn repeated_runs_reuse_output_buffers() {
    require_ort();
    let head = VocosHead::random(2);
    let mut model =
        OrtModel::from_memory(&head.onnx(), "head", &VocosHead::spec(), &cpu()).expect("load");
    let frames = 32;
    let x = signal(6, 80, frames);
    let mut outs = vec![Vec::new(); 3];
    model.run(&x, 80, frames, &mut outs).expect("run");
    let before: Vec<(usize, *const f32)> =
        outs.iter().map(|v| (v.capacity(), v.as_ptr())).collect();
    let first = outs.clone();
    for _ in 0..5 {
        model.run(&x, 80, frames, &mut outs).expect("run");
        let now: Vec<(usize, *const f32)> =
            outs.iter().map(|v| (v.capacity(), v.as_ptr())).collect();
        assert_eq!(now, before, "output Vecs were reallocated");
        assert_eq!(outs, first, "same input, different output");
    }
    // Fewer frames fit in the same buffers too.
    let x8 = signal(7, 80, 8);
    model.run(&x8, 80, 8, &mut outs).expect("run 8");
    assert!(outs.iter().all(|v| v.len() == 513 * 8));
    let now: Vec<(usize, *const f32)> = outs.iter().map(|v| (v.capacity(), v.as_ptr())).collect();
    assert_eq!(now, before, "shrinking reallocated");
}

#[test]
fn wrong_input_name_is_a_typed_error() {
    require_ort();
    let spec = IoSpec::new(("mel", 80), &[("mel_hr", 80)]);
    let err = OrtModel::from_memory(&ConvNet::random(1).onnx(), "net", &spec, &cpu()).unwrap_err();
    match &err {
        RuntimeError::Mismatch {
            model,
            field,
            expected,
            actual,
        } => {
            assert_eq!(model, "net");
            assert_eq!(field, "inputs");
            assert!(
                expected.contains("mel") && actual.contains("mel_lr"),
                "{err}"
            );
        }
        other => panic!("expected Mismatch, got {other}"),
    }
}

#[test]
fn wrong_channel_counts_are_typed_errors() {
    require_ort();
    let bytes = ConvNet::random(1).onnx();
    let spec = IoSpec::new(("mel_lr", 64), &[("mel_hr", 80)]);
    let err = OrtModel::from_memory(&bytes, "net", &spec, &cpu()).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Mismatch { field, expected, actual, .. }
            if field == "input `mel_lr` channels (dim 1)" && expected == "64" && actual == "80"),
        "{err}"
    );
    let spec = IoSpec::new(("mel_lr", 80), &[("mel_hr", 81)]);
    let err = OrtModel::from_memory(&bytes, "net", &spec, &cpu()).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Mismatch { field, expected, actual, .. }
            if field == "output `mel_hr` channels (dim 1)" && expected == "81" && actual == "80"),
        "{err}"
    );
    let spec = IoSpec::new(("mel", 80), &[("mag", 513), ("cos", 513)]);
    let err =
        OrtModel::from_memory(&VocosHead::random(2).onnx(), "head", &spec, &cpu()).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Mismatch { field, actual, .. } if field == "outputs" && actual.contains("sin")),
        "{err}"
    );
    assert!(err.to_string().contains("expected"), "{err}");
}

#[test]
fn symbolic_channel_dim_is_rejected() {
    require_ort();
    let mut b = widen_onnx::GraphBuilder::new("sym");
    let x = b.input("mel_lr", &["B".into(), "C".into(), "T".into()]);
    let y = b.unary("Relu", &x);
    b.output_from(&y, "mel_hr", &["B".into(), "C".into(), "T".into()]);
    let bytes = widen_onnx::encode(&b.build().expect("graph"));
    let err = OrtModel::from_memory(&bytes, "sym", &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Mismatch { actual, .. } if actual == "symbolic `C`"),
        "{err}"
    );
}

#[test]
fn corrupt_and_missing_models_are_errors() {
    require_ort();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = OrtModel::from_memory(&garbage, "garbage", &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(matches!(err, RuntimeError::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("garbage"), "{err}");

    let bytes = ConvNet::random(1).onnx();
    let truncated = &bytes[..bytes.len() / 2];
    let err = OrtModel::from_memory(truncated, "truncated", &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(matches!(err, RuntimeError::ModelLoad { .. }), "{err}");

    let err = OrtModel::from_memory(&[], "empty", &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(matches!(err, RuntimeError::ModelLoad { .. }), "{err}");

    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nope.onnx");
    let err = OrtModel::from_file(&missing, &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(matches!(err, RuntimeError::ModelRead { .. }), "{err}");
    assert!(err.to_string().contains("nope.onnx"), "{err}");

    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, &garbage).expect("write");
    let err = OrtModel::from_file(&bad, &ConvNet::spec(), &cpu()).unwrap_err();
    assert!(matches!(err, RuntimeError::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("bad.onnx"), "{err}");
}

#[test]
fn inconsistent_run_arguments_are_errors() {
    require_ort();
    let mut model =
        OrtModel::from_memory(&ConvNet::random(1).onnx(), "net", &ConvNet::spec(), &cpu())
            .expect("load");
    let x = signal(1, 80, 10);
    let mut outs = vec![Vec::new()];
    let field = |r: Result<(), RuntimeError>| match r {
        Err(RuntimeError::BadCall { field, .. }) => field,
        other => panic!("expected BadCall, got {other:?}"),
    };
    assert_eq!(field(model.run(&x, 40, 20, &mut outs)), "channels");
    assert_eq!(field(model.run(&x, 80, 9, &mut outs)), "input length");
    assert_eq!(field(model.run(&[], 80, 0, &mut outs)), "frames");
    assert_eq!(
        field(model.run(&x, 80, 10, &mut [])),
        "number of output buffers"
    );
    model
        .run(&x, 80, 10, &mut outs)
        .expect("valid call still works");
}

#[test]
fn zero_threads_are_refused() {
    require_ort();
    let opts = SessionOptions {
        intra_op_threads: 0,
        ..cpu()
    };
    let err = OrtModel::from_memory(&ConvNet::random(1).onnx(), "net", &ConvNet::spec(), &opts)
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Session { .. }), "{err}");
}

#[test]
fn cuda_with_the_cpu_library_is_an_error_not_a_crash() {
    require_ort();
    let opts = SessionOptions {
        device: Device::Cuda,
        ..cpu()
    };
    let err = OrtModel::from_memory(&ConvNet::random(1).onnx(), "net", &ConvNet::spec(), &opts)
        .unwrap_err();
    assert!(matches!(err, RuntimeError::CudaUnavailable(_)), "{err}");
    eprintln!("{err}");
}

#[test]
fn init_is_idempotent_across_threads() {
    let first = require_ort();
    let handles: Vec<_> = (0..8).map(|_| std::thread::spawn(init_ort)).collect();
    for h in handles {
        assert_eq!(h.join().expect("thread").expect("init"), first);
    }
    assert!(first.is_absolute(), "{}", first.display());
}

#[test]
fn model_runtime_is_object_safe_and_send() {
    require_ort();
    let model = OrtModel::from_memory(&ConvNet::random(1).onnx(), "net", &ConvNet::spec(), &cpu())
        .expect("load");
    let mut boxed: Box<dyn ModelRuntime> = Box::new(model);
    let x = signal(2, 80, 5);
    let out = std::thread::spawn(move || {
        let mut outs = vec![Vec::new()];
        boxed.run(&x, 80, 5, &mut outs).map(|_| outs)
    })
    .join()
    .expect("thread")
    .expect("run");
    assert_eq!(out[0].len(), 400);
}
