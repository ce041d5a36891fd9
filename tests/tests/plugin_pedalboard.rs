//! A third-party host: Spotify's `pedalboard` (PyPI; JUCE's VST3 hosting) loads the built
//! `target/bundle/widen.vst3` and processes a WAV file of real speech
//! (`scripts/plugin_pedalboard.py`). pedalboard compensates the latency the plugin reports, so
//! an exact report shows up as a zero lag between input and output.
//!
//! Python: `$WIDEN_PYTHON`, else `.cache/venv/bin/python` (made by `scripts/setup-tests.sh`,
//! whose pip list has pedalboard).

mod plugin_common;

use std::path::PathBuf;
use std::process::Command;

use plugin_common::*;

fn python() -> PathBuf {
    std::env::var_os("WIDEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/venv/bin/python"))
}

#[test]
fn pedalboard_loads_the_vst3_and_processes_a_file() {
    let py = python();
    let probe = Command::new(&py).args(["-c", "import pedalboard"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import pedalboard: run scripts/setup-tests.sh ({:?})",
        py.display(),
        probe.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
    let rate = 44_100;
    let x = band_limited_speech(rate, 3.0);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&src, spec).unwrap();
    for v in &x {
        w.write_sample(*v).unwrap();
    }
    w.finalize().unwrap();

    let out = Command::new(&py)
        .arg(root().join("scripts/plugin_pedalboard.py"))
        .arg(bundle_dir().join("widen.vst3"))
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pedalboard run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or("");
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    eprintln!("{r}");
    assert_eq!(r["finite"], true);
    assert_eq!(r["frames_out"], r["frames_in"]);
    assert_eq!(
        r["lag"], 0,
        "pedalboard compensates the reported latency: lag must be 0"
    );
    let params: Vec<&str> = r["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    for p in [
        "mix",
        "output_gain_db",
        "bypass",
        "quality_mode",
        "band_limit_input",
    ] {
        assert!(params.contains(&p), "parameter {p} missing from {params:?}");
    }
    let (pin, pout) = (
        r["peak_in"].as_f64().unwrap(),
        r["peak_out"].as_f64().unwrap(),
    );
    assert!(
        pout > 0.5 * pin && pout < 2.0 * pin,
        "peaks in {pin} out {pout}"
    );
    let y = hound::WavReader::open(&dst).unwrap();
    assert_eq!(y.spec().sample_rate, rate);
}
