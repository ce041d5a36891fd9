//! Training data made on the fly from wide-band speech.
//!
//! Each example is a random segment of a random corpus clip (drawn in proportion to clip
//! length) that goes through two paths:
//!
//! - wide-band target: random level, sometimes a synthetic room (exponentially decaying noise
//!   impulse response), then the log-mel of the engine's front end;
//! - narrow-band input: a band-limiting filter drawn fresh per example (Butterworth, Chebyshev I
//!   or windowed-sinc FIR, cutoff 3.4–4 kHz), resampling to 8 kHz, a random spectral tilt, mild
//!   noise, 16-bit quantisation, resampling back with the engine's resampler, log-mel.
//!
//! Every example is a pure function of `(seed, step, index)`, so a resumed run sees exactly the
//! batches an uninterrupted one would, and the data can be made on any number of threads.
//!
//! The fixed alternative, as in the seed: a `widen make-dataset` output folder (`hr/`, `lr/`,
//! `manifest.jsonl`) as the dataset ([`Corpus::load_dir`]). Each example is then a random
//! segment of a random pair, the same segment of both files, with no further degradation: the
//! input is the pair's own 8 kHz file brought back to the model rate with the engine's
//! resampler (as the on-the-fly path does), the target its wide-band file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use realfft::RealFftPlanner;
use widen_core::config::{MelConfig, NARROW_BAND_RATE, SAMPLE_RATE};
use widen_core::dsp::{filters, resample, LogMel, StreamResampler};

/// Cutoffs of the random band-limiting filter (Hz), per the design.
pub const CUTOFF_RANGE_HZ: (f64, f64) = (3400.0, 4000.0);

/// One loaded clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Path relative to the corpus split folder (`<source>/<...>.flac`).
    pub name: String,
    /// Mono samples at the model rate.
    pub samples: Vec<f32>,
    /// The fixed narrow-band input of a `make-dataset` pair; `None` for corpus clips, whose
    /// input is made on the fly.
    pub pair: Option<PairInput>,
}

/// The narrow-band half of a `make-dataset` pair.
#[derive(Debug, Clone)]
pub struct PairInput {
    /// At [`NARROW_BAND_RATE`] (what the engine is given).
    pub narrow: Vec<f32>,
    /// `narrow` brought back to the model rate with the engine's resampler, aligned with and
    /// as long as the clip's `samples`.
    pub upsampled: Vec<f32>,
}

impl Clip {
    /// A corpus clip (no fixed input).
    pub fn new(name: String, samples: Vec<f32>) -> Self {
        Self {
            name,
            samples,
            pair: None,
        }
    }

    /// The corpus source (first path component).
    pub fn source(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }

    /// The first `len` samples at the model rate (the pair's input cut to match).
    pub fn cut(&self, len: usize) -> Clip {
        let len = len.min(self.samples.len());
        let pair = self.pair.as_ref().map(|p| {
            let nb = (len as u64 * NARROW_BAND_RATE as u64).div_ceil(SAMPLE_RATE as u64) as usize;
            PairInput {
                narrow: p.narrow[..nb.min(p.narrow.len())].to_vec(),
                upsampled: p.upsampled[..len].to_vec(),
            }
        });
        Clip {
            name: self.name.clone(),
            samples: self.samples[..len].to_vec(),
            pair,
        }
    }
}

/// Whether `dir` is a `widen make-dataset` output folder: a manifest beside `hr/` and `lr/`
/// (the corpus root of `cargo xtask corpus` has a manifest of its own, but no `hr/`).
pub fn is_pairs_dir(dir: &Path) -> bool {
    use widen_core::dataset::{HR_DIR, LR_DIR, MANIFEST_FILE};
    dir.join(MANIFEST_FILE).is_file() && dir.join(HR_DIR).is_dir() && dir.join(LR_DIR).is_dir()
}

/// The training folder of a dataset root: the root itself when it is a `make-dataset` output,
/// else `root/train` (a corpus from `cargo xtask corpus`, whose pairs folders may also sit in
/// `train/` and `eval/`).
pub fn train_dir(root: &Path) -> PathBuf {
    if is_pairs_dir(root) {
        root.to_path_buf()
    } else {
        root.join("train")
    }
}

