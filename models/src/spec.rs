//! The trained networks' shapes per model set, and the training hyper-parameters that go with
//! them. Sizes are chosen by measurement (see `docs/TRAINING.md`): the quality generator is the
//! largest that stays far below real time in streaming (chunked, context recomputed per call);
//! the low-latency generator is recomputed every few hops, so it is kept small.

use widen_core::config::{self, contract, MelConfig};
use widen_core::model::Variant;
use widen_onnx::nets::{Padding, ResCnnSpec};

/// Future frames the low-latency generator may see (the vocoder gets the other one of the
/// set's two, `config::low_latency::MAX_LOOKAHEAD_FRAMES`).
pub const LOW_LATENCY_GENERATOR_LOOKAHEAD: usize = 1;

/// Parses `quality` / `low-latency`.
pub fn parse_variant(s: &str) -> anyhow::Result<Variant> {
    match s {
        "quality" => Ok(Variant::Quality),
        "low-latency" | "low_latency" => Ok(Variant::LowLatency),
        other => anyhow::bail!("--variant must be quality or low-latency, found `{other}`"),
    }
}

/// The STFT/mel front end of a set.
pub fn mel_config(variant: Variant) -> MelConfig {
    match variant {
        Variant::Quality => MelConfig::default(),
        Variant::LowLatency => MelConfig::low_latency(),
    }
}

/// The generator of a set.
pub fn generator_spec(variant: Variant) -> ResCnnSpec {
    let (channels, dilations, padding) = match variant {
        // Receptive field 40 + 1 + 40 frames = 0.94 s at hop 256.
        Variant::Quality => (128, vec![1, 2, 4, 8, 1, 2, 4, 8], Padding::Same),
        // 26 past frames + 1 future at hop 128 (0.16 s of history).
        Variant::LowLatency => (
            64,
            vec![1, 2, 4, 8, 1, 2],
            Padding::Causal {
                lookahead: LOW_LATENCY_GENERATOR_LOOKAHEAD,
            },
        ),
    };
    ResCnnSpec {
        input: contract::GENERATOR_INPUT.into(),
        output: contract::GENERATOR_OUTPUT.into(),
        n_mels: config::N_MELS,
        channels,
        kernel: 3,
        dilations,
        leaky_slope: 0.2,
        out_scale: 0.01,
        padding,
        seed: 0,
    }
}

/// Mel bands whose centre lies at or above `hz` (the high band the model must create).
pub fn first_band_at_or_above(mel: &MelConfig, hz: f32) -> usize {
    let scale = mel.scale;
    let lo = widen_core::dsp::mel::hz_to_mel(mel.f_min as f64, scale);
    let hi = widen_core::dsp::mel::hz_to_mel(mel.f_max as f64, scale);
    let step = (hi - lo) / (mel.n_mels + 1) as f64;
    (0..mel.n_mels)
        .find(|&m| widen_core::dsp::mel::mel_to_hz(lo + step * (m + 1) as f64, scale) >= hz as f64)
        .unwrap_or(mel.n_mels)
}
