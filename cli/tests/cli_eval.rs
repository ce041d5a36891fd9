//! `widen eval` end to end on real speech: pairing, lag removal, baseline, seed form, bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{error_lines, lowpass, testdata_dir, widen, write_audio};
use serde_json::Value;
use widen_core::dsp::resample;
use widen_core::io::{read, Audio, SampleFormat};

/// Three real 44.1 kHz French words as mono 22.05 kHz signals.
fn speech() -> Vec<(String, Vec<f32>)> {
    let dir = testdata_dir().join("ktuberling/fr");
    ["egypte_arche", "egypte_femme", "egypte_fille"]
        .iter()
        .map(|name| {
            let a = read(dir.join(format!("{name}.wav"))).expect("read speech");
            assert_eq!(a.sample_rate, 44_100);
            let x = resample(&a.to_mono(), 44_100, 22_050).expect("resample");
            (name.to_string(), x)
        })
        .collect()
}

fn mono(rate: u32, samples: Vec<f32>) -> Audio {
    Audio {
        sample_rate: rate,
        channels: 1,
        samples,
    }
}

fn put(dir: &Path, name: &str, rate: u32, x: &[f32]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join(name);
    write_audio(&p, &mono(rate, x.to_vec()), SampleFormat::F32);
    p
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stdout}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn identical_files_score_perfectly() {
    let t = tempfile::tempdir().expect("tmp");
    let (_, x) = &speech()[0];
    let r = put(t.path(), "ref.wav", 22_050, x);
    let run = widen(["eval", "--json", "-r"].map(Into::into).into_iter().chain([
        r.clone().into_os_string(),
        "-e".into(),
        r.into_os_string(),
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    let s = &v["files"][0]["scores"];
    assert_eq!(v["files"][0]["lag"], 0);
    assert!(f(s, "lsd") < 1e-9 && f(s, "lsd_hf") < 1e-9, "{s}");
    assert!((f(s, "stoi") - 1.0).abs() < 1e-6, "{s}");
    assert!(f(s, "pesq_wb") > 4.5, "{s}");
    assert!(s["snr_db"].is_null(), "infinite SNR is null in JSON: {s}");
    assert_eq!(f(s, "mse"), 0.0);
}

#[test]
fn constant_lag_is_found_and_removed() {
    let t = tempfile::tempdir().expect("tmp");
    let (_, x) = &speech()[1];
    let r = put(t.path(), "ref.wav", 22_050, x);
    for lag in [300usize, 2000] {
        let mut delayed = vec![0.0; lag];
        delayed.extend_from_slice(x);
        let e = put(t.path(), "est.wav", 22_050, &delayed);
        let run = widen([
            "eval".as_ref(),
            "--json".as_ref(),
            "-r".as_ref(),
            r.as_os_str(),
            "-e".as_ref(),
            e.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let v = json(&run.stdout);
        assert_eq!(v["files"][0]["lag"], lag as i64);
        assert!(f(&v["files"][0]["scores"], "lsd") < 1e-6);
    }
}

/// Reference, estimate (`<stem>_sr.wav`, low-passed at 6 kHz) and 8 kHz input folders; the
/// table/JSON carry the sinc baseline, and the estimate (more bandwidth) beats it on LSD-HF.
#[test]
fn directories_pair_by_stem_with_baseline() {
    let t = tempfile::tempdir().expect("tmp");
    let (hr, est, lr) = (
        t.path().join("hr"),
        t.path().join("est"),
        t.path().join("lr"),
    );
    for (name, x) in speech() {
        put(&hr, &format!("{name}.wav"), 22_050, &x);
        put(
            &est,
            &format!("{name}_sr.wav"),
            22_050,
            &lowpass(&x, 6_000.0, 22_050.0, 255),
        );
        let nb = resample(&lowpass(&x, 3_800.0, 22_050.0, 255), 22_050, 8_000).expect("down");
        put(&lr, &format!("{name}.wav"), 8_000, &nb);
    }
    let args = |json: bool| {
        let mut a: Vec<std::ffi::OsString> = vec!["eval".into(), "-r".into(), hr.clone().into()];
        a.extend([
            "-e".into(),
            est.clone().into(),
            "--input".into(),
            lr.clone().into(),
        ]);
        if json {
            a.push("--json".into());
        }
        a
    };
    let run = widen(args(true));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    assert_eq!(v["files"].as_array().map(Vec::len), Some(3));
    for file in v["files"].as_array().expect("files") {
        let (s, b) = (&file["scores"], &file["baseline"]["scores"]);
        assert!(f(s, "lsd_hf") < f(b, "lsd_hf"), "{file}");
        assert!(f(b, "stoi") > 0.8, "{file}");
    }
    assert_eq!(v["mean"]["files"], 3);
    assert!(f(&v["baseline_mean"], "lsd_hf") > f(&v["mean"], "lsd_hf"));

    let table = widen(args(false));
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("mean of 3"), "{}", table.stdout);
    assert!(table.stdout.contains("egypte_fille"), "{}", table.stdout);
    assert!(
        table.stdout.contains(" ("),
        "baseline beside scores:\n{}",
        table.stdout
    );
}

#[test]
fn seed_form_sr_file_and_hr_dir() {
    let t = tempfile::tempdir().expect("tmp");
    let hr = t.path().join("hr");
    let (name, x) = &speech()[2];
    put(&hr, &format!("{name}.wav"), 22_050, x);
    // The estimate at 44.1 kHz: eval brings it to 22.05 kHz first.
    let up = resample(x, 22_050, 44_100).expect("up");
    let sr = put(t.path(), &format!("{name}_sr.wav"), 44_100, &up);
    let run = widen([
        "eval".as_ref(),
        "--json".as_ref(),
        "--sr-file".as_ref(),
        sr.as_os_str(),
        "--hr-dir".as_ref(),
        hr.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run.stdout);
    assert!(v["files"][0]["reference"]
        .as_str()
        .is_some_and(|p| p.ends_with(&format!("{name}.wav"))));
    // Only the resampler round trip separates them (it trims the last few hundred Hz below 11 kHz).
    let s = &v["files"][0]["scores"];
    assert!(f(s, "snr_db") > 30.0 && f(s, "stoi") > 0.999, "{v}");
}

#[test]
fn bad_files_fail_alone() {
    let t = tempfile::tempdir().expect("tmp");
    let (hr, est) = (t.path().join("hr"), t.path().join("est"));
    let sp = speech();
    for (name, x) in &sp {
        put(&hr, &format!("{name}.wav"), 22_050, x);
    }
    put(&est, &format!("{}.wav", sp[0].0), 22_050, &sp[0].1);
    std::fs::write(est.join(format!("{}.wav", sp[1].0)), b"not audio").expect("write");
    put(&est, "unmatched.wav", 22_050, &sp[2].1);
    let mut nan = sp[2].1.clone();
    nan[100] = f32::NAN;
    put(&est, &format!("{}.wav", sp[2].0), 22_050, &sp[2].1);
    std::fs::write(
        est.join(format!("{}.wav", sp[2].0)),
        common::float_wav(22_050, &nan),
    )
    .expect("write");
    let run = widen([
        "eval".as_ref(),
        "-r".as_ref(),
        hr.as_os_str(),
        "-e".as_ref(),
        est.as_os_str(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 3, "{}", run.stderr);
    assert!(errors
        .iter()
        .any(|e| e.contains("unmatched.wav") && e.contains("no matching reference")));
    assert!(errors.iter().any(|e| e.contains(&sp[1].0)));
    assert!(errors
        .iter()
        .any(|e| e.contains(&sp[2].0) && e.contains("non-finite")));
    assert!(
        run.stdout.contains(&sp[0].0),
        "good file still scored:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("4 files, 3 failed"), "{}", run.stderr);

    // Nothing to compare at all: one line, exit 1.
    let missing = widen([
        "eval",
        "-r",
        "/nonexistent/ref.wav",
        "-e",
        "/nonexistent/est.wav",
    ]);
    assert_eq!(missing.code, 1);
    assert_eq!(error_lines(&missing.stderr).len(), 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("/nonexistent/"));

    // Too short for the metrics: a clear reason, no panic.
    let short = put(t.path(), "short.wav", 22_050, &sp[0].1[..200]);
    let run = widen([
        "eval".as_ref(),
        "-r".as_ref(),
        short.as_os_str(),
        "-e".as_ref(),
        short.as_os_str(),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("short.wav"), "{}", run.stderr);
}
