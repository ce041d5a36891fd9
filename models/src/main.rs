//! `widen-train`: trains widen's generator and exports it to ONNX. See `docs/TRAINING.md`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use widen_core::model::Synthesis;
use widen_core::model::Variant;
use widen_train::train::{self, Kind2, TrainOptions};
use widen_train::{checkpoint, cuda, data, evaluate, export, spec, validate, vtrain};

#[derive(Parser)]
#[command(
    name = "widen-train",
    version,
    about = "Train widen's models (tch) and export them to ONNX"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// CNN baseline: L1 + MSE + spectral convergence on log-mel.
    Train(TrainArgs),
    /// GAN: the generator plus a PatchGAN discriminator, warm-started from a CNN checkpoint.
    TrainGan(TrainArgs),
    /// Vocos vocoder on true mels of the wide-band corpus (or fine-tuned on a generator's output).
    TrainVocoder(VocoderArgs),
    /// Write a complete model set (generator.onnx, vocoder.onnx, widen.json) from checkpoints.
    Export(ExportArgs),
    /// Score vocoder checkpoints against Griffin-Lim on true mels (hold-out or a clip folder).
    EvaluateVocoder(EvalVocoderArgs),
    /// Score checkpoints and sinc on a corpus split (Griffin-Lim synthesis, band splice).
    Evaluate(EvalArgs),
    /// Turn a model set's ONNX files (e.g. models/default/quality) back into checkpoint folders
    /// OUT/generator and OUT/vocoder, to evaluate, warm-start from or re-export (weights only).
    Import {
        /// Model set: quality or low-latency.
        #[arg(long, default_value = "quality")]
        variant: String,
        /// Model set folder (widen.json with its generator and vocoder).
        #[arg(long)]
        model_dir: PathBuf,
        /// Output folder.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Draw a run's curves (log.jsonl) as a PNG.
    Plot {
        /// The run's log.jsonl.
        #[arg(long)]
        log: PathBuf,
        /// PNG to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct EvalArgs {
    /// Model set: quality or low-latency.
    #[arg(long, default_value = "quality")]
    variant: String,
    /// Checkpoint folders to score, as LABEL=DIR (e.g. cnn=runs/cnn-q/best).
    #[arg(long = "checkpoint")]
    checkpoints: Vec<String>,
    /// Folder of clips (e.g. data/corpus/eval), or a `widen make-dataset` output scored on its
    /// own 8 kHz files; sources are the first-level folders.
    #[arg(long, default_value = "data/corpus/eval")]
    clips_dir: PathBuf,
    /// Only the in-corpus hold-out clips of the folder (for tuning; never report these as eval).
    #[arg(long)]
    holdout: bool,
    /// At most N clips (every k-th by name); default all.
    #[arg(long)]
    max_clips: Option<usize>,
    /// Cut clips to at most this many seconds.
    #[arg(long, default_value_t = 30.0)]
    max_secs: f64,
    /// High-band gains to score (comma-separated).
    #[arg(long, default_value = "1.0")]
    amounts: String,
    /// Splice cutoff in Hz.
    #[arg(long, default_value_t = 4000.0)]
    cutoff: f32,
    /// High-band synthesis: griffin-lim (32 iterations), phase-copy, or vocoder (with
    /// --vocoder-checkpoint).
    #[arg(long, default_value = "griffin-lim")]
    synthesis: String,
    /// Vocoder checkpoint folder for --synthesis vocoder.
    #[arg(long)]
    vocoder_checkpoint: Option<PathBuf>,
    /// Write the tables as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct TrainArgs {
    /// Model set: quality or low-latency.
    #[arg(long, default_value = "quality")]
    variant: String,
    /// Corpus root holding train/ and eval/ (`cargo xtask corpus`), or a `widen make-dataset`
    /// output folder (hr/, lr/, manifest.jsonl) whose fixed pairs are trained on as they are
    /// (no eval split then; `train/` and `eval/` may also be such folders).
    #[arg(long, default_value = "data/corpus")]
    dataset_dir: PathBuf,
    /// Run folder: checkpoints (latest/, best/), log.jsonl, curves.png.
    #[arg(long)]
    out_dir: PathBuf,
    /// Examples per step [default: 16; vocoder 8].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Training steps in total (a resumed run continues to this count).
    #[arg(long)]
    steps: Option<u64>,
    /// Alternative to --steps: passes over the training audio.
    #[arg(long)]
    epochs: Option<f64>,
    /// Continue from <out-dir>/latest.
    #[arg(long)]
    resume: bool,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Data seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Mel frames per example [default: 128; vocoder 32 (quality) / 64 (low-latency)].
    #[arg(long)]
    frames: Option<usize>,
    /// Validate and checkpoint every N steps.
    #[arg(long, default_value_t = 1000)]
    val_every: u64,
    /// Log the training loss every N steps.
    #[arg(long, default_value_t = 100)]
    log_every: u64,
    /// Eval-split clips scored with Griffin-Lim at each validation.
    #[arg(long, default_value_t = 24)]
    eval_clips: usize,
    /// GAN: CNN checkpoint folder to start from (e.g. runs/cnn-quality/best).
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Use only the first N training clips (smoke tests).
    #[arg(long)]
    max_train_clips: Option<usize>,
    /// Torch threads (CPU training); default: all cores.
    #[arg(long)]
    threads: Option<i32>,
    /// Stop after this many minutes (checkpointed; continue with --resume).
    #[arg(long)]
    max_minutes: Option<f64>,
    /// JSON file with defaults for these options (keys as the long flag names, `_` for `-`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Generator: weight of over-predictions against under-predictions in the 4-8 kHz bands
    /// of the L1/MSE loss (1 = symmetric; PESQ-WB punishes a too-loud band more).
    #[arg(long, default_value_t = 1.0)]
    over_weight: f64,
    /// Also keep each validation's model: generator runs as
    /// `<out-dir>/snapshots/generator-<step>.safetensors`, vocoder runs as
    /// `<out-dir>/snapshots/s<step>/` (a checkpoint folder).
    #[arg(long)]
    keep_snapshots: bool,
    /// Generator runs: hidden channels (default: the --warm-start checkpoint's, else the set's:
    /// quality 128, low-latency 64). More than a --warm-start generator's widen it (each new
    /// channel a copy of an old one; it starts computing what the old one did).
    #[arg(long)]
    channels: Option<usize>,
    /// Generator runs: dilation of each residual block, comma-separated (default: the
    /// --warm-start checkpoint's, else the set's: quality 1,2,4,8,1,2,4,8, low-latency
    /// 1,2,4,8,1,2). Extra blocks after a --warm-start generator's own grow it (they start as
    /// identities).
    #[arg(long, value_delimiter = ',')]
    dilations: Option<Vec<usize>>,
}

#[derive(Args)]
struct VocoderArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Fine-tune on this generator checkpoint's predicted mels (of the narrow-band input);
    /// start the vocoder from --warm-start VOCODER_CHECKPOINT_DIR.
    #[arg(long, value_name = "GEN_CHECKPOINT_DIR")]
    finetune_on_generator: Option<PathBuf>,
    /// Step from which the discriminators (multi-period + multi-resolution) train.
    #[arg(long, default_value_t = 0)]
    disc_start: u64,
    /// Discriminator channels.
    #[arg(long, default_value_t = 16)]
    disc_width: i64,
    /// Weight of the band below 4 kHz in the reconstruction losses (the engine splices the
    /// input's own low band in).
    #[arg(long, default_value_t = 0.5)]
    low_band_weight: f64,
    /// Hold-out clips re-synthesised through the engine (LSD-HF, PESQ-WB) at each validation.
    #[arg(long, default_value_t = 12)]
    holdout_clips: usize,
    /// Weight of the anti-wrapped phase losses (instantaneous phase, group delay, instantaneous
    /// frequency against the target's STFT phase, weighted by its magnitude); 0 leaves the
    /// phase to the magnitude losses and the discriminators.
    #[arg(long, default_value_t = 0.0)]
    phase_weight: f64,
}

