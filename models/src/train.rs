//! The training loops: `train` (CNN baseline: L1 + MSE + spectral convergence on log-mel) and
//! `train-gan` (the same generator with a conditional PatchGAN: hinge loss, feature matching,
//! warm-started from a CNN checkpoint).
//!
//! Resumable: a checkpoint holds the weights, the AdamW states and the step; the data of step
//! `s` depends only on `(seed, s)`, so a resumed run retraces an uninterrupted one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{nn, Device, Kind, Tensor};
use widen_core::config::engine::MAX_LOG_MEL;
use widen_core::dsp::LogMel;
use widen_core::model::Variant;

use crate::adam::Adam;
use crate::checkpoint::{self, State};
use crate::data::{make_batch, Batch, Corpus, Degrade};
use crate::disc::PatchGan;
use crate::generator::Generator;
use crate::spec::GenShape;
use crate::validate;
use crate::{plot, spec};

/// Which loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind2 {
    /// CNN baseline.
    Cnn,
    /// GAN fine-tuning.
    Gan,
}

impl Kind2 {
    /// Name in checkpoints and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind2::Cnn => "cnn",
            Kind2::Gan => "gan",
        }
    }
}

/// The options every training loop (generator and vocoder) takes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Model set.
    pub variant: Variant,
    /// Corpus root with `train/` and `eval/` (from `cargo xtask corpus`), or a `widen
    /// make-dataset` output folder.
    pub corpus_dir: PathBuf,
    /// Run folder (checkpoints, log, plot).
    pub out_dir: PathBuf,
    /// Examples per step.
    pub batch_size: usize,
    /// Steps to train (total, including resumed ones).
    pub steps: u64,
    /// Continue from `out_dir/latest`.
    pub resume: bool,
    /// Training device.
    pub device: Device,
    /// Data seed.
    pub seed: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Mel frames per example.
    pub frames: usize,
    /// Validate and checkpoint every this many steps.
    pub val_every: u64,
    /// Log the training loss every this many steps.
    pub log_every: u64,
    /// Use only the first N training clips (smoke tests); `None` = all.
    pub max_train_clips: Option<usize>,
    /// Learning-rate warm-up steps.
    pub warmup_steps: u64,
    /// Stop (validate, checkpoint) after this many minutes of wall time; `--resume` continues.
    pub max_minutes: Option<f64>,
}

impl RunOptions {
    /// The state a fresh run of `kind` starts from.
    pub(crate) fn fresh_state(&self, kind: &str, corpus_minutes: f64) -> State {
        State {
            kind: kind.into(),
            variant: self.variant.as_str().into(),
            step: 0,
            total_steps: self.steps,
            seed: self.seed,
            batch_size: self.batch_size,
            frames: self.frames,
            lr: self.lr,
            corpus_minutes,
            best_holdout: None,
            metrics: serde_json::json!({}),
            generator: None,
        }
    }

    /// When `--max-minutes` (counted from `start`) runs out, if it was given.
    pub(crate) fn deadline(&self, start: Instant) -> Option<Instant> {
        self.max_minutes
            .map(|m| start + std::time::Duration::from_secs_f64(m * 60.0))
    }

    /// With `--resume` and a checkpoint in `out_dir/latest`: its state (checked to be a run of
    /// the same kind and model set as `fresh`), continuing to the larger of its and this run's
    /// step count. `None` starts afresh.
    pub(crate) fn resumed_state(&self, fresh: &State) -> Result<Option<State>> {
        let latest = self.out_dir.join("latest");
        if !self.resume || !latest.join(checkpoint::STATE).exists() {
            return Ok(None);
        }
        let s = checkpoint::load_state(&latest)?;
        if s.kind != fresh.kind || s.variant != fresh.variant {
            bail!(
                "--resume: {} holds a {} {} run, not {} {}",
                latest.display(),
                s.kind,
                s.variant,
                fresh.kind,
                fresh.variant
            );
        }
        Ok(Some(State {
            total_steps: self.steps.max(s.total_steps),
            ..s
        }))
    }