/// A set of clips with a length-weighted sampler.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// The clips, sorted by name (deterministic order).
    pub clips: Vec<Clip>,
    cum: Vec<u64>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in rd {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if widen_core::dataset::is_audio_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

impl Corpus {
    /// Builds a corpus from clips (sorted by name).
    pub fn from_clips(mut clips: Vec<Clip>) -> Self {
        clips.sort_by(|a, b| a.name.cmp(&b.name));
        let mut cum = Vec::with_capacity(clips.len());
        let mut acc = 0u64;
        for c in &clips {
            acc += c.samples.len() as u64;
            cum.push(acc);
        }
        Self { clips, cum }
    }

    /// Loads every audio file under `dir` (recursively) at `rate`, mono; files that fail to
    /// decode are reported on stderr and skipped. `keep(name)` filters by relative name.
    pub fn load(dir: &Path, rate: u32, keep: impl Fn(&str) -> bool + Sync) -> Result<Self> {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        let clips: Vec<Clip> = files
            .par_iter()
            .filter_map(|p| {
                let name = p
                    .strip_prefix(dir)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .replace('\\', "/");
                if !keep(&name) {
                    return None;
                }
                match load_clip(p, rate) {
                    Ok(samples) if !samples.is_empty() => Some(Clip::new(name, samples)),
                    Ok(_) => None,
                    Err(e) => {
                        eprintln!("widen-train: skipping {}: {e:#}", p.display());
                        None
                    }
                }
            })
            .collect();
        if clips.is_empty() {
            bail!(
                "no usable audio under {} (build the corpus with `cargo xtask corpus`)",
                dir.display()
            );
        }
        Ok(Self::from_clips(clips))
    }

    /// Loads `dir` at `rate`: the pairs of a `make-dataset` output folder
    /// ([`load_pairs`](Self::load_pairs)) or every audio file under it
    /// ([`load`](Self::load)).
    pub fn load_dir(dir: &Path, rate: u32, keep: impl Fn(&str) -> bool + Sync) -> Result<Self> {
        if is_pairs_dir(dir) {
            Self::load_pairs(dir, rate, keep)
        } else {
            Self::load(dir, rate, keep)
        }
    }

    /// Loads the pairs listed in `dir/manifest.jsonl` (`widen make-dataset`): the `hr/` file
    /// at `rate` as the clip, the `lr/` file at 8 kHz as its fixed input. `keep(path)` filters
    /// by the manifest's pair name; pairs that fail to load are reported and skipped.
    pub fn load_pairs(dir: &Path, rate: u32, keep: impl Fn(&str) -> bool + Sync) -> Result<Self> {
        use widen_core::dataset::{read_manifest, HR_DIR, LR_DIR};
        let entries = read_manifest(dir);
        let clips: Vec<Clip> = entries
            .par_iter()
            .filter(|e| keep(&e.path))
            .filter_map(|e| {
                let load = || -> Result<Clip> {
                    let samples = load_clip(&dir.join(HR_DIR).join(&e.path), rate)?;
                    let narrow = load_clip(&dir.join(LR_DIR).join(&e.path), NARROW_BAND_RATE)?;
                    let mut upsampled = resample_cached(&narrow, NARROW_BAND_RATE, rate)?;
                    upsampled.resize(samples.len(), 0.0);
                    Ok(Clip {
                        name: e.path.clone(),
                        samples,
                        pair: Some(PairInput { narrow, upsampled }),
                    })
                };
                match load() {
                    Ok(c) if !c.samples.is_empty() => Some(c),
                    Ok(_) => None,
                    Err(err) => {
                        eprintln!("widen-train: skipping pair {}: {err:#}", e.path);
                        None
                    }
                }
            })
            .collect();
        if clips.is_empty() {
            bail!(
                "no usable pairs in {} (its manifest lists {}; make them with `widen make-dataset`)",
                dir.display(),
                entries.len()
            );
        }
        Ok(Self::from_clips(clips))
    }

    /// Total length in minutes at `rate`.
    pub fn minutes(&self, rate: u32) -> f64 {
        self.cum.last().copied().unwrap_or(0) as f64 / rate as f64 / 60.0
    }

    /// A clip drawn with probability proportional to its length.
    pub fn draw(&self, rng: &mut impl Rng) -> &Clip {
        let total = self.cum.last().copied().unwrap_or(0).max(1);
        let x = rng.gen_range(0..total);
        let i = self.cum.partition_point(|&c| c <= x);
        &self.clips[i.min(self.clips.len() - 1)]
    }
}

/// Reads `path` as mono at `rate`.
pub fn load_clip(path: &Path, rate: u32) -> Result<Vec<f32>> {
    let a = widen_core::io::read(path)?;
    let mono = a.to_mono();
    Ok(if a.sample_rate == rate {
        mono
    } else {
        resample(&mono, a.sample_rate, rate)?
    })
}

thread_local! {
    /// Per-thread resamplers by rate pair: building one (its sinc table) costs more than
    /// running it on a training segment, and `flush` leaves it ready for the next signal.
    static RESAMPLERS: std::cell::RefCell<Vec<((u32, u32), StreamResampler)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`resample`] with a cached per-thread resampler (same filter, same output).
pub fn resample_cached(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    RESAMPLERS.with(|cell| {
        let mut v = cell.borrow_mut();
        let i = match v.iter().position(|(k, _)| *k == (from, to)) {
            Some(i) => i,
            None => {
                v.push(((from, to), StreamResampler::new(from, to, 4096)?));
                v.len() - 1
            }
        };
        let rs = &mut v[i].1;
        let lat = rs.latency_out_samples();
        let want = ((x.len() as u64 * to as u64 + from as u64 / 2) / from as u64) as usize;
        let mut out = Vec::with_capacity(lat + want + 8);
        rs.process(x, &mut out)?;
        rs.flush(&mut out)?;
        out.drain(..lat.min(out.len()));
        out.resize(want, 0.0);
        Ok(out)
    })
}

/// In-corpus validation hold-out: a stable ~1 in 32 of the training clips by name hash.
pub fn is_holdout(name: &str) -> bool {
    // FNV-1a: stable across platforms and Rust versions.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.is_multiple_of(32)
}

/// Mixes seed parts into one 64-bit seed (SplitMix64 finaliser over a running hash).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut z: u64 = 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        z ^= p;
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// How examples are degraded.
#[derive(Debug, Clone)]
pub struct Degrade {
    /// Probability of a synthetic room on the wide-band signal.
    pub p_reverb: f64,
    /// Probability of a spectral tilt on the narrow-band signal.
    pub p_tilt: f64,
    /// Probability of added noise on the narrow-band signal.
    pub p_noise: f64,
    /// Speech RMS level range (dBFS).
    pub level_db: (f64, f64),
}

impl Default for Degrade {
    fn default() -> Self {
        Self {
            p_reverb: 0.25,
            p_tilt: 0.5,
            p_noise: 0.5,
            level_db: (-38.0, -14.0),
        }
    }
}

/// Rounds `x` to 16-bit PCM values in place (`widen_core::io::quantize`, the WAV writer's rule).
pub fn quantise16(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = widen_core::io::quantize(*v, 16) as f32 / 32768.0;
    }
}

