//! `widen info`: decoding and level statistics against libsndfile/numpy
//! (`scripts/fixtures/info_stats.py`), synthetic signals with known levels, table layout.

mod common;

use common::{sine, testdata_dir, widen, write_audio};
use serde_json::Value;
use widen_core::io::{Audio, SampleFormat};

#[test]
fn info_matches_libsndfile_reference() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/info_stats.json")).unwrap();
    let data = testdata_dir();
    let cases = fixture.as_array().unwrap();
    let paths: Vec<String> = cases
        .iter()
        .map(|c| data.join(c["file"].as_str().unwrap()).display().to_string())
        .collect();
    let mut args = vec!["info".to_string(), "--json".to_string()];
    args.extend(paths.iter().cloned());
    let r = widen(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, format!("{} files, 0 failed\n", cases.len()));
    let got: Value = serde_json::from_str(&r.stdout).unwrap();
    for (i, want) in cases.iter().enumerate() {
        let g = &got[i];
        let name = want["file"].as_str().unwrap();
        assert_eq!(g["path"], paths[i]);
        for key in ["sample_rate", "channels", "frames", "clipped_samples"] {
            assert_eq!(g[key], want[key], "{name}: {key}");
        }
        let close = |key: &str, tol: f64| {
            let (a, b) = (g[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            assert!(
                (a - b).abs() <= tol,
                "{name}: {key} = {a}, libsndfile/numpy {b}"
            );
        };
        // Vorbis decoders may differ in the last float bits; PCM must agree exactly.
        close("peak_dbfs", 1e-3);
        close("rms_dbfs", 1e-3);
        close("dc_offset", 1e-6);
        let lossy = want["subtype"] == "VORBIS";
        assert_eq!(g["container"], if lossy { "ogg" } else { "wav" }, "{name}");
        assert_eq!(
            g["codec"],
            if lossy { "vorbis" } else { "pcm_s16le" },
            "{name}"
        );
        assert_eq!(
            g["bits_per_sample"],
            if lossy { Value::Null } else { 16.into() },
            "{name}"
        );
        let secs = want["frames"].as_f64().unwrap() / want["sample_rate"].as_f64().unwrap();
        assert!((g["duration_secs"].as_f64().unwrap() - secs).abs() < 1e-9);
        assert!(g["bandwidth"]["verdict"].is_string());
    }
}

#[test]
fn synthetic_levels_clipping_and_dc() {
    let dir = tempfile::tempdir().unwrap();
    // Stereo, 1 s at 48 kHz: a 0.5 sine on both channels, +0.1 DC on the right channel,
    // and 10 samples forced to full scale on the left.
    let mut a = sine(48_000, 2, 1.0, 1000.0, 0.5);
    for (i, x) in a.samples.iter_mut().enumerate() {
        if i % 2 == 1 {
            *x += 0.1;
        }
    }
    for k in 0..10 {
        a.samples[2 * (1000 + 37 * k)] = 1.0;
    }
    let wav = dir.path().join("levels.wav");
    write_audio(&wav, &a, SampleFormat::I24);
    let flac = dir.path().join("levels.flac");
    write_audio(&flac, &a, SampleFormat::I16);
    let r = widen([
        "info",
        "--json",
        wav.to_str().unwrap(),
        flac.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    for (i, (container, codec, bits)) in [("wav", "pcm_s24le", 24), ("flac", "flac", 16)]
        .iter()
        .enumerate()
    {
        let g = &v[i];
        assert_eq!(g["container"], *container);
        assert_eq!(g["codec"], *codec);
        assert_eq!(g["bits_per_sample"], *bits);
        assert_eq!(g["sample_format"], "int");
        assert_eq!(g["channels"], 2);
        assert_eq!(g["frames"], 48_000);
        assert_eq!(g["duration_secs"], 1.0);
        // 1.0 is written as the largest code, which is still >= 0.999.
        assert_eq!(g["clipped_samples"], 10, "{codec}");
        assert!(g["peak_dbfs"].as_f64().unwrap().abs() < 0.01, "{codec}");
        // Right channel mean is 0.1 (the sine averages out over whole periods).
        assert!(
            (g["dc_offset"].as_f64().unwrap() - 0.1).abs() < 1e-3,
            "{codec}"
        );
        // RMS: sine power 0.125 on both channels + DC 0.01 on one, averaged, plus the clips.
        let expected_ms: f64 = 0.125 + 0.01 / 2.0;
        let rms = g["rms_dbfs"].as_f64().unwrap();
        assert!(
            (rms - 10.0 * expected_ms.log10()).abs() < 0.05,
            "{codec}: {rms}"
        );
    }
}

#[test]
fn silence_is_reported_as_silent_at_the_floor_level() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("silence.flac");
    let a = Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: vec![0.0; 16_000],
    };
    write_audio(&p, &a, SampleFormat::I16);
    let r = widen(["info", "--json", p.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["peak_dbfs"], -200.0);
    assert_eq!(v[0]["bandwidth"]["verdict"], "silent");
}

#[test]
fn table_has_one_aligned_line_per_file() {
    let dir = testdata_dir().join("ktuberling/es");
    let r = widen(["info", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(r.stderr, "12 files, 0 failed\n");
    // Right-aligned columns end at the same character in every line.
    for col in [" Hz", " ch", " dBFS", " kHz"] {
        let ends: Vec<usize> = lines
            .iter()
            .map(|l| l.find(col).unwrap() + col.len())
            .collect();
        assert!(
            ends.iter().all(|&e| e == ends[0]),
            "column {col:?} not aligned:\n{}",
            r.stdout
        );
    }
    for l in &lines {
        assert!(
            l.contains("wav/pcm_s16le") && l.contains("16-bit int"),
            "{l}"
        );
        let verdict = l.split_whitespace().last().unwrap();
        let expected = if l.contains(" 8000 Hz") {
            "narrow-band"
        } else {
            "wide-band"
        };
        assert_eq!(verdict, expected, "{l}");
    }
}