#[derive(Args)]
struct EvalVocoderArgs {
    /// Model set: quality or low-latency.
    #[arg(long, default_value = "quality")]
    variant: String,
    /// Vocoder checkpoint folders to score, as LABEL=DIR.
    #[arg(long = "checkpoint")]
    checkpoints: Vec<String>,
    /// Corpus root: scores its in-corpus hold-out clips (train/), unless --clips-dir is given.
    #[arg(long, default_value = "data/corpus")]
    dataset_dir: PathBuf,
    /// Score every clip of this folder instead of the hold-out.
    #[arg(long)]
    clips_dir: Option<PathBuf>,
    /// At most N clips (every k-th by name).
    #[arg(long, default_value_t = 64)]
    max_clips: usize,
    /// Cut clips to at most this many seconds.
    #[arg(long, default_value_t = 10.0)]
    max_secs: f64,
    /// Write the tables as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// Model set: quality or low-latency.
    #[arg(long, default_value = "quality")]
    variant: String,
    /// Generator checkpoint folder (e.g. runs/gan-quality/best); without it the base set's
    /// generator is kept.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Vocoder checkpoint folder (e.g. data/vocoder/voc-q/best) written as vocoder.onnx;
    /// without it the base set's vocoder is kept.
    #[arg(long)]
    vocoder_checkpoint: Option<PathBuf>,
    /// Model set whose other models and sidecar fields are kept.
    #[arg(long)]
    base: PathBuf,
    /// Output model set folder.
    #[arg(long)]
    out_dir: PathBuf,
    /// High-band gain: a number, or `auto`: the largest of 0.3, 0.4, .., 1 whose PESQ-WB on the
    /// in-corpus hold-out clips (up to 320) (the set's default synthesis; Griffin-Lim for a vocoder
    /// default) is at least sinc's + 0.05.
    #[arg(long, default_value = "auto")]
    amount: String,
    /// Default synthesis written to the sidecar (vocoder, phase-copy, griffin-lim).
    #[arg(long)]
    synthesis: Option<String>,
    /// Corpus root (for `--amount auto`).
    #[arg(long, default_value = "data/corpus")]
    dataset_dir: PathBuf,
    /// Set name in the sidecar.
    #[arg(long)]
    name: Option<String>,
}

