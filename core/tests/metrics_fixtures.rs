//! `widen_core::metrics` against independent Python references on real speech.
//!
//! The fixture `core/tests/fixtures/metrics.json` comes from `scripts/fixtures/metrics.py`
//! (numpy LSD, pystoi 0.4.1, PyPI pesq 0.0.4). This file rebuilds exactly the same test signals
//! (clip selection, decimation FIR, degradations, splitmix64 noise) and recomputes every metric.
//! Run with `--nocapture` to see the largest differences observed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use widen_core::metrics::{self, MetricError};

const LSD_TOL: f64 = 1e-4;
const STOI_TOL: f64 = 1e-3;
const PESQ_TOL: f64 = 0.05;
const SNR_TOL_DB: f64 = 1e-4;
const MSE_REL_TOL: f64 = 1e-5;

#[derive(Deserialize)]
struct Fixture {
    params: Params,
    items: Vec<Item>,
    resample: Vec<ResampleCase>,
}

#[derive(Deserialize)]
struct Params {
    in_rate: u32,
    rate: u32,
    gap_s: f64,
    base_starts: Vec<usize>,
    clips_per_base: usize,
    decim_taps: usize,
    decim_cutoff_hz: f64,
    lp_taps: usize,
    lp_cutoff_hz: f64,
    echo_delay_s: f64,
    echo_gain: f64,
    delay_samples: usize,
    resample_seed: u64,
    resample_len: usize,
}

#[derive(Deserialize)]
struct Item {
    base: usize,
    clips: Vec<String>,
    degradation: String,
    seed: u64,
    len: usize,
    description: String,
    lsd: f64,
    lsd_hf: f64,
    stoi: f64,
    pesq_wb: f64,
    /// `None` means +inf (identical signals).
    snr_db: Option<f64>,
    mse: f64,
}

#[derive(Deserialize)]
struct ResampleCase {
    p: usize,
    q: usize,
    len: usize,
    sum_sq: f64,
    stride: usize,
    samples: Vec<f64>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

fn testdata_dir() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache").join("testdata"));
    assert!(
        dir.join("ktuberling").join("fr").is_dir(),
        "test speech not found at {}/ktuberling/fr: run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        dir.display()
    );
    dir
}

fn load_fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad fixture {}: {e}", path.display()))
}

/// splitmix64, identical to `SplitMix64` in scripts/fixtures/metrics.py.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1): top 53 bits to [0, 1), then 2u - 1.
    fn uniform(&mut self, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| (self.next_u64() >> 11) as f64 * 2f64.powi(-53) * 2.0 - 1.0)
            .collect()
    }
}

/// Odd-length Hann-windowed sinc low-pass, unit DC gain (`windowed_sinc` of the script).
fn windowed_sinc(taps: usize, cutoff_hz: f64, rate: f64) -> Vec<f64> {
    let mid = (taps / 2) as i64;
    let fc = cutoff_hz / rate;
    let h: Vec<f64> = (0..taps)
        .map(|k| {
            let n = k as i64 - mid;
            let ideal = if n == 0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * n as f64).sin()
                    / (std::f64::consts::PI * n as f64)
            };
            let w =
                0.5 - 0.5 * (2.0 * std::f64::consts::PI * (k + 1) as f64 / (taps + 1) as f64).cos();
            ideal * w
        })
        .collect();
    let s: f64 = h.iter().sum();
    h.iter().map(|v| v / s).collect()
}

/// `numpy.convolve(x, h, mode="same")` for odd `h` no longer than `x`.
fn fir_same(x: &[f64], h: &[f64]) -> Vec<f64> {
    let mid = h.len() / 2;
    (0..x.len())
        .map(|n| {
            let mut acc = 0.0;
            for (j, &hj) in h.iter().enumerate() {
                if let Some(i) = (n + mid).checked_sub(j) {
                    if i < x.len() {
                        acc += hj * x[i];
                    }
                }
            }
            acc
        })
        .collect()
}

/// 44.1 kHz mono PCM16 clips of ktuberling fr/, sorted by file name.
fn french_clips() -> Vec<PathBuf> {
    let dir = testdata_dir().join("ktuberling").join("fr");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    paths
        .into_iter()
        .filter(|p| {
            let spec = hound::WavReader::open(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .spec();
            spec.sample_rate == 44_100
                && spec.channels == 1
                && spec.bits_per_sample == 16
                && spec.sample_format == hound::SampleFormat::Int
        })
        .collect()
}

fn read_pcm16(path: &Path) -> Vec<f64> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.samples::<i16>()
        .map(|s| f64::from(s.expect("PCM16 sample")) / 32768.0)
        .collect()
}

