//! `train-vocoder`: the Vocos vocoder on ground-truth log-mels of the corpus' wide-band audio
//! (or, with `--finetune-on-generator`, on a trained generator's predictions from the
//! narrow-band input), against the wide-band audio.
//!
//! Losses: log-mel L1 of the re-synthesised audio, multi-resolution STFT (spectral convergence
//! and log-magnitude L1), both weighted per frequency (full weight above the 4 kHz splice edge,
//! `low_band_weight` below: the engine takes the low band from the input), and from
//! `disc_start` on, hinge adversarial and feature-matching losses of a multi-period and a
//! multi-resolution discriminator ([`WaveDisc`]).
//!
//! Resumable like the generator loops (checkpoint = weights, AdamW states, step; the data of
//! step `s` depends only on `(seed, s)`); validated on the in-corpus hold-out only.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{nn, Device, Kind, Tensor};
use widen_core::config::lsd::HIGH_BAND_HZ;
use widen_core::dsp::LogMel;
use widen_core::model::Variant;

use crate::adam::Adam;
use crate::checkpoint::{self, State};
use crate::data::{make_batch, make_wide_batch, Batch, Corpus, Degrade};
use crate::evaluate::{self, System};
use crate::generator::Generator;
use crate::tch_mel::TchMel;
use crate::train::{band_weights, load_splits, lr_at, Log, RunOptions};
use crate::vdisc::WaveDisc;
use crate::vocoder::{centred_stft, Vocoder};
use crate::{export, spec, validate};

/// Options of a vocoder training run.
#[derive(Debug, Clone)]
pub struct VocoderOptions {
    /// What every training loop takes.
    pub run: RunOptions,
    /// Hold-out clips re-synthesised through the engine at each validation (0 = none).
    pub holdout_clips: usize,
    /// Vocoder checkpoint folder to start from (e.g. for fine-tuning).
    pub warm_start: Option<PathBuf>,
    /// Generator checkpoint folder: train on its predictions (fine-tuning).
    pub finetune_on_generator: Option<PathBuf>,
    /// Weight of the band below the splice edge in the reconstruction losses.
    pub low_band_weight: f64,
    /// Step from which the discriminators train and the adversarial losses count.
    pub disc_start: u64,
    /// Channels of the discriminators.
    pub disc_width: i64,
    /// Also keep each validation's vocoder as `snapshots/s<step>/` (weights and state, a
    /// folder `export --vocoder-checkpoint` and `evaluate-vocoder` take): adversarial training
    /// does not lower the mel loss that picks `best/`, so a step is chosen afterwards.
    pub keep_snapshots: bool,
    /// Weight of the anti-wrapped phase losses ([`phase_loss`]; 0 = off).
    pub phase_weight: f64,
}

/// Loss weights (Vocos-like balance: the mel term dominates, GAN terms near one).
const MEL_W: f64 = 15.0;
const STFT_W: f64 = 2.0;
const ADV_W: f64 = 1.0;
const FM_W: f64 = 2.0;

/// Multi-resolution STFT loss at one resolution.
struct StftRes {
    n_fft: i64,
    hop: i64,
    window: Tensor,
    /// `[1, n_bins, 1]` frequency weights.
    w: Tensor,
}

impl StftRes {
    fn new(n_fft: i64, rate: u32, low: f64, device: Device) -> Self {
        let n_bins = n_fft / 2 + 1;
        let edge = (HIGH_BAND_HZ * n_fft as f64 / rate as f64).round() as i64;
        let w: Vec<f32> = (0..n_bins)
            .map(|k| if k >= edge { 1.0 } else { low as f32 })
            .collect();
        Self {
            n_fft,
            hop: n_fft / 4,
            window: Tensor::hann_window_periodic(n_fft, true, (Kind::Float, device)),
            w: Tensor::from_slice(&w)
                .reshape([1, n_bins, 1])
                .to_device(device),
        }
    }

    fn mag(&self, x: &Tensor) -> Tensor {
        centred_stft(x, self.n_fft, self.hop, &self.window).abs()
    }

    /// Weighted spectral convergence + log-magnitude L1.
    fn loss(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        let (p, t) = (self.mag(pred), self.mag(target));
        let sc = ((&p - &t).square() * &self.w).sum(Kind::Float).sqrt()
            / ((t.square() * &self.w).sum(Kind::Float).sqrt() + 1e-7);
        let lp = (p + 1e-5).log();
        let lt = (t + 1e-5).log();
        let norm = self.w.sum(Kind::Float) * (lp.size()[0] * lp.size()[2]) as f64;
        let l1 = ((lp - lt).abs() * &self.w).sum(Kind::Float) / norm;
        sc + l1
    }
}

