//! Speed of the resampler profiles on a minute of signal, per rate pair (best of five whole
//! `resample_with` calls, filter construction included):
//! `cargo run --release -p widen-core --example resample_speed`.

use std::time::Instant;

use widen_core::dsp::{resample_with, ResamplerProfile};

fn main() {
    for (from, to) in [
        (8000u32, 22050u32),
        (22050, 48000),
        (48000, 22050),
        (44100, 22050),
    ] {
        let n = from as usize * 60;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 0.3).collect();
        for profile in [ResamplerProfile::Quality, ResamplerProfile::LowLatency] {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t0 = Instant::now();
                let y = resample_with(&x, from, to, profile).expect("valid rates");
                std::hint::black_box(&y);
                best = best.min(t0.elapsed().as_secs_f64());
            }
            println!(
                "{from} -> {to} Hz, {profile:?}: {:.1} ms per minute ({:.0}x real time)",
                best * 1e3,
                60.0 / best
            );
        }
    }
}
