//! The streaming enhancement engine that every front end runs (DESIGN.md, "Signal path").
//!
//! ```text
//! input (any rate) -> StreamResampler -> 22.05 kHz -> centred STFT framing (n_fft, hop)
//!   |X| -> mel -> ln(max(., clamp)) -> generator (chunks + context) -> predicted log-mel
//!   -> vocoder (chunks + context) -> (mag, cos, sin)   | or phase copy
//!   -> band splice (input bins below the cutoff, generated bins above, energy-limited)
//!   -> iSTFT overlap-add -> 22.05 kHz -> StreamResampler -> output rate
//! ```
//!
//! - [`Engine`]: the one implementation ([`StreamProcessor`]); everything is allocated in
//!   [`Engine::new`], `process_block` and `reset` never allocate.
//! - [`process_offline`]: the same engine with big blocks and the latency trimmed off;
//!   [`OfflineStream`] does the same block by block in bounded memory.
//! - [`ParallelStream`] / [`process_offline_parallel`]: the offline stream on several engines at
//!   once, the signal cut into segments on the grid where the resamplers' phases and the STFT
//!   frames restart (what `widen enhance --threads N` runs on long files).
//! - [`enhance_offline`]: whole-signal entry point; the only place Griffin-Lim runs.
//! - [`translate_offline`]: the model-free DSP bandwidth extension the quality report compares
//!   against (spectral translation of the band below the cutoff).
//! - [`RealtimeEngine`]: inference on a worker thread behind lock-free ring buffers, with a
//!   dry (delayed) fallback when the worker is late.
//! - [`mock`]: pure-Rust [`ModelRuntime`]s for tests and benchmarks.
//!
//! # Latency
//!
//! Internally every stage works in fixed granules (resampler chunks of
//! [`RESAMPLER_CHUNK`](crate::config::engine::RESAMPLER_CHUNK) samples, STFT hops, model chunks
//! of `chunk_frames`), so the output does not depend on the host's block sizes. The output is
//! the enhanced input delayed by exactly [`latency_samples`](StreamProcessor::latency_samples)
//! output samples (the resamplers keep time alignment to within 0.003 samples). The latency is
//! the worst-case lag of the pipeline, computed at construction as
//!
//! ```text
//! W     = n_fft - 1 + (gen_right + voc_right + chunk_frames - 1) * hop        (22.05 kHz samples)
//! D     = ceil(a_in * out/in + (e_in + W + a_out) * out/22050) + e_out          (output samples)
//! a_in  = RESAMPLER_CHUNK - 1 + input resampler lookahead  (input samples;  0 at 22.05 kHz)
//! a_out = RESAMPLER_CHUNK - 1 + output resampler lookahead (22.05 kHz samples; 0 at 22.05 kHz)
//! e_in = e_out = 2 (rounding of the resamplers' output counts; 0 without a resampler)
//! ```
//!
//! (`voc_right` is 0 for phase-copy synthesis; `D` is at least the output resampler's own
//! latency.) Output that is ready earlier waits in a preallocated queue, so the delay is the
//! same at every moment and for every block size. At 22.05 kHz the bound is reached exactly
//! (block size 1); with resamplers a few samples of it go unused.
//!
//! For the seed's quality set (n_fft 1024, hop 256, contexts 25/25 for both models):
//!
//! | chunk_frames | 22 050 Hz | 44 100 Hz | 48 000 Hz |
//! |---|---|---|---|
//! | 1  | 13 823 (626.9 ms) | 28 270 (641.0 ms) | 30 770 (641.0 ms) |
//! | 16 | 17 663 (801.0 ms) | 35 950 (815.2 ms) | 39 129 (815.2 ms) |

mod from_model;
mod offline;
mod parallel;
mod realtime;
mod spectral;
mod stream;
mod timing;
mod true_mel;

pub mod mock;

pub use crate::runtime::{ModelRuntime, RuntimeError};
pub use from_model::engine_config_for;
pub use offline::{enhance_offline, process_offline, translate_offline, OfflineStream};
pub use parallel::{process_offline_parallel, ParallelStream, SegmentPlan, SEGMENT_SECONDS};
pub use realtime::{RealtimeEngine, RealtimeMonitor, RealtimeOptions};
pub use stream::Engine;
pub use timing::{Stage, StageTimes};
pub use true_mel::TrueMel;

