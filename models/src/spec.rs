//! The trained networks' shapes per model set, and the training hyper-parameters that go with
//! them. Sizes are chosen by measurement (see `docs/TRAINING.md`): the quality generator is the
//! largest that stays far below real time in streaming (chunked, context recomputed per call);
//! the low-latency generator is recomputed every few hops, so it is kept small.

use widen_core::config::{self, contract, MelConfig};
use widen_core::model::Variant;
use widen_onnx::nets::{MagPrior, Padding, ResCnnSpec, VocosSpec};

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

/// The size of a generator: hidden channels and the dilation of each residual block. A run
/// records it in its checkpoints' `state.json` (`generator`; absent = the set's default shape),
/// and everything that loads a checkpoint builds the network from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GenShape {
    /// Hidden channels.
    pub channels: usize,
    /// Dilation of the first convolution of each residual block (one block per entry).
    pub dilations: Vec<usize>,
}

impl GenShape {
    /// `channels` x `blocks`, dilations cycling 1, 2, 4, 8 (the shipped sets' pattern).
    pub fn cycled(channels: usize, blocks: usize) -> Self {
        Self {
            channels,
            dilations: (0..blocks).map(|i| 1 << (i % 4)).collect(),
        }
    }

    /// Whether a network of `self` can start from one of `from` computing the same function:
    /// at least as many channels (each hidden channel a copy of one of `from`'s), `from`'s
    /// blocks first (the extra blocks start as identities), and larger in one of the two.
    pub fn grows_from(&self, from: &GenShape) -> bool {
        self != from
            && self.channels >= from.channels
            && self.dilations.starts_with(&from.dilations)
    }
}

/// The default generator shape of a set: quality 128 channels, 8 blocks (1, 2, 4, 8, 1, 2, 4,
/// 8; receptive field 40 + 1 + 40 frames = 0.94 s at hop 256); low-latency 64 channels, 6 blocks
/// (1, 2, 4, 8, 1, 2; 51 past frames + 1 future at hop 128).
pub fn default_shape(variant: Variant) -> GenShape {
    match variant {
        Variant::Quality => GenShape::cycled(128, 8),
        Variant::LowLatency => GenShape::cycled(64, 6),
    }
}

/// The generator of a set, of the default shape.
pub fn generator_spec(variant: Variant) -> ResCnnSpec {
    generator_spec_shaped(variant, &default_shape(variant))
}

/// The generator of a set, of `shape` (padding, kernel and the rest are the set's).
pub fn generator_spec_shaped(variant: Variant, shape: &GenShape) -> ResCnnSpec {
    let padding = match variant {
        Variant::Quality => Padding::Same,
        Variant::LowLatency => Padding::Causal {
            lookahead: LOW_LATENCY_GENERATOR_LOOKAHEAD,
        },
    };
    ResCnnSpec {
        input: contract::GENERATOR_INPUT.into(),
        output: contract::GENERATOR_OUTPUT.into(),
        n_mels: config::N_MELS,
        channels: shape.channels,
        kernel: 3,
        dilations: shape.dilations.clone(),
        leaky_slope: 0.2,
        out_scale: 0.01,
        padding,
        seed: 0,
    }
}

/// The generator shape of the checkpoint folder `dir`: what its `state.json` records, else the
/// set's default.
pub fn checkpoint_shape(variant: Variant, dir: &std::path::Path) -> GenShape {
    crate::checkpoint::load_state(dir)
        .ok()
        .and_then(|s| s.generator)
        .unwrap_or_else(|| default_shape(variant))
}

/// The generator of the checkpoint folder `dir` ([`checkpoint_shape`]).
pub fn checkpoint_generator_spec(variant: Variant, dir: &std::path::Path) -> ResCnnSpec {
    generator_spec_shaped(variant, &checkpoint_shape(variant, dir))
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

/// The trained vocoder of a set (Vocos design, sized for CPU training and far-below-real-time
/// inference): quality 128 channels, 6 ConvNeXt blocks, symmetric padding (21 + 21 frames of
/// context at hop 256); low-latency 96 channels, 4 blocks, causal with
/// [`LOW_LATENCY_VOCODER_LOOKAHEAD`] frame of lookahead at hop 128. Both carry the mel
/// filterbank's log-inverse as a trainable magnitude prior.
pub fn vocoder_spec(variant: Variant) -> anyhow::Result<VocosSpec> {
    let mel = mel_config(variant);
    let fb = widen_core::dsp::MelFilterbank::new(&mel)?;
    let (weight, bias) = fb.log_inverse();
    let (channels, blocks, padding) = match variant {
        Variant::Quality => (128, 6, Padding::Same),
        Variant::LowLatency => (
            96,
            4,
            Padding::Causal {
                lookahead: LOW_LATENCY_VOCODER_LOOKAHEAD,
            },
        ),
    };
    let [mag, cos, sin] = config::model::VOCODER_OUTPUTS.map(String::from);
    Ok(VocosSpec {
        input: contract::VOCODER_INPUT.into(),
        outputs: [mag, cos, sin],
        n_mels: mel.n_mels,
        n_bins: mel.n_bins(),
        channels,
        blocks,
        embed_kernel: 7,
        dw_kernel: 7,
        mag_max: config::model::MAG_MAX,
        mag_head_scale: 0.01,
        phase_scale: 1.0,
        mag_prior: Some(MagPrior { weight, bias }),
        padding,
        seed: 0,
    })
}

/// Future frames the low-latency vocoder may see (the generator has the set's other one).
pub const LOW_LATENCY_VOCODER_LOOKAHEAD: usize = 1;
