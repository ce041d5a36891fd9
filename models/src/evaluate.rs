//! `widen-train evaluate`: scores generator checkpoints on a corpus split through the engine's
//! offline path (Griffin-Lim phase, band splice, 16-bit output), beside plain sinc upsampling,
//! per source and overall, with every metric of `widen eval` (LSD, LSD-HF, PESQ-WB, STOI, SNR).
//! Clips run in parallel; each thread builds its own CPU copy of the generator.

use std::collections::BTreeMap;

use anyhow::Result;
use rayon::prelude::*;
use tch::{nn, Device, Tensor};
use widen_core::config::{NARROW_BAND_RATE, SAMPLE_RATE};
use widen_core::dsp::resample;
use widen_core::engine::{enhance_offline, Synthesis};
use widen_core::metrics::evaluate as metrics;
use widen_core::model::Variant;
use widen_onnx::nets::{ResCnnSpec, TrainedWeights, VocosSpec};

use crate::data::{quantise16, Clip};
use crate::generator::Generator;
use crate::validate::{self, narrow_band, TchRuntime};

/// Mean metrics of one system on one group of clips.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Row {
    /// Clips scored.
    pub clips: usize,
    /// Full-band LSD.
    pub lsd: f64,
    /// LSD above 4 kHz.
    pub lsd_hf: f64,
    /// PESQ-WB (mean over the clips where it could be computed).
    pub pesq_wb: f64,
    /// STOI.
    pub stoi: f64,
    /// SNR (dB).
    pub snr_db: f64,
    #[serde(skip)]
    n_pesq: usize,
    #[serde(skip)]
    n_stoi: usize,
}

impl Row {
    fn add(&mut self, s: &widen_core::metrics::Scores) {
        self.clips += 1;
        self.lsd += s.lsd;
        self.lsd_hf += s.lsd_hf;
        if s.snr_db.is_finite() {
            self.snr_db += s.snr_db;
        }
        if let Some(p) = s.pesq_wb {
            self.pesq_wb += p;
            self.n_pesq += 1;
        }
        if let Some(p) = s.stoi {
            self.stoi += p;
            self.n_stoi += 1;
        }
    }

    fn finish(mut self) -> Self {
        let n = self.clips.max(1) as f64;
        self.lsd /= n;
        self.lsd_hf /= n;
        self.snr_db /= n;
        self.pesq_wb = if self.n_pesq > 0 {
            self.pesq_wb / self.n_pesq as f64
        } else {
            f64::NAN
        };
        self.stoi = if self.n_stoi > 0 {
            self.stoi / self.n_stoi as f64
        } else {
            f64::NAN
        };
        self
    }
}

/// Per-source rows and the overall row.
pub type Table = (BTreeMap<String, Row>, Row);

/// A system to score.
pub enum System<'a> {
    /// Sinc upsampling of the narrow-band input.
    Sinc,
    /// A generator with Griffin-Lim synthesis at a high-band gain and splice cutoff.
    Generator {
        /// Model set.
        variant: Variant,
        /// Network shape.
        spec: &'a ResCnnSpec,
        /// Its weights.
        weights: &'a TrainedWeights,
        /// High-band gain.
        amount: f32,
        /// Splice cutoff (Hz).
        cutoff_hz: f32,
        /// High-band synthesis (Griffin-Lim, phase copy, or the vocoder below).
        synthesis: Synthesis,
        /// The vocoder (for `Synthesis::Vocoder`) and its weights.
        vocoder: Option<(&'a VocosSpec, &'a TrainedWeights)>,
    },
    /// Re-synthesis of the wide-band clip's own log-mel (the vocoder's task, "true mel in"):
    /// the engine with an identity generator, fed the wide-band clip at the model rate.
    TrueMel {
        /// Model set (STFT and mel front end).
        variant: Variant,
        /// The vocoder and its weights; `None` = Griffin-Lim (32 iterations).
        vocoder: Option<(&'a VocosSpec, &'a TrainedWeights)>,
        /// Band splice at `cutoff_hz` (input below, re-synthesis above) or the whole band
        /// re-synthesised.
        splice: bool,
        /// Splice cutoff (Hz).
        cutoff_hz: f32,
    },
}

/// Copies `weights` into the variables of `vs` (same names and sizes): a variable missing from
/// `weights` or of another size is an error naming it.
pub fn copy_weights(vs: &nn::VarStore, weights: &TrainedWeights) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for (name, mut t) in vs.variables() {
            let v = weights
                .get(&name)
                .ok_or_else(|| anyhow::anyhow!("weights lack `{name}`"))?;
            let numel: i64 = t.size().iter().product();
            if usize::try_from(numel).ok() != Some(v.len()) {
                anyhow::bail!("`{name}` holds {} values, the model {numel}", v.len());
            }
            let src = Tensor::from_slice(v).reshape(t.size());
            t.copy_(&src);
        }
        Ok(())
    })
}