use crate::config::{engine as limits, MelConfig};
use crate::dsp::DspError;
pub use crate::dsp::ResamplerProfile;

/// A mono block processor with a fixed, reported latency (the seam every front end uses).
pub trait StreamProcessor {
    /// Delay (samples) between an input sample and the output sample that carries it.
    fn latency_samples(&self) -> usize;
    /// Largest block `process_block` accepts.
    fn max_block(&self) -> usize;
    /// Forgets all signal history; the next block starts a new stream. Never allocates.
    fn reset(&mut self);
    /// Processes one block: `input.len() == output.len() <= max_block()`. The output is the
    /// input delayed by exactly `latency_samples()` with the generated high band added.
    fn process_block(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError>;
}

/// Left and right context of a model, in STFT frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Context {
    /// Frames before the chunk the model needs to see.
    pub left: usize,
    /// Frames after the chunk the model needs to see (this is lookahead: it adds latency).
    pub right: usize,
}

/// How the high band's waveform is made from the predicted log-mel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Synthesis {
    /// The vocoder model's iSTFT head: bin = mag * (cos + i sin). Vocoder output frame `t`
    /// is overlap-added centred on sample `t * hop`, exactly like input STFT frame `t`
    /// (`torch.istft(center=True)`, Vocos `padding="center"`); a head trained with Vocos'
    /// `padding="same"` places its frames `hop / 2` later and would be misaligned by that.
    Vocoder,
    /// Magnitude from the predicted mel (non-negative pseudo-inverse of the filterbank),
    /// phase of high bin `k` copied from input bin `k mod kc` (see [`EngineConfig`]).
    PhaseCopy,
    /// Griffin-Lim phase reconstruction on the whole signal: offline only
    /// ([`enhance_offline`]); the streaming engine refuses it.
    GriffinLim {
        /// Number of Griffin-Lim iterations.
        iterations: usize,
    },
}

/// Everything the engine needs to know; the model-dependent parts come from the model's
/// sidecar (`widen.json`), the rates from the front end.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineConfig {
    /// STFT (`n_fft`, `hop`, `win`) and mel front end; `mel.sample_rate` is the models' rate.
    pub mel: MelConfig,
    /// Context the generator needs around each chunk.
    pub generator_context: Context,
    /// Context the vocoder needs around each chunk (unused by phase copy).
    pub vocoder_context: Context,
    /// Frames per model call. Larger chunks cost latency (`(chunk_frames - 1) * hop`) and
    /// save per-call overhead; the output does not depend on it.
    pub chunk_frames: usize,
    /// Input bandwidth (Hz): STFT bins below it pass through untouched.
    pub cutoff_hz: f32,
    /// Width (bins) of the raised-cosine cross-fade that starts at the cutoff bin.
    pub crossfade_bins: usize,
    /// Gain on the generated band (1.0 = as predicted, 0.0 = low band only).
    pub amount: f32,
    /// How the generated band is synthesised.
    pub synthesis: Synthesis,
    /// `true`: band splice (input below the cutoff, generated above). `false`: the seed's pure
    /// synthesis output (all bins generated, no energy limit; for comparison only).
    pub splice: bool,
    /// Rate of the samples handed to the engine (Hz).
    pub input_rate: u32,
    /// Rate of the samples the engine returns (Hz). [`StreamProcessor`] needs it equal to
    /// `input_rate`; [`Engine::process`] and the offline helpers also convert rates.
    pub output_rate: u32,
    /// Filter of the converters between these rates and the models' (latency against
    /// transition width). [`ResamplerProfile::Quality`] unless a live front end asks for
    /// [`ResamplerProfile::LowLatency`] (it is part of the latency formula's lookaheads).
    #[serde(default)]
    pub resampler: ResamplerProfile,
}

