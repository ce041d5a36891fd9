//! Model sets on real ONNX Runtime: the embedded defaults load and run on real speech, a copied
//! folder loads the same, the receptive fields the sidecars declare are the ones the models have,
//! and every way of getting a sidecar or model file wrong is a typed error naming field, expected
//! and actual (or the file).

mod common;
mod ort_support;

use std::path::Path;

use ort_support::require_ort;
use serde_json::{json, Value};
use widen_core::config::{self, MelConfig};
use widen_core::dsp::{resample, LogMel, MelFilterbank};
use widen_core::model::{sha256_hex, ModelError, ModelSet, Variant};
use widen_core::runtime::{ModelRuntime, OrtModel, RuntimeError, SessionOptions};

fn cpu() -> SessionOptions {
    SessionOptions::default()
}

/// Log-mel (`[n_mels, T]`) of a few seconds of real French speech at 22.05 kHz, band-limited
/// through 8 kHz (the narrow-band input the generator sees) or not.
fn speech_mel(mel: &MelConfig, narrow: bool) -> (Vec<f32>, usize) {
    let clips = common::speech_clips("fr", 44_100);
    assert!(clips.len() >= 3, "need 3 fr clips at 44.1 kHz");
    let mut x = Vec::new();
    for clip in &clips[..3] {
        let audio = widen_core::io::read(clip).expect("read clip");
        x.extend(resample(&audio.to_mono(), 44_100, config::SAMPLE_RATE).expect("resample"));
    }
    if narrow {
        let nb = resample(&x, config::SAMPLE_RATE, config::NARROW_BAND_RATE).expect("down");
        x = resample(&nb, config::NARROW_BAND_RATE, config::SAMPLE_RATE).expect("up");
    }
    let spec = LogMel::new(mel.clone()).expect("log-mel").compute(&x);
    (spec.data, spec.n_frames)
}

fn run(model: &mut OrtModel, x: &[f32], channels: usize, frames: usize) -> Vec<Vec<f32>> {
    let mut outs = vec![Vec::new(); model.output_names().len()];
    model.run(x, channels, frames, &mut outs).expect("run");
    outs
}

