//! `dsp::filters` against SciPy (fixture: core/tests/fixtures/filters.json, made by
//! scripts/fixtures/filters.py with scipy.signal butter/cheby1 (sos) and firwin).
//!
//! Tolerances (stated, not tuned to pass): both sides are float64 designs of the same filter, so
//! where the reference is above -100 dB the magnitudes must agree within 0.001 dB (passband,
//! f <= cutoff) and 0.01 dB (stopband down to -100 dB); below -100 dB (numerical floor territory,
//! deep FIR nulls) the amplitudes must agree within 1e-7 absolute, i.e. both are at least
//! ~-140 dB of error. FIR taps must equal firwin's within 1e-12.

use std::path::Path;

use serde_json::Value;
use widen_core::dsp::filters::{design, LowpassSpec};

const PASSBAND_TOL_DB: f64 = 0.001;
const STOPBAND_TOL_DB: f64 = 0.01;
const FLOOR_DB: f64 = -100.0;
const FLOOR_ABS_TOL: f64 = 1e-7;
const TAP_TOL: f64 = 1e-12;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filters.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with scripts/fixtures/filters.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn magnitude_responses_match_scipy() {
    let doc = fixture();
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10, "fixture has {} cases", cases.len());
    let mut worst_pass = 0.0f64;
    let mut worst_stop = 0.0f64;
    let mut worst_floor = 0.0f64;
    for case in cases {
        let fs = case["sample_rate"].as_u64().expect("sample_rate") as u32;
        let spec: LowpassSpec = serde_json::from_value(case["spec"].clone()).expect("spec");
        let filter = design(spec, fs).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let freqs = floats(&case["freqs_hz"]);
        let want = floats(&case["magnitude_db"]);
        assert_eq!(freqs.len(), want.len());
        for (&f, &want_db) in freqs.iter().zip(&want) {
            let got_db = filter.magnitude_db(f);
            if want_db > FLOOR_DB {
                let diff = (got_db - want_db).abs();
                let (tol, worst) = if f <= spec.cutoff_hz {
                    (PASSBAND_TOL_DB, &mut worst_pass)
                } else {
                    (STOPBAND_TOL_DB, &mut worst_stop)
                };
                *worst = worst.max(diff);
                assert!(
                    diff <= tol,
                    "{spec} at {fs} Hz, f = {f} Hz: {got_db} dB vs scipy {want_db} dB"
                );
            } else {
                let diff = (10f64.powf(got_db / 20.0) - 10f64.powf(want_db / 20.0)).abs();
                worst_floor = worst_floor.max(diff);
                assert!(
                    diff <= FLOOR_ABS_TOL,
                    "{spec} at {fs} Hz, f = {f} Hz: {got_db} dB vs scipy {want_db} dB"
                );
            }
        }
        if let Some(taps) = case.get("fir_taps") {
            let want = floats(taps);
            let got = &filter.coefficients()[0];
            assert_eq!(got.len(), want.len(), "{spec}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= TAP_TOL,
                    "{spec}: tap {i}: {g} vs firwin {w}"
                );
            }
        }
    }
    eprintln!(
        "worst |diff|: passband {worst_pass:.2e} dB, stopband {worst_stop:.2e} dB, below {FLOOR_DB} dB {worst_floor:.2e} abs"
    );
}