/// One training pair, mel-major `[n_mels, frames]`.
#[derive(Debug, Clone)]
pub struct Example {
    /// Log-mel of the degraded, re-upsampled input.
    pub lr: Vec<f32>,
    /// Log-mel of the wide-band target.
    pub hr: Vec<f32>,
    /// The wide-band target samples (`(frames - 1) * hop`).
    pub audio: Vec<f32>,
}

fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64).sqrt()
}

fn gauss(rng: &mut impl Rng) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.gen_range(1e-12..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Linear convolution by FFT, truncated to `x.len()`.
fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut a = vec![0.0f32; n];
    a[..x.len()].copy_from_slice(x);
    let mut b = vec![0.0f32; n];
    b[..h.len()].copy_from_slice(h);
    let mut fa = fwd.make_output_vec();
    let mut fb = fwd.make_output_vec();
    if fwd.process(&mut a, &mut fa).is_err() || fwd.process(&mut b, &mut fb).is_err() {
        return x.to_vec();
    }
    for (p, q) in fa.iter_mut().zip(&fb) {
        *p *= *q;
    }
    let mut y = vec![0.0f32; n];
    if inv.process(&mut fa, &mut y).is_err() {
        return x.to_vec();
    }
    y.truncate(x.len());
    let scale = 1.0 / n as f32;
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

/// A synthetic room: direct path plus exponentially decaying noise with RT60 `rt60` seconds
/// and a direct-to-reverberant ratio of `drr_db`.
fn room(rng: &mut impl Rng, rate: u32, rt60: f64, drr_db: f64) -> Vec<f32> {
    let len = (rt60 * rate as f64) as usize + 1;
    let decay = 6.9 / (rt60 * rate as f64);
    let mut h: Vec<f32> = (0..len)
        .map(|n| (gauss(rng) * (-decay * n as f64).exp()) as f32)
        .collect();
    // Pre-delay of the first reflection, 2–10 ms.
    let pre = (rng.gen_range(0.002..0.010) * rate as f64) as usize;
    for v in h.iter_mut().take(pre) {
        *v = 0.0;
    }
    let tail = h
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    let g = (10f64.powf(-drr_db / 20.0) / tail) as f32;
    h.iter_mut().for_each(|v| *v *= g);
    h[0] = 1.0;
    h
}

/// The wide-band target segment of an example: `len` samples of a length-weighted random clip
/// at a random offset, a synthetic room with probability `p_reverb`, a random level. A
/// `make-dataset` pair gives the same segment of both files instead, as they are (the fixed
/// input as its second value).
fn wide_segment(
    corpus: &Corpus,
    rng: &mut ChaCha8Rng,
    degrade: &Degrade,
    len: usize,
    rate: u32,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let clip = corpus.draw(rng);
    let src = &clip.samples;
    let (from, to, n) = if src.len() >= len {
        (rng.gen_range(0..=src.len() - len), 0, len)
    } else {
        (0, rng.gen_range(0..=len - src.len()), src.len())
    };
    let segment = |x: &[f32]| {
        let mut y = vec![0.0f32; len];
        y[to..to + n].copy_from_slice(&x[from..from + n]);
        y
    };
    let mut hr = segment(src);
    if let Some(p) = &clip.pair {
        return (hr, Some(segment(&p.upsampled)));
    }
    if rng.gen_bool(degrade.p_reverb) {
        let (rt60, drr) = (rng.gen_range(0.15..0.6), rng.gen_range(0.0..12.0));
        let h = room(rng, rate, rt60, drr);
        hr = convolve(&hr, &h);
    }
    // Level: speech RMS uniform in dB, never clipping.
    let r = rms(&hr).max(1e-9);
    let target = 10f64.powf(rng.gen_range(degrade.level_db.0..degrade.level_db.1) / 20.0);
    let peak = hr.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9) as f64;
    let g = (target / r).min(0.97 / peak) as f32;
    hr.iter_mut().for_each(|v| *v *= g);
    (hr, None)
}

