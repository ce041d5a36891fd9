//! `widen enhance` end to end: real ONNX Runtime, the embedded default models, real speech
//! (ktuberling words). The default models are untrained placeholders, so these tests check the
//! signal path (rates, lengths, the exact low band, the generated band being added, channels,
//! bad input, errors), not the quality of the generated band.

mod common;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use common::{error_lines, lowpass, testdata_dir, widen, widen_env, write_audio};
use serde_json::Value;
use widen_core::dsp::{resample, Stft};
use widen_core::io::{read, Audio, SampleFormat};

fn args(items: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    items.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// A ktuberling word, with its rate checked.
fn word(lang: &str, name: &str, rate: u32) -> Vec<f32> {
    let a = read(testdata_dir().join(format!("ktuberling/{lang}/{name}.wav"))).expect("read word");
    assert_eq!(a.sample_rate, rate, "{lang}/{name}");
    a.to_mono()
}

fn mono(rate: u32, samples: Vec<f32>) -> Audio {
    Audio {
        sample_rate: rate,
        channels: 1,
        samples,
    }
}

fn put(dir: &Path, name: &str, audio: &Audio) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join(name);
    write_audio(&p, audio, SampleFormat::F32);
    p
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stdout}"))
}

/// `round(n * to / from)`.
fn scaled(n: usize, from: u32, to: u32) -> usize {
    ((n as u64 * to as u64 * 2 + from as u64) / (2 * from as u64)) as usize
}

fn all_finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// STFT magnitudes (1024/256, Hann) at 22.05 kHz: (frames, bins, frame-major magnitudes).
fn magnitudes(x: &[f32]) -> (usize, usize, Vec<f32>) {
    let stft = Stft::new(1024, 256, 1024).expect("stft");
    let s = stft.forward(x);
    (s.n_frames, s.n_bins, s.magnitude())
}

/// Energy of the STFT bins above `lo_hz` (22.05 kHz signal).
fn high_band_energy(x: &[f32], lo_hz: f64) -> f64 {
    let (frames, bins, m) = magnitudes(x);
    let k0 = (lo_hz * 1024.0 / 22_050.0).ceil() as usize;
    (0..frames)
        .flat_map(|t| m[t * bins + k0..(t + 1) * bins].iter())
        .map(|&v| f64::from(v).powi(2))
        .sum()
}