    /// Redraws `curves.png` from `log.jsonl` in `out_dir` (best effort: a plot that fails to
    /// draw never stops training).
    pub(crate) fn plot_curves(&self) {
        let _ = plot::plot_log(
            &self.out_dir.join("log.jsonl"),
            &self.out_dir.join("curves.png"),
        );
    }

    /// Says why the loop stopped early when `--max-minutes` ran out at `step`.
    pub(crate) fn say_out_of_time(step: u64) {
        eprintln!("widen-train: --max-minutes reached at step {step}; continue with --resume");
    }

    /// The run's closing line: `kind`, steps done and minutes since `start`.
    pub(crate) fn say_done(&self, kind: &str, steps: u64, start: Instant) {
        eprintln!(
            "widen-train {kind}: {steps} steps in {:.1} min; checkpoints in {}",
            start.elapsed().as_secs_f64() / 60.0,
            self.out_dir.display()
        );
    }
}

/// Options of a generator training run (CNN or GAN loop).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// What every training loop takes.
    pub run: RunOptions,
    /// Eval-split clips scored with Griffin-Lim at each validation (0 = none).
    pub eval_clips: usize,
    /// GAN only: CNN checkpoint folder to start from.
    pub warm_start: Option<PathBuf>,
    /// Weight of the low band (below the cutoff) in the reconstruction loss.
    pub low_band_weight: f64,
    /// Weight of over-predictions (louder than the target) against under-predictions in the
    /// L1 and MSE terms of the bands from the cutoff up to [`OVER_WEIGHT_MAX_HZ`] (1 =
    /// symmetric; see [`recon`]).
    pub over_weight: f64,
    /// Also keep the generator of every validation as `snapshots/generator-<step>.safetensors`
    /// (for choosing a step afterwards on the hold-out with `evaluate`).
    pub keep_snapshots: bool,
    /// Generator hidden channels (default: the warm-start checkpoint's, else the set's). More
    /// than the warm-start generator's widen it ([`warm_start_generator`]).
    pub channels: Option<usize>,
    /// Generator block dilations (default: the warm-start checkpoint's, else the set's). A
    /// warm start from a generator whose blocks are the first of these grows it: the extra
    /// blocks start with a zero second convolution, i.e. as identities, so the grown network
    /// starts out computing exactly the smaller one.
    pub dilations: Option<Vec<usize>>,
}

/// The generator shape of a run: a resumed run's own (an explicit different one is an error);
/// otherwise the options', filled in from the warm-start checkpoint's shape, else the set's.
fn run_shape(opts: &TrainOptions, warm: Option<&GenShape>) -> Result<GenShape> {
    let variant = opts.run.variant;
    let latest = opts.run.out_dir.join("latest");
    let base = warm
        .cloned()
        .unwrap_or_else(|| spec::default_shape(variant));
    let asked = GenShape {
        channels: opts.channels.unwrap_or(base.channels),
        dilations: opts.dilations.clone().unwrap_or(base.dilations),
    };
    if opts.run.resume && latest.join(checkpoint::STATE).exists() {
        let had = spec::checkpoint_shape(variant, &latest);
        let explicit = opts.channels.is_some() || opts.dilations.is_some();
        if explicit && had != asked {
            bail!(
                "--resume: {} holds a generator of {} channels, dilations {:?}, not {} channels, \
                 dilations {:?}",
                latest.display(),
                had.channels,
                had.dilations,
                asked.channels,
                asked.dilations
            );
        }
        return Ok(had);
    }
    if asked.channels == 0 || asked.dilations.is_empty() || asked.dilations.contains(&0) {
        bail!(
            "the generator needs at least one channel and one block, all dilations >= 1 (found \
             {} channels, dilations {:?})",
            asked.channels,
            asked.dilations
        );
    }
    Ok(asked)
}

