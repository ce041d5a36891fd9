//! DSP throughput on 10 minutes of audio.
//!
//! Run: `taskset -c 0 cargo bench -p widen-core --bench dsp` (one core, 10 samples each).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use widen_core::config::{MelConfig, NARROW_BAND_RATE, SAMPLE_RATE};
use widen_core::dsp::{resample, LogMel};

const SECONDS: usize = 600;

/// Speech-like test signal: low-passed noise under a 4 Hz "syllable" envelope.
fn speech_like(rate: u32, seconds: usize) -> Vec<f32> {
    let n = rate as usize * seconds;
    let mut state = 1u32;
    let mut lp = 0.0f32;
    (0..n)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let white = (state >> 8) as f32 / 16_777_216.0 - 0.5;
            lp += 0.2 * (white - lp);
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin();
            lp * env
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let wide = speech_like(SAMPLE_RATE, SECONDS);
    let log_mel = LogMel::new(MelConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("stft_logmel_10min", |b| {
        b.iter(|| black_box(log_mel.compute(black_box(&wide))))
    });

    let narrow = speech_like(NARROW_BAND_RATE, SECONDS);
    c.bench_function("resample_8k_to_22k_10min", |b| {
        b.iter(|| {
            black_box(
                resample(black_box(&narrow), NARROW_BAND_RATE, SAMPLE_RATE)
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
    });
}

criterion_group! {
    name = dsp;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(dsp);