fn apply_config(a: &mut TrainArgs) -> Result<()> {
    let Some(p) = &a.config else { return Ok(()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    let obj = v
        .as_object()
        .with_context(|| format!("{}: expected a JSON object", p.display()))?;
    for (k, val) in obj {
        let bad = || anyhow::anyhow!("{}: `{k}` has the wrong type", p.display());
        match k.as_str() {
            "batch_size" => a.batch_size = Some(val.as_u64().ok_or_else(bad)? as usize),
            "steps" => a.steps = Some(val.as_u64().ok_or_else(bad)?),
            "lr" => a.lr = Some(val.as_f64().ok_or_else(bad)?),
            "frames" => a.frames = Some(val.as_u64().ok_or_else(bad)? as usize),
            "val_every" => a.val_every = val.as_u64().ok_or_else(bad)?,
            "keep_snapshots" => a.keep_snapshots = val.as_bool().ok_or_else(bad)?,
            "log_every" => a.log_every = val.as_u64().ok_or_else(bad)?,
            "eval_clips" => a.eval_clips = val.as_u64().ok_or_else(bad)? as usize,
            "seed" => a.seed = val.as_u64().ok_or_else(bad)?,
            "over_weight" => a.over_weight = val.as_f64().ok_or_else(bad)?,
            "channels" => a.channels = Some(val.as_u64().ok_or_else(bad)? as usize),
            "dilations" => {
                a.dilations = Some(
                    val.as_array()
                        .ok_or_else(bad)?
                        .iter()
                        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(bad))
                        .collect::<Result<_>>()?,
                )
            }
            "variant" => a.variant = val.as_str().ok_or_else(bad)?.to_string(),
            other => anyhow::bail!("{}: unknown option `{other}`", p.display()),
        }
    }
    Ok(())
}

fn train_cmd(kind: Kind2, mut a: TrainArgs) -> Result<()> {
    apply_config(&mut a)?;
    if let Some(t) = a.threads {
        tch::set_num_threads(t);
    }
    let variant = spec::parse_variant(&a.variant)?;
    let frames = a.frames.unwrap_or(128);
    let batch_size = a.batch_size.unwrap_or(16).max(1);
    let steps = total_steps(&a, variant, frames, batch_size)?;
    let lr = a.lr.unwrap_or(match kind {
        Kind2::Cnn => 1e-3,
        Kind2::Gan => 2e-4,
    });
    let opts = TrainOptions {
        run: run_options(&a, variant, (frames, batch_size, steps), lr, 500)?,
        eval_clips: a.eval_clips,
        warm_start: a.warm_start,
        low_band_weight: 0.2,
        over_weight: a.over_weight,
        keep_snapshots: a.keep_snapshots,
        channels: a.channels,
        dilations: a.dilations,
    };
    train::run(kind, &opts)
}

/// The options both training loops share, from the command line; `shape` is (frames, batch size,
/// steps).
fn run_options(
    a: &TrainArgs,
    variant: Variant,
    shape: (usize, usize, u64),
    lr: f64,
    warmup_steps: u64,
) -> Result<train::RunOptions> {
    let (frames, batch_size, steps) = shape;
    Ok(train::RunOptions {
        variant,
        corpus_dir: a.dataset_dir.clone(),
        out_dir: a.out_dir.clone(),
        batch_size,
        steps,
        resume: a.resume,
        device: cuda::device(&a.device)?,
        seed: a.seed,
        lr,
        frames,
        val_every: a.val_every.max(1),
        log_every: a.log_every.max(1),
        max_train_clips: a.max_train_clips,
        warmup_steps,
        max_minutes: a.max_minutes,
    })
}

/// `--steps`, or `--epochs` passes over the training audio, or 20 000.
fn total_steps(a: &TrainArgs, variant: Variant, frames: usize, batch_size: usize) -> Result<u64> {
    let mel = spec::mel_config(variant);
    Ok(match (a.steps, a.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            let c =
                data::Corpus::load_dir(&data::train_dir(&a.dataset_dir), mel.sample_rate, |_| {
                    true
                })?;
            let seg = ((frames - 1) * mel.hop) as f64;
            let per_epoch = c.minutes(mel.sample_rate) * 60.0 * mel.sample_rate as f64 / seg;
            ((e * per_epoch / batch_size as f64).ceil() as u64).max(1)
        }
        (None, None) => 20_000,
    })
}

