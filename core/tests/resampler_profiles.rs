//! The two resampler filters (`ResamplerProfile`) against a numpy design of the same
//! windowed sincs (fixture: core/tests/fixtures/resampler_profiles.json, made by
//! scripts/fixtures/resampler_profiles.py).
//!
//! Each case plays a one-second tone through `resample_with` and measures, with a Hann-windowed
//! DFT over the middle half of the output, the amplitude at the tone's own frequency or at the
//! alias/image it leaves. Tolerances (stated, not tuned to pass): rubato interpolates a table of
//! the sinc linearly and runs in f32, so where the reference gain is above -40 dB the measured
//! gain must agree within 0.02 dB; below that (stop band, deep transition band) it must be no
//! more than 6 dB above the reference or below -110 dB (the f32 pipeline's floor).

use std::f64::consts::PI;
use std::path::Path;

use serde_json::Value;
use widen_core::dsp::{resample_with, ResamplerProfile};

const CLOSE_ABOVE_DB: f64 = -40.0;
const CLOSE_TOL_DB: f64 = 0.02;
const STOP_MARGIN_DB: f64 = 6.0;
const FLOOR_DB: f64 = -110.0;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resampler_profiles.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with scripts/fixtures/resampler_profiles.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn profile(v: &Value) -> ResamplerProfile {
    serde_json::from_value(v.clone()).expect("profile name")
}

/// Amplitude of the component at `f` Hz in `y` (rate `fs`), Hann-windowed over the middle half.
fn amplitude_at(y: &[f32], f: f64, fs: f64) -> f64 {
    let (a, b) = (y.len() / 4, 3 * y.len() / 4);
    let n = (b - a) as f64;
    let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
    for (i, &v) in y[a..b].iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos();
        let ph = 2.0 * PI * f * (a + i) as f64 / fs;
        re += w * v as f64 * ph.cos();
        im += w * v as f64 * ph.sin();
        wsum += w;
    }
    2.0 * re.hypot(im) / wsum
}

#[test]
fn tone_and_alias_gains_match_numpy_design() {
    let doc = fixture();
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 50, "fixture has {} cases", cases.len());
    let mut worst_close = 0.0f64;
    for c in cases {
        let p = profile(&c["profile"]);
        let from = c["from_hz"].as_u64().expect("from_hz") as u32;
        let to = c["to_hz"].as_u64().expect("to_hz") as u32;
        let tone = c["tone_hz"].as_f64().expect("tone_hz");
        let at = c["measure_hz"].as_f64().expect("measure_hz");
        let want = c["gain_db"].as_f64().expect("gain_db");
        let x: Vec<f32> = (0..from as usize)
            .map(|j| (2.0 * PI * tone * j as f64 / from as f64).sin() as f32)
            .collect();
        let y = resample_with(&x, from, to, p).unwrap();
        let got = 20.0 * amplitude_at(&y, at, to as f64).max(1e-30).log10();
        let what = format!("{p:?} {from}->{to}: tone {tone:.0} Hz measured at {at:.0} Hz");
        if want > CLOSE_ABOVE_DB {
            worst_close = worst_close.max((got - want).abs());
            assert!(
                (got - want).abs() <= CLOSE_TOL_DB,
                "{what}: expected {want:.3} dB, found {got:.3} dB"
            );
        } else {
            assert!(
                got <= (want + STOP_MARGIN_DB).max(FLOOR_DB),
                "{what}: expected at most {:.1} dB, found {got:.1} dB",
                (want + STOP_MARGIN_DB).max(FLOOR_DB)
            );
        }
    }
    eprintln!("worst pass/transition band error {worst_close:.4} dB");
}

#[test]
fn low_latency_profile_keeps_the_speech_band_and_rejects_aliases() {
    // The properties the live path relies on, from the design summary: flat (0.01 dB) over
    // at least 80 % of the lower Nyquist (8.8 kHz at 22.05 kHz), at least 80 dB rejection.
    let doc = fixture();
    for s in doc["summary"].as_array().expect("summary") {
        if profile(&s["profile"]) != ResamplerProfile::LowLatency {
            continue;
        }
        let flat = s["flat_to"].as_f64().expect("flat_to");
        let rej = s["rejection_db"].as_f64().expect("rejection_db");
        assert!(flat >= 0.8 && rej >= 80.0, "{s}");
    }
}
