//! Shared helpers of the plugin host tests (CLAP and VST3): where the bundles are, real
//! band-limited speech, delay and high-band measurements.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use widen_core::dsp::resample;

/// Workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `target/bundle` (or `$WIDEN_PLUGIN_BUNDLE`): fails with the command to run when missing.
pub fn bundle_dir() -> PathBuf {
    let dir = std::env::var_os("WIDEN_PLUGIN_BUNDLE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("bundle")))
        .unwrap_or_else(|| root().join("target/bundle"));
    for f in [
        "widen.clap",
        "widen.vst3/Contents/x86_64-linux/widen.so",
        "libonnxruntime.so",
    ] {
        assert!(
            dir.join(f).is_file(),
            "plugin bundle file {} is missing: run `cargo xtask bundle` (or `cargo xtask test`) first",
            dir.join(f).display()
        );
    }
    dir
}

/// Makes this test process load the same ONNX Runtime file as the plugin (one copy per process).
pub fn use_bundle_ort() {
    widen_core::runtime::prefer_library_dir(bundle_dir());
}

fn testdata() -> PathBuf {
    std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/testdata"))
}

/// About `seconds` of real speech (French ktuberling words, concatenated), made narrow-band by
/// resampling to 8 kHz, at `rate`.
pub fn band_limited_speech(rate: u32, seconds: f64) -> Vec<f32> {
    let dir = testdata().join("ktuberling/fr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "test speech {} missing ({e}): run scripts/setup-tests.sh",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    // Each word to 8 kHz (whatever its recorded rate), concatenated, then up to `rate`.
    let want = (seconds * 8_000.0) as usize;
    let mut nb = Vec::with_capacity(want);
    for f in files {
        let mut r = hound::WavReader::open(&f).unwrap();
        let spec = r.spec();
        assert_eq!(spec.channels, 1, "{}", f.display());
        let x: Vec<f32> = r
            .samples::<i16>()
            .map(|s| s.unwrap() as f32 / 32768.0)
            .collect();
        nb.extend(resample(&x, spec.sample_rate, 8_000).unwrap());
        if nb.len() >= want {
            break;
        }
    }
    nb.truncate(want);
    resample(&nb, 8_000, rate).unwrap()
}

/// A band-limited click (1 kHz Gaussian burst, 2 ms) centred at `at`, `len` samples long.
pub fn burst(rate: u32, len: usize, at: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f64 - at as f64;
            let w = (-(t / (rate as f64 * 0.002)).powi(2)).exp();
            (0.5 * w * (2.0 * std::f64::consts::PI * 1000.0 * t / rate as f64).cos()) as f32
        })
        .collect()
}

/// The lag (0..=max_lag) at which `y` best matches the window `x[from..to]`
/// (normalised cross-correlation).
pub fn best_lag(x: &[f32], y: &[f32], from: usize, to: usize, max_lag: usize) -> usize {
    let seg = &x[from..to];
    let mut best = (f64::MIN, 0);
    for lag in 0..=max_lag {
        let Some(ys) = y.get(from + lag..to + lag) else {
            break;
        };
        let (mut c, mut e) = (0.0f64, 1e-30f64);
        for (&a, &b) in seg.iter().zip(ys) {
            c += a as f64 * b as f64;
            e += b as f64 * b as f64;
        }
        let score = c / e.sqrt();
        if score > best.0 {
            best = (score, lag);
        }
    }
    best.1
}

/// Energy above the 8 kHz round trip's band edge (~4 kHz): `x` minus its band-limited copy.
pub fn high_band_energy(x: &[f32], rate: u32) -> f64 {
    let nb = resample(&resample(x, rate, 8_000).unwrap(), 8_000, rate).unwrap();
    x.iter()
        .zip(&nb)
        .map(|(&a, &b)| ((a - b) as f64).powi(2))
        .sum()
}

/// Block sizes cycling through `sizes` until `total` samples are covered.
pub fn blocks(total: usize, sizes: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let n = sizes[i % sizes.len()].min(left);
        out.push(n);
        left -= n;
        i += 1;
    }
    out
}
