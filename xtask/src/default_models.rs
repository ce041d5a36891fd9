//! The untrained placeholder model sets in `models/default/{quality,low-latency}/`.
//!
//! They stand in until the trainer ships real models, and are built to be harmless: the generator
//! is close to the identity (`mel_hr = mel_lr + small residual`), and the vocoder's magnitude is a
//! fixed inversion of the mel filterbank (plus a small random residual), so a narrow-band input
//! gets an almost silent high band instead of noise. The weights come from fixed seeds, so
//! [`generate`] returns the same bytes on every machine and a test can compare them with the
//! committed files.

use anyhow::{Context, Result};
use std::path::Path;

use widen_core::config::{self, model as contract, MelConfig};
use widen_core::dsp::MelFilterbank;
use widen_core::model::{
    sha256_hex, GeneratorEntry, LogBase, MelNorm, Provenance, Sidecar, Synthesis, Variant,
    VocoderEntry, VocoderOutputs,
};
use widen_onnx::nets::{BuiltNet, MagPrior, Padding, ResCnnSpec, VocosSpec};

/// File names inside a set's folder.
pub const GENERATOR_FILE: &str = "generator.onnx";
/// File names inside a set's folder.
pub const VOCODER_FILE: &str = "vocoder.onnx";

/// Future frames each placeholder network of the low-latency set may see (one each, two in all).
const LOW_LATENCY_LOOKAHEAD_PER_NET: usize = 1;

/// One generated set.
#[derive(Debug, Clone)]
pub struct GeneratedSet {
    /// Which set.
    pub variant: Variant,
    /// Its sidecar.
    pub sidecar: Sidecar,
    /// The sidecar as committed (pretty JSON).
    pub sidecar_json: String,
    /// `generator.onnx`.
    pub generator: Vec<u8>,
    /// `vocoder.onnx`.
    pub vocoder: Vec<u8>,
}

/// The mel front end of each variant.
pub fn mel_config(variant: Variant) -> MelConfig {
    match variant {
        Variant::Quality => MelConfig::default(),
        Variant::LowLatency => MelConfig::low_latency(),
    }
}

fn padding(variant: Variant) -> Padding {
    match variant {
        Variant::Quality => Padding::Same,
        Variant::LowLatency => Padding::Causal {
            lookahead: LOW_LATENCY_LOOKAHEAD_PER_NET,
        },
    }
}

/// The generator of `variant`: 64 channels, 4 residual blocks with dilations 1, 2, 4, 8.
pub fn generator_spec(variant: Variant) -> ResCnnSpec {
    ResCnnSpec {
        input: contract::GENERATOR_INPUT.into(),
        output: contract::GENERATOR_OUTPUT.into(),
        n_mels: config::N_MELS,
        channels: 64,
        kernel: 3,
        dilations: vec![1, 2, 4, 8],
        leaky_slope: 0.2,
        // Keeps the untrained residual to a few hundredths of a neper on speech-like log-mels.
        out_scale: 0.002,
        padding: padding(variant),
        seed: match variant {
            Variant::Quality => 0x7769_6465_6e01,
            Variant::LowLatency => 0x7769_6465_6e02,
        },
    }
}

/// The vocoder of `variant`: 64 channels, 3 ConvNeXt blocks, kernels 7, with the mel-inversion prior.
pub fn vocoder_spec(variant: Variant) -> Result<VocosSpec> {
    let mel = mel_config(variant);
    let [mag, cos, sin] = contract::VOCODER_OUTPUTS.map(String::from);
    Ok(VocosSpec {
        input: contract::VOCODER_INPUT.into(),
        outputs: [mag, cos, sin],
        n_mels: mel.n_mels,
        n_bins: mel.n_bins(),
        channels: 64,
        blocks: 3,
        embed_kernel: 7,
        dw_kernel: 7,
        mag_max: contract::MAG_MAX,
        mag_head_scale: 0.01,
        // Large enough that untrained phases vary from frame to frame (noise, not a buzz).
        phase_scale: 2.0,
        mag_prior: Some(mel_inversion_prior(&mel)?),
        padding: padding(variant),
        seed: match variant {
            Variant::Quality => 0x7769_6465_6e11,
            Variant::LowLatency => 0x7769_6465_6e12,
        },
    })
}

/// A fixed map from log-mel to log-magnitude: the core's [`MelFilterbank::log_inverse`] (bin
/// `k` takes the filterbank-weighted mean of the log-mels covering it, each corrected by the log
/// of its filter's total weight, so a flat spectrum maps back to its own level).
pub fn mel_inversion_prior(mel: &MelConfig) -> Result<MagPrior> {
    let fb = MelFilterbank::new(mel).context("building the mel filterbank")?;
    let (weight, bias) = fb.log_inverse();
    Ok(MagPrior { weight, bias })
}

