//! The [`EngineConfig`] a model set asks for: everything model-dependent comes from its
//! sidecar (`widen.json`), the rates from the front end.

use super::{Context, EngineConfig, ResamplerProfile, Synthesis};
use crate::config::engine::DEFAULT_CHUNK_FRAMES;
use crate::dsp::GriffinLimConfig;
use crate::model::{self, ModelSet};

/// The engine configuration for `set` at the given rates: the sidecar's mel front end, model
/// contexts, cutoff, cross-over width, default amount and default synthesis (Griffin-Lim with
/// [`GriffinLimConfig::default`]'s iteration count), band splice on,
/// [`DEFAULT_CHUNK_FRAMES`] frames per model call and the quality resampler filter. Front ends override fields afterwards
/// (e.g. `chunk_frames` for latency, `cutoff_hz` from detection).
pub fn engine_config_for(set: &ModelSet, input_rate: u32, output_rate: u32) -> EngineConfig {
    let s = set.sidecar();
    EngineConfig {
        mel: set.mel_config(),
        generator_context: Context {
            left: s.generator.context_left,
            right: s.generator.context_right,
        },
        vocoder_context: Context {
            left: s.vocoder.context_left,
            right: s.vocoder.context_right,
        },
        chunk_frames: DEFAULT_CHUNK_FRAMES,
        cutoff_hz: s.cutoff_hz,
        crossfade_bins: s.crossover_bins,
        amount: s.default_amount,
        synthesis: match s.default_synthesis {
            model::Synthesis::Vocoder => Synthesis::Vocoder,
            model::Synthesis::PhaseCopy => Synthesis::PhaseCopy,
            model::Synthesis::GriffinLim => Synthesis::GriffinLim {
                iterations: GriffinLimConfig::default().iterations,
            },
        },
        splice: true,
        input_rate,
        output_rate,
        resampler: ResamplerProfile::Quality,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Variant;

    #[test]
    fn embedded_sets_give_valid_configs() {
        for variant in Variant::ALL {
            let set = ModelSet::embedded(variant).unwrap();
            let cfg = engine_config_for(&set, 8_000, 22_050);
            let s = set.sidecar();
            assert_eq!(cfg.mel.n_fft, s.n_fft);
            assert_eq!(cfg.mel.hop, s.hop);
            assert_eq!(cfg.generator_context.left, s.generator.context_left);
            assert_eq!(cfg.vocoder_context.right, s.vocoder.context_right);
            assert_eq!(cfg.crossfade_bins, s.crossover_bins);
            assert_eq!((cfg.input_rate, cfg.output_rate), (8_000, 22_050));
            super::super::validate(&cfg).unwrap();
        }
    }
}
