//! Bad input for `widen info` and `widen check-bw`: every broken file gives exactly one
//! line `error: <path>: <reason>`, the other files are still processed, exit code 1 when
//! anything failed, and nothing panics.

mod common;

use std::path::{Path, PathBuf};

use common::{error_lines, float_wav, sine, wav_bytes, widen, write_audio};
use serde_json::Value;
use widen_core::io::SampleFormat;

const COMMANDS: [&str; 2] = ["info", "check-bw"];

/// Writes the broken files into `dir`; returns (path, expected reason) pairs.
fn bad_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut cases = Vec::new();
    let mut add = |name: &str, bytes: &[u8], reason: &str| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        cases.push((p, reason.to_string()));
    };
    add("empty.wav", b"", "empty file (0 bytes)");
    let good = wav_bytes(1, 1, 16_000, 16, 3200, &[0u8; 3200]);
    add(
        "truncated_header.wav",
        &good[..30],
        "invalid WAV header: truncated: file ends at byte 30 inside the fmt chunk",
    );
    add(
        "text.wav",
        b"This is a text file that only pretends to be audio.\n",
        "not a supported audio file (no RIFF/fLaC/OggS/ID3 header)",
    );
    add(
        "zero_frames.wav",
        &wav_bytes(1, 1, 16_000, 16, 0, &[]),
        "no audio samples",
    );
    let mut x: Vec<f32> = (0..1000).map(|i| 0.1 * (i as f32 * 0.05).sin()).collect();
    for (k, i) in (0..1000).step_by(84).enumerate() {
        x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k % 3];
    }
    add(
        "nan_inf.wav",
        &float_wav(16_000, &x),
        "12 non-finite samples (NaN/Inf)",
    );
    add(
        "rate_1hz.wav",
        &wav_bytes(1, 1, 1, 16, 2000, &[0u8; 2000]),
        "sample rate 1 Hz is out of range 1000..=768000 Hz",
    );
    add(
        "truncated_data.wav",
        &wav_bytes(1, 1, 48_000, 16, 96_000, &[0u8; 2400]),
        "truncated: header says 48000 frames, file holds 1200",
    );
    cases
}

fn assert_single_failure(cmd: &str, path: &Path, reason: &str) {
    let r = widen([cmd, path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{cmd} {}: {}", path.display(), r.stderr);
    assert_eq!(
        r.stderr,
        format!("error: {}: {reason}\n", path.display()),
        "{cmd}"
    );
    assert_eq!(r.stdout, "", "{cmd}");
    let r = widen([cmd, "--json", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert_eq!(error_lines(&r.stderr).len(), 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["path"], path.display().to_string());
    assert_eq!(arr[0]["error"], format!("{}: {reason}", path.display()));
}

#[test]
fn each_broken_file_fails_alone_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = bad_files(dir.path());
    let missing = dir.path().join("does_not_exist.wav");
    for cmd in COMMANDS {
        for (path, reason) in &cases {
            assert_single_failure(cmd, path, reason);
        }
        assert_single_failure(cmd, &missing, "cannot open: No such file or directory");
    }
}

#[test]
fn sixty_four_channels_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ch64.wav");
    write_audio(&path, &sine(16_000, 64, 0.5, 440.0, 0.5), SampleFormat::I16);
    for cmd in COMMANDS {
        let r = widen([cmd, "--json", path.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{cmd}: {}", r.stderr);
        assert_eq!(r.stderr, "");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v[0]["channels"], 64, "{cmd}");
        assert!(v[0].get("error").is_none());
    }
}

#[test]
fn folder_mixing_good_and_bad_files_processes_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(mixed.join("sub")).unwrap();
    let bad = bad_files(&mixed);
    let good = [
        mixed.join("good.wav"),
        mixed.join("good.flac"),
        mixed.join("ch64.wav"),
        mixed.join("sub").join("nested.wav"),
    ];
    write_audio(
        &good[0],
        &sine(16_000, 1, 0.5, 440.0, 0.5),
        SampleFormat::I16,
    );
    write_audio(
        &good[1],
        &sine(44_100, 2, 0.5, 1000.0, 0.5),
        SampleFormat::I24,
    );
    write_audio(
        &good[2],
        &sine(16_000, 64, 0.2, 440.0, 0.5),
        SampleFormat::F32,
    );
    write_audio(
        &good[3],
        &sine(8_000, 1, 0.5, 300.0, 0.5),
        SampleFormat::I16,
    );
    // Not audio by name: skipped by the folder walk, not counted.
    std::fs::write(mixed.join("notes.txt"), "hello").unwrap();
    std::fs::write(mixed.join("half.wav.partial"), "x").unwrap();
    let total = good.len() + bad.len();

    for cmd in COMMANDS {
        let r = widen([cmd, mixed.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{cmd}: {}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), good.len(), "{cmd}:\n{}", r.stdout);
        for g in &good {
            assert!(
                r.stdout.contains(&g.display().to_string()),
                "{cmd}: {} missing",
                g.display()
            );
        }
        let errors = error_lines(&r.stderr);
        assert_eq!(errors.len(), bad.len(), "{cmd}:\n{}", r.stderr);
        for (path, reason) in &bad {
            let want = format!("error: {}: {reason}", path.display());
            assert!(
                errors.contains(&want.as_str()),
                "{cmd}: missing {want}\n{}",
                r.stderr
            );
        }
        assert_eq!(
            r.stderr.lines().last().unwrap(),
            format!("{total} files, {} failed", bad.len())
        );
        // Every stderr line is an error line or the summary.
        assert_eq!(r.stderr.lines().count(), bad.len() + 1);

        let r = widen([cmd, "--json", mixed.to_str().unwrap()]);
        assert_eq!(r.code, 1);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), total);
        assert_eq!(
            arr.iter().filter(|o| o.get("error").is_some()).count(),
            bad.len()
        );
        // Sorted walk: the JSON follows file-name order.
        let paths: Vec<&str> = arr.iter().map(|o| o["path"].as_str().unwrap()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
    }
}

#[test]
fn good_file_plus_missing_path_reports_both() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a.wav");
    write_audio(&good, &sine(16_000, 1, 0.3, 440.0, 0.5), SampleFormat::I16);
    let missing = dir.path().join("nope.flac");
    for cmd in COMMANDS {
        let r = widen([cmd, good.to_str().unwrap(), missing.to_str().unwrap()]);
        assert_eq!(r.code, 1);
        assert_eq!(r.stdout.lines().count(), 1);
        assert_eq!(
            r.stderr,
            format!(
                "error: {}: cannot open: No such file or directory\n2 files, 1 failed\n",
                missing.display()
            )
        );
    }
}

#[test]
fn empty_folder_is_a_failure_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in COMMANDS {
        let r = widen([cmd, dir.path().to_str().unwrap()]);
        assert_eq!(r.code, 1);
        let errors = error_lines(&r.stderr);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("no audio files found"), "{}", r.stderr);
    }
}

#[test]
fn usage_errors_exit_2() {
    for cmd in COMMANDS {
        assert_eq!(widen([cmd]).code, 2, "{cmd} without files");
        assert_eq!(widen([cmd, "--bogus", "x.wav"]).code, 2);
    }
    assert_eq!(widen(["no-such-command"]).code, 2);
    assert_eq!(widen(["check-bw", "--fraction", "0", "x.wav"]).code, 2);
    assert_eq!(widen(["check-bw", "--fraction", "1.01", "x.wav"]).code, 2);
    assert_eq!(widen(["check-bw", "--fraction", "abc", "x.wav"]).code, 2);
}