/// Pearson correlation of the STFT magnitudes below `hi_hz` (22.05 kHz signals, same length).
fn low_band_correlation(a: &[f32], b: &[f32], hi_hz: f64) -> f64 {
    let (fa, bins, ma) = magnitudes(a);
    let (fb, _, mb) = magnitudes(b);
    assert_eq!(fa, fb);
    let k1 = (hi_hz * 1024.0 / 22_050.0).floor() as usize;
    let pick = |m: &[f32]| -> Vec<f64> {
        (0..fa)
            .flat_map(|t| m[t * bins..t * bins + k1].iter().map(|&v| f64::from(v)))
            .collect()
    };
    let (x, y) = (pick(&ma), pick(&mb));
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

#[test]
fn eight_khz_word_gains_a_high_band_and_keeps_its_low_band() {
    let t = tempfile::tempdir().expect("tmp");
    let x = word("es", "anteojos", 8_000);
    let input = put(t.path(), "anteojos.wav", &mono(8_000, x.clone()));
    let out = t.path().join("out.wav");
    let run = widen(args(&[
        &"enhance",
        &input,
        &"-o",
        &out,
        &"--format",
        &"f32",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("enhanced 1 files (0 passed through, 0 failed)"),
        "{}",
        run.stderr
    );
    let y = read(&out).expect("read output");
    assert_eq!((y.sample_rate, y.channels), (22_050, 1));
    assert_eq!(
        y.samples.len(),
        scaled(x.len(), 8_000, 22_050),
        "same duration"
    );
    assert!(all_finite(&y.samples));

    let xr = resample(&x, 8_000, 22_050).expect("resample");
    let corr = low_band_correlation(&xr, &y.samples, 3_500.0);
    assert!(corr > 0.99, "low band changed: correlation {corr}");

    // The same with no generated band (amount 0), through the `infer` alias.
    let out0 = t.path().join("out0.wav");
    let run = widen(args(&[
        &"infer",
        &input,
        &"-o",
        &out0,
        &"--format",
        &"f32",
        &"--amount",
        &"0",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let y0 = read(&out0).expect("read output").samples;
    assert!(low_band_correlation(&xr, &y0, 3_500.0) > 0.999);

    // The generated band is what amount 1 adds over amount 0: above the cutoff (3.9 kHz for this
    // file), not below it.
    let generated: Vec<f32> = y.samples.iter().zip(&y0).map(|(a, b)| a - b).collect();
    let (e_in, e_out, e0) = (
        high_band_energy(&xr, 4_300.0),
        high_band_energy(&y.samples, 4_300.0),
        high_band_energy(&y0, 4_300.0),
    );
    let (g_high, g_all) = (
        high_band_energy(&generated, 3_700.0),
        high_band_energy(&generated, 0.0),
    );
    eprintln!(
        "low-band correlation {corr:.6}; energy above 4.3 kHz: input {e_in:e}, output {e_out:e}, \
         amount 0 {e0:e}; generated above 3.7 kHz {g_high:e} of {g_all:e}"
    );
    assert!(
        e_out > e_in,
        "output high band {e_out:e} not above the input's {e_in:e}"
    );
    assert!(e_out > e0, "amount 1 adds nothing over amount 0");
    assert!(
        g_high > 0.0 && g_high > 0.99 * g_all,
        "generated band misplaced: {g_high:e} of {g_all:e}"
    );
}

#[test]
fn translate_method_is_the_dsp_baseline() {
    let t = tempfile::tempdir().expect("tmp");
    let x = word("es", "anteojos", 8_000);
    let input = put(t.path(), "anteojos.wav", &mono(8_000, x.clone()));
    let out = t.path().join("out.wav");
    let run = widen(args(&[
        &"enhance",
        &input,
        &"-o",
        &out,
        &"--format",
        &"f32",
        &"--method",
        &"translate",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("DSP spectral translation"),
        "{}",
        run.stderr
    );
    let y = read(&out).expect("read output");
    assert_eq!(y.samples.len(), scaled(x.len(), 8_000, 22_050));
    let xr = resample(&x, 8_000, 22_050).expect("resample");
    let corr = low_band_correlation(&xr, &y.samples, 3_500.0);
    let (e_in, e_out) = (
        high_band_energy(&xr, 4_300.0),
        high_band_energy(&y.samples, 4_300.0),
    );
    eprintln!("low-band correlation {corr:.6}; above 4.3 kHz: input {e_in:e}, output {e_out:e}");
    assert!(corr > 0.99, "low band changed: correlation {corr}");
    assert!(e_out > 100.0 * e_in, "no band added: {e_out:e} vs {e_in:e}");

    let run = widen(args(&[
        &"enhance",
        &input,
        &"-o",
        &out,
        &"--method",
        &"translate",
        &"--no-splice",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(error_lines(&run.stderr).len(), 1, "{}", run.stderr);
}

#[test]
fn every_common_input_rate_works() {
    let t = tempfile::tempdir().expect("tmp");
    // A 44.1 kHz word band-limited to 3.8 kHz, then at each rate.
    let hr = word("fr", "egypte_arche", 44_100);
    let nb = lowpass(&hr, 3_800.0, 44_100.0, 201);
    let rates = [8_000u32, 11_025, 16_000, 22_050, 44_100, 48_000];
    let mut lens = Vec::new();
    for rate in rates {
        let x = resample(&nb, 44_100, rate).expect("resample");
        lens.push(x.len());
        put(
            &t.path().join("in"),
            &format!("w{rate}.wav"),
            &mono(rate, x),
        );
    }
    let out = t.path().join("out");
    let run = widen(args(&[
        &"enhance",
        &t.path().join("in"),
        &"-o",
        &out,
        &"--json",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    for (i, rate) in rates.iter().enumerate() {
        let path = out.join(format!("w{rate}_widen.wav"));
        let y = read(&path).unwrap_or_else(|e| panic!("{e}"));
        let want_rate = (*rate).max(22_050);
        assert_eq!(y.sample_rate, want_rate, "{rate} Hz input");
        assert_eq!(
            y.samples.len(),
            scaled(lens[i], *rate, want_rate),
            "{rate} Hz input"
        );
        assert!(all_finite(&y.samples));
        let f = v["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["output"].as_str() == Some(path.to_str().expect("utf-8")))
            .unwrap_or_else(|| panic!("no report for {}", path.display()));
        assert_eq!(f["action"], "enhanced", "{f}");
        let cutoff = f["cutoff_hz"].as_f64().expect("cutoff");
        // The 201-tap low-pass reaches its stop band near 4.4 kHz.
        assert!(
            (3_300.0..=4_600.0).contains(&cutoff),
            "{rate} Hz: cutoff {cutoff}"
        );
        // The low band is the input's.
        let x = read(t.path().join(format!("in/w{rate}.wav")))
            .expect("in")
            .samples;
        let (xr, yr) = (
            resample(&x, *rate, 22_050).expect("rs"),
            resample(&y.samples, want_rate, 22_050).expect("rs"),
        );
        let corr = low_band_correlation(&xr, &yr, 3_000.0);
        assert!(corr > 0.99, "{rate} Hz: low-band correlation {corr}");
    }
    assert_eq!(v["summary"]["enhanced"], 6);
    assert_eq!(v["summary"]["failed"], 0);
}

#[test]
fn stereo_in_stereo_out_each_channel_on_its_own() {
    let t = tempfile::tempdir().expect("tmp");
    let a = word("es", "anteojos", 8_000);
    let mut b = word("es", "bigote", 8_000);
    b.resize(a.len(), 0.0);
    let samples: Vec<f32> = a.iter().zip(&b).flat_map(|(l, r)| [*l, 0.5 * r]).collect();
    let st = put(
        t.path(),
        "st.wav",
        &Audio {
            sample_rate: 8_000,
            channels: 2,
            samples,
        },
    );
    let left = put(t.path(), "left.wav", &mono(8_000, a.clone()));
    let right = put(
        t.path(),
        "right.wav",
        &mono(8_000, b.iter().map(|v| 0.5 * v).collect()),
    );
    // A fixed cutoff, so that the mono files get exactly the stereo file's settings.
    for f in [&st, &left, &right] {
        let run = widen(args(&[
            &"enhance",
            f,
            &"--format",
            &"f32",
            &"--cutoff",
            &"3900",
        ]));
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let y = read(t.path().join("st_widen.wav")).expect("stereo out");
    assert_eq!((y.sample_rate, y.channels), (22_050, 2));
    assert_eq!(y.frames(), scaled(a.len(), 8_000, 22_050));
    let l = read(t.path().join("left_widen.wav")).expect("left").samples;
    let r = read(t.path().join("right_widen.wav"))
        .expect("right")
        .samples;
    let max_diff = |ch: usize, m: &[f32]| {
        y.samples
            .iter()
            .skip(ch)
            .step_by(2)
            .zip(m)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(
        max_diff(0, &l) < 1e-6,
        "left differs by {}",
        max_diff(0, &l)
    );
    assert!(
        max_diff(1, &r) < 1e-6,
        "right differs by {}",
        max_diff(1, &r)
    );
    // The channels really are different signals.
    assert!(
        l.iter()
            .zip(&r)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
            > 0.05
    );
}

#[test]
fn folder_with_good_and_bad_files_processes_the_good_ones() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("in");
    put(&dir, "a.wav", &mono(8_000, word("es", "boca", 8_000)));
    put(
        &dir.join("sub"),
        "b.wav",
        &mono(8_000, word("es", "ceja", 8_000)),
    );
    std::fs::write(dir.join("garbage.wav"), b"this is not a wav file at all").expect("write");
    std::fs::write(dir.join("empty.wav"), b"").expect("write");
    let out = t.path().join("out");
    let run = widen(args(&[&"enhance", &dir, &"-o", &out]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(out.join("a_widen.wav").is_file());
    assert!(
        out.join("sub/b_widen.wav").is_file(),
        "relative folders are kept"
    );
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors.iter().any(|e| e.contains("garbage.wav")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("empty.wav")), "{errors:?}");
    assert!(
        run.stderr
            .contains("enhanced 4 files (0 passed through, 2 failed)"),
        "{}",
        run.stderr
    );
    // No half-written outputs for the bad files.
    let written: Vec<_> = walk(&out);
    assert_eq!(written.len(), 2, "{written:?}");

    // Nothing enhanced: the summary gives no speed (it once said "-0.0x real time").
    let run = widen(args(&[&"enhance", &dir.join("empty.wav"), &"-o", &out]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("enhanced 1 files (0 passed through, 1 failed) in ")
            && !last.contains("real time"),
        "{}",
        run.stderr
    );

    // A second run over the same folder with outputs beside the inputs skips those outputs.
    let run = widen(args(&[&"enhance", &dir.join("sub")]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = widen(args(&[&"enhance", &dir.join("sub"), &"--json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run.stdout)["summary"]["files"], 1);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn nan_and_inf_samples_are_replaced_with_a_warning() {
    let t = tempfile::tempdir().expect("tmp");
    let mut x = word("es", "boca", 8_000);
    for i in [100usize, 1_000, 2_000] {
        x[i] = f32::NAN;
    }
    x[3_000] = f32::INFINITY;
    let input = t.path().join("nan.wav");
    std::fs::write(&input, common::float_wav(8_000, &x)).expect("write");
    let run = widen(args(&[&"enhance", &input, &"--format", &"f32"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warn: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warn.len(), 1, "{}", run.stderr);
    assert!(warn[0].contains("4 non-finite samples"), "{}", warn[0]);
    let y = read(t.path().join("nan_widen.wav")).expect("output");
    assert!(all_finite(&y.samples));
    assert_eq!(y.samples.len(), scaled(x.len(), 8_000, 22_050));
}

#[test]
fn digital_silence_stays_below_minus_90_dbfs() {
    let t = tempfile::tempdir().expect("tmp");
    let input = put(t.path(), "silence.wav", &mono(8_000, vec![0.0; 16_000]));
    let run = widen(args(&[&"enhance", &input, &"--format", &"f32", &"--json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run.stdout)["files"][0]["verdict"], "silent");
    let y = read(t.path().join("silence_widen.wav"))
        .expect("output")
        .samples;
    assert_eq!(y.len(), 44_100);
    let p = peak(&y);
    assert!(p < 10f32.powf(-90.0 / 20.0), "peak {p:e}");
}

#[test]
fn full_scale_clipped_input_stays_finite_and_bounded() {
    let t = tempfile::tempdir().expect("tmp");
    let x: Vec<f32> = word("es", "anteojos", 8_000)
        .iter()
        .map(|v| (v * 30.0).clamp(-1.0, 1.0))
        .collect();
    assert!(
        x.iter().filter(|v| v.abs() >= 1.0).count() > 1_000,
        "really clipped"
    );
    let input = put(t.path(), "clipped.wav", &mono(8_000, x));
    let run = widen(args(&[&"enhance", &input, &"--format", &"f32"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let y = read(t.path().join("clipped_widen.wav"))
        .expect("output")
        .samples;
    assert!(all_finite(&y));
    let p = peak(&y);
    assert!(p < 3.0, "peak {p}");
}

#[test]
fn wide_band_input_is_passed_through_unless_forced() {
    let t = tempfile::tempdir().expect("tmp");
    let x = word("fr", "egypte_femme", 44_100);
    let input = put(t.path(), "wide.wav", &mono(44_100, x.clone()));
    let run = widen(args(&[&"enhance", &input, &"--format", &"f32", &"--json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("note:"))
        .collect();
    assert!(
        notes
            .iter()
            .any(|l| l.contains("already wide-band") && l.contains("wide.wav")),
        "{}",
        run.stderr
    );
    let v = json(&run.stdout);
    assert_eq!(v["files"][0]["action"], "passed-through");
    assert_eq!(v["summary"]["passed_through"], 1);
    // Same rate out (44.1 kHz): the samples themselves.
    let y = read(t.path().join("wide_widen.wav")).expect("output");
    assert_eq!(y.sample_rate, 44_100);
    assert_eq!(y.samples, x);

    // To 22.05 kHz: resampled only.
    let out = t.path().join("wide22.wav");
    let run = widen(args(&[
        &"enhance",
        &input,
        &"-o",
        &out,
        &"--output-rate",
        &"22050",
        &"--format",
        &"f32",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let y = read(&out).expect("output").samples;
    let want = resample(&x, 44_100, 22_050).expect("resample");
    assert_eq!(y.len(), want.len());
    let err = y
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "max error {err}");

    let run = widen(args(&[&"enhance", &input, &"--force", &"--json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    assert_eq!(v["files"][0]["action"], "enhanced");
    assert!(v["files"][0]["cutoff_hz"].as_f64().expect("cutoff") > 7_000.0);
}

/// A copy of the embedded quality set in a folder (to break on purpose).
fn model_copy(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default/quality");
    let dst = dir.join("model");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for f in ["widen.json", "generator.onnx", "vocoder.onnx"] {
        std::fs::copy(src.join(f), dst.join(f)).expect("copy model file");
    }
    dst
}

fn sha256_hex(bytes: &[u8]) -> String {
    widen_core::model::sha256_hex(bytes)
}

/// Runs enhance with `--model dir` and checks for exactly one error line containing `needles`.
fn expect_model_error(dir: &Path, input: &Path, needles: &[&str]) {
    let run = widen(args(&[&"enhance", &input, &"--model", &dir]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    let line = run.stderr.trim_end();
    assert!(line.starts_with("error: "), "{line}");
    for n in needles {
        assert!(line.contains(n), "`{n}` missing in: {line}");
    }
}

#[test]
fn broken_model_folders_give_one_line_errors() {
    let t = tempfile::tempdir().expect("tmp");
    let input = put(t.path(), "w.wav", &mono(8_000, word("es", "boca", 8_000)));

    // The intact copy works.
    let good = model_copy(&t.path().join("good"));
    let run = widen(args(&[&"enhance", &input, &"--model", &good]));
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A missing model file.
    let m = model_copy(&t.path().join("missing"));
    std::fs::remove_file(m.join("vocoder.onnx")).expect("rm");
    expect_model_error(&m, &input, &["vocoder.onnx"]);

    // Corrupt ONNX whose hash the sidecar records (so ONNX Runtime itself must refuse it).
    let m = model_copy(&t.path().join("corrupt"));
    let junk = b"\x08\x07\x12\x04junk not a protobuf model".to_vec();
    std::fs::write(m.join("generator.onnx"), &junk).expect("write");
    let side = std::fs::read_to_string(m.join("widen.json")).expect("read");
    let mut v: Value = serde_json::from_str(&side).expect("json");
    v["generator"]["sha256"] = Value::String(sha256_hex(&junk));
    std::fs::write(m.join("widen.json"), v.to_string()).expect("write");
    expect_model_error(&m, &input, &["generator.onnx"]);

    // Corrupt ONNX with the old hash: the SHA-256 check catches it first.
    let m = model_copy(&t.path().join("sha"));
    std::fs::write(m.join("vocoder.onnx"), b"garbage").expect("write");
    expect_model_error(&m, &input, &["vocoder.onnx", "SHA-256"]);

    // A sidecar with a wrong field.
    let m = model_copy(&t.path().join("field"));
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("widen.json")).expect("read"))
            .expect("json");
    v["n_mels"] = Value::from(64);
    std::fs::write(m.join("widen.json"), v.to_string()).expect("write");
    expect_model_error(&m, &input, &["n_mels", "80", "64"]);

    // No model folder at all.
    expect_model_error(&t.path().join("nowhere"), &input, &["widen.json"]);
    assert!(!t.path().join("w_widen.wav.partial").exists());
}

#[test]
fn missing_onnx_runtime_names_the_setup_command() {
    let t = tempfile::tempdir().expect("tmp");
    let input = put(t.path(), "w.wav", &mono(8_000, word("es", "boca", 8_000)));
    let run = widen_env(
        args(&[&"enhance", &input]),
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("cargo xtask setup"), "{}", run.stderr);
    assert!(!t.path().join("w_widen.wav").exists());
}

#[test]
fn griffin_lim_phase_copy_and_no_splice_work() {
    let t = tempfile::tempdir().expect("tmp");
    let x = word("es", "ceja", 8_000);
    let input = put(t.path(), "w.wav", &mono(8_000, x.clone()));
    let xr = resample(&x, 8_000, 22_050).expect("resample");
    for (voc, extra) in [
        ("griffin-lim", ["--griffin-iters", "4"]),
        ("phase-copy", ["--amount", "1"]),
    ] {
        let out = t.path().join(format!("{voc}.wav"));
        let run = widen(args(&[
            &"enhance",
            &input,
            &"-o",
            &out,
            &"--vocoder",
            &voc,
            &extra[0],
            &extra[1],
            &"--format",
            &"f32",
        ]));
        assert_eq!(run.code, 0, "{voc}: {}", run.stderr);
        let y = read(&out).expect("output").samples;
        assert_eq!(y.len(), xr.len(), "{voc}");
        assert!(all_finite(&y), "{voc}");
        let corr = low_band_correlation(&xr, &y, 3_500.0);
        assert!(corr > 0.99, "{voc}: low-band correlation {corr}");
    }
    // --no-splice: the seed's pure vocoder output, whose low band is synthesised too.
    let out = t.path().join("nosplice.wav");
    let run = widen(args(&[
        &"enhance",
        &input,
        &"-o",
        &out,
        &"--no-splice",
        &"--vocoder",
        &"vocos",
        &"--format",
        &"f32",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("no splice"), "{}", run.stdout);
    let y = read(&out).expect("output").samples;
    assert_eq!(y.len(), xr.len());
    assert!(all_finite(&y));
    let corr = low_band_correlation(&xr, &y, 3_500.0);
    assert!(
        corr < 0.95,
        "--no-splice kept the input's low band: correlation {corr}"
    );
}

#[test]
fn hr_dir_scores_each_output_and_prints_the_mean() {
    let t = tempfile::tempdir().expect("tmp");
    let (hr_dir, lr_dir) = (t.path().join("hr"), t.path().join("lr"));
    // Same file name in two sub-folders (as in a corpus of voice packs): each output is
    // scored against the reference at its own relative path (the stem alone is ambiguous).
    for (sub, name) in [("a", "egypte_arche"), ("b", "egypte_fille")] {
        let hr = word("fr", name, 44_100);
        let hr22 = resample(&hr, 44_100, 22_050).expect("resample");
        put(&hr_dir.join(sub), "w.wav", &mono(22_050, hr22));
        let lr = resample(&lowpass(&hr, 3_800.0, 44_100.0, 201), 44_100, 8_000).expect("rs");
        put(&lr_dir.join(sub), "w.wav", &mono(8_000, lr));
    }
    let out = t.path().join("out");
    let run = widen(args(&[
        &"enhance",
        &lr_dir,
        &"-o",
        &out,
        &"--hr-dir",
        &hr_dir,
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let score_lines: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" vs ")).collect();
    assert_eq!(score_lines.len(), 2, "{}", run.stdout);
    for l in &score_lines {
        assert!(
            l.contains("STOI") && l.contains("PESQ-WB") && l.contains("LSD-HF"),
            "{l}"
        );
    }
    assert!(
        run.stdout.contains("mean of 2 scored files"),
        "{}",
        run.stdout
    );

    let run = widen(args(&[
        &"enhance",
        &lr_dir,
        &"-o",
        &out,
        &"--hr-dir",
        &hr_dir,
        &"--json",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    for f in v["files"].as_array().expect("files") {
        let s = &f["scores"];
        let (input, reference) = (
            PathBuf::from(f["input"].as_str().expect("input")),
            PathBuf::from(s["reference"].as_str().expect("reference")),
        );
        assert_eq!(
            reference.strip_prefix(&hr_dir).expect("below --hr-dir"),
            input.strip_prefix(&lr_dir).expect("below the input folder"),
            "{f}"
        );
        assert!(s["lag"].as_i64().expect("lag").abs() <= 2, "{s}");
        // The low band is the reference's own (band-limited), so intelligibility is intact.
        let stoi = s["scores"]["stoi"].as_f64().expect("stoi");
        assert!(stoi > 0.9, "{s}");
    }
    assert_eq!(v["mean_scores"]["files"], 2);
}

#[test]
fn unwritable_outputs_and_inputs_as_outputs_are_refused() {
    let t = tempfile::tempdir().expect("tmp");
    let input = put(t.path(), "w.wav", &mono(8_000, word("es", "boca", 8_000)));
    // A folder below a plain file cannot be created (even by root).
    let blocker = t.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let run = widen(args(&[&"enhance", &input, &"-o", &blocker.join("out")]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("w.wav"), "{}", errors[0]);

    // -o naming the input itself.
    let before = std::fs::read(&input).expect("read");
    let run = widen(args(&[&"enhance", &input, &"-o", &input]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refusing"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(&input).expect("read"),
        before,
        "input untouched"
    );

    // -o naming a file with several inputs.
    let other = put(t.path(), "v.wav", &mono(8_000, word("es", "ceja", 8_000)));
    let run = widen(args(&[
        &"enhance",
        &input,
        &other,
        &"-o",
        &t.path().join("x.wav"),
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("give an output folder"),
        "{}",
        run.stderr
    );
}

#[test]
fn threads_cut_long_files_into_parallel_segments_with_the_same_output() {
    let t = tempfile::tempdir().expect("tmp");
    // About 20 s of 8 kHz words, two channels (each channel gets its own engines).
    let dir = testdata_dir().join("ktuberling");
    let mut names = Vec::new();
    for lang in ["es", "fi", "it", "nl"] {
        let mut words: Vec<_> = std::fs::read_dir(dir.join(lang))
            .expect("8 kHz words")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        words.sort();
        names.extend(words);
    }
    let mut x = Vec::new();
    for p in names {
        let a = read(&p).expect("word");
        if a.sample_rate == 8_000 {
            x.extend(a.to_mono());
        }
        if x.len() >= 20 * 8_000 {
            break;
        }
    }
    assert!(
        x.len() >= 20 * 8_000,
        "need 20 s of 8 kHz words in {}",
        dir.display()
    );
    let samples: Vec<f32> = x
        .iter()
        .zip(x.iter().rev())
        .flat_map(|(l, r)| [*l, 0.7 * r])
        .collect();
    let f = put(
        t.path(),
        "long.wav",
        &Audio {
            sample_rate: 8_000,
            channels: 2,
            samples,
        },
    );
    let mut outs = Vec::new();
    for (threads, mode) in [
        ("1", "quality"),
        ("3", "quality"),
        ("1", "low-latency"),
        ("2", "low-latency"),
    ] {
        let out = t.path().join(format!("out-{mode}-{threads}.wav"));
        let run = widen(args(&[
            &"enhance",
            &f,
            &"-o",
            &out,
            &"--format",
            &"f32",
            &"--cutoff",
            &"3900",
            &"--threads",
            &threads,
            &"--mode",
            &mode,
        ]));
        assert_eq!(run.code, 0, "{}", run.stderr);
        outs.push(read(&out).expect("output").samples);
    }
    for (one, many) in [(&outs[0], &outs[1]), (&outs[2], &outs[3])] {
        assert_eq!(one.len(), 2 * scaled(x.len(), 8_000, 22_050));
        assert_eq!(one.len(), many.len());
        let d = one
            .iter()
            .zip(many)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-5, "parallel segments differ from one engine by {d}");
    }
    assert!(high_band_energy(&outs[1], 5_000.0) > 0.0);
}