impl Default for EngineConfig {
    /// The seed's quality configuration at 22.05 kHz in and out.
    fn default() -> Self {
        let mel = MelConfig::default();
        let rate = mel.sample_rate;
        Self {
            mel,
            generator_context: Context {
                left: 25,
                right: 25,
            },
            vocoder_context: Context {
                left: 25,
                right: 25,
            },
            chunk_frames: 16,
            cutoff_hz: 4000.0,
            crossfade_bins: 8,
            amount: 1.0,
            synthesis: Synthesis::Vocoder,
            splice: true,
            input_rate: rate,
            output_rate: rate,
            resampler: ResamplerProfile::Quality,
        }
    }
}

/// Errors of the engine. Every message says what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Griffin-Lim asked of a streaming engine.
    #[error("Griffin-Lim needs the whole signal; use the vocoder or phase-copy synthesis for live use (found synthesis = griffin_lim in a streaming engine)")]
    GriffinLimNotStreamable,
    /// A configuration field outside its valid range.
    #[error("invalid engine config field `{field}`: expected {expected}, found {found}")]
    InvalidConfig {
        /// Field name, e.g. `"chunk_frames"`.
        field: &'static str,
        /// What would have been valid.
        expected: String,
        /// The value given.
        found: String,
    },
    /// Vocoder synthesis without a vocoder model.
    #[error("synthesis = vocoder expects a vocoder model, found none")]
    MissingVocoder,
    /// A model whose outputs do not have the contract's shape.
    #[error("{model} model: expected {expected}, found {found}")]
    ModelShape {
        /// `"generator"` or `"vocoder"`.
        model: &'static str,
        /// What the contract asks for.
        expected: String,
        /// What the model reported or returned.
        found: String,
    },
    /// A model run failed.
    #[error("{model} model run failed (expected a successful run): {source}")]
    Runtime {
        /// `"generator"` or `"vocoder"`.
        model: &'static str,
        /// The runtime's error.
        source: RuntimeError,
    },
    /// Input and output blocks of different lengths.
    #[error("expected output block length equal to the input's {input}, found {output}")]
    BlockLengthMismatch {
        /// Input length.
        input: usize,
        /// Output length.
        output: usize,
    },
    /// A block longer than `max_block`.
    #[error("expected a block of at most {max} samples (max_block), found {found}")]
    BlockTooLarge {
        /// The engine's `max_block`.
        max: usize,
        /// The block length given.
        found: usize,
    },
    /// `process_block` on an engine that converts rates.
    #[error("process_block expects equal input and output rates, found {input_rate} Hz in and {output_rate} Hz out (use Engine::process)")]
    RateMismatch {
        /// Input rate.
        input_rate: u32,
        /// Output rate.
        output_rate: u32,
    },
    /// The real-time wrapper could not start its worker thread.
    #[error("expected to start the engine worker thread, found error: {0}")]
    WorkerSpawn(std::io::Error),
    /// A DSP building block refused its parameters.
    #[error(transparent)]
    Dsp(#[from] DspError),
}

/// Counters of unusual events (cumulative since construction; `reset` keeps them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// NaN/Inf input samples replaced by 0.
    pub non_finite_samples: u64,
    /// STFT frames analysed.
    pub frames: u64,
    /// Frames whose generated band was dropped because a model output was NaN/Inf.
    pub dropped_frames: u64,
    /// Frames whose generated band the energy limit scaled down.
    pub limited_frames: u64,
    /// Real-time wrapper: blocks in which the worker had not delivered and dry signal stood in.
    pub late_blocks: u64,
    /// Real-time wrapper: times the input queue overflowed (worker stalled for seconds) and the
    /// wrapper resynchronised.
    pub overflows: u64,
    /// Real-time wrapper: engine errors on the worker (the output stays dry afterwards).
    pub worker_errors: u64,
    /// Output samples the pipeline had not produced in time (always 0 unless the latency
    /// bound is wrong; they come out as silence).
    pub underruns: u64,
}

