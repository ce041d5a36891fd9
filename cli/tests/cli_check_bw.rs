//! `widen check-bw`: verdicts on real speech, a low-passed copy, `--fraction`, output forms.

mod common;

use common::{lowpass, testdata_dir, widen, write_audio};
use serde_json::Value;
use widen_core::io::{read, Audio, SampleFormat};

fn json_of(args: &[&str]) -> Value {
    let mut all = vec!["check-bw", "--json"];
    all.extend_from_slice(args);
    let r = widen(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn real_speech_verdicts_follow_the_recording_bandwidth() {
    let data = testdata_dir().join("ktuberling");
    for lang in ["es", "ro"] {
        let v = json_of(&[data.join(lang).to_str().unwrap()]);
        let arr = v.as_array().unwrap();
        assert!(arr.len() >= 12);
        for o in arr {
            let rate = o["sample_rate"].as_u64().unwrap();
            let want = if rate == 8_000 {
                "narrow-band"
            } else {
                "wide-band"
            };
            assert_eq!(o["verdict"], want, "{o}");
            if rate == 8_000 {
                assert!(o["rolloff_50db_hz"].as_f64().unwrap() <= 4_000.0);
            }
            assert_eq!(o["energy_fraction"], 0.99);
            assert_eq!(o["nyquist_hz"].as_f64().unwrap(), rate as f64 / 2.0);
        }
    }
}

#[test]
fn low_passed_speech_is_narrow_band_with_cutoff_near_4khz() {
    let src = testdata_dir().join("ktuberling/ro/ochelari.wav");
    let a = read(&src).unwrap();
    assert_eq!(a.sample_rate, 44_100);
    let dir = tempfile::tempdir().unwrap();
    let lp = dir.path().join("lp4k.wav");
    let y = lowpass(&a.to_mono(), 4_000.0, 44_100.0, 1023);
    write_audio(
        &lp,
        &Audio {
            sample_rate: 44_100,
            channels: 1,
            samples: y,
        },
        SampleFormat::F32,
    );
    let v = json_of(&[src.to_str().unwrap(), lp.to_str().unwrap()]);
    assert_eq!(v[0]["verdict"], "wide-band");
    assert_eq!(v[1]["verdict"], "narrow-band");
    let cutoff = v[1]["cutoff_hz"].as_f64().unwrap();
    assert!((cutoff - 4_000.0).abs() <= 300.0, "cutoff {cutoff}");
}

#[test]
fn fraction_option_moves_the_energy_bandwidth() {
    let f = testdata_dir().join("ktuberling/fr/pizzeria_poivron.wav");
    let p = f.to_str().unwrap();
    let half = json_of(&["--fraction", "0.5", p]);
    let most = json_of(&["--fraction", "0.999", p]);
    assert_eq!(half[0]["energy_fraction"], 0.5);
    assert_eq!(most[0]["energy_fraction"], 0.999);
    let (h, m) = (
        half[0]["energy_bw_hz"].as_f64().unwrap(),
        most[0]["energy_bw_hz"].as_f64().unwrap(),
    );
    assert!(h < m, "{h} !< {m}");
    // The fraction does not change the roll-off or the verdict.
    assert_eq!(half[0]["rolloff_50db_hz"], most[0]["rolloff_50db_hz"]);
    assert_eq!(half[0]["verdict"], most[0]["verdict"]);
}

#[test]
fn table_lines_are_aligned_and_name_the_verdict() {
    let dir = testdata_dir().join("ktuberling/es");
    let r = widen(["check-bw", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 12);
    for col in [" Hz", "roll-off", "cutoff"] {
        let at: Vec<usize> = lines.iter().map(|l| l.find(col).unwrap()).collect();
        assert!(
            at.iter().all(|&e| e == at[0]),
            "column {col:?} not aligned:\n{}",
            r.stdout
        );
    }
    assert!(lines.iter().all(|l| l.contains("energy 99% < ")));
    assert_eq!(
        lines.iter().filter(|l| l.ends_with("narrow-band")).count(),
        11
    );
    assert_eq!(lines.iter().filter(|l| l.ends_with("wide-band")).count(), 1);
}