/// Runs one embedded set on narrow- and wide-band speech and checks the contract's shapes and
/// ranges, what the trained generator does (raises the empty high band of narrow-band input,
/// keeps the low band) and what the placeholder vocoder promises (magnitude ~ the spectrum the
/// mel came from).
fn check_embedded_runs(variant: Variant) {
    require_ort();
    let set = ModelSet::embedded(variant).expect("embedded set");
    let sc = set.sidecar();
    assert_eq!(sc.variant, variant);
    let mel = set.mel_config();
    match variant {
        Variant::Quality => assert_eq!(mel, MelConfig::default()),
        Variant::LowLatency => assert_eq!(mel, MelConfig::low_latency()),
    }
    assert!(sc.provenance.trained, "the default generators are trained");
    let (mut generator, mut vocoder) = set.instantiate(&cpu()).expect("instantiate");
    assert_eq!(generator.output_names(), ["mel_hr"]);
    assert_eq!(vocoder.output_names(), ["mag", "cos", "sin"]);
    let n_bins = mel.n_bins();
    assert_eq!(vocoder.output_channels(), [n_bins; 3]);

    let fb = MelFilterbank::new(&mel).expect("filterbank");
    for narrow in [true, false] {
        let (mel_lr, t) = speech_mel(&mel, narrow);
        let outs = run(&mut generator, &mel_lr, config::N_MELS, t);
        let mel_hr = &outs[0];
        assert_eq!(mel_hr.len(), config::N_MELS * t);
        assert!(
            mel_hr.iter().all(|v| v.is_finite()),
            "generator output not finite"
        );
        // Bands by centre frequency: below 3 kHz (kept) and 4.5-8 kHz (created).
        let centre = |m: usize| {
            let lo = widen_core::dsp::mel::hz_to_mel(mel.f_min as f64, mel.scale);
            let hi = widen_core::dsp::mel::hz_to_mel(mel.f_max as f64, mel.scale);
            widen_core::dsp::mel::mel_to_hz(
                lo + (hi - lo) * (m + 1) as f64 / (mel.n_mels + 1) as f64,
                mel.scale,
            )
        };
        let mean_diff = |keep: &dyn Fn(f64) -> bool| {
            let (mut s, mut n) = (0.0f64, 0usize);
            for m in (0..config::N_MELS).filter(|&m| keep(centre(m))) {
                for f in 0..t {
                    s += f64::from(mel_hr[m * t + f] - mel_lr[m * t + f]);
                    n += 1;
                }
            }
            s / n.max(1) as f64
        };
        let low = mean_diff(&|hz| hz < 3_000.0);
        let high = mean_diff(&|hz| (4_500.0..8_000.0).contains(&hz));
        eprintln!("{variant} narrow={narrow}: T={t}, mean mel_hr - mel_lr: below 3 kHz {low:.3}, 4.5-8 kHz {high:.3} nepers");
        assert!(
            low.abs() < 0.5,
            "{variant}: the generator moved the low band by {low} nepers"
        );
        if narrow {
            assert!(
                high > 2.0,
                "{variant}: the generator raised the empty high band by only {high} nepers"
            );
        }

        let outs = run(&mut vocoder, mel_hr, config::N_MELS, t);
        for (name, o) in ["mag", "cos", "sin"].iter().zip(&outs) {
            assert_eq!(o.len(), n_bins * t, "{name} length");
            assert!(o.iter().all(|v| v.is_finite()), "{name} not finite");
        }
        let (mag, cos, sin) = (&outs[0], &outs[1], &outs[2]);
        assert!(mag
            .iter()
            .all(|&m| (0.0..=config::model::MAG_MAX).contains(&m)));
        let unit = cos
            .iter()
            .zip(sin)
            .map(|(c, s)| (c * c + s * s - 1.0).abs())
            .fold(0.0f32, f32::max);
        assert!(unit < 1e-5, "cos^2 + sin^2 off by {unit}");

        // The mel of the vocoder's magnitude against the mel it was given, over bands with
        // speech energy: the loop must roughly close. (The trained vocoders' heads are trained
        // through the iSTFT, so their per-frame magnitudes need not match the mel exactly: measured
        // 0.62 nepers quality, 0.69 low-latency; a silent or random head is off by several.)
        let mut frame = vec![0.0f32; n_bins];
        let mut bands = vec![0.0f32; config::N_MELS];
        let (mut err_sum, mut count) = (0.0f64, 0usize);
        for f in 0..t {
            for (k, v) in frame.iter_mut().enumerate() {
                *v = mag[k * t + f];
            }
            fb.apply(&frame, &mut bands).expect("apply");
            for (m, b) in bands.iter().enumerate() {
                let want = mel_hr[m * t + f];
                if want > -4.0 {
                    err_sum += f64::from((b.max(mel.log_clamp).ln() - want).abs());
                    count += 1;
                }
            }
        }
        let err = err_sum / count.max(1) as f64;
        eprintln!("{variant} narrow={narrow}: vocoder mel round trip mean |error| {err:.3} nepers over {count} cells");
        assert!(count > 1000, "too few speech cells ({count})");
        assert!(
            err < 0.8,
            "vocoder magnitude does not follow the mel: {err}"
        );
    }
}

#[test]
fn embedded_quality_set_runs_on_speech() {
    check_embedded_runs(Variant::Quality);
}

#[test]
fn embedded_low_latency_set_runs_on_speech() {
    check_embedded_runs(Variant::LowLatency);
}

/// Output frames (of any output) that differ between two runs, as a sorted list.
fn changed_frames(a: &[Vec<f32>], b: &[Vec<f32>], frames: usize) -> Vec<usize> {
    (0..frames)
        .filter(|&f| {
            a.iter().zip(b).any(|(x, y)| {
                let ch = x.len() / frames;
                (0..ch).any(|c| x[c * frames + f] != y[c * frames + f])
            })
        })
        .collect()
}

