//! Training smoke tests on a few real clips (generator and vocoder): the loss falls,
//! checkpoints and the log are written, a resumed run retraces an uninterrupted one, and export
//! writes a loadable set.

mod common;
use common::testdata;
use std::path::Path;

use tch::Device;
use widen_core::model::{ModelSet, Variant};
use widen_train::train::{run, Kind2, RunOptions, TrainOptions};
use widen_train::vtrain::{self, VocoderOptions};

/// libtorch's random generator is one per process: training runs on parallel test threads would
/// seed it and draw their initial weights from it in turn, so neither run would be the same
/// twice (a fresh-clone CI run once saw two same-seed runs differ at step 1). Each test holds
/// this lock for its whole length.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// The shared options of both loops' smoke runs.
fn run_opts(
    corpus: &Path,
    out: &Path,
    steps: u64,
    resume: bool,
    (batch_size, frames, seed, val_every, warmup_steps): (usize, usize, u64, u64, u64),
) -> RunOptions {
    RunOptions {
        variant: Variant::LowLatency,
        corpus_dir: corpus.to_path_buf(),
        out_dir: out.to_path_buf(),
        batch_size,
        steps,
        resume,
        device: Device::Cpu,
        seed,
        lr: 2e-3,
        frames,
        val_every,
        log_every: 1,
        max_train_clips: None,
        warmup_steps,
        max_minutes: None,
    }
}

fn opts(corpus: &Path, out: &Path, steps: u64, resume: bool) -> TrainOptions {
    TrainOptions {
        run: run_opts(corpus, out, steps, resume, (4, 64, 3, 10, 3)),
        eval_clips: 1,
        warm_start: None,
        low_band_weight: 0.2,
        over_weight: 1.0,
        keep_snapshots: true,
        channels: None,
        dilations: None,
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
    let _rng = torch_rng();
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
        "snapshots/generator-10.safetensors",
        "snapshots/generator-20.safetensors",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }

    // Interrupted after its first step (--max-minutes), then resumed: the same curve.
    let c = tmp.path().join("c");
    let mut o = opts(&corpus, &c, 20, false);
    o.run.max_minutes = Some(0.0);
    run(Kind2::Cnn, &o).unwrap();
    let mut o = opts(&corpus, &c, 20, true);
    o.run.max_minutes = None;
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
        run: run_opts(corpus, out, steps, resume, (2, 32, 4, 8, 2)),
        holdout_clips: 1,
        warm_start: None,
        finetune_on_generator: None,
        low_band_weight: 0.5,
        // The last steps train the discriminators too, so the GAN path runs and resumes.
        disc_start: 12,
        disc_width: 4,
        keep_snapshots: true,
        // The phase losses run (and resume) too.
        phase_weight: 1.0,
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
    let _rng = torch_rng();
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
        "snapshots/s16/vocoder.safetensors",
        "snapshots/s16/state.json",
        "curves.png",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }

    // Interrupted after its first step, then resumed (through the GAN steps): the same curve.
    let c = tmp.path().join("c");
    let mut o = vopts(&corpus, &c, 16, false);
    o.run.max_minutes = Some(0.0);
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

/// Pearson correlation of `a[i]` with `b[i + lag]` over the overlap.
fn corr_at(a: &[f32], b: &[f32], lag: isize) -> f64 {
    let n = a.len().min(b.len()) as isize;
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let j = i + lag;
        if j < 0 || j >= n {
            continue;
        }
        let (x, y) = (a[i as usize] as f64, b[j as usize] as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-30)
}