/// Checks `cfg` (everything the engine and the offline path rely on).
pub(crate) fn validate(cfg: &EngineConfig) -> Result<(), EngineError> {
    let bad = |field: &'static str, expected: String, found: String| EngineError::InvalidConfig {
        field,
        expected,
        found,
    };
    let m = &cfg.mel;
    // The mel/STFT checks of the DSP module give the precise messages.
    crate::dsp::LogMel::new(m.clone())?;
    if m.hop > m.win {
        return Err(bad(
            "mel.hop",
            format!("at most win ({}) so that the windows overlap", m.win),
            m.hop.to_string(),
        ));
    }
    for (field, rate) in [
        ("input_rate", cfg.input_rate),
        ("output_rate", cfg.output_rate),
    ] {
        let (lo, hi) = (
            crate::dsp::resample::MIN_RATE_HZ,
            crate::dsp::resample::MAX_RATE_HZ,
        );
        if !(lo..=hi).contains(&rate) {
            return Err(bad(
                field,
                format!("a rate in {lo}..={hi} Hz"),
                rate.to_string(),
            ));
        }
    }
    let max_ctx = limits::MAX_CONTEXT_FRAMES;
    for (field, v) in [
        ("generator_context.left", cfg.generator_context.left),
        ("generator_context.right", cfg.generator_context.right),
        ("vocoder_context.left", cfg.vocoder_context.left),
        ("vocoder_context.right", cfg.vocoder_context.right),
    ] {
        if v > max_ctx {
            return Err(bad(
                field,
                format!("at most {max_ctx} frames"),
                v.to_string(),
            ));
        }
    }
    if cfg.chunk_frames == 0 || cfg.chunk_frames > max_ctx {
        return Err(bad(
            "chunk_frames",
            format!("1..={max_ctx} frames"),
            cfg.chunk_frames.to_string(),
        ));
    }
    let nyquist = m.sample_rate as f32 / 2.0;
    if !(cfg.cutoff_hz.is_finite() && cfg.cutoff_hz > 0.0 && cfg.cutoff_hz < nyquist) {
        return Err(bad(
            "cutoff_hz",
            format!("a frequency in (0, {nyquist}) Hz"),
            cfg.cutoff_hz.to_string(),
        ));
    }
    let geom = spectral::SpliceGeometry::new(cfg);
    if geom.phase_base < geom.phase_step {
        return Err(bad(
            "cutoff_hz",
            format!(
                "a cutoff of at least {} bins ({:.0} Hz) so that phase copy has a source band",
                geom.phase_step,
                geom.phase_step as f32 * m.sample_rate as f32 / m.n_fft as f32
            ),
            cfg.cutoff_hz.to_string(),
        ));
    }
    if geom.cut_bin + cfg.crossfade_bins > m.n_bins() {
        return Err(bad(
            "crossfade_bins",
            format!(
                "at most {} (bins between the cutoff bin {} and Nyquist)",
                m.n_bins() - geom.cut_bin,
                geom.cut_bin
            ),
            cfg.crossfade_bins.to_string(),
        ));
    }
    if !(cfg.amount.is_finite() && cfg.amount >= 0.0) {
        return Err(bad(
            "amount",
            "a finite gain >= 0".into(),
            cfg.amount.to_string(),
        ));
    }
    Ok(())
}

/// Right context of the synthesis stage (the vocoder's, or none for the DSP syntheses).
pub(crate) fn synthesis_context(cfg: &EngineConfig) -> Context {
    match cfg.synthesis {
        Synthesis::Vocoder => cfg.vocoder_context,
        _ => Context::default(),
    }
}

/// Delay contributions of one resampler in the latency formula (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ResamplerLag {
    /// Chunk wait plus filter lookahead, in the resampler's input samples.
    pub a: u128,
    /// Rounding allowance, in the resampler's output samples.
    pub e: u128,
}

/// The engine's latency in output samples (module docs, "Latency").
pub(crate) fn latency_formula(
    cfg: &EngineConfig,
    lag_in: ResamplerLag,
    lag_out: ResamplerLag,
) -> usize {
    let m = &cfg.mel;
    let ctx = synthesis_context(cfg);
    let w = (m.n_fft - 1 + (cfg.generator_context.right + ctx.right + cfg.chunk_frames - 1) * m.hop)
        as u128;
    let (r_in, r_out, r_core) = (
        cfg.input_rate as u128,
        cfg.output_rate as u128,
        m.sample_rate as u128,
    );
    let num = lag_in.a * r_out * r_core + (lag_in.e + w + lag_out.a) * r_out * r_in;
    let den = r_in * r_core;
    (num.div_ceil(den) + lag_out.e) as usize
}