fn vocoder_cmd(v: VocoderArgs) -> Result<()> {
    let mut a = v.train;
    apply_config(&mut a)?;
    tch::set_num_threads(a.threads.unwrap_or(1));
    let variant = spec::parse_variant(&a.variant)?;
    let frames = a.frames.unwrap_or(match variant {
        Variant::Quality => 32,
        Variant::LowLatency => 64,
    });
    let batch_size = a.batch_size.unwrap_or(8).max(1);
    let steps = total_steps(&a, variant, frames, batch_size)?;
    let lr = a.lr.unwrap_or(if v.finetune_on_generator.is_some() {
        2e-4
    } else {
        5e-4
    });
    let opts = vtrain::VocoderOptions {
        run: run_options(&a, variant, (frames, batch_size, steps), lr, 200)?,
        holdout_clips: v.holdout_clips,
        warm_start: a.warm_start,
        finetune_on_generator: v.finetune_on_generator,
        low_band_weight: v.low_band_weight,
        disc_start: v.disc_start,
        disc_width: v.disc_width,
        keep_snapshots: a.keep_snapshots,
        phase_weight: v.phase_weight,
    };
    vtrain::run(&opts)
}

/// Hold-out clips `export --amount auto` sweeps (all of the corpus' ~300): the choice sits at a
/// PESQ-WB threshold, and 64 clips moved it by two steps of 0.1.
const AUTO_AMOUNT_CLIPS: usize = 320;
/// `export --amount auto` takes the largest amount whose hold-out PESQ-WB is at least sinc's
/// plus this: as much generated band as LSD-HF wants (it falls with the amount up to about 1)
/// while PESQ-WB, which punishes a wrong 4-8 kHz band, stays clearly above plain upsampling.
const AUTO_AMOUNT_PESQ_MARGIN: f64 = 0.05;

fn import_cmd(variant: &str, model_dir: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let variant = spec::parse_variant(variant)?;
    let got = widen_train::import::import_set(variant, model_dir, out)?;
    eprintln!(
        "imported {}: generator -> {}, vocoder -> {}",
        model_dir.display(),
        got.generator.display(),
        got.vocoder.display()
    );
    Ok(())
}

