//! `analysis::bandwidth` against the numpy reference in `scripts/fixtures/bandwidth.py`
//! (fixture: `core/tests/fixtures/bandwidth.json`). The signals are rebuilt here from the
//! parameters stored in the fixture, with the same integer LCG and formulas.

use serde_json::Value;
use widen_core::analysis::{bandwidth, BandwidthAccumulator, BW_FFT};

fn lcg_noise(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

fn blackman_sinc(taps: usize, cutoff_hz: f64, fs: f64) -> Vec<f64> {
    let fc = cutoff_hz / fs;
    let m = (taps - 1) as f64;
    let pi = std::f64::consts::PI;
    let mut h: Vec<f64> = (0..taps)
        .map(|j| {
            let t = j as f64 - m / 2.0;
            let x = 2.0 * fc * t;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (pi * x).sin() / (pi * x)
            };
            let j = j as f64;
            2.0 * fc
                * sinc
                * (0.42 - 0.5 * (2.0 * pi * j / m).cos() + 0.08 * (4.0 * pi * j / m).cos())
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    h
}

fn make_signal(spec: &Value) -> (Vec<f32>, u32) {
    let fs = spec["sample_rate"].as_u64().unwrap() as u32;
    let n = spec["frames"].as_u64().unwrap() as usize;
    let f = |v: &Value| v.as_f64().unwrap();
    let pi = std::f64::consts::PI;
    let x: Vec<f64> = match spec["kind"].as_str().unwrap() {
        "tones" => {
            let loud = spec["loud_frames"].as_u64().unwrap() as usize;
            let noise = lcg_noise(n, spec["seed"].as_u64().unwrap());
            let amp = f(&spec["noise_amp"]);
            let (qf, qa) = (f(&spec["quiet_tone"][0]), f(&spec["quiet_tone"][1]));
            (0..n)
                .map(|i| {
                    let mut v = 0.0;
                    if i < loud {
                        for tone in spec["tones"].as_array().unwrap() {
                            v += f(&tone[1])
                                * (2.0 * pi * f(&tone[0]) * i as f64 / f64::from(fs)).sin();
                        }
                    } else {
                        v += qa * (2.0 * pi * qf * i as f64 / f64::from(fs)).sin();
                    }
                    v + amp * 2.0 * noise[i]
                })
                .collect()
        }
        "lcg_onepole" => {
            let w = lcg_noise(n, spec["seed"].as_u64().unwrap());
            let p = f(&spec["pole"]);
            let mut y = 0.0;
            w.iter()
                .map(|&x| {
                    y = p * y + (1.0 - p) * x;
                    y
                })
                .collect()
        }
        "lcg_sinc" => {
            let w = lcg_noise(n, spec["seed"].as_u64().unwrap());
            let taps = spec["taps"].as_u64().unwrap() as usize;
            let h = blackman_sinc(taps, f(&spec["cutoff_hz"]), f64::from(fs));
            (0..n)
                .map(|i| (0..taps.min(i + 1)).map(|j| h[j] * w[i - j]).sum())
                .collect()
        }
        other => panic!("unknown signal kind {other}"),
    };
    (x.iter().map(|&v| v as f32).collect(), fs)
}

#[test]
fn bandwidth_matches_numpy_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bandwidth.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let fractions: Vec<f64> = fixture["fractions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["signal"]["name"].as_str().unwrap();
        let exp = &case["expected"];
        let (x, fs) = make_signal(&case["signal"]);
        let df = f64::from(fs) / BW_FFT as f64;
        // Bin-exact agreement: both sides report bin centre frequencies.
        let same_bin = |got: f64, want: f64, what: &str| {
            assert!(
                (got - want).abs() < 1e-6 * df,
                "{name}: {what} = {got}, numpy says {want}"
            );
        };
        for &fr in &fractions {
            let bw = bandwidth(&x, fs, fr);
            let key = format!("{fr}");
            same_bin(
                bw.energy_bw_hz,
                exp["energy_bw_hz"][&key].as_f64().unwrap(),
                &format!("energy_bw_hz({fr})"),
            );
            same_bin(
                bw.rolloff_50db_hz,
                exp["rolloff_50db_hz"].as_f64().unwrap(),
                "rolloff_50db_hz",
            );
            same_bin(
                bw.cutoff_hz,
                exp["cutoff_hz"].as_f64().unwrap(),
                "cutoff_hz",
            );
            assert_eq!(
                bw.active_frames,
                exp["active_frames"].as_u64().unwrap(),
                "{name}: active frames"
            );
            assert_eq!(bw.nyquist_hz, exp["nyquist_hz"].as_f64().unwrap());
        }
        // Streaming in odd blocks gives the same answer.
        let mut acc = BandwidthAccumulator::new(fs);
        for block in x.chunks(333) {
            acc.push(block);
        }
        assert_eq!(
            acc.finish(0.99),
            bandwidth(&x, fs, 0.99),
            "{name}: streaming"
        );
    }
}