/// Loads the warm-start generator `file` (of `from`) into `gvs` (of `to`): all of it when the
/// shapes agree; when `to` grows `from` ([`GenShape::grows_from`]), so that the larger network
/// starts computing exactly what the small one does:
/// - more blocks: the shared layers are copied and the extra blocks' second convolutions zeroed,
///   so they start as identities;
/// - more channels (Net2WiderNet): hidden channel `j` is a copy of channel `j mod C` of the
///   small network (its incoming weights and bias repeated), and each convolution reading
///   hidden channels splits every original channel's weight between its copies by random
///   shares that sum to one. The sum is unchanged, and the uneven shares give the copies
///   different gradients, so they do not stay twins.
pub fn warm_start_generator(
    gvs: &mut nn::VarStore,
    file: &Path,
    from: &GenShape,
    to: &GenShape,
) -> Result<()> {
    if from == to {
        gvs.load(file)
            .with_context(|| format!("--warm-start {}", file.display()))?;
        return Ok(());
    }
    if !to.grows_from(from) {
        bail!(
            "--warm-start {}: its generator ({} channels, dilations {:?}) is neither this run's \
             ({} channels, dilations {:?}) nor a part of it (no more channels, its blocks first)",
            file.display(),
            from.channels,
            from.dilations,
            to.channels,
            to.dilations
        );
    }
    let source: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(file)
        .with_context(|| format!("--warm-start {}", file.display()))?
        .into_iter()
        .collect();
    let (c_old, c_new) = (from.channels as i64, to.channels as i64);
    let copy_of = Tensor::arange(c_new, (Kind::Int64, Device::Cpu)).remainder(c_old);
    // Random shares only when widening: a depth-only growth draws nothing from the seeded
    // generator, so its runs repeat as before.
    let shares = if c_new == c_old {
        Tensor::ones([1, c_new, 1], (Kind::Float, Device::Cpu))
    } else {
        let raw = Tensor::rand([c_new], (Kind::Float, Device::Cpu)) + 0.5;
        let sums = Tensor::zeros([c_old], (Kind::Float, Device::Cpu)).index_add(0, &copy_of, &raw);
        (&raw / sums.index_select(0, &copy_of)).reshape([1, c_new, 1])
    };
    let new_blocks = from.dilations.len()..to.dilations.len();
    let is_new = |name: &str| {
        new_blocks
            .clone()
            .any(|i| name.starts_with(&format!("block{i}.")))
    };
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in gvs.variables() {
            if is_new(&name) {
                if name.contains(".conv2.") {
                    let _ = var.zero_();
                }
                continue;
            }
            let Some(src) = source.get(&name) else {
                bail!("--warm-start {}: no `{name}` in it", file.display());
            };
            let mut t = src.to_kind(Kind::Float);
            if !name.starts_with("conv_out.") {
                t = t.index_select(0, &copy_of);
            }
            if !name.starts_with("conv_in.") && name.ends_with(".weight") {
                t = t.index_select(1, &copy_of) * &shares;
            }
            if t.size() != var.size() {
                bail!(
                    "--warm-start {}: `{name}` is {:?}, this run's is {:?}",
                    file.display(),
                    src.size(),
                    var.size()
                );
            }
            var.copy_(&t.to_device(var.device()));
        }
        Ok(())
    })?;
    eprintln!(
        "widen-train: generator grown from {} channels x {} blocks to {} x {} (it starts as the \
         small one)",
        from.channels,
        from.dilations.len(),
        to.channels,
        to.dilations.len()
    );
    Ok(())
}

/// Per-band weights `[1, n_mels, 1]`: 1 above the high-band edge, `low` below.
pub(crate) fn band_weights(n_mels: usize, hf_band: usize, low: f64, device: Device) -> Tensor {
    let w: Vec<f32> = (0..n_mels)
        .map(|m| if m >= hf_band { 1.0 } else { low as f32 })
        .collect();
    Tensor::from_slice(&w)
        .reshape([1, n_mels as i64, 1])
        .to_device(device)
}

/// Crops the frames whose receptive field lies inside the example.
fn crop(x: &Tensor, ctx: (usize, usize)) -> Tensor {
    let t = x.size()[2];
    x.narrow(2, ctx.0 as i64, t - (ctx.0 + ctx.1) as i64)
}

/// Upper edge of the bands [`TrainOptions::over_weight`] applies to: PESQ-WB's band edge.
pub const OVER_WEIGHT_MAX_HZ: f32 = 8000.0;