fn export_cmd(a: ExportArgs) -> Result<()> {
    let variant = spec::parse_variant(&a.variant)?;
    let synthesis = match a.synthesis.as_deref() {
        None => None,
        Some(s) => Some(
            Synthesis::ALL
                .into_iter()
                .find(|x| x.as_str() == s)
                .with_context(|| {
                    format!("--synthesis must be vocoder, phase-copy or griffin-lim, found `{s}`")
                })?,
        ),
    };
    match &a.checkpoint {
        Some(ckpt) => export_generator(&a, variant, ckpt, synthesis)?,
        None if a.vocoder_checkpoint.is_some() => {
            export::copy_set(&a.base, &a.out_dir)?;
        }
        None => anyhow::bail!("export needs --checkpoint (generator) and/or --vocoder-checkpoint"),
    }
    if let Some(vck) = &a.vocoder_checkpoint {
        let state = checkpoint::load_state(vck)?;
        let (vs, _) = vtrain::load_vocoder(variant, vck)?;
        let vspec = spec::vocoder_spec(variant)?;
        // The generator export already wrote the synthesis; a vocoder-only export writes it here.
        let syn = if a.checkpoint.is_none() {
            synthesis
        } else {
            None
        };
        let sc =
            export::export_vocoder(&vspec, &vs, &state, &a.out_dir, syn, serde_json::json!({}))?;
        eprintln!(
            "exported vocoder {} to {} (context {}/{}, default synthesis {})",
            vck.display(),
            a.out_dir.display(),
            sc.vocoder.context_left,
            sc.vocoder.context_right,
            sc.default_synthesis.as_str()
        );
    }
    Ok(())
}

fn export_generator(
    a: &ExportArgs,
    variant: Variant,
    checkpoint_dir: &std::path::Path,
    synthesis: Option<Synthesis>,
) -> Result<()> {
    let gspec = spec::checkpoint_generator_spec(variant, checkpoint_dir);
    let state = checkpoint::load_state(checkpoint_dir)?;
    let (vs, _gen) = export::load_generator(&gspec, checkpoint_dir)?;
    let mut metrics =
        serde_json::json!({"validation": state.metrics, "best_holdout": state.best_holdout});
    let amount = if a.amount == "auto" {
        let rate = spec::mel_config(variant).sample_rate;
        let hold =
            data::Corpus::load_dir(&data::train_dir(&a.dataset_dir), rate, data::is_holdout)?;
        let clips = validate::pick_clips(&hold, AUTO_AMOUNT_CLIPS, 4.0);
        // The synthesis the set will default to (phase copy or Griffin-Lim; a vocoder default
        // is swept with Griffin-Lim, which needs no weights).
        let default_syn = synthesis.or_else(|| {
            widen_core::model::ModelSet::load_dir(&a.base)
                .ok()
                .map(|s| s.sidecar().default_synthesis)
        });
        let (sweep_syn, syn_name) = match default_syn {
            Some(Synthesis::PhaseCopy) => (widen_core::engine::Synthesis::PhaseCopy, "phase copy"),
            _ => (
                widen_core::engine::Synthesis::GriffinLim { iterations: 32 },
                "Griffin-Lim",
            ),
        };
        let sinc = validate::sinc_scores(&clips)?;
        eprintln!(
            "sinc: LSD-HF {:.3}, PESQ-WB {:.3} ({} hold-out clips)",
            sinc.lsd_hf, sinc.pesq, sinc.clips
        );
        let mut sweep = Vec::new();
        for amt in (3..=10).map(|i| i as f32 / 10.0) {
            let s = validate::synth_scores(variant, &gspec, &vs, &clips, amt, sweep_syn)?;
            eprintln!(
                "amount {amt}: LSD-HF {:.3}, PESQ-WB {:.3} ({} hold-out clips, {})",
                s.lsd_hf, s.pesq, s.clips, syn_name
            );
            sweep.push((amt, s));
        }
        let floor = sinc.pesq + AUTO_AMOUNT_PESQ_MARGIN;
        let pick = sweep
            .iter()
            .filter(|(_, s)| s.pesq >= floor)
            .map(|(a, _)| *a)
            .fold(None, |m: Option<f32>, a| Some(m.map_or(a, |m| m.max(a))))
            .unwrap_or(sweep[0].0);
        metrics["amount_sweep_holdout"] = serde_json::json!({
            "synthesis": syn_name,
            "sinc": {"lsd_hf": sinc.lsd_hf, "pesq_wb": sinc.pesq, "clips": sinc.clips},
            "amounts": sweep
                .iter()
                .map(|(a, s)| serde_json::json!({"amount": a, "lsd_hf": s.lsd_hf, "lsd": s.lsd, "pesq_wb": s.pesq, "clips": s.clips}))
                .collect::<Vec<_>>(),
        });
        eprintln!(
            "chosen amount {pick} (the largest whose hold-out PESQ-WB is at least sinc's + \
             {AUTO_AMOUNT_PESQ_MARGIN})"
        );
        pick
    } else {
        a.amount
            .parse::<f32>()
            .with_context(|| format!("--amount must be a number or auto, found `{}`", a.amount))?
    };
    let info = export::ExportInfo {
        name: a.name.clone().unwrap_or_else(|| format!("widen-{}-{}", variant.as_str(), state.kind)),
        amount,
        synthesis,
        notes: format!(
            "generator trained by widen-train {} ({} steps, batch {}, {} frames, seed {}); \
             residual 1-D CNN {} channels, dilations {:?}; amount chosen on in-corpus hold-out clips.",
            state.kind, state.step, state.batch_size, state.frames, state.seed, gspec.channels, gspec.dilations
        ),
        metrics,
    };
    let sc = export::export_set(&gspec, &vs, &state, &a.base, &a.out_dir, &info)?;
    eprintln!(
        "exported {} to {} (generator context {}/{}, amount {})",
        sc.name,
        a.out_dir.display(),
        sc.generator.context_left,
        sc.generator.context_right,
        sc.default_amount
    );
    Ok(())
}