#[test]
fn make_dataset_pairs_are_a_fixed_training_set() {
    let _rng = torch_rng();
    use widen_core::config::NARROW_BAND_RATE;
    use widen_train::data::{self, Corpus, Degrade};
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    tiny_corpus(&corpus);
    // `widen make-dataset` on the training words: hr/, lr/, manifest.jsonl.
    let pairs = tmp.path().join("pairs");
    let cfg = widen_core::dataset::DatasetConfig::new(corpus.join("train"), &pairs);
    let summary = widen_core::dataset::run(cfg, |_| {}).unwrap();
    assert!(data::is_pairs_dir(&pairs));
    assert_eq!(data::train_dir(&pairs), pairs);
    // A corpus root has a manifest too (`cargo xtask corpus` writes one), but no hr/ and lr/.
    std::fs::write(corpus.join("manifest.jsonl"), "{}\n").unwrap();
    assert!(!data::is_pairs_dir(&corpus));
    assert_eq!(data::train_dir(&corpus), corpus.join("train"));

    let rate = widen_core::config::SAMPLE_RATE;
    let c = Corpus::load_dir(&pairs, rate, |_| true).unwrap();
    assert_eq!(c.clips.len(), 8, "{summary:?}");
    for clip in &c.clips {
        let p = clip.pair.as_ref().expect("a pair's input");
        assert_eq!(p.upsampled.len(), clip.samples.len());
        let secs = clip.samples.len() as f64 / rate as f64;
        let nb_secs = p.narrow.len() as f64 / NARROW_BAND_RATE as f64;
        assert!((secs - nb_secs).abs() < 0.01, "{secs} s vs {nb_secs} s");
        // The input is aligned with the target: their correlation peaks within one sample of
        // lag 0 (an IIR filter's delay is not a whole number of samples).
        let best = (-4..=4)
            .max_by(|&a, &b| {
                corr_at(&clip.samples, &p.upsampled, a).total_cmp(&corr_at(
                    &clip.samples,
                    &p.upsampled,
                    b,
                ))
            })
            .unwrap();
        assert!(best.abs() <= 1, "{}: lag {best}", clip.name);
        assert!(
            corr_at(&clip.samples, &p.upsampled, 0) > 0.9,
            "{}",
            clip.name
        );
    }
    // A corpus folder still loads as clips whose input is made on the fly.
    let plain = Corpus::load_dir(&corpus.join("train"), rate, |_| true).unwrap();
    assert!(plain.clips.iter().all(|c| c.pair.is_none()));

    // Examples are segments of the pair as it is: no level change, no degradation, so the
    // input's mel equals the mel of the same segment of the pair's input, and an example is
    // the same whatever degradations are asked for.
    let mel_cfg = widen_train::spec::mel_config(Variant::LowLatency);
    let mel = widen_core::dsp::LogMel::new(mel_cfg.clone()).unwrap();
    let harsh = Degrade {
        p_reverb: 1.0,
        p_tilt: 1.0,
        p_noise: 1.0,
        level_db: (-40.0, -39.0),
    };
    for seed in 0..6u64 {
        let e = data::make_example(&c, &mel, &Degrade::default(), 64, seed).unwrap();
        let f = data::make_example(&c, &mel, &harsh, 64, seed).unwrap();
        assert_eq!(e.lr, f.lr);
        assert_eq!(e.hr, f.hr);
        let clip = c
            .clips
            .iter()
            .find(|k| {
                k.samples
                    .windows(e.audio.len())
                    .any(|w| w == e.audio.as_slice())
            })
            .expect("the target is a segment of a pair");
        let p = clip.pair.as_ref().unwrap();
        let off = clip
            .samples
            .windows(e.audio.len())
            .position(|w| w == e.audio.as_slice())
            .unwrap();
        let want = mel.compute(&p.upsampled[off..off + e.audio.len()]);
        assert_eq!(e.lr, want.data);
    }

    // Training on the pairs folder (no eval split there) runs and checkpoints.
    let out = tmp.path().join("run");
    let mut o = opts(&pairs, &out, 4, false);
    o.run.val_every = 4;
    run(Kind2::Cnn, &o).unwrap();
    assert_eq!(train_losses(&out.join("log.jsonl")).len(), 4);
    assert!(out.join("best/generator.safetensors").exists());
}