/// Perturbs one input frame and finds which output frames change: exactly the frames whose
/// receptive field covers it, `t - context_right ..= t + context_left`.
#[test]
fn declared_receptive_fields_match_the_models() {
    require_ort();
    for variant in Variant::ALL {
        let set = ModelSet::embedded(variant).expect("embedded");
        let sc = set.sidecar().clone();
        let (mut generator, mut vocoder) = set.instantiate(&cpu()).expect("instantiate");
        let frames = 160;
        let m = config::N_MELS;
        let base = ort_support::signal(11, m, frames)
            .iter()
            .map(|v| 3.0 * v - 4.0)
            .collect::<Vec<f32>>();
        let models: [(&str, &mut OrtModel, usize, usize); 2] = [
            (
                "generator",
                &mut generator,
                sc.generator.context_left,
                sc.generator.context_right,
            ),
            (
                "vocoder",
                &mut vocoder,
                sc.vocoder.context_left,
                sc.vocoder.context_right,
            ),
        ];
        for (name, model, left, right) in models {
            let reference = run(model, &base, m, frames);
            for t in [70, 90] {
                let mut x = base.clone();
                for c in 0..m {
                    x[c * frames + t] += 2.0;
                }
                let got = changed_frames(&reference, &run(model, &x, m, frames), frames);
                let want: Vec<usize> = (t - right..=t + left).collect();
                eprintln!(
                    "{variant} {name}: frame {t} changes frames {:?}..={:?} (declared -{left}/+{right})",
                    got.first(),
                    got.last()
                );
                assert_eq!(got, want, "{variant} {name}: perturbing frame {t}");
            }
        }
        if variant == Variant::LowLatency {
            assert!(
                sc.generator.context_right + sc.vocoder.context_right
                    <= config::low_latency::MAX_LOOKAHEAD_FRAMES
            );
        }
    }
}

/// Writes the embedded quality set into `dir` and returns its sidecar as JSON.
fn write_copy(dir: &Path) -> Value {
    let set = ModelSet::embedded_default().expect("embedded");
    std::fs::write(dir.join("generator.onnx"), set.generator_bytes()).expect("write");
    std::fs::write(dir.join("vocoder.onnx"), set.vocoder_bytes()).expect("write");
    let json = set.sidecar().to_json().expect("json");
    std::fs::write(dir.join("widen.json"), &json).expect("write");
    serde_json::from_str(&json).expect("parse")
}

fn write_sidecar(dir: &Path, v: &Value) {
    let text = serde_json::to_string_pretty(v).expect("json");
    std::fs::write(dir.join("widen.json"), text).expect("write");
}

#[test]
fn copied_folder_loads_and_runs_like_the_embedded_set() {
    require_ort();
    let dir = tempfile::tempdir().expect("tmp");
    write_copy(dir.path());
    let embedded = ModelSet::embedded_default().expect("embedded");
    let copy = ModelSet::load_dir(dir.path()).expect("load copy");
    assert_eq!(copy.sidecar(), embedded.sidecar());
    assert!(copy.generator_label().ends_with("generator.onnx"));
    assert!(copy
        .sidecar_label()
        .starts_with(&dir.path().display().to_string()));

    let (mut g1, mut v1) = embedded.instantiate(&cpu()).expect("embedded");
    let (mut g2, mut v2) = copy.instantiate(&cpu()).expect("copy");
    assert_eq!(
        g2.label(),
        dir.path().join("generator.onnx").display().to_string()
    );
    let x = ort_support::signal(5, 80, 37)
        .iter()
        .map(|v| 2.0 * v - 5.0)
        .collect::<Vec<f32>>();
    assert_eq!(run(&mut g1, &x, 80, 37), run(&mut g2, &x, 80, 37));
    assert_eq!(run(&mut v1, &x, 80, 37), run(&mut v2, &x, 80, 37));

    // from_memory with the same bytes is the same set too.
    let json = std::fs::read(dir.path().join("widen.json")).expect("read");
    let mem = ModelSet::from_memory(&json, embedded.generator_bytes(), embedded.vocoder_bytes())
        .expect("from_memory");
    assert_eq!(mem.sidecar(), embedded.sidecar());
    assert_eq!(mem.generator_label(), "memory:generator.onnx");
}

