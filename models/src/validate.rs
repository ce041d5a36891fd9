//! Validation: high-band log-mel error on fixed batches (fast, on the training device), and the
//! engine's own offline path (generator on CPU through the `ModelRuntime` trait, Griffin-Lim
//! phase, band splice) scored with LSD-HF and PESQ-WB against the wide-band original.

use anyhow::Result;
use tch::{nn, Device, Kind, Tensor};
use widen_core::config::NARROW_BAND_RATE;
use widen_core::dsp::{resample, LogMel};
use widen_core::engine::{Context, EngineConfig, Synthesis};
use widen_core::model::Variant;
use widen_core::runtime::{ModelRuntime, RuntimeError};
use widen_onnx::nets::ResCnnSpec;

use crate::data::{make_batch, Batch, Clip, Corpus, Degrade};
use crate::generator::Generator;
use crate::spec;

/// Fixed validation batches (seeded once, identical at every validation).
pub fn fixed_batches(
    corpus: &Corpus,
    mel: &LogMel,
    frames: usize,
    batch: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<Batch>> {
    (0..n as u64)
        .map(|i| make_batch(corpus, mel, &Degrade::default(), frames, batch, seed, i))
        .collect()
}

/// Tensors `[B, n_mels, T]` of a batch's input and target on `device`.
pub fn to_tensors(b: &Batch, n_mels: usize, device: Device) -> (Tensor, Tensor) {
    let shape = [b.size as i64, n_mels as i64, b.frames as i64];
    (
        Tensor::from_slice(&b.lr).reshape(shape).to_device(device),
        Tensor::from_slice(&b.hr).reshape(shape).to_device(device),
    )
}

/// Mean absolute log-mel error over bands `hf_band..` and the frames whose receptive field
/// lies inside the example (`crop = (left, right)`).
pub fn hf_l1(pred: &Tensor, hr: &Tensor, hf_band: usize, crop: (usize, usize)) -> Tensor {
    let t = pred.size()[2];
    let (l, r) = (crop.0 as i64, crop.1 as i64);
    let m = pred.size()[1];
    let sel = |x: &Tensor| {
        x.narrow(2, l, t - l - r)
            .narrow(1, hf_band as i64, m - hf_band as i64)
    };
    (sel(pred) - sel(hr)).abs().mean(Kind::Float)
}

/// Mean [`hf_l1`] of `gen` over `batches`.
pub fn batches_hf_l1(
    gen: &Generator,
    batches: &[Batch],
    n_mels: usize,
    hf_band: usize,
    device: Device,
) -> f64 {
    if batches.is_empty() {
        return f64::NAN;
    }
    let crop = (gen.context_left, gen.context_right);
    let total: f64 = tch::no_grad(|| {
        batches
            .iter()
            .map(|b| {
                let (lr, hr) = to_tensors(b, n_mels, device);
                hf_l1(&gen.forward(&lr), &hr, hf_band, crop).double_value(&[])
            })
            .sum()
    });
    total / batches.len() as f64
}

/// A tch generator behind the engine's [`ModelRuntime`] trait (CPU, no gradients).
#[derive(Debug)]
pub struct TchRuntime {
    _vs: nn::VarStore,
    gen: Generator,
    output_names: Vec<String>,
    channels: Vec<usize>,
    input_name: String,
}

impl TchRuntime {
    /// A CPU copy of the generator whose variables are in `trained`.
    pub fn new(spec: &ResCnnSpec, trained: &nn::VarStore) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let gen = Generator::new(&vs.root(), spec)?;
        vs.copy(trained)?;
        Ok(Self {
            _vs: vs,
            gen,
            output_names: vec![spec.output.clone()],
            channels: vec![spec.n_mels],
            input_name: spec.input.clone(),
        })
    }
}

impl ModelRuntime for TchRuntime {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        let x = Tensor::from_slice(input).reshape([1, channels as i64, frames as i64]);
        let y = tch::no_grad(|| self.gen.forward(&x));
        let v = Vec::<f32>::try_from(y.flatten(0, -1)).map_err(|e| RuntimeError::Inference {
            model: "generator (tch)".into(),
            message: e.to_string(),
        })?;
        if let Some(o) = outputs.first_mut() {
            o.clear();
            o.extend_from_slice(&v);
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        &self.input_name
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }

    fn output_channels(&self) -> &[usize] {
        &self.channels
    }
}

/// Engine settings for scoring a generator offline with Griffin-Lim synthesis.
pub fn gl_config(variant: Variant, ctx: (usize, usize), amount: f32) -> EngineConfig {
    EngineConfig {
        mel: spec::mel_config(variant),
        generator_context: Context {
            left: ctx.0,
            right: ctx.1,
        },
        chunk_frames: 64,
        amount,
        synthesis: Synthesis::GriffinLim { iterations: 32 },
        input_rate: NARROW_BAND_RATE,
        output_rate: widen_core::config::SAMPLE_RATE,
        ..EngineConfig::default()
    }
}