/// Wraps `x` (radians) into `[-pi, pi]` and takes its magnitude: the distance between two
/// phases whatever their unwrapping.
fn anti_wrap(x: &Tensor) -> Tensor {
    let tau = std::f64::consts::TAU;
    (x - (x / tau).round() * tau).abs()
}

/// Anti-wrapped phase losses of the vocoder's phase `pred` against the target's phase `target`
/// (both `[B, n_bins, T]` on the vocoder's own frames): instantaneous phase, group delay
/// (difference along frequency) and instantaneous angular frequency (difference along time),
/// after Ai and Ling's APNet. Each bin counts by the square root of the target's magnitude
/// `mag` (relative to the batch mean), so the phase of empty bins, which nothing hears, does
/// not steer training. The magnitude losses alone constrain the phase only through the overlap
/// of neighbouring frames, which leaves the re-synthesis rough.
fn phase_loss(pred: &Tensor, target: &Tensor, mag: &Tensor) -> Tensor {
    let w = mag.sqrt();
    let w = &w / (w.mean(Kind::Float) + 1e-9);
    let weighted = |d: Tensor, w: &Tensor| (anti_wrap(&d) * w).mean(Kind::Float);
    let ip = weighted(pred - target, &w);
    let (nb, nt) = (pred.size()[1], pred.size()[2]);
    let df = |x: &Tensor| x.narrow(1, 1, nb - 1) - x.narrow(1, 0, nb - 1);
    let dt = |x: &Tensor| x.narrow(2, 1, nt - 1) - x.narrow(2, 0, nt - 1);
    let gd = weighted(df(pred) - df(target), &w.narrow(1, 1, nb - 1));
    let iaf = weighted(dt(pred) - dt(target), &w.narrow(2, 1, nt - 1));
    ip + gd + iaf
}

/// Band-weighted log-mel L1 and its high-band part.
fn mel_l1(pred: &Tensor, target: &Tensor, w: &Tensor, hf_band: usize) -> (Tensor, Tensor) {
    let d = (pred - target).abs();
    let norm = w.sum(Kind::Float) * (d.size()[0] * d.size()[2]) as f64;
    let weighted = (&d * w).sum(Kind::Float) / norm;
    let m = d.size()[1];
    let hf = d
        .narrow(1, hf_band as i64, m - hf_band as i64)
        .mean(Kind::Float);
    (weighted, hf)
}

fn hinge_d(real: &[Tensor], fake: &[Tensor], dev: Device) -> Tensor {
    real.iter()
        .zip(fake)
        .map(|(r, f)| (-r + 1.0).relu().mean(Kind::Float) + (f + 1.0).relu().mean(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, dev)), |s, x| s + x)
}

fn feature_match(fake: &[Tensor], real: &[Tensor], dev: Device) -> Tensor {
    fake.iter()
        .zip(real)
        .map(|(a, b)| (a - b).abs().mean(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, dev)), |s, x| s + x)
        / fake.len().max(1) as f64
}

/// Mean weighted mel L1 and high-band mel L1 of the vocoder's re-synthesis over `batches`.
fn holdout_mel(
    voc: &Vocoder,
    gen: Option<&Generator>,
    batches: &[Batch],
    tmel: &TchMel,
    w: &Tensor,
    hf_band: usize,
    n_mels: usize,
) -> (f64, f64) {
    let dev = voc.device();
    let (mut a, mut b) = (0.0, 0.0);
    tch::no_grad(|| {
        for batch in batches {
            let (input, target, _) = tensors(batch, n_mels, gen, dev);
            let y = voc.synth(&input);
            let (l, h) = mel_l1(&tmel.log_mel(&y), &target, w, hf_band);
            a += l.double_value(&[]);
            b += h.double_value(&[]);
        }
    });
    let n = batches.len().max(1) as f64;
    (a / n, b / n)
}