/// Makes one example from `corpus` for `seed`: `frames` mel frames (`(frames - 1) * hop`
/// samples). With `narrow == false` only the wide-band part is made (`lr` empty): what the
/// vocoder trains on.
pub fn make_example(
    corpus: &Corpus,
    mel: &LogMel,
    degrade: &Degrade,
    frames: usize,
    seed: u64,
) -> Result<Example> {
    make_example_with(corpus, mel, degrade, frames, seed, true)
}

fn make_example_with(
    corpus: &Corpus,
    mel: &LogMel,
    degrade: &Degrade,
    frames: usize,
    seed: u64,
    narrow: bool,
) -> Result<Example> {
    let cfg: &MelConfig = mel.config();
    let rate = cfg.sample_rate;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = (frames - 1) * cfg.hop;
    let (hr, fixed) = wide_segment(corpus, &mut rng, degrade, len, rate);
    let hr_mel = mel.compute(&hr);
    if hr_mel.n_frames != frames {
        bail!("mel frames: expected {frames}, found {}", hr_mel.n_frames);
    }
    if !narrow {
        return Ok(Example {
            lr: Vec::new(),
            hr: hr_mel.data,
            audio: hr,
        });
    }

    // Narrow-band path: a pair's own input, or the degradations.
    let up = match fixed {
        Some(up) => up,
        None => degraded_input(&hr, &mut rng, degrade, rate, len)?,
    };
    let lr_mel = mel.compute(&up);
    if lr_mel.n_frames != frames {
        bail!("mel frames: expected {frames}, found {}", lr_mel.n_frames);
    }
    Ok(Example {
        lr: lr_mel.data,
        hr: hr_mel.data,
        audio: hr,
    })
}

