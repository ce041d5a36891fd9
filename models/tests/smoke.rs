//! Training smoke tests on a few real clips (generator and vocoder): the loss falls,
//! checkpoints and the log are written, a resumed run retraces an uninterrupted one, and export
//! writes a loadable set.

mod common;
use common::testdata;
use std::path::Path;

use tch::Device;
use widen_core::model::{ModelSet, Variant};
use widen_train::train::{run, Kind2, TrainOptions};
use widen_train::vtrain::{self, VocoderOptions};

/// A tiny corpus: French words to train on, Irish words as the eval split.
fn tiny_corpus(root: &Path) {
    let td = testdata().join("ktuberling");
    for (split, lang, n) in [("train", "fr", 8), ("eval", "ga", 2)] {
        let dst = root.join(split).join("ktuberling-data").join(lang);
        std::fs::create_dir_all(&dst).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(td.join(lang))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .collect();
        names.sort();
        for p in names.into_iter().take(n) {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn opts(corpus: &Path, out: &Path, steps: u64, resume: bool) -> TrainOptions {
    TrainOptions {
        variant: Variant::LowLatency,
        corpus_dir: corpus.to_path_buf(),
        out_dir: out.to_path_buf(),
        batch_size: 4,
        steps,
        resume,
        device: Device::Cpu,
        seed: 3,
        lr: 2e-3,
        frames: 64,
        val_every: 10,
        log_every: 1,
        eval_clips: 1,
        warm_start: None,
        max_train_clips: None,
        low_band_weight: 0.2,
        max_minutes: None,
        warmup_steps: 3,
    }
}

fn train_losses(log: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "train")
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

#[test]
fn short_training_lowers_the_loss_resumes_exactly_and_exports() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    tiny_corpus(&corpus);

    // Uninterrupted: 20 steps.
    let a = tmp.path().join("a");
    run(Kind2::Cnn, &opts(&corpus, &a, 20, false)).unwrap();
    let la = train_losses(&a.join("log.jsonl"));
    assert_eq!(la.len(), 20);
    let first: f64 = la[..3].iter().map(|x| x.1).sum::<f64>() / 3.0;
    let last: f64 = la[17..].iter().map(|x| x.1).sum::<f64>() / 3.0;
    assert!(last < 0.5 * first, "loss did not fall: {first} -> {last}");
    for f in [
        "latest/state.json",
        "latest/generator.safetensors",
        "best/generator.safetensors",
        "curves.png",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }

    // Interrupted after its first step (--max-minutes), then resumed: the same curve.
    let c = tmp.path().join("c");
    let mut o = opts(&corpus, &c, 20, false);
    o.max_minutes = Some(0.0);
    run(Kind2::Cnn, &o).unwrap();
    let mut o = opts(&corpus, &c, 20, true);
    o.max_minutes = None;
    run(Kind2::Cnn, &o).unwrap();
    let lc = train_losses(&c.join("log.jsonl"));
    assert_eq!(lc.len(), 20);
    for ((sa, va), (sc, vc)) in la.iter().zip(&lc) {
        assert_eq!(sa, sc);
        assert!(
            (va - vc).abs() <= 1e-6 * va.abs().max(1.0),
            "step {sa}: uninterrupted loss {va}, resumed {vc}"
        );
    }

    // Export a complete set and load it like the engine does.
    let set = tmp.path().join("set");
    let gspec = widen_train::spec::generator_spec(Variant::LowLatency);
    let (vs, _) = widen_train::export::load_generator(&gspec, &a.join("best")).unwrap();
    let state = widen_train::checkpoint::load_state(&a.join("best")).unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default/low-latency");
    let info = widen_train::export::ExportInfo {
        name: "smoke".into(),
        amount: 0.5,
        synthesis: None,
        notes: "smoke test".into(),
        metrics: serde_json::json!({}),
    };
    widen_train::export::export_set(&gspec, &vs, &state, &base, &set, &info).unwrap();
    let loaded = ModelSet::load_dir(&set).unwrap();
    assert!(loaded.sidecar().provenance.trained);
    assert_eq!(loaded.sidecar().default_amount, 0.5);
}

fn vopts(corpus: &Path, out: &Path, steps: u64, resume: bool) -> VocoderOptions {
    VocoderOptions {
        variant: Variant::LowLatency,
        corpus_dir: corpus.to_path_buf(),
        out_dir: out.to_path_buf(),
        batch_size: 2,
        steps,
        resume,
        device: Device::Cpu,
        seed: 4,
        lr: 2e-3,
        frames: 32,
        val_every: 8,
        log_every: 1,
        holdout_clips: 1,
        warm_start: None,
        finetune_on_generator: None,
        max_train_clips: None,
        low_band_weight: 0.5,
        warmup_steps: 2,
        // The last steps train the discriminators too, so the GAN path runs and resumes.
        disc_start: 12,
        disc_width: 4,
        max_minutes: None,
    }
}

fn log_values(log: &Path, key: &str) -> Vec<(u64, f64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "train")
        .map(|v| (v["step"].as_u64().unwrap(), v[key].as_f64().unwrap()))
        .collect()
}

#[test]
fn vocoder_training_lowers_the_mel_loss_resumes_exactly_and_exports() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    tiny_corpus(&corpus);

    let a = tmp.path().join("a");
    vtrain::run(&vopts(&corpus, &a, 16, false)).unwrap();
    let la = log_values(&a.join("log.jsonl"), "mel_l1");
    assert_eq!(la.len(), 16);
    let first: f64 = la[..3].iter().map(|x| x.1).sum::<f64>() / 3.0;
    let last: f64 = la[9..12].iter().map(|x| x.1).sum::<f64>() / 3.0;
    assert!(last < 0.8 * first, "mel L1 did not fall: {first} -> {last}");
    let adv = log_values(&a.join("log.jsonl"), "adv");
    assert!(adv[..12].iter().all(|x| x.1 == 0.0) && adv[12..].iter().all(|x| x.1 > 0.0));
    let log = std::fs::read_to_string(a.join("log.jsonl")).unwrap();
    assert!(log.contains("\"holdout_gl_lsd_hf\"") && log.contains("\"holdout_lsd_hf\""));
    for f in [
        "latest/state.json",
        "latest/vocoder.safetensors",
        "latest/disc.safetensors",
        "best/vocoder.safetensors",
        "curves.png",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }

    // Interrupted after its first step, then resumed (through the GAN steps): the same curve.
    let c = tmp.path().join("c");
    let mut o = vopts(&corpus, &c, 16, false);
    o.max_minutes = Some(0.0);
    vtrain::run(&o).unwrap();
    vtrain::run(&vopts(&corpus, &c, 16, true)).unwrap();
    let lc = log_values(&c.join("log.jsonl"), "loss");
    let la = log_values(&a.join("log.jsonl"), "loss");
    assert_eq!(lc.len(), 16);
    for ((sa, va), (sc, vc)) in la.iter().zip(&lc) {
        assert_eq!(sa, sc);
        assert!(
            (va - vc).abs() <= 1e-5 * va.abs().max(1.0),
            "step {sa}: uninterrupted loss {va}, resumed {vc}"
        );
    }

    // Export into a copy of the shipped set and load it like the engine does.
    let set = tmp.path().join("set");
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default/low-latency");
    widen_train::export::copy_set(&base, &set).unwrap();
    let (vs, _) = vtrain::load_vocoder(Variant::LowLatency, &a.join("best")).unwrap();
    let state = widen_train::checkpoint::load_state(&a.join("best")).unwrap();
    let vspec = widen_train::spec::vocoder_spec(Variant::LowLatency).unwrap();
    widen_train::export::export_vocoder(&vspec, &vs, &state, &set, None, serde_json::json!({}))
        .unwrap();
    let loaded = ModelSet::load_dir(&set).unwrap();
    assert_eq!(
        loaded.sidecar().provenance.metrics["vocoder"]["steps"],
        state.step
    );
    // Causal with one frame of lookahead, like the generator: the set's two-frame budget.
    assert_eq!(loaded.sidecar().vocoder.context_right, 1);
}