/// Vocoder input (true mel, or the generator's prediction from the narrow-band mel), target
/// mel and target audio of a batch.
fn tensors(
    b: &Batch,
    n_mels: usize,
    gen: Option<&Generator>,
    dev: Device,
) -> (Tensor, Tensor, Tensor) {
    let shape = [b.size as i64, n_mels as i64, b.frames as i64];
    let hr = Tensor::from_slice(&b.hr).reshape(shape).to_device(dev);
    let audio = Tensor::from_slice(&b.audio)
        .reshape([b.size as i64, -1])
        .to_device(dev);
    let input = match gen {
        Some(g) => {
            let lr = Tensor::from_slice(&b.lr).reshape(shape).to_device(dev);
            tch::no_grad(|| g.forward(&lr))
        }
        None => hr.shallow_clone(),
    };
    (input, hr, audio)
}

/// Runs the vocoder loop to `opts.run.steps`.
pub fn run(opts: &VocoderOptions) -> Result<()> {
    let t_start = Instant::now();
    let variant = opts.run.variant;
    let mel_cfg = spec::mel_config(variant);
    let vspec = spec::vocoder_spec(variant)?;
    let n_mels = mel_cfg.n_mels;
    let rate = mel_cfg.sample_rate;
    let hf_band = spec::first_band_at_or_above(&mel_cfg, HIGH_BAND_HZ as f32);
    let dev = opts.run.device;
    let kind = if opts.finetune_on_generator.is_some() {
        "vocoder-ft"
    } else {
        "vocoder"
    };
    std::fs::create_dir_all(&opts.run.out_dir)
        .with_context(|| format!("creating {}", opts.run.out_dir.display()))?;

    let (train, hold, _) =
        load_splits(&opts.run.corpus_dir, rate, opts.run.max_train_clips, false)?;
    let train = std::sync::Arc::new(train);
    let minutes = train.minutes(rate);
    eprintln!(
        "widen-train {kind}: {} train clips ({minutes:.1} min), {} hold-out clips; device {dev:?}",
        train.clips.len(),
        hold.clips.len()
    );
    let narrow = opts.finetune_on_generator.is_some();
    let mel = LogMel::new(mel_cfg.clone())?;
    let batch_fn = if narrow { make_batch } else { make_wide_batch };
    let val_batches = (0..4u64)
        .map(|i| {
            batch_fn(
                &hold,
                &mel,
                &Degrade::default(),
                opts.run.frames,
                16,
                0x5eed,
                i,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let hold_pick = validate::pick_clips(&hold, opts.holdout_clips, 4.0);

    // Models (initialised from the seed).
    tch::manual_seed(opts.run.seed as i64);
    let mut vvs = nn::VarStore::new(dev);
    let voc = Vocoder::new(&vvs.root(), &vspec, &mel_cfg)?;
    if opts.run.frames <= 8 {
        bail!("--frames {} is too short to train on", opts.run.frames);
    }
    let mut vopt = Adam::new(&vvs, 0.8, 0.99, 0.01);
    let mut dvs = nn::VarStore::new(dev);
    let n_ffts: Vec<i64> = [1, 2, 4]
        .iter()
        .map(|f| (mel_cfg.n_fft / 2) as i64 * f)
        .collect();
    let disc = WaveDisc::new(&dvs.root(), opts.disc_width, &n_ffts);
    let mut dopt = Adam::new(&dvs, 0.8, 0.99, 0.01);
    let gen = match &opts.finetune_on_generator {
        None => None,
        Some(dir) => {
            let mut gvs = nn::VarStore::new(dev);
            let g = Generator::new(&gvs.root(), &spec::checkpoint_generator_spec(variant, dir))?;
            let f = dir.join(checkpoint::GEN);
            gvs.load(&f)
                .with_context(|| format!("--finetune-on-generator {}", f.display()))?;
            gvs.freeze();
            Some((gvs, g))
        }
    };
    let gen_ref = gen.as_ref().map(|(_, g)| g);
    let latest = opts.run.out_dir.join("latest");
    let best_dir = opts.run.out_dir.join("best");

    let mut state = opts.run.fresh_state(kind, minutes);
    if let Some(s) = opts.run.resumed_state(&state)? {
        vvs.load(latest.join(checkpoint::VOC))?;
        vopt.load(&latest.join(checkpoint::VOC_OPT))?;
        dvs.load(latest.join(checkpoint::DISC))?;
        dopt.load(&latest.join(checkpoint::DISC_OPT))?;
        eprintln!("widen-train: resumed at step {}", s.step);
        state = s;
    } else if let Some(w) = &opts.warm_start {
        let f = w.join(checkpoint::VOC);
        vvs.load(&f)
            .with_context(|| format!("--warm-start {}", f.display()))?;
        let fd = w.join(checkpoint::DISC);
        if fd.exists() {
            dvs.load(&fd)
                .with_context(|| format!("--warm-start {}", fd.display()))?;
        }
        eprintln!("widen-train: vocoder warm-started from {}", w.display());
    }
    let n_params: i64 = vvs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let mut log = Log::open(&opts.run.out_dir.join("log.jsonl"), Some(state.step))?;
    if state.step == 0 {
        log.write(
            serde_json::json!({"step": 0, "kind": "config", "variant": variant.as_str(),
            "loop": kind, "batch_size": opts.run.batch_size, "frames": opts.run.frames,
            "steps": opts.run.steps, "lr": opts.run.lr, "seed": opts.run.seed, "corpus_minutes": minutes,
            "vocoder": {"channels": vspec.channels, "blocks": vspec.blocks,
                "context": [voc.context_left, voc.context_right], "parameters": n_params},
            "disc_start": opts.disc_start, "disc_width": opts.disc_width,
            "low_band_weight": opts.low_band_weight, "phase_weight": opts.phase_weight,
            "finetune_on_generator": opts.finetune_on_generator, "device": format!("{dev:?}")}),
        )?;
    }
    eprintln!(
        "vocoder: {} channels, {} blocks, {n_params} parameters, context {}/{}",
        vspec.channels, vspec.blocks, voc.context_left, voc.context_right
    );

    // Griffin-Lim on the same true mels: the baseline the vocoder must beat.
    if state.step == 0 && !hold_pick.is_empty() {
        let mut entry =
            serde_json::json!({"step": 0, "kind": "baseline", "clips": hold_pick.len()});
        for splice in [true, false] {
            let t = evaluate::score(
                &System::TrueMel {
                    variant,
                    vocoder: None,
                    splice,
                    cutoff_hz: widen_core::config::model::DEFAULT_CUTOFF_HZ,
                },
                &hold_pick,
            )?
            .1;
            let tag = if splice { "" } else { "_full" };
            entry[format!("holdout_gl_lsd_hf{tag}")] = t.lsd_hf.into();
            entry[format!("holdout_gl_pesq{tag}")] = t.pesq_wb.into();
            eprintln!(
                "  Griffin-Lim on true mels ({}): LSD-HF {:.3}, PESQ-WB {:.3} ({} hold-out clips)",
                if splice { "spliced" } else { "full band" },
                t.lsd_hf,
                t.pesq_wb,
                t.clips
            );
        }
        log.write(entry)?;
    }

    // Batches are made ahead on a background thread, in step order.
    let (tx, rx) = mpsc::sync_channel::<Result<(u64, Batch)>>(4);
    let (first, total) = (state.step, state.total_steps);
    let (bs, frames, seed) = (opts.run.batch_size, opts.run.frames, opts.run.seed);
    let train_c = std::sync::Arc::clone(&train);
    let mel2 = LogMel::new(mel_cfg.clone())?;
    let producer = std::thread::spawn(move || {
        for s in first..total {
            let b = batch_fn(&train_c, &mel2, &Degrade::default(), frames, bs, seed, s);
            if tx.send(b.map(|b| (s, b))).is_err() {
                break;
            }
        }
    });

    let tmel = TchMel::new(&mel_cfg, dev)?;
    let mel_w = band_weights(n_mels, hf_band, opts.low_band_weight, dev);
    let stft_res: Vec<StftRes> = n_ffts
        .iter()
        .map(|&n| StftRes::new(n, rate, opts.low_band_weight, dev))
        .collect();

    let validate_now = |state: &mut State, vvs: &nn::VarStore, log: &mut Log| -> Result<bool> {
        let t0 = Instant::now();
        let (l, hf) = holdout_mel(&voc, gen_ref, &val_batches, &tmel, &mel_w, hf_band, n_mels);
        let mut entry = serde_json::json!({"step": state.step, "kind": "val",
            "holdout_mel_l1": l, "holdout_hf_l1": hf});
        if !hold_pick.is_empty() {
            let weights = export::trained_weights(vvs)?;
            for splice in [true, false] {
                let t = evaluate::score(
                    &System::TrueMel {
                        variant,
                        vocoder: Some((&vspec, &weights)),
                        splice,
                        cutoff_hz: widen_core::config::model::DEFAULT_CUTOFF_HZ,
                    },
                    &hold_pick,
                )?
                .1;
                let tag = if splice { "" } else { "_full" };
                entry[format!("holdout_lsd_hf{tag}")] = t.lsd_hf.into();
                entry[format!("holdout_pesq{tag}")] = t.pesq_wb.into();
            }
        }
        let better = state.best_holdout.is_none_or(|(b, _)| l < b);
        if better {
            state.best_holdout = Some((l, state.step));
        }
        entry["secs"] = t0.elapsed().as_secs_f64().into();
        eprintln!("  step {}: {entry}", state.step);
        state.metrics = entry.clone();
        log.write(entry)?;
        Ok(better)
    };
    let save = |dir: &Path,
                state: &State,
                vvs: &nn::VarStore,
                vopt: &Adam,
                dvs: &nn::VarStore,
                dopt: &Adam|
     -> Result<()> {
        checkpoint::save(dir, state, |tmp| {
            vvs.save(tmp.join(checkpoint::VOC))?;
            vopt.save(&tmp.join(checkpoint::VOC_OPT))?;
            dvs.save(tmp.join(checkpoint::DISC))?;
            dopt.save(&tmp.join(checkpoint::DISC_OPT))?;
            Ok(())
        })
    };

    let deadline = opts.run.deadline(t_start);
    let mut acc = [0.0f64; 8];
    let mut acc_n = 0u64;
    let mut t_log = Instant::now();
    while state.step < state.total_steps {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let (s, batch) = rx.recv().context("data thread stopped")??;
        debug_assert_eq!(s, state.step);
        let (input, target_mel, audio) = tensors(&batch, n_mels, gen_ref, dev);
        let lr = lr_at(
            opts.run.lr,
            state.step,
            state.total_steps,
            opts.run.warmup_steps,
        );
        let out = voc.forward(&input);
        let y = voc.istft(&out);
        let gan = state.step >= opts.disc_start;
        let mut d_loss = 0.0;
        if gan {
            let (real, _) = disc.forward(&audio);
            let (fake, _) = disc.forward(&y.detach());
            let ld = hinge_d(&real, &fake, dev);
            dopt.zero_grad();
            ld.backward();
            dopt.clip_grad_norm(10.0);
            dopt.step(lr);
            d_loss = ld.double_value(&[]);
        }
        let (ml, hf) = mel_l1(&tmel.log_mel(&y), &target_mel, &mel_w, hf_band);
        let st = stft_res
            .iter()
            .map(|r| r.loss(&y, &audio))
            .fold(Tensor::zeros([], (Kind::Float, dev)), |s, x| s + x)
            / stft_res.len() as f64;
        let mut loss = &ml * MEL_W + &st * STFT_W;
        let mut phase_v = 0.0;
        if opts.phase_weight > 0.0 {
            let (target_phase, target_mag) = tch::no_grad(|| voc.analyse(&audio));
            let ph = phase_loss(&out.phase, &target_phase, &target_mag);
            phase_v = ph.double_value(&[]);
            loss += ph * opts.phase_weight;
        }
        let (mut adv_v, mut fm_v) = (0.0, 0.0);
        if gan {
            let (fake, f_fake) = disc.forward(&y);
            let (_, f_real) = tch::no_grad(|| disc.forward(&audio));
            let adv = fake
                .iter()
                .map(|f| (-f + 1.0).relu().mean(Kind::Float))
                .fold(Tensor::zeros([], (Kind::Float, dev)), |s, x| s + x)
                / fake.len() as f64;
            let fm = feature_match(&f_fake, &f_real, dev);
            adv_v = adv.double_value(&[]);
            fm_v = fm.double_value(&[]);
            loss = loss + adv * ADV_W + fm * FM_W;
        }
        vopt.zero_grad();
        loss.backward();
        let gnorm = vopt.clip_grad_norm(10.0);
        vopt.step(lr);
        state.step += 1;

        let vals = [
            loss.double_value(&[]),
            ml.double_value(&[]),
            hf.double_value(&[]),
            st.double_value(&[]),
            adv_v,
            fm_v,
            d_loss,
            phase_v,
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
            log.write(serde_json::json!({"step": state.step, "kind": "train",
                "loss": acc[0] / n, "mel_l1": acc[1] / n, "hf_l1": acc[2] / n,
                "stft": acc[3] / n, "adv": acc[4] / n, "fm": acc[5] / n, "d_loss": acc[6] / n,
                "phase": acc[7] / n,
                "lr": lr, "steps_per_sec": sps, "elapsed": t_start.elapsed().as_secs_f64()}))?;
            eprintln!(
                "step {}/{}: loss {:.4} (mel L1 {:.4}, HF {:.4}, STFT {:.4}{}{}) lr {lr:.2e}, {sps:.2} steps/s",
                state.step,
                state.total_steps,
                acc[0] / n,
                acc[1] / n,
                acc[2] / n,
                acc[3] / n,
                if gan {
                    format!(", adv {:.3}, FM {:.3}, D {:.3}", acc[4] / n, acc[5] / n, acc[6] / n)
                } else {
                    String::new()
                },
                if opts.phase_weight > 0.0 {
                    format!(", phase {:.3}", acc[7] / n)
                } else {
                    String::new()
                }
            );
            acc = [0.0; 8];
            acc_n = 0;
            t_log = Instant::now();
        }
        if state.step.is_multiple_of(opts.run.val_every)
            || state.step == state.total_steps
            || out_of_time
        {
            let better = validate_now(&mut state, &vvs, &mut log)?;
            save(&latest, &state, &vvs, &vopt, &dvs, &dopt)?;
            if better {
                save(&best_dir, &state, &vvs, &vopt, &dvs, &dopt)?;
            }
            if opts.keep_snapshots {
                let dir = opts
                    .run
                    .out_dir
                    .join("snapshots")
                    .join(format!("s{}", state.step));
                checkpoint::save(&dir, &state, |tmp| {
                    vvs.save(tmp.join(checkpoint::VOC))?;
                    Ok(())
                })?;
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
    opts.run.say_done(kind, state.step, t_start);
    Ok(())
}

/// Loads a vocoder checkpoint folder into a CPU `VarStore`.
pub fn load_vocoder(variant: Variant, ckpt: &Path) -> Result<(nn::VarStore, Vocoder)> {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let voc = Vocoder::new(
        &vs.root(),
        &spec::vocoder_spec(variant)?,
        &spec::mel_config(variant),
    )?;
    let f = ckpt.join(checkpoint::VOC);
    vs.load(&f)
        .with_context(|| format!("loading {}", f.display()))?;
    Ok((vs, voc))
}

/// Corpus of hold-out clips for vocoder scoring (re-exported for the CLI).
pub fn holdout_corpus(corpus_dir: &Path, rate: u32) -> Result<Corpus> {
    Corpus::load_dir(
        &crate::data::train_dir(corpus_dir),
        rate,
        crate::data::is_holdout,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_loss_ignores_whole_turns_and_counts_shifts_by_magnitude() {
        let target = Tensor::rand([2, 9, 7], (Kind::Float, Device::Cpu)) * 6.0 - 3.0;
        let mag = Tensor::rand([2, 9, 7], (Kind::Float, Device::Cpu)) + 0.5;
        let turns = (Tensor::rand([2, 9, 7], (Kind::Float, Device::Cpu)) * 4.0).floor()
            * std::f64::consts::TAU;
        let same = phase_loss(&(&target + &turns), &target, &mag).double_value(&[]);
        assert!(same < 1e-4, "whole turns cost {same}");
        // A constant shift of 0.5 rad: only the instantaneous phase term sees it (the
        // differences cancel), and the weights average 1.
        let shifted = phase_loss(&(&target + 0.5), &target, &mag).double_value(&[]);
        assert!((shifted - 0.5).abs() < 1e-4, "{shifted}");
        // A shift of pi + 0.5 is 0.5 short of a whole turn away the other way.
        let far = phase_loss(&(&target + (std::f64::consts::PI + 0.5)), &target, &mag);
        let want = std::f64::consts::PI - 0.5;
        assert!((far.double_value(&[]) - want).abs() < 1e-4);
        // Empty bins do not count.
        let zero = Tensor::zeros([2, 9, 7], (Kind::Float, Device::Cpu));
        let half_empty = Tensor::cat(&[mag.narrow(1, 0, 4), zero.narrow(1, 4, 5)], 1);
        let noisy_top = Tensor::cat(&[target.narrow(1, 0, 4), target.narrow(1, 4, 5) + 1.0], 1);
        let masked = phase_loss(&noisy_top, &target, &half_empty).double_value(&[]);
        // Only the group-delay term at the edge between bin 3 and 4 sees the step, and bin 4
        // weighs nothing there: the loss is zero.
        assert!(masked < 1e-4, "{masked}");
    }
}
