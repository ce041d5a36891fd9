//! Shared helpers of the widen-core integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The real-speech test data: `$WIDEN_TESTDATA`, else `<workspace root>/.cache/testdata`.
/// Missing data fails the test (never a silent skip).
pub fn testdata_dir() -> PathBuf {
    let dir = match std::env::var_os("WIDEN_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("core/ has a parent")
            .join(".cache")
            .join("testdata"),
    };
    assert!(
        dir.join("ktuberling").is_dir(),
        "test data not found at {} (set WIDEN_TESTDATA or run scripts/setup-tests.sh)",
        dir.display()
    );
    dir
}

/// Sorted `*.wav` files of `ktuberling/<lang>` whose sample rate is `rate`.
pub fn speech_clips(lang: &str, rate: u32) -> Vec<PathBuf> {
    let dir = testdata_dir().join("ktuberling").join(lang);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .filter(|p| widen_core::io::probe(p).is_ok_and(|i| i.sample_rate == rate))
        .collect();
    files.sort();
    files
}

/// Blackman-windowed sinc low-pass (`taps` odd, unity DC gain), applied as a centred
/// (zero-delay) FIR.
pub fn lowpass(x: &[f32], cutoff_hz: f64, fs: f64, taps: usize) -> Vec<f32> {
    let fc = cutoff_hz / fs;
    let m = (taps - 1) as f64;
    let pi = std::f64::consts::PI;
    let mut h: Vec<f64> = (0..taps)
        .map(|j| {
            let t = j as f64 - m / 2.0;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * pi * fc * t).sin() / (pi * t)
            };
            let a = 2.0 * pi * j as f64 / m;
            sinc * (0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos())
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    let half = taps / 2;
    let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    (0..x.len())
        .map(|i| {
            // y[i] = sum_j h[j] x[i + half - j]
            let lo = (i + half + 1).saturating_sub(x.len());
            let hi = (i + half).min(taps - 1);
            (lo..=hi).map(|j| h[j] * xf[i + half - j]).sum::<f64>() as f32
        })
        .collect()
}