/// Per-band weights `[1, n_mels, 1]` of over-predictions: `over` for bands `hf_band..` whose
/// centre lies below [`OVER_WEIGHT_MAX_HZ`], 1 elsewhere.
///
/// Why: PESQ-WB weighs an added disturbance (the output louder than the reference) more than a
/// missing one, and hears up to 8 kHz, so a generated band that is too loud there costs more
/// than one that is too quiet. A symmetric L1 predicts the median; weighting over-predictions
/// `k` times predicts the `1 / (1 + k)` quantile instead: lower where the model is unsure (a
/// wide conditional distribution), nearly unchanged where it is sure, unlike a uniform gain.
pub(crate) fn over_weights(
    mel: &widen_core::config::MelConfig,
    hf_band: usize,
    over: f64,
    device: Device,
) -> Tensor {
    let top = spec::first_band_at_or_above(mel, OVER_WEIGHT_MAX_HZ);
    let w: Vec<f32> = (0..mel.n_mels)
        .map(|m| {
            if m >= hf_band && m < top {
                over as f32
            } else {
                1.0
            }
        })
        .collect();
    Tensor::from_slice(&w)
        .reshape([1, mel.n_mels as i64, 1])
        .to_device(device)
}

/// Reconstruction loss (band-weighted L1 + MSE on log-mel, spectral convergence on the linear
/// mel) and its parts. `over` weighs over-predictions per band in the L1 and MSE terms
/// ([`over_weights`]).
fn recon(pred: &Tensor, hr: &Tensor, w: &Tensor, over: &Tensor) -> (Tensor, [Tensor; 3]) {
    let d = pred - hr;
    let norm = w.sum(Kind::Float) * (d.size()[0] * d.size()[2]) as f64;
    let (up, down) = (d.clamp_min(0.0), (-&d).clamp_min(0.0));
    let l1 = ((&up * over + &down) * w).sum(Kind::Float) / &norm;
    let mse = ((up.square() * over + down.square()) * w).sum(Kind::Float) / &norm;
    let lin_p = pred.clamp_max(MAX_LOG_MEL as f64).exp();
    let lin_h = hr.exp();
    let sc = ((&lin_p - &lin_h).square() * w).sum(Kind::Float).sqrt()
        / ((lin_h.square() * w).sum(Kind::Float).sqrt() + 1e-6);
    (&l1 + &mse + &sc, [l1, mse, sc])
}

/// Learning rate at `step`: linear warm-up over `warmup` steps, then cosine decay to 10 %.
pub fn lr_at(peak: f64, step: u64, total: u64, warmup: u64) -> f64 {
    let warm = ((step + 1) as f64 / warmup.max(1) as f64).min(1.0);
    let p = (step as f64 / total.max(1) as f64).min(1.0);
    peak * warm * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

/// Appends JSON lines to the run log.
pub(crate) struct Log {
    file: std::fs::File,
}

impl Log {
    /// Opens `path`, dropping entries after `keep_until` (a resumed run rewrites them).
    pub(crate) fn open(path: &Path, keep_until: Option<u64>) -> Result<Self> {
        let kept = match (keep_until, std::fs::read_to_string(path)) {
            (Some(s), Ok(text)) => text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v.get("step").and_then(|x| x.as_u64()))
                        .is_some_and(|st| st <= s)
                })
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
            _ => String::new(),
        };
        std::fs::write(path, kept).with_context(|| format!("writing {}", path.display()))?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Self { file })
    }

    pub(crate) fn write(&mut self, v: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{v}")?;
        Ok(())
    }
}

/// The training clips, the in-corpus hold-out (the training clips themselves when the corpus
/// is too small to have one) and the eval split (empty when missing or not asked for), at `rate`. The audio is
/// held once: the split moves the clips.
pub(crate) fn load_splits(
    corpus_dir: &Path,
    rate: u32,
    max_train_clips: Option<usize>,
    with_eval: bool,
) -> Result<(Corpus, Corpus, Corpus)> {
    let all_train = Corpus::load_dir(&crate::data::train_dir(corpus_dir), rate, |_| true)?;
    let (mut hold_clips, mut train_clips): (Vec<_>, Vec<_>) = all_train
        .clips
        .into_iter()
        .partition(|c| crate::data::is_holdout(&c.name));
    if let Some(n) = max_train_clips {
        train_clips.truncate(n);
        hold_clips.truncate(n.div_ceil(4));
    }
    if hold_clips.is_empty() {
        // Tiny corpora (smoke tests): validate on the training clips.
        hold_clips = train_clips.clone();
    }
    let eval = if !with_eval {
        Corpus::default()
    } else {
        match Corpus::load_dir(&corpus_dir.join("eval"), rate, |_| true) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("widen-train: no eval split ({e:#}); eval metrics skipped");
                Corpus::default()
            }
        }
    };
    Ok((
        Corpus::from_clips(train_clips),
        Corpus::from_clips(hold_clips),
        eval,
    ))
}

