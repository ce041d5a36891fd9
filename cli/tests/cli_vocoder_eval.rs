//! `widen vocoder-eval` end to end: real ONNX Runtime, the embedded quality set, real speech
//! (ktuberling words at 44.1 kHz), a corrupt file among them.

mod common;

use common::{error_lines, testdata_dir, widen};
use serde_json::Value;

#[test]
fn rebuilds_speech_from_its_mel_scores_every_system_and_saves_recons() {
    let t = tempfile::tempdir().expect("tmp");
    let hr = t.path().join("hr");
    std::fs::create_dir_all(&hr).expect("mkdir");
    for name in ["bouche", "chapeau"] {
        std::fs::copy(
            testdata_dir().join(format!("ktuberling/fr/{name}.wav")),
            hr.join(format!("{name}.wav")),
        )
        .expect("copy test word");
    }
    std::fs::write(hr.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEfmt ").expect("write");
    let out = t.path().join("recon");
    let run = widen([
        "vocoder-eval".as_ref(),
        "--hr-dir".as_ref(),
        hr.as_os_str(),
        "--griffin-iters".as_ref(),
        "8".as_ref(),
        "--save-recon".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    // The corrupt file fails alone, in one line; the others are scored.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("broken.wav"), "{}", errors[0]);
    let v: Value = serde_json::from_str(&run.stdout).expect("json report");
    let rows = v["rows"].as_array().expect("rows");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["system"] == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    };
    for r in rows {
        assert_eq!(r["mean"]["files"], 2, "{r}");
        assert!(r["realtime_factor"].as_f64().expect("speed") > 0.0);
    }
    // Spliced rows keep the original below 4 kHz: far closer to it than pure resynthesis.
    for s in ["griffin-lim", "vocoder"] {
        let pure = row(s)["mean"]["snr_db"].as_f64().expect("snr");
        let spliced = row(&format!("{s}+splice"))["mean"]["snr_db"]
            .as_f64()
            .expect("snr");
        eprintln!("{s}: SNR pure {pure:.2} dB, spliced {spliced:.2} dB");
        assert!(
            spliced > 20.0 && spliced > pure + 10.0,
            "{s}: {pure} vs {spliced}"
        );
    }
    // The true mel gives a close high band with phase copy (LSD-HF well below the ~4-5 of a
    // missing band), and PESQ-WB near the top of the scale.
    let pc = &row("phase-copy+splice")["mean"];
    eprintln!("phase copy: {pc}");
    assert!(pc["lsd_hf"].as_f64().expect("lsd_hf") < 1.5, "{pc}");
    assert!(pc["pesq_wb"].as_f64().expect("pesq") > 4.0, "{pc}");
    for s in [
        "vocoder",
        "griffin-lim",
        "vocoder+splice",
        "griffin-lim+splice",
        "phase-copy+splice",
    ] {
        for name in ["bouche", "chapeau"] {
            let p = out.join(s).join(format!("{name}.wav"));
            let a = widen_core::io::read(&p).expect("saved reconstruction");
            assert_eq!(a.sample_rate, 22_050, "{}", p.display());
        }
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let t = tempfile::tempdir().expect("tmp");
    let run = widen(["vocoder-eval", "--hr-dir", "/nonexistent/dir"]);
    assert_eq!(run.code, 1);
    assert_eq!(error_lines(&run.stderr).len(), 1, "{}", run.stderr);
    let run = widen([
        "vocoder-eval".as_ref(),
        "--hr-dir".as_ref(),
        t.path().as_os_str(),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no audio files"), "{}", run.stderr);
}
