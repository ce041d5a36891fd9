//! ONNX Runtime threading: `intra_op_threads = 1` must run inference on the calling thread only
//! (no pool threads that could spin), and `n` threads must add exactly `n - 1` pool threads.
//! One test in its own binary so no other test's threads disturb the count.

mod ort_support;

use ort_support::*;
use widen_core::runtime::{ModelRuntime, OrtModel, SessionOptions};

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: line")
}

#[test]
fn thread_pools_match_intra_op_threads() {
    require_ort();
    let head = VocosHead::random(2);
    let bytes = head.onnx();
    let x = signal(1, 80, 200);
    let mut outs = vec![Vec::new(); 3];
    let base = threads();

    let mut one = OrtModel::from_memory(
        &bytes,
        "1 thread",
        &VocosHead::spec(),
        &SessionOptions::default(),
    )
    .expect("load");
    for _ in 0..3 {
        one.run(&x, 80, 200, &mut outs).expect("run");
    }
    assert_eq!(
        threads(),
        base,
        "intra_op_threads = 1 started extra threads"
    );

    let opts = SessionOptions {
        intra_op_threads: 3,
        ..SessionOptions::default()
    };
    let mut three =
        OrtModel::from_memory(&bytes, "3 threads", &VocosHead::spec(), &opts).expect("load");
    three.run(&x, 80, 200, &mut outs).expect("run");
    assert_eq!(
        threads(),
        base + 2,
        "intra_op_threads = 3 should add 2 pool threads"
    );
    drop(three);
    drop(one);
}
