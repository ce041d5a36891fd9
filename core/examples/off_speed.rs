use std::time::Instant;
use widen_core::engine::{engine_config_for, process_offline, Engine};
use widen_core::model::{ModelSet, Variant};
use widen_core::runtime::{init_ort, Device, SessionOptions};
fn main() {
    init_ort().unwrap();
    let a = widen_core::io::read(std::path::Path::new(
        "/work/main/target/bench/input/speech-60s.wav",
    ))
    .unwrap();
    let x = a.to_mono();
    let threads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    for v in [Variant::LowLatency] {
        let set = ModelSet::embedded(v).unwrap();
        let mut cfg = engine_config_for(&set, 8000, 22050);
        cfg.chunk_frames = 512;
        let (g, voc) = set
            .instantiate(&SessionOptions {
                device: Device::Cpu,
                intra_op_threads: threads,
            })
            .unwrap();
        let mut e = Engine::new(cfg, Box::new(g), Some(Box::new(voc)), 1 << 16).unwrap();
        process_offline(&mut e, &x[..16000]).unwrap();
        let mut best = f64::MAX;
        for _ in 0..5 {
            e.clear_stage_times();
            let t0 = Instant::now();
            let y = process_offline(&mut e, &x).unwrap();
            std::hint::black_box(&y);
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let t = e.stage_times();
        println!(
            "{v:?} {threads}t: {:.1} ms ({:.0}x); last run stages: {:?}",
            best * 1e3,
            60.0 / best,
            t
        );
    }
}