/// Runs the CNN or GAN loop to `opts.run.steps`.
pub fn run(kind: Kind2, opts: &TrainOptions) -> Result<()> {
    let t_start = Instant::now();
    let variant = opts.run.variant;
    let mel_cfg = spec::mel_config(variant);
    let warm_shape = opts
        .warm_start
        .as_ref()
        .map(|w| spec::checkpoint_shape(variant, w));
    let shape = run_shape(opts, warm_shape.as_ref())?;
    let gspec = spec::generator_spec_shaped(variant, &shape);
    let n_mels = mel_cfg.n_mels;
    let hf_band =
        spec::first_band_at_or_above(&mel_cfg, widen_core::config::lsd::HIGH_BAND_HZ as f32);
    let mel = LogMel::new(mel_cfg.clone())?;
    let dev = opts.run.device;
    std::fs::create_dir_all(&opts.run.out_dir)
        .with_context(|| format!("creating {}", opts.run.out_dir.display()))?;

    // Data.
    let rate = mel_cfg.sample_rate;
    let (train, hold, eval) =
        load_splits(&opts.run.corpus_dir, rate, opts.run.max_train_clips, true)?;
    let train = std::sync::Arc::new(train);
    let minutes = train.minutes(rate);
    eprintln!(
        "widen-train {}: {} train clips ({minutes:.1} min), {} hold-out, {} eval clips; device {dev:?}",
        kind.as_str(),
        train.clips.len(),
        hold.clips.len(),
        eval.clips.len()
    );
    let val_batches = validate::fixed_batches(&hold, &mel, opts.run.frames, 16, 4, 0x5eed)?;
    let eval_batches = if eval.clips.is_empty() {
        Vec::new()
    } else {
        validate::fixed_batches(&eval, &mel, opts.run.frames, 16, 4, 0xe7a1)?
    };
    let eval_pick = validate::pick_clips(&eval, opts.eval_clips, 4.0);

    // Models (initialised from the seed, so a run is reproducible from its options).
    tch::manual_seed(opts.run.seed as i64);
    let mut gvs = nn::VarStore::new(dev);
    let gen = Generator::new(&gvs.root(), &gspec)?;
    let ctx = (gen.context_left, gen.context_right);
    if opts.run.frames <= ctx.0 + ctx.1 + 8 {
        bail!(
            "--frames {} leaves no frames to train on: the generator sees {} + {} context frames",
            opts.run.frames,
            ctx.0,
            ctx.1
        );
    }
    let mut gopt = Adam::new(&gvs, 0.8, 0.99, 0.0);
    let mut dvs = nn::VarStore::new(dev);
    let disc = (kind == Kind2::Gan).then(|| PatchGan::new(&dvs.root(), 32));
    let mut dopt = Adam::new(&dvs, 0.8, 0.99, 0.0);
    let latest = opts.run.out_dir.join("latest");
    let best_dir = opts.run.out_dir.join("best");

    let mut state = opts.run.fresh_state(kind.as_str(), minutes);
    if shape != spec::default_shape(variant) {
        state.generator = Some(shape.clone());
    }
    if let Some(s) = opts.run.resumed_state(&state)? {
        gvs.load(latest.join(checkpoint::GEN))?;
        gopt.load(&latest.join(checkpoint::GEN_OPT))?;
        if disc.is_some() {
            dvs.load(latest.join(checkpoint::DISC))?;
            dopt.load(&latest.join(checkpoint::DISC_OPT))?;
        }
        eprintln!("widen-train: resumed at step {}", s.step);
        state = s;
    } else if let (Some(w), Some(from)) = (&opts.warm_start, &warm_shape) {
        let f = w.join(checkpoint::GEN);
        warm_start_generator(&mut gvs, &f, from, &shape)?;
        eprintln!("widen-train: generator warm-started from {}", f.display());
        let fd = w.join(checkpoint::DISC);
        if disc.is_some() && fd.exists() {
            dvs.load(&fd)
                .with_context(|| format!("--warm-start {}", fd.display()))?;
            eprintln!(
                "widen-train: discriminator warm-started from {}",
                fd.display()
            );
        }
    } else if kind == Kind2::Gan {
        bail!("train-gan needs --warm-start <CNN checkpoint folder> (or --resume)");
    }
    let mut log = Log::open(&opts.run.out_dir.join("log.jsonl"), Some(state.step))?;
    if state.step == 0 {
        log.write(
            serde_json::json!({"step": 0, "kind": "config", "variant": variant.as_str(),
            "loop": kind.as_str(), "batch_size": opts.run.batch_size, "frames": opts.run.frames,
            "steps": opts.run.steps, "lr": opts.run.lr, "over_weight": opts.over_weight, "seed": opts.run.seed, "corpus_minutes": minutes,
            "generator": {"channels": gspec.channels, "dilations": gspec.dilations,
                "context": [ctx.0, ctx.1]}, "device": format!("{dev:?}")}),
        )?;
    }

    // Batches are made ahead on a background thread, in step order.
    let (tx, rx) = mpsc::sync_channel::<Result<(u64, Batch)>>(4);
    let (first, total) = (state.step, state.total_steps);
    let (bs, frames, seed) = (opts.run.batch_size, opts.run.frames, opts.run.seed);
    let train_c = std::sync::Arc::clone(&train);
    let mel2 = LogMel::new(mel_cfg.clone())?;
    let producer = std::thread::spawn(move || {
        for s in first..total {
            let b = make_batch(&train_c, &mel2, &Degrade::default(), frames, bs, seed, s);
            if tx.send(b.map(|b| (s, b))).is_err() {
                break;
            }
        }
    });

    let w = band_weights(n_mels, hf_band, opts.low_band_weight, dev);
    let over = over_weights(&mel_cfg, hf_band, opts.over_weight, dev);
    let (adv_w, fm_w) = (0.05, 0.5);
    let mut acc = [0.0f64; 6];
    let mut acc_n = 0u64;
    let mut t_log = Instant::now();
    let validate_now = |state: &mut State,
                        gvs: &nn::VarStore,
                        gen: &Generator,
                        log: &mut Log,
                        step: u64|
     -> Result<bool> {
        let t0 = Instant::now();
        let hold_l1 = validate::batches_hf_l1(gen, &val_batches, n_mels, hf_band, dev);
        let eval_l1 = validate::batches_hf_l1(gen, &eval_batches, n_mels, hf_band, dev);
        let gl = if eval_pick.is_empty() {
            None
        } else {
            Some(validate::gl_scores(variant, &gspec, gvs, &eval_pick, 1.0)?)
        };
        let better = state.best_holdout.is_none_or(|(b, _)| hold_l1 < b);
        if better {
            state.best_holdout = Some((hold_l1, step));
        }
        state.metrics = serde_json::json!({"step": step, "holdout_hf_l1": hold_l1,
            "eval_hf_l1": eval_l1, "eval_gl": gl});
        log.write(serde_json::json!({"step": step, "kind": "val", "holdout_hf_l1": hold_l1,
            "eval_hf_l1": eval_l1, "eval_lsd_hf": gl.map(|g| g.lsd_hf), "eval_lsd": gl.map(|g| g.lsd),
            "eval_pesq": gl.map(|g| g.pesq), "secs": t0.elapsed().as_secs_f64()}))?;
        let eval_part = if eval_batches.is_empty() {
            String::new()
        } else {
            format!(", eval HF L1 {eval_l1:.4}")
        };
        eprintln!(
            "  step {step}: hold-out HF L1 {hold_l1:.4}{eval_part}{}",
            gl.map(|g| format!(", eval GL LSD-HF {:.3} PESQ-WB {:.3}", g.lsd_hf, g.pesq))
                .unwrap_or_default()
        );
        Ok(better)
    };
    if state.step == 0 && !eval_pick.is_empty() {
        let sinc = validate::sinc_scores(&eval_pick)?;
        log.write(
            serde_json::json!({"step": 0, "kind": "baseline", "eval_sinc_lsd_hf": sinc.lsd_hf,
            "eval_sinc_lsd": sinc.lsd, "eval_sinc_pesq": sinc.pesq, "clips": sinc.clips}),
        )?;
        eprintln!(
            "  sinc baseline on {} eval clips: LSD-HF {:.3}, PESQ-WB {:.3}",
            sinc.clips, sinc.lsd_hf, sinc.pesq
        );
    }

    let save = |dir: &Path,
                state: &State,
                gvs: &nn::VarStore,
                gopt: &Adam,
                dvs: &nn::VarStore,
                dopt: &Adam|
     -> Result<()> {
        checkpoint::save(dir, state, |tmp| {
            gvs.save(tmp.join(checkpoint::GEN))?;
            gopt.save(&tmp.join(checkpoint::GEN_OPT))?;
            if kind == Kind2::Gan {
                dvs.save(tmp.join(checkpoint::DISC))?;
                dopt.save(&tmp.join(checkpoint::DISC_OPT))?;
            }
            Ok(())
        })
    };

    let deadline = opts.run.deadline(t_start);
    while state.step < state.total_steps {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let (s, batch) = rx.recv().context("data thread stopped")??;
        debug_assert_eq!(s, state.step);
        let (lr_t, hr_t) = validate::to_tensors(&batch, n_mels, dev);
        let lr = lr_at(
            opts.run.lr,
            state.step,
            state.total_steps,
            opts.run.warmup_steps,
        );
        let pred = gen.forward(&lr_t);
        let (pc, hc, lc) = (crop(&pred, ctx), crop(&hr_t, ctx), crop(&lr_t, ctx));
        let (rec, parts) = recon(&pc, &hc, &w, &over);
        let mut d_loss = 0.0;
        let mut adv_v = 0.0;
        let loss = if let Some(d) = &disc {
            // Discriminator step (hinge).
            let (real, _) = d.forward(&lc, &hc);
            let (fake, _) = d.forward(&lc, &pc.detach());
            let ld = (-real + 1.0).relu().mean(Kind::Float) + (fake + 1.0).relu().mean(Kind::Float);
            dopt.zero_grad();
            ld.backward();
            dopt.clip_grad_norm(10.0);
            dopt.step(lr);
            d_loss = ld.double_value(&[]);
            // Generator: adversarial + feature matching + reconstruction.
            let (fake, f_fake) = d.forward(&lc, &pc);
            let (_, f_real) = tch::no_grad(|| d.forward(&lc, &hc));
            let adv = -fake.mean(Kind::Float);
            let fm = f_fake
                .iter()
                .zip(&f_real)
                .map(|(a, b)| (a - b).abs().mean(Kind::Float))
                .fold(Tensor::zeros([], (Kind::Float, dev)), |s, x| s + x)
                / f_fake.len().max(1) as f64;
            adv_v = adv.double_value(&[]);
            &rec + adv * adv_w + fm * fm_w
        } else {
            rec.shallow_clone()
        };
        gopt.zero_grad();
        loss.backward();
        let gnorm = gopt.clip_grad_norm(5.0);
        gopt.step(lr);
        state.step += 1;

        let hf = tch::no_grad(|| validate::hf_l1(&pc, &hc, hf_band, (0, 0)).double_value(&[]));
        let vals = [
            loss.double_value(&[]),
            parts[0].double_value(&[]),
            parts[1].double_value(&[]),
            parts[2].double_value(&[]),
            hf,
            d_loss,
        ];
        if !vals[0].is_finite() {
            bail!(
                "training diverged at step {} (loss {}, gradient norm {gnorm})",
                state.step,
                vals[0]
            );
        }
        for (a, v) in acc.iter_mut().zip(vals) {
            *a += v;
        }
        acc_n += 1;
        if state.step.is_multiple_of(opts.run.log_every) || state.step == state.total_steps {
            let n = acc_n.max(1) as f64;
            let sps = acc_n as f64 / t_log.elapsed().as_secs_f64().max(1e-9);
            log.write(
                serde_json::json!({"step": state.step, "kind": "train", "loss": acc[0] / n,
                "l1": acc[1] / n, "mse": acc[2] / n, "sc": acc[3] / n, "hf_l1": acc[4] / n,
                "d_loss": acc[5] / n, "adv": adv_v, "lr": lr, "steps_per_sec": sps,
                "elapsed": t_start.elapsed().as_secs_f64()}),
            )?;
            eprintln!(
                "step {}/{}: loss {:.4} (HF L1 {:.4}{}) lr {lr:.2e}, {sps:.1} steps/s",
                state.step,
                state.total_steps,
                acc[0] / n,
                acc[4] / n,
                if disc.is_some() {
                    format!(", D {:.3}", acc[5] / n)
                } else {
                    String::new()
                }
            );
            acc = [0.0; 6];
            acc_n = 0;
            t_log = Instant::now();
        }
        if state.step.is_multiple_of(opts.run.val_every)
            || state.step == state.total_steps
            || out_of_time
        {
            let step_now = state.step;
            let better = validate_now(&mut state, &gvs, &gen, &mut log, step_now)?;
            save(&latest, &state, &gvs, &gopt, &dvs, &dopt)?;
            if opts.keep_snapshots {
                let dir = opts.run.out_dir.join("snapshots");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                gvs.save(dir.join(format!("generator-{step_now}.safetensors")))?;
            }
            if better {
                save(&best_dir, &state, &gvs, &gopt, &dvs, &dopt)?;
            }
            opts.run.plot_curves();
        }
        if out_of_time {
            RunOptions::say_out_of_time(state.step);
            break;
        }
    }
    drop(rx);
    let _ = producer.join();
    opts.run.say_done(kind.as_str(), state.step, t_start);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The L1 + MSE part of [`recon`] for a constant error `d` (spectral convergence removed).
    fn l1_mse(over: f64, d: f64, band: usize) -> f64 {
        let mel = spec::mel_config(Variant::Quality);
        let hf = spec::first_band_at_or_above(&mel, 4000.0);
        let n = mel.n_mels as i64;
        let w = band_weights(mel.n_mels, hf, 0.2, Device::Cpu);
        let o = over_weights(&mel, hf, over, Device::Cpu);
        let hr = Tensor::full([1, n, 4], -3.0, (Kind::Float, Device::Cpu));
        // The error only in `band`.
        let mut e = vec![0f32; mel.n_mels];
        e[band] = d as f32;
        let pred = &hr + Tensor::from_slice(&e).reshape([1, n, 1]);
        let (_, [l1, mse, _]) = recon(&pred, &hr, &w, &o);
        l1.double_value(&[]) + mse.double_value(&[])
    }

    #[test]
    fn over_weight_applies_to_over_predictions_between_the_cutoff_and_8_khz() {
        let mel = spec::mel_config(Variant::Quality);
        let (b4, b8) = (
            spec::first_band_at_or_above(&mel, 4000.0),
            spec::first_band_at_or_above(&mel, OVER_WEIGHT_MAX_HZ),
        );
        for band in [b4, b8 - 1] {
            let (up, down) = (l1_mse(3.0, 0.5, band), l1_mse(3.0, -0.5, band));
            assert!(
                (up / down - 3.0).abs() < 1e-4,
                "band {band}: {up} vs {down}"
            );
            // Symmetric at 1.
            assert!((l1_mse(1.0, 0.5, band) - l1_mse(1.0, -0.5, band)).abs() < 1e-7);
        }
        // Above 8 kHz and below the cutoff: symmetric whatever the weight.
        for band in [b8, mel.n_mels - 1, b4 - 1, 0] {
            let (up, down) = (l1_mse(3.0, 0.5, band), l1_mse(3.0, -0.5, band));
            assert!((up - down).abs() < 1e-7, "band {band}: {up} vs {down}");
        }
    }
}