/// The clean 22.05 kHz base utterance `b` and its clip names.
fn base_utterance(p: &Params, clips: &[PathBuf], b: usize) -> (Vec<f64>, Vec<String>) {
    let chosen = &clips[p.base_starts[b]..p.base_starts[b] + p.clips_per_base];
    let gap = (p.gap_s * f64::from(p.in_rate)).round() as usize;
    let mut x = Vec::new();
    for (i, c) in chosen.iter().enumerate() {
        if i > 0 {
            x.extend(std::iter::repeat_n(0.0, gap));
        }
        x.extend(read_pcm16(c));
    }
    let h = windowed_sinc(p.decim_taps, p.decim_cutoff_hz, f64::from(p.in_rate));
    let decimated = fir_same(&x, &h).into_iter().step_by(2).collect();
    let names = chosen
        .iter()
        .map(|c| c.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    (decimated, names)
}

fn noise_at_snr(x: &[f64], snr_db: f64, seed: u64) -> Vec<f64> {
    let n = SplitMix64(seed).uniform(x.len());
    let ex: f64 = x.iter().map(|v| v * v).sum();
    let en: f64 = n.iter().map(|v| v * v).sum();
    let scale = (ex / (en * 10f64.powf(snr_db / 10.0))).sqrt();
    x.iter().zip(&n).map(|(a, b)| a + scale * b).collect()
}

fn degrade(p: &Params, name: &str, x: &[f64], seed: u64) -> Vec<f64> {
    let lp = || windowed_sinc(p.lp_taps, p.lp_cutoff_hz, f64::from(p.rate));
    match name {
        "clean" => x.to_vec(),
        "noise_20db" => noise_at_snr(x, 20.0, seed),
        "noise_5db" => noise_at_snr(x, 5.0, seed),
        "lowpass_4k" => fir_same(x, &lp()),
        "lowpass_4k_noise_15db" => noise_at_snr(&fir_same(x, &lp()), 15.0, seed),
        "gain_0.5" => x.iter().map(|v| 0.5 * v).collect(),
        "clip_0.3" => {
            let c = 0.3 * x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            x.iter().map(|v| v.clamp(-c, c)).collect()
        }
        "requant_8bit" => x
            .iter()
            .map(|v| (v * 128.0).round_ties_even().clamp(-128.0, 127.0) / 128.0)
            .collect(),
        "echo_40ms" => {
            let d = (p.echo_delay_s * f64::from(p.rate)).round() as usize;
            let mut y = x.to_vec();
            for i in d..x.len() {
                y[i] += p.echo_gain * x[i - d];
            }
            y
        }
        "delay_25ms" => std::iter::repeat_n(0.0, p.delay_samples)
            .chain(x[..x.len() - p.delay_samples].iter().copied())
            .collect(),
        other => panic!("unknown degradation {other} in fixture"),
    }
}

fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

#[derive(Default)]
struct MaxDiff {
    value: f64,
    item: String,
}

impl MaxDiff {
    fn update(&mut self, diff: f64, item: &str) {
        if diff > self.value || self.item.is_empty() {
            self.value = self.value.max(diff);
            self.item = item.to_string();
        }
    }
}

#[test]
fn metrics_match_python_references_on_real_speech() {
    let fx = load_fixture();
    let p = &fx.params;
    assert!(fx.items.len() >= 12, "fixture has {} items", fx.items.len());
    let clips = french_clips();
    let n_bases = fx.params.base_starts.len();
    let bases: Vec<(Vec<f64>, Vec<String>)> =
        (0..n_bases).map(|b| base_utterance(p, &clips, b)).collect();
    let distinct: std::collections::BTreeSet<&String> =
        bases.iter().flat_map(|(_, names)| names).collect();
    assert!(
        distinct.len() >= 10,
        "only {} distinct clips",
        distinct.len()
    );

    let names = ["LSD", "LSD-HF", "STOI", "PESQ-WB", "SNR dB", "MSE (rel)"];
    let mut max: Vec<MaxDiff> = names.iter().map(|_| MaxDiff::default()).collect();
    let mut failures = Vec::new();
    for item in &fx.items {
        let (base, clip_names) = &bases[item.base];
        assert_eq!(
            clip_names, &item.clips,
            "clip selection differs from the script's"
        );
        assert_eq!(base.len(), item.len, "{}: length", item.description);
        let reference = to_f32(base);
        let estimate = to_f32(&degrade(p, &item.degradation, base, item.seed));
        let rate = p.rate;
        if item.degradation == "delay_25ms" {
            assert_eq!(
                metrics::find_lag(&reference, &estimate, widen_core::config::MAX_EVAL_LAG),
                p.delay_samples as isize,
                "{}: find_lag",
                item.description
            );
        }

        let lsd = metrics::lsd(&reference, &estimate, rate).expect("LSD");
        let stoi = metrics::stoi(&reference, &estimate, rate).expect("STOI");
        let pesq = metrics::pesq_wb(&reference, &estimate, rate).expect("PESQ");
        let snr = metrics::snr_db(&reference, &estimate);
        let mse = metrics::mse(&reference, &estimate);
        let snr_diff = match item.snr_db {
            Some(want) => (snr - want).abs(),
            None if snr == f64::INFINITY => 0.0,
            None => f64::INFINITY,
        };
        let mse_diff = if item.mse == 0.0 {
            mse.abs()
        } else {
            ((mse - item.mse) / item.mse).abs()
        };
        let checks = [
            ((lsd.full - item.lsd).abs(), LSD_TOL, lsd.full, item.lsd),
            (
                (lsd.high - item.lsd_hf).abs(),
                LSD_TOL,
                lsd.high,
                item.lsd_hf,
            ),
            ((stoi - item.stoi).abs(), STOI_TOL, stoi, item.stoi),
            ((pesq - item.pesq_wb).abs(), PESQ_TOL, pesq, item.pesq_wb),
            (
                snr_diff,
                SNR_TOL_DB,
                snr,
                item.snr_db.unwrap_or(f64::INFINITY),
            ),
            (mse_diff, MSE_REL_TOL, mse, item.mse),
        ];
        for (k, (diff, tol, got, want)) in checks.into_iter().enumerate() {
            max[k].update(diff, &item.description);
            if diff.is_nan() || diff > tol {
                failures.push(format!(
                    "{}: {} = {got}, reference {want} (|diff| {diff:.3e} > {tol:e})",
                    item.description, names[k]
                ));
            }
        }
    }
    println!("max |Rust - Python| over {} items:", fx.items.len());
    for (name, m) in names.iter().zip(&max) {
        println!("  {name:10} {:.3e}  ({})", m.value, m.item);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn resample_poly_oct_matches_pystoi() {
    let fx = load_fixture();
    let x = SplitMix64(fx.params.resample_seed).uniform(fx.params.resample_len);
    let mut worst = 0.0f64;
    for case in &fx.resample {
        let y = metrics::resample_poly_oct(&x, case.p, case.q);
        assert_eq!(y.len(), case.len, "{}/{}: length", case.p, case.q);
        let sum_sq: f64 = y.iter().map(|v| v * v).sum();
        assert!(
            (sum_sq - case.sum_sq).abs() <= 1e-9 * case.sum_sq,
            "{}/{}: sum of squares {sum_sq} vs {}",
            case.p,
            case.q,
            case.sum_sq
        );
        for (k, want) in case.samples.iter().enumerate() {
            let got = y[k * case.stride];
            worst = worst.max((got - want).abs());
            assert!(
                (got - want).abs() < 1e-12,
                "{}/{}: sample {} = {got}, pystoi {want}",
                case.p,
                case.q,
                k * case.stride
            );
        }
    }
    println!("resample_poly_oct: max |Rust - pystoi| = {worst:.3e}");
}

#[test]
fn find_lag_recovers_shifts_of_real_speech() {
    let fx = load_fixture();
    let (base, _) = base_utterance(&fx.params, &french_clips(), 1);
    let speech = to_f32(&base);
    let max_lag = widen_core::config::MAX_EVAL_LAG;
    for shift in [-2048isize, -1500, -1, 0, 7, 777, 2048] {
        let s = shift.unsigned_abs();
        // A delayed estimate (zeros in front) or an advanced one (head cut off), plus a gain.
        let estimate: Vec<f32> = if shift >= 0 {
            std::iter::repeat_n(0.0, s)
                .chain(speech.iter().map(|v| 0.7 * v))
                .collect()
        } else {
            speech[s..].iter().map(|v| 0.7 * v).collect()
        };
        let lag = metrics::find_lag(&speech, &estimate, max_lag);
        assert_eq!(lag, shift, "shift {shift}");
        let (r, e) = metrics::align(&speech, &estimate, lag);
        assert_eq!(r.len(), e.len());
        assert!(r.len() >= speech.len() - s);
        assert!(
            metrics::snr_db(r, &e.iter().map(|v| v / 0.7).collect::<Vec<_>>()) > 100.0,
            "shift {shift}: aligned signals differ"
        );
    }
}

#[test]
fn metrics_reject_bad_real_input() {
    let fx = load_fixture();
    let (base, _) = base_utterance(&fx.params, &french_clips(), 0);
    let speech = to_f32(&base);
    let rate = fx.params.rate;
    // 0.12 s: too short for PESQ (needs 0.25 s) and for STOI (needs 30 frames of speech).
    let short = &speech[..(0.12 * f64::from(rate)) as usize];
    let e = metrics::pesq_wb(short, short, rate).unwrap_err();
    assert!(matches!(e, MetricError::TooShort { .. }), "{e}");
    assert!(e.to_string().contains("0.120 s"), "{e}");
    assert!(matches!(
        metrics::stoi(short, short, rate),
        Err(MetricError::StoiTooFewFrames { .. })
    ));
    let silent = vec![0.0f32; speech.len()];
    assert!(metrics::pesq_wb(&silent, &speech, rate).is_err());
    assert!(metrics::stoi(&silent, &speech, rate).is_err());
    // A silent estimate has no PESQ score (the ITU code returns NaN), never a panic or a 4.64.
    assert!(matches!(
        metrics::pesq_wb(&speech, &silent, rate),
        Err(MetricError::Silent {
            which: "estimate",
            ..
        })
    ));
    let scores = metrics::evaluate(&speech, &speech, rate).expect("evaluate");
    assert_eq!(scores.lsd, 0.0);
    assert!((scores.stoi.expect("STOI") - 1.0).abs() < 1e-9);
    assert!(scores.pesq_wb.expect("PESQ") > 4.5);
    assert!(scores.notes.is_empty(), "{:?}", scores.notes);
}