fn notes(variant: Variant, g: &BuiltNet, v: &BuiltNet) -> String {
    format!(
        "UNTRAINED PLACEHOLDER written by `cargo xtask gen-default-models` with fixed seeds; \
         it stands in until the trainer ships real models and adds no real high band. \
         generator: residual 1-D CNN (64 channels, 4 blocks, dilations 1/2/4/8, {pad}), \
         mel_hr = mel_lr + a residual scaled near zero, so mel_hr ~= mel_lr; receptive field \
         {gl} past / {gr} future frames. vocoder: Vocos-like (embed k7, 3 ConvNeXt blocks of 64 \
         channels, iSTFT head) whose magnitude is a fixed mel-filterbank inversion plus a small \
         random residual and whose phase is random; receptive field {vl} past / {vr} future frames.",
        pad = match variant {
            Variant::Quality => "symmetric padding",
            Variant::LowLatency => "causal padding, one frame of lookahead per network",
        },
        gl = g.context_left,
        gr = g.context_right,
        vl = v.context_left,
        vr = v.context_right,
    )
}

/// Builds the placeholder set of `variant` in memory.
pub fn generate(variant: Variant) -> Result<GeneratedSet> {
    let mel = mel_config(variant);
    let g = generator_spec(variant)
        .build()
        .context("building the generator")?;
    let v = vocoder_spec(variant)?
        .build()
        .context("building the vocoder")?;
    let generator = widen_onnx::encode(&g.model);
    let vocoder = widen_onnx::encode(&v.model);
    let bin_hz = mel.sample_rate as f32 / mel.n_fft as f32;
    let sidecar = Sidecar {
        format_version: contract::FORMAT_VERSION,
        name: format!("widen-default-{} (untrained placeholder)", variant.as_str()),
        variant,
        sample_rate: mel.sample_rate,
        n_fft: mel.n_fft,
        hop: mel.hop,
        win: mel.win,
        n_mels: mel.n_mels,
        f_min: mel.f_min,
        f_max: mel.f_max,
        mel_scale: mel.scale,
        mel_norm: mel.area_norm.then_some(MelNorm::Slaney),
        log_base: LogBase::E,
        log_clamp: mel.log_clamp,
        power: mel.power,
        generator: GeneratorEntry {
            file: GENERATOR_FILE.into(),
            sha256: sha256_hex(&generator),
            input: contract::GENERATOR_INPUT.into(),
            output: contract::GENERATOR_OUTPUT.into(),
            context_left: g.context_left,
            context_right: g.context_right,
        },
        vocoder: VocoderEntry {
            file: VOCODER_FILE.into(),
            sha256: sha256_hex(&vocoder),
            input: contract::VOCODER_INPUT.into(),
            outputs: VocoderOutputs {
                mag: contract::VOCODER_OUTPUTS[0].into(),
                cos: contract::VOCODER_OUTPUTS[1].into(),
                sin: contract::VOCODER_OUTPUTS[2].into(),
            },
            context_left: v.context_left,
            context_right: v.context_right,
        },
        cutoff_hz: contract::DEFAULT_CUTOFF_HZ,
        // About 170 Hz of cross-fade whatever the STFT size.
        crossover_bins: (contract::DEFAULT_CROSSOVER_HZ / bin_hz).round() as usize,
        default_amount: 1.0,
        default_synthesis: Synthesis::Vocoder,
        provenance: Provenance {
            trained: false,
            corpus: None,
            steps: None,
            metrics: serde_json::json!({}),
            notes: notes(variant, &g, &v),
        },
    };
    let label = format!("generated {} sidecar", variant.as_str());
    sidecar
        .validate(&label)
        .with_context(|| format!("the generated {} sidecar is invalid", variant.as_str()))?;
    let sidecar_json = sidecar.to_json()?;
    Ok(GeneratedSet {
        variant,
        sidecar,
        sidecar_json,
        generator,
        vocoder,
    })
}

/// Writes a placeholder set into every `<root>/models/default/<variant>/` that has no sidecar
/// yet (a fresh folder, e.g. for an experiment with a new architecture).
///
/// The committed sets are the trainer's (`widen-train export`, generator and vocoder): a folder
/// with a sidecar is left alone, so this can never put a placeholder back over trained models.
pub fn write_all(root: &Path) -> Result<()> {
    for variant in Variant::ALL {
        let dir = root.join("models/default").join(variant.as_str());
        let json_path = dir.join(contract::SIDECAR_FILE);
        if json_path.exists() {
            eprintln!(
                "xtask: {} exists (trained models); left alone",
                json_path.display()
            );
            continue;
        }
        let set = generate(variant)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, bytes) in [
            (contract::SIDECAR_FILE, set.sidecar_json.as_bytes()),
            (VOCODER_FILE, &set.vocoder[..]),
            (GENERATOR_FILE, &set.generator[..]),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("xtask: wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}