/// The on-the-fly narrow-band input of `hr` (`len` samples at `rate`): a random band-limiting
/// filter, 8 kHz, a random tilt, mild noise, 16-bit, back to `rate`.
fn degraded_input(
    hr: &[f32],
    rng: &mut ChaCha8Rng,
    degrade: &Degrade,
    rate: u32,
    len: usize,
) -> Result<Vec<f32>> {
    let spec = filters::draw_random(rng, CUTOFF_RANGE_HZ);
    let mut lp = filters::design(spec, rate)?;
    let band = lp.filter_aligned(hr);
    let mut nb = resample_cached(&band, rate, NARROW_BAND_RATE)?;
    if rng.gen_bool(degrade.p_tilt) {
        // First-order tilt y = x + b (x[n] - x[n-1]): up to about +-4 dB at 3 kHz.
        let b = rng.gen_range(-0.35..0.35f32);
        let mut prev = 0.0f32;
        for v in nb.iter_mut() {
            let x = *v;
            *v = x + b * (x - prev);
            prev = x;
        }
    }
    if rng.gen_bool(degrade.p_noise) {
        let snr_db = rng.gen_range(30.0..60.0);
        let sigma = rms(&nb) * 10f64.powf(-snr_db / 20.0);
        for v in nb.iter_mut() {
            *v += (sigma * gauss(rng)) as f32;
        }
    }
    quantise16(&mut nb);
    let mut up = resample_cached(&nb, NARROW_BAND_RATE, rate)?;
    up.resize(len, 0.0);
    Ok(up)
}

/// A batch as flat mel-major arrays `[batch, n_mels, frames]`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Inputs.
    pub lr: Vec<f32>,
    /// Targets.
    pub hr: Vec<f32>,
    /// Wide-band target audio `[batch, (frames - 1) * hop]`.
    pub audio: Vec<f32>,
    /// Examples.
    pub size: usize,
    /// Frames per example.
    pub frames: usize,
}

/// The batch of training step `step`: example `i` uses seed `mix(seed, step, i)`.
pub fn make_batch(
    corpus: &Corpus,
    mel: &LogMel,
    degrade: &Degrade,
    frames: usize,
    size: usize,
    seed: u64,
    step: u64,
) -> Result<Batch> {
    make_batch_with(corpus, mel, degrade, frames, size, seed, step, true)
}

/// [`make_batch`] without the narrow-band input (`lr` empty): wide-band audio and its log-mel,
/// the same segments `make_batch` draws.
pub fn make_wide_batch(
    corpus: &Corpus,
    mel: &LogMel,
    degrade: &Degrade,
    frames: usize,
    size: usize,
    seed: u64,
    step: u64,
) -> Result<Batch> {
    make_batch_with(corpus, mel, degrade, frames, size, seed, step, false)
}

#[allow(clippy::too_many_arguments)]
fn make_batch_with(
    corpus: &Corpus,
    mel: &LogMel,
    degrade: &Degrade,
    frames: usize,
    size: usize,
    seed: u64,
    step: u64,
    narrow: bool,
) -> Result<Batch> {
    let ex: Vec<Example> = (0..size)
        .into_par_iter()
        .map(|i| {
            make_example_with(
                corpus,
                mel,
                degrade,
                frames,
                mix_seed(&[seed, step, i as u64]),
                narrow,
            )
        })
        .collect::<Result<_>>()?;
    let mut lr = Vec::with_capacity(size * ex.first().map_or(0, |e| e.lr.len()));
    let mut hr = Vec::with_capacity(size * ex.first().map_or(0, |e| e.hr.len()));
    let mut audio = Vec::with_capacity(size * ex.first().map_or(0, |e| e.audio.len()));
    for e in ex {
        lr.extend_from_slice(&e.lr);
        hr.extend_from_slice(&e.hr);
        audio.extend_from_slice(&e.audio);
    }
    Ok(Batch {
        lr,
        hr,
        audio,
        size,
        frames,
    })
}