/// The narrow-band test input of a wide-band clip: plain 8 kHz resampling and 16-bit
/// quantisation (the common real case), deterministic.
pub fn narrow_band(hr: &[f32]) -> Result<Vec<f32>> {
    let mut nb = resample(hr, widen_core::config::SAMPLE_RATE, NARROW_BAND_RATE)?;
    crate::data::quantise16(&mut nb);
    Ok(nb)
}

/// Mean scores over clips (what the training log and the amount sweep record).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Scores {
    /// Full-band LSD.
    pub lsd: f64,
    /// LSD above 4 kHz.
    pub lsd_hf: f64,
    /// PESQ-WB (NaN when no clip could be scored).
    pub pesq: f64,
    /// Clips scored.
    pub clips: usize,
}

impl From<&crate::evaluate::Row> for Scores {
    fn from(r: &crate::evaluate::Row) -> Self {
        Self {
            lsd: r.lsd,
            lsd_hf: r.lsd_hf,
            pesq: r.pesq_wb,
            clips: r.clips,
        }
    }
}

/// Scores the generator with Griffin-Lim synthesis at `amount` (the engine's offline path,
/// through [`crate::evaluate::score`]).
pub fn gl_scores(
    variant: Variant,
    spec: &ResCnnSpec,
    trained: &nn::VarStore,
    clips: &[Clip],
    amount: f32,
) -> Result<Scores> {
    synth_scores(
        variant,
        spec,
        trained,
        clips,
        amount,
        Synthesis::GriffinLim { iterations: 32 },
    )
}

/// [`gl_scores`] with another synthesis (not the vocoder, which needs its own weights).
pub fn synth_scores(
    variant: Variant,
    spec: &ResCnnSpec,
    trained: &nn::VarStore,
    clips: &[Clip],
    amount: f32,
    synthesis: Synthesis,
) -> Result<Scores> {
    let weights = crate::export::trained_weights(trained)?;
    let system = crate::evaluate::System::Generator {
        variant,
        spec,
        weights: &weights,
        amount,
        cutoff_hz: widen_core::config::model::DEFAULT_CUTOFF_HZ,
        synthesis,
        vocoder: None,
    };
    Ok((&crate::evaluate::score(&system, clips)?.1).into())
}

/// Scores plain sinc upsampling (the baseline every figure is compared with).
pub fn sinc_scores(clips: &[Clip]) -> Result<Scores> {
    Ok((&crate::evaluate::score(&crate::evaluate::System::Sinc, clips)?.1).into())
}

/// Every `k`-th clip of `corpus` (by name order), at most `n`, cut to at most `max_secs`:
/// a fixed, source-balanced-by-order scoring set.
pub fn pick_clips(corpus: &Corpus, n: usize, max_secs: f64) -> Vec<Clip> {
    if corpus.clips.is_empty() || n == 0 {
        return Vec::new();
    }
    let k = (corpus.clips.len() / n).max(1);
    let max_len = (max_secs * widen_core::config::SAMPLE_RATE as f64) as usize;
    corpus
        .clips
        .iter()
        .step_by(k)
        .take(n)
        .map(|c| c.cut(max_len))
        .collect()
}

/// A tch vocoder behind the engine's [`ModelRuntime`] trait (CPU, no gradients): outputs
/// `mag`, `cos`, `sin` like the exported graph.
#[derive(Debug)]
pub struct TchVocoderRuntime {
    _vs: nn::VarStore,
    voc: crate::vocoder::Vocoder,
    input_name: String,
    output_names: Vec<String>,
    channels: Vec<usize>,
}

impl TchVocoderRuntime {
    /// A CPU vocoder of `spec` with `weights`.
    pub fn new(
        spec: &widen_onnx::nets::VocosSpec,
        mel: &widen_core::config::MelConfig,
        weights: &widen_onnx::nets::TrainedWeights,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(Device::Cpu);
        let voc = crate::vocoder::Vocoder::new(&vs.root(), spec, mel)?;
        crate::evaluate::copy_weights(&vs, weights)?;
        Ok(Self {
            _vs: vs,
            voc,
            input_name: spec.input.clone(),
            output_names: spec.outputs.to_vec(),
            channels: vec![spec.n_bins; 3],
        })
    }
}

impl ModelRuntime for TchVocoderRuntime {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        let x = Tensor::from_slice(input).reshape([1, channels as i64, frames as i64]);
        let o = tch::no_grad(|| self.voc.forward(&x));
        let err = |e: tch::TchError| RuntimeError::Inference {
            model: "vocoder (tch)".into(),
            message: e.to_string(),
        };
        let parts = [o.mag, o.phase.cos(), o.phase.sin()];
        for (dst, t) in outputs.iter_mut().zip(parts) {
            let v = Vec::<f32>::try_from(t.flatten(0, -1)).map_err(err)?;
            dst.clear();
            dst.extend_from_slice(&v);
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        &self.input_name
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }

    fn output_channels(&self) -> &[usize] {
        &self.channels
    }
}