/// Loads the copied quality set after `edit` changes its sidecar JSON.
fn load_edited(edit: impl FnOnce(&mut Value)) -> ModelError {
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = write_copy(dir.path());
    edit(&mut v);
    write_sidecar(dir.path(), &v);
    ModelSet::load_dir(dir.path()).expect_err("edited sidecar must be rejected")
}

fn assert_field(err: &ModelError, field: &str, expected: &str, actual: &str) {
    let msg = err.to_string();
    eprintln!("{field}: {msg}");
    match err {
        ModelError::Field {
            file,
            field: f,
            expected: e,
            actual: a,
        } => {
            assert_eq!(f, field, "{msg}");
            assert!(e.contains(expected), "expected `{e}` to mention {expected}");
            assert_eq!(a, actual, "{msg}");
            assert!(file.ends_with("widen.json"), "{msg}");
        }
        other => panic!("expected a Field error for {field}, got {other:?}"),
    }
    for part in [field, expected, actual, "widen.json"] {
        assert!(msg.contains(part), "message `{msg}` lacks `{part}`");
    }
}

#[test]
fn wrong_sidecar_fields_are_typed_errors() {
    let e = load_edited(|v| v["n_mels"] = json!(64));
    assert_field(&e, "n_mels", "80", "64");
    let e = load_edited(|v| v["sample_rate"] = json!(16000));
    assert_field(&e, "sample_rate", "22050", "16000");
    let e = load_edited(|v| v["hop"] = json!(300));
    assert_field(&e, "hop", "256", "300");
    let e = load_edited(|v| v["n_fft"] = json!(512));
    assert_field(&e, "n_fft", "1024", "512");
    let e = load_edited(|v| v["f_max"] = json!(8000.0));
    assert_field(&e, "f_max", "11025", "8000");
    let e = load_edited(|v| v["mel_norm"] = json!("slaney"));
    assert_field(&e, "mel_norm", "null", "\"slaney\"");
    let e = load_edited(|v| v["power"] = json!(2.0));
    assert_field(&e, "power", "1", "2");
    let e = load_edited(|v| v["default_synthesis"] = json!("wavenet"));
    assert_field(
        &e,
        "default_synthesis",
        r#""vocoder", "phase-copy", "griffin-lim""#,
        "\"wavenet\"",
    );
    let e = load_edited(|v| v["variant"] = json!("turbo"));
    assert_field(&e, "variant", r#""quality", "low-latency""#, "\"turbo\"");
    let e = load_edited(|v| v["log_base"] = json!("10"));
    assert_field(&e, "log_base", "\"e\"", "\"10\"");
    let e = load_edited(|v| v["generator"]["file"] = json!("../generator.onnx"));
    assert_field(&e, "generator.file", "a file name", "\"../generator.onnx\"");
    let e = load_edited(|v| v["vocoder"]["sha256"] = json!("abc"));
    assert_field(&e, "vocoder.sha256", "64 hexadecimal digits", "\"abc\"");
    let e = load_edited(|v| v["generator"]["context_left"] = json!(100000));
    assert_field(&e, "generator.context_left", "at most 512", "100000");
    let e = load_edited(|v| v["cutoff_hz"] = json!(12000.0));
    assert_field(&e, "cutoff_hz", "11025", "12000");
    let e = load_edited(|v| v["crossover_bins"] = json!(400));
    assert_field(&e, "crossover_bins", "< 256", "400");
    let e = load_edited(|v| v["default_amount"] = json!(-1.0));
    assert_field(&e, "default_amount", ">= 0", "-1");
    let e = load_edited(|v| v["vocoder"]["outputs"]["sin"] = json!("cos"));
    assert_field(&e, "vocoder.outputs", "distinct", r#""mag", "cos", "cos""#);
}

#[test]
fn low_latency_sidecar_is_checked_for_consistency() {
    let set = ModelSet::embedded(Variant::LowLatency).expect("embedded");
    let good: Value = serde_json::from_str(&set.sidecar().to_json().expect("json")).expect("v");
    let load = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        let text = serde_json::to_vec(&v).expect("json");
        ModelSet::from_memory(&text, set.generator_bytes(), set.vocoder_bytes())
            .expect_err("must be rejected")
    };
    assert_field(
        &load(&|v| v["hop"] = json!(100)),
        "hop",
        "divisor of n_fft (512)",
        "100",
    );
    assert_field(
        &load(&|v| v["hop"] = json!(512)),
        "hop",
        "at most win / 2",
        "512",
    );
    assert_field(
        &load(&|v| v["win"] = json!(1024)),
        "win",
        "at most n_fft",
        "1024",
    );
    assert_field(&load(&|v| v["n_fft"] = json!(511)), "n_fft", "even", "511");
    assert_field(
        &load(&|v| v["f_max"] = json!(12000.0)),
        "f_max",
        "11025",
        "12000",
    );
    assert_field(
        &load(&|v| v["generator"]["context_right"] = json!(2)),
        "generator.context_right + vocoder.context_right",
        "at most 2 frames",
        "2 + 1 = 3",
    );
    // A consistent smaller STFT is fine as far as the sidecar goes.
    let mut v = good.clone();
    v["n_fft"] = json!(256);
    v["hop"] = json!(64);
    v["win"] = json!(256);
    let smaller = ModelSet::from_memory(
        &serde_json::to_vec(&v).expect("json"),
        set.generator_bytes(),
        set.vocoder_bytes(),
    )
    .map(|s| s.mel_config());
    assert_eq!(smaller.expect("consistent").n_fft, 256);
}

#[test]
fn format_version_schema_and_json_errors() {
    let e = load_edited(|v| v["format_version"] = json!(99));
    let msg = e.to_string();
    assert!(
        matches!(&e, ModelError::FormatVersion { supported: 1, actual, .. } if actual == "99"),
        "{e:?}"
    );
    assert!(
        msg.contains("format_version") && msg.contains("expected 1, found 99"),
        "{msg}"
    );

    let e = load_edited(|v| {
        v.as_object_mut().expect("object").remove("hop");
    });
    assert!(matches!(e, ModelError::Schema { .. }), "{e:?}");
    assert!(e.to_string().contains("missing field `hop`"), "{e}");

    let e = load_edited(|v| v["n_mel"] = json!(80));
    assert!(e.to_string().contains("unknown field `n_mel`"), "{e}");

    let e = load_edited(|v| v["n_mels"] = json!("80"));
    assert!(e.to_string().contains("invalid type"), "{e}");

    let dir = tempfile::tempdir().expect("tmp");
    write_copy(dir.path());
    std::fs::write(
        dir.path().join("widen.json"),
        "{\"format_version\": 1, \"name\": ",
    )
    .expect("w");
    let e = ModelSet::load_dir(dir.path()).expect_err("malformed");
    assert!(matches!(e, ModelError::Json { .. }), "{e:?}");
    assert!(
        e.to_string().contains("not valid JSON") && e.to_string().contains("widen.json"),
        "{e}"
    );

    std::fs::write(dir.path().join("widen.json"), "[1, 2]").expect("w");
    let e = ModelSet::load_dir(dir.path()).expect_err("not an object");
    assert!(
        e.to_string()
            .contains("expected a JSON object, found an array"),
        "{e}"
    );

    std::fs::remove_file(dir.path().join("widen.json")).expect("rm");
    let e = ModelSet::load_dir(dir.path()).expect_err("no sidecar");
    assert!(matches!(e, ModelError::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("model sidecar"), "{e}");
}

#[test]
fn missing_and_mismatched_model_files() {
    let dir = tempfile::tempdir().expect("tmp");
    write_copy(dir.path());
    std::fs::remove_file(dir.path().join("vocoder.onnx")).expect("rm");
    let e = ModelSet::load_dir(dir.path()).expect_err("missing vocoder");
    let msg = e.to_string();
    assert!(matches!(e, ModelError::Read { .. }), "{e:?}");
    assert!(
        msg.contains("vocoder.onnx") && msg.contains("vocoder.file"),
        "{msg}"
    );

    let e = load_edited(|v| v["generator"]["file"] = json!("other.onnx"));
    assert!(e.to_string().contains("other.onnx"), "{e}");

    let zeros = "0".repeat(64);
    let e = load_edited(|v| v["vocoder"]["sha256"] = json!(zeros));
    let msg = e.to_string();
    match &e {
        ModelError::Sha256 {
            file,
            field,
            expected,
            actual,
        } => {
            assert!(file.ends_with("vocoder.onnx"));
            assert_eq!(field, "vocoder.sha256");
            assert_eq!(expected, &zeros);
            let real = ModelSet::embedded_default()
                .expect("e")
                .vocoder_bytes()
                .to_vec();
            assert_eq!(actual, &sha256_hex(&real));
        }
        other => panic!("expected Sha256, got {other:?}"),
    }
    assert!(
        msg.contains("vocoder.sha256") && msg.contains(&zeros),
        "{msg}"
    );

    // A file changed behind the sidecar's back.
    let dir = tempfile::tempdir().expect("tmp");
    write_copy(dir.path());
    let path = dir.path().join("generator.onnx");
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let e = ModelSet::load_dir(dir.path()).expect_err("tampered");
    assert!(matches!(e, ModelError::Sha256 { .. }), "{e:?}");
    assert!(e.to_string().contains("generator.onnx"), "{e}");
}

/// Replaces the copied set's generator with `bytes` (and its hash in the sidecar); returns the
/// set (which passes the sidecar checks) and the generator's path.
fn with_generator(dir: &Path, bytes: &[u8]) -> (ModelSet, String) {
    let mut v = write_copy(dir);
    let path = dir.join("generator.onnx");
    std::fs::write(&path, bytes).expect("write");
    v["generator"]["sha256"] = json!(sha256_hex(bytes));
    write_sidecar(dir, &v);
    let set = ModelSet::load_dir(dir).expect("sidecar and hash are fine");
    (set, path.display().to_string())
}

#[test]
fn onnx_interface_mismatch_names_the_file() {
    require_ort();
    let dir = tempfile::tempdir().expect("tmp");
    let mut spec = widen_onnx::nets::ResCnnSpec {
        input: "mel_lr".into(),
        output: "mel_out".into(),
        n_mels: 80,
        channels: 8,
        kernel: 3,
        dilations: vec![1],
        leaky_slope: 0.2,
        out_scale: 0.1,
        padding: widen_onnx::nets::Padding::Same,
        seed: 3,
    };
    let bytes = widen_onnx::encode(&spec.build().expect("build").model);
    let (set, path) = with_generator(dir.path(), &bytes);
    let e = set.instantiate(&cpu()).expect_err("wrong output name");
    let msg = e.to_string();
    eprintln!("{msg}");
    match &e {
        ModelError::Onnx { file, source } => {
            assert_eq!(file, &path);
            assert!(
                matches!(source, RuntimeError::Mismatch { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected Onnx, got {other:?}"),
    }
    assert!(
        msg.contains(&path) && msg.contains("mel_out") && msg.contains("mel_hr"),
        "{msg}"
    );

    // Wrong channel count: 64 mel bands in and out.
    spec.output = "mel_hr".into();
    spec.n_mels = 64;
    let bytes = widen_onnx::encode(&spec.build().expect("build").model);
    let (set, path) = with_generator(dir.path(), &bytes);
    let msg = set.instantiate(&cpu()).expect_err("64 bands").to_string();
    assert!(
        msg.contains(&path) && msg.contains("80") && msg.contains("64"),
        "{msg}"
    );
}

#[test]
fn corrupt_onnx_bytes_are_an_error_naming_the_file() {
    require_ort();
    let dir = tempfile::tempdir().expect("tmp");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let (set, path) = with_generator(dir.path(), &garbage);
    let e = set.instantiate(&cpu()).expect_err("garbage");
    eprintln!("{e}");
    match &e {
        ModelError::Onnx { file, source } => {
            assert_eq!(file, &path);
            assert!(
                matches!(source, RuntimeError::ModelLoad { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected Onnx, got {other:?}"),
    }
    // A truncated real model too.
    let real = ModelSet::embedded_default()
        .expect("e")
        .generator_bytes()
        .to_vec();
    let (set, _) = with_generator(dir.path(), &real[..real.len() / 2]);
    assert!(matches!(
        set.instantiate(&cpu()),
        Err(ModelError::Onnx { .. })
    ));
}