/// A CPU generator from `weights`.
pub fn runtime_from_weights(spec: &ResCnnSpec, weights: &TrainedWeights) -> Result<TchRuntime> {
    let vs = nn::VarStore::new(Device::Cpu);
    let _gen = Generator::new(&vs.root(), spec)?;
    copy_weights(&vs, weights)?;
    TchRuntime::new(spec, &vs)
}

/// A CPU tch runtime of `vocoder`, if any.
fn vocoder_runtime(
    vocoder: &Option<(&VocosSpec, &TrainedWeights)>,
    mel: &widen_core::config::MelConfig,
) -> Result<Option<Box<dyn widen_core::engine::ModelRuntime>>> {
    Ok(match vocoder {
        Some((spec, w)) => Some(Box::new(validate::TchVocoderRuntime::new(spec, mel, w)?)),
        None => None,
    })
}

/// The 8 kHz input of `c`: a pair's own file, or the fixed evaluation degradation.
fn input_of(c: &Clip) -> Result<Vec<f32>> {
    match &c.pair {
        Some(p) => Ok(p.narrow.clone()),
        None => narrow_band(&c.samples),
    }
}

/// Scores `system` on `clips` (in parallel); `make-dataset` pairs are scored on their own
/// 8 kHz input.
pub fn score(system: &System<'_>, clips: &[Clip]) -> Result<Table> {
    // The engine settings are the same for every clip; only the runtime is per thread.
    let cfg = match system {
        System::Sinc => None,
        System::Generator {
            variant,
            spec,
            amount,
            cutoff_hz,
            synthesis,
            vocoder,
            ..
        } => {
            let (_, left, right) = spec.layers()?;
            let mut cfg = validate::gl_config(*variant, (left, right), *amount);
            cfg.cutoff_hz = *cutoff_hz;
            cfg.synthesis = *synthesis;
            if let Some((vspec, _)) = vocoder {
                let (_, left, right) = vspec.layers()?;
                cfg.vocoder_context = widen_core::engine::Context { left, right };
            }
            Some(cfg)
        }
        System::TrueMel {
            variant,
            vocoder,
            splice,
            cutoff_hz,
        } => {
            let mut cfg = validate::gl_config(*variant, (0, 0), 1.0);
            if let Some((spec, _)) = vocoder {
                let (_, left, right) = spec.layers()?;
                cfg.vocoder_context = widen_core::engine::Context { left, right };
                cfg.synthesis = Synthesis::Vocoder;
            }
            cfg.cutoff_hz = *cutoff_hz;
            cfg.splice = *splice;
            cfg.input_rate = SAMPLE_RATE;
            Some(cfg)
        }
    };
    let scored: Vec<(String, widen_core::metrics::Scores)> = clips
        .par_iter()
        .filter_map(|c| {
            let run = || -> Result<widen_core::metrics::Scores> {
                let mut out = match (system, &cfg) {
                    (
                        System::Generator {
                            spec,
                            weights,
                            vocoder,
                            ..
                        },
                        Some(cfg),
                    ) => {
                        let rt = runtime_from_weights(spec, weights)?;
                        let voc = vocoder_runtime(vocoder, &cfg.mel)?;
                        enhance_offline(cfg, Box::new(rt), voc, &input_of(c)?)?
                    }
                    (System::TrueMel { vocoder, .. }, Some(cfg)) => {
                        let id = Box::new(widen_core::engine::TrueMel::new(cfg.mel.n_mels));
                        let voc: Option<Box<dyn widen_core::engine::ModelRuntime>> = match vocoder {
                            Some((spec, w)) => Some(Box::new(validate::TchVocoderRuntime::new(
                                spec, &cfg.mel, w,
                            )?)),
                            None => None,
                        };
                        enhance_offline(cfg, id, voc, &c.samples)?
                    }
                    _ => resample(&input_of(c)?, NARROW_BAND_RATE, SAMPLE_RATE)?,
                };
                quantise16(&mut out);
                Ok(metrics(&c.samples, &out, SAMPLE_RATE)?)
            };
            match run() {
                Ok(s) => Some((c.source().to_string(), s)),
                Err(e) => {
                    eprintln!("widen-train evaluate: {}: {e:#}", c.name);
                    None
                }
            }
        })
        .collect();
    let mut per: BTreeMap<String, Row> = BTreeMap::new();
    let mut all = Row::default();
    for (src, s) in &scored {
        per.entry(src.clone()).or_default().add(s);
        all.add(s);
    }
    Ok((
        per.into_iter().map(|(k, r)| (k, r.finish())).collect(),
        all.finish(),
    ))
}
