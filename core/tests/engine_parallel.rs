//! Offline enhancement on several engines at once (`ParallelStream`) against one long stream,
//! with the shipped models on real speech: the same samples (to far below the 16-bit step),
//! the same length, for segments cut in `push` windows and in `finish`.

mod common;
mod ort_support;

use ort_support::require_ort;
use widen_core::config::{self, NARROW_BAND_RATE};
use widen_core::dsp::resample;
use widen_core::engine::{
    engine_config_for, process_offline, process_offline_parallel, Engine, ParallelStream,
    SegmentPlan,
};
use widen_core::model::{ModelSet, Variant};
use widen_core::runtime::SessionOptions;

/// About `seconds` of real French speech at 8 kHz (clips concatenated).
fn speech_8k(seconds: f64) -> Vec<f32> {
    let mut x = Vec::new();
    for clip in common::speech_clips("fr", 44_100) {
        let audio = widen_core::io::read(&clip).expect("read clip");
        x.extend(resample(&audio.to_mono(), 44_100, NARROW_BAND_RATE).expect("resample"));
        if x.len() as f64 >= seconds * NARROW_BAND_RATE as f64 {
            break;
        }
    }
    assert!(
        x.len() as f64 >= seconds * NARROW_BAND_RATE as f64 * 0.9,
        "too little speech"
    );
    x
}

fn engines(set: &ModelSet, n: usize) -> Vec<Engine> {
    let mut cfg = engine_config_for(set, NARROW_BAND_RATE, config::SAMPLE_RATE);
    cfg.chunk_frames = 64;
    (0..n)
        .map(|_| {
            let (g, v) = set.instantiate(&SessionOptions::default()).expect("models");
            Engine::new(cfg.clone(), Box::new(g), Some(Box::new(v)), 1 << 14).expect("engine")
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Below a 16-bit step by a wide margin.
const TOLERANCE: f32 = 1e-5;

#[test]
fn segments_match_one_long_stream() {
    require_ort();
    let x = speech_8k(24.0);
    for variant in [Variant::Quality, Variant::LowLatency] {
        let set = ModelSet::embedded(variant).expect("embedded set");
        let mut one = engines(&set, 1);
        let want = process_offline(&mut one[0], &x).expect("one stream");
        let plan = SegmentPlan::new(one[0].config()).expect("8 kHz cuts");

        // Short segments: several `push` windows, then the rest in `finish`.
        let mut s = ParallelStream::new(engines(&set, 3))
            .expect("stream")
            .with_segment_seconds(0.0);
        assert!(s.is_parallel());
        let mut got = Vec::new();
        for block in x.chunks(3000) {
            s.push(block, &mut got).expect("push");
        }
        s.finish(&mut got).expect("finish");
        assert_eq!(got.len(), want.len(), "{variant:?}");
        let d = max_diff(&got, &want);
        eprintln!(
            "{variant:?}: grid {} pre {} post {}: max diff {d:e}",
            plan.grid, plan.pre, plan.post
        );
        assert!(
            d <= TOLERANCE,
            "{variant:?}: segments differ from one stream by {d}"
        );

        // Default segments: the whole input is split in `finish`; a second stream on the same
        // engines starts clean.
        let mut s = ParallelStream::new(engines(&set, 2)).expect("stream");
        for _ in 0..2 {
            let mut got = Vec::new();
            s.push(&x, &mut got).expect("push");
            s.finish(&mut got).expect("finish");
            assert_eq!(got.len(), want.len());
            assert!(
                max_diff(&got, &want) <= TOLERANCE,
                "{variant:?}, finish split"
            );
        }

        // One engine is the plain stream, sample for sample.
        let single = process_offline_parallel(engines(&set, 1), &x).expect("single");
        assert_eq!(single, want);
        // Shorter than a segment: one stream.
        let short = &x[..plan.grid / 2];
        let mut one = engines(&set, 1);
        let want_short = process_offline(&mut one[0], short).expect("short");
        assert_eq!(
            process_offline_parallel(engines(&set, 2), short).expect("short parallel"),
            want_short
        );
    }
}

#[test]
fn no_engines_is_an_error() {
    let e = ParallelStream::new(Vec::new()).unwrap_err().to_string();
    assert!(e.contains("at least one engine"), "{e}");
}