fn print_table(label: &str, t: &evaluate::Table) {
    let line = |name: &str, r: &evaluate::Row| {
        println!(
            "{label:<22} {name:<26} {:>5} {:>7.3} {:>7.3} {:>7.3} {:>6.3} {:>7.2}",
            r.clips, r.lsd, r.lsd_hf, r.pesq_wb, r.stoi, r.snr_db
        )
    };
    for (src, r) in &t.0 {
        line(src, r);
    }
    line("ALL", &t.1);
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    tch::set_num_threads(1);
    let variant = spec::parse_variant(&a.variant)?;
    let rate = spec::mel_config(variant).sample_rate;
    let corpus = if a.holdout {
        data::Corpus::load_dir(&a.clips_dir, rate, data::is_holdout)?
    } else {
        data::Corpus::load_dir(&a.clips_dir, rate, |_| true)?
    };
    let n = a.max_clips.unwrap_or(corpus.clips.len());
    let clips = validate::pick_clips(&corpus, n, a.max_secs);
    eprintln!(
        "scoring {} clips from {}",
        clips.len(),
        a.clips_dir.display()
    );
    println!(
        "{:<22} {:<26} {:>5} {:>7} {:>7} {:>7} {:>6} {:>7}",
        "system", "source", "clips", "LSD", "LSD-HF", "PESQ-WB", "STOI", "SNR"
    );
    let mut out = serde_json::Map::new();
    let sinc = evaluate::score(&evaluate::System::Sinc, &clips)?;
    print_table("sinc", &sinc);
    out.insert(
        "sinc".into(),
        serde_json::json!({"per_source": sinc.0, "all": sinc.1}),
    );
    let amounts: Vec<f32> = a
        .amounts
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f32>()
                .with_context(|| format!("--amounts: bad number `{s}`"))
        })
        .collect::<Result<_>>()?;
    let synthesis = match a.synthesis.as_str() {
        "griffin-lim" => widen_core::engine::Synthesis::GriffinLim { iterations: 32 },
        "phase-copy" => widen_core::engine::Synthesis::PhaseCopy,
        "vocoder" => widen_core::engine::Synthesis::Vocoder,
        other => {
            anyhow::bail!("--synthesis must be griffin-lim, phase-copy or vocoder, found `{other}`")
        }
    };
    let vspec = spec::vocoder_spec(variant)?;
    let vweights = match (&a.vocoder_checkpoint, a.synthesis.as_str()) {
        (Some(dir), "vocoder") => {
            let (vs, _) = vtrain::load_vocoder(variant, dir)?;
            Some(export::trained_weights(&vs)?)
        }
        (None, "vocoder") => anyhow::bail!("--synthesis vocoder needs --vocoder-checkpoint DIR"),
        _ => None,
    };
    for c in &a.checkpoints {
        let (label, dir) = c
            .split_once('=')
            .with_context(|| format!("--checkpoint wants LABEL=DIR, found `{c}`"))?;
        let dir = std::path::Path::new(dir);
        let gspec = spec::checkpoint_generator_spec(variant, dir);
        let (vs, _) = export::load_generator(&gspec, dir)?;
        let weights = export::trained_weights(&vs)?;
        for &amount in &amounts {
            let sys = evaluate::System::Generator {
                variant,
                spec: &gspec,
                weights: &weights,
                amount,
                cutoff_hz: a.cutoff,
                synthesis,
                vocoder: vweights.as_ref().map(|w| (&vspec, w)),
            };
            let t = evaluate::score(&sys, &clips)?;
            let name = format!("{label}@{amount}");
            print_table(&name, &t);
            out.insert(name, serde_json::json!({"per_source": t.0, "all": t.1}));
        }
    }
    if let Some(p) = a.json {
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&serde_json::Value::Object(out))?,
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn eval_vocoder_cmd(a: EvalVocoderArgs) -> Result<()> {
    tch::set_num_threads(1);
    let variant = spec::parse_variant(&a.variant)?;
    let rate = spec::mel_config(variant).sample_rate;
    let corpus = match &a.clips_dir {
        Some(d) => data::Corpus::load_dir(d, rate, |_| true)?,
        None => vtrain::holdout_corpus(&a.dataset_dir, rate)?,
    };
    let clips = validate::pick_clips(&corpus, a.max_clips, a.max_secs);
    eprintln!(
        "scoring {} clips (true mels of the wide-band audio)",
        clips.len()
    );
    println!(
        "{:<22} {:<26} {:>5} {:>7} {:>7} {:>7} {:>6} {:>7}",
        "system", "source", "clips", "LSD", "LSD-HF", "PESQ-WB", "STOI", "SNR"
    );
    let vspec = spec::vocoder_spec(variant)?;
    let cutoff_hz = widen_core::config::model::DEFAULT_CUTOFF_HZ;
    let mut out = serde_json::Map::new();
    let mut systems: Vec<(String, Option<widen_onnx::nets::TrainedWeights>)> =
        vec![("griffin-lim".into(), None)];
    for c in &a.checkpoints {
        let (label, dir) = c
            .split_once('=')
            .with_context(|| format!("--checkpoint wants LABEL=DIR, found `{c}`"))?;
        let (vs, _) = vtrain::load_vocoder(variant, std::path::Path::new(dir))?;
        systems.push((label.to_string(), Some(export::trained_weights(&vs)?)));
    }
    for (label, weights) in &systems {
        for splice in [true, false] {
            let sys = evaluate::System::TrueMel {
                variant,
                vocoder: weights.as_ref().map(|w| (&vspec, w)),
                splice,
                cutoff_hz,
            };
            let t = evaluate::score(&sys, &clips)?;
            let name = format!("{label}{}", if splice { "" } else { " (full band)" });
            print_table(&name, &t);
            out.insert(name, serde_json::json!({"per_source": t.0, "all": t.1}));
        }
    }
    if let Some(p) = a.json {
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&serde_json::Value::Object(out))?,
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn main() {
    // Before any tch call: register the CUDA backend when this libtorch has one.
    let _ = cuda::load_torch_cuda();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Train(a) => train_cmd(Kind2::Cnn, a),
        Cmd::TrainGan(a) => train_cmd(Kind2::Gan, a),
        Cmd::TrainVocoder(a) => vocoder_cmd(a),
        Cmd::Export(a) => export_cmd(a),
        Cmd::EvaluateVocoder(a) => eval_vocoder_cmd(a),
        Cmd::Evaluate(a) => eval_cmd(a),
        Cmd::Import {
            variant,
            model_dir,
            out_dir,
        } => import_cmd(&variant, &model_dir, &out_dir),
        Cmd::Plot { log, out } => widen_train::plot::plot_log(&log, &out),
    };
    if let Err(e) = r {
        eprintln!("widen-train: error: {e:#}");
        std::process::exit(1);
    }
}
