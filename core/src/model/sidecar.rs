//! The `widen.json` sidecar: types, parsing and validation.

use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::config::{self, low_latency, model as contract, MelConfig, MelScale};

/// Which latency/quality trade-off a model set makes (DESIGN.md, "Latency budget").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The seed's 1024/256 STFT with generous lookahead (offline and DAW use).
    #[serde(rename = "quality")]
    Quality,
    /// A smaller STFT and causal models with at most
    /// [`low_latency::MAX_LOOKAHEAD_FRAMES`] frames of lookahead (live and VoIP use).
    #[serde(rename = "low-latency")]
    LowLatency,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 2] = [Variant::Quality, Variant::LowLatency];

    /// The JSON spelling, also the folder name under `models/default/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Quality => "quality",
            Variant::LowLatency => "low-latency",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the high band is synthesised by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Synthesis {
    /// The vocoder's magnitude and phase.
    #[serde(rename = "vocoder")]
    Vocoder,
    /// Magnitude from the predicted mel, phase copied from the input's low band.
    #[serde(rename = "phase-copy")]
    PhaseCopy,
    /// Magnitude from the predicted mel, phase by Griffin-Lim (offline only).
    #[serde(rename = "griffin-lim")]
    GriffinLim,
}

impl Synthesis {
    /// Every method.
    pub const ALL: [Synthesis; 3] = [
        Synthesis::Vocoder,
        Synthesis::PhaseCopy,
        Synthesis::GriffinLim,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Synthesis::Vocoder => "vocoder",
            Synthesis::PhaseCopy => "phase-copy",
            Synthesis::GriffinLim => "griffin-lim",
        }
    }
}

/// Mel filter normalisation (`null` in JSON = none, the seed's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MelNorm {
    /// Slaney area normalisation (`2 / bandwidth`).
    #[serde(rename = "slaney")]
    Slaney,
}

/// Base of the log applied to the mel magnitudes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogBase {
    /// Natural log (the seed's and Vocos' choice; the only one supported).
    #[serde(rename = "e")]
    E,
}

/// The generator entry of the sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorEntry {
    /// ONNX file name inside the model folder.
    pub file: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Input tensor name (`mel_lr` in the contract), `[B, n_mels, T]`.
    pub input: String,
    /// Output tensor name (`mel_hr` in the contract), `[B, n_mels, T]`.
    pub output: String,
    /// Past frames each output frame depends on.
    pub context_left: usize,
    /// Future frames each output frame depends on.
    pub context_right: usize,
}

/// Output tensor names of the vocoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocoderOutputs {
    /// Magnitude, `[B, n_fft / 2 + 1, T]`, at most [`contract::MAG_MAX`].
    pub mag: String,
    /// Cosine of the phase.
    pub cos: String,
    /// Sine of the phase.
    pub sin: String,
}

/// The vocoder entry of the sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocoderEntry {
    /// ONNX file name inside the model folder.
    pub file: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Input tensor name (`mel` in the contract), `[B, n_mels, T]`.
    pub input: String,
    /// Output tensor names.
    pub outputs: VocoderOutputs,
    /// Past frames each output frame depends on.
    pub context_left: usize,
    /// Future frames each output frame depends on.
    pub context_right: usize,
}

/// Where the weights came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `false` for untrained placeholders.
    pub trained: bool,
    /// Training corpus description.
    pub corpus: Option<String>,
    /// Optimiser steps.
    pub steps: Option<u64>,
    /// Measured scores, free form.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Anything else a user should know.
    #[serde(default)]
    pub notes: String,
}

/// The `widen.json` sidecar (DESIGN.md, "Model contract"). Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Must be [`contract::FORMAT_VERSION`].
    pub format_version: u32,
    /// Display name of the model set.
    pub name: String,
    /// Latency/quality trade-off.
    pub variant: Variant,
    /// Must be [`config::SAMPLE_RATE`].
    pub sample_rate: u32,
    /// STFT size.
    pub n_fft: usize,
    /// Hop between frames (divides `n_fft`).
    pub hop: usize,
    /// Window length (at most `n_fft`).
    pub win: usize,
    /// Mel bands (must be [`config::N_MELS`]).
    pub n_mels: usize,
    /// Lowest mel edge (Hz).
    pub f_min: f32,
    /// Highest mel edge (Hz, at most Nyquist).
    pub f_max: f32,
    /// Mel scale.
    pub mel_scale: MelScale,
    /// Filter normalisation; `None` = none.
    pub mel_norm: Option<MelNorm>,
    /// Base of the log.
    pub log_base: LogBase,
    /// Clamp before the log.
    pub log_clamp: f32,
    /// Spectrogram power (1.0 = magnitude).
    pub power: f32,
    /// The mel-to-mel generator.
    pub generator: GeneratorEntry,
    /// The mel-to-spectrum vocoder.
    pub vocoder: VocoderEntry,
    /// Default splice point (Hz) for narrow-band input.
    pub cutoff_hz: f32,
    /// Width of the cross-fade across the splice point (STFT bins).
    pub crossover_bins: usize,
    /// Default gain on the generated high band.
    pub default_amount: f32,
    /// Default high-band synthesis.
    pub default_synthesis: Synthesis,
    /// Training provenance.
    pub provenance: Provenance,
}

/// Fields whose value must be one of a fixed set of JSON values, checked before serde so an unknown
/// value becomes a [`ModelError::Field`] naming the field (serde's message would not).
fn enum_fields() -> Vec<(&'static str, Vec<serde_json::Value>)> {
    let strs = |v: &[&str]| -> Vec<serde_json::Value> { v.iter().map(|s| (*s).into()).collect() };
    vec![
        ("variant", strs(&Variant::ALL.map(Variant::as_str))),
        ("mel_scale", strs(&["htk", "slaney"])),
        ("mel_norm", vec![serde_json::Value::Null, "slaney".into()]),
        ("log_base", strs(&["e"])),
        (
            "default_synthesis",
            strs(&Synthesis::ALL.map(Synthesis::as_str)),
        ),
    ]
}

impl Sidecar {
    /// Parses and validates sidecar JSON; `file` names it in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Self, ModelError> {
        let field_err = |field: &str, expected: String, actual: String| ModelError::Field {
            file: file.to_string(),
            field: field.to_string(),
            expected,
            actual,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        let Some(object) = value.as_object() else {
            return Err(field_err(
                "(top level)",
                "a JSON object".into(),
                json_kind(&value).into(),
            ));
        };
        // The version first: a future format may differ in any other field.
        match object.get("format_version") {
            None => {
                return Err(field_err(
                    "format_version",
                    contract::FORMAT_VERSION.to_string(),
                    "no such field".into(),
                ))
            }
            Some(v) if v.as_u64() != Some(u64::from(contract::FORMAT_VERSION)) => {
                return Err(ModelError::FormatVersion {
                    file: file.to_string(),
                    supported: contract::FORMAT_VERSION,
                    actual: v.to_string(),
                })
            }
            Some(_) => {}
        }
        for (field, allowed) in enum_fields() {
            if let Some(v) = object.get(field) {
                if !allowed.contains(v) {
                    let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                    return Err(field_err(
                        field,
                        format!("one of {}", list.join(", ")),
                        v.to_string(),
                    ));
                }
            }
        }
        // Parsed from the bytes again (not the Value) so serde's errors carry line and column.
        let sidecar: Sidecar = serde_json::from_slice(bytes).map_err(|e| ModelError::Schema {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        sidecar.validate(file)?;
        Ok(sidecar)
    }

    /// Pretty JSON with a trailing newline (the committed form).
    pub fn to_json(&self) -> Result<String, ModelError> {
        serde_json::to_string_pretty(self)
            .map(|s| s + "\n")
            .map_err(|e| ModelError::Schema {
                file: contract::SIDECAR_FILE.to_string(),
                message: format!("cannot serialise the sidecar: {e}"),
            })
    }

    /// The mel front end the models were trained on.
    pub fn mel_config(&self) -> MelConfig {
        MelConfig {
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            hop: self.hop,
            win: self.win,
            n_mels: self.n_mels,
            f_min: self.f_min,
            f_max: self.f_max,
            scale: self.mel_scale,
            area_norm: self.mel_norm == Some(MelNorm::Slaney),
            power: self.power,
            log_clamp: self.log_clamp,
        }
    }

    /// One-sided STFT bins of the vocoder outputs (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Checks every field against the contract; the first violation is returned as a
    /// [`ModelError::Field`].
    pub fn validate(&self, file: &str) -> Result<(), ModelError> {
        let fail = |field: &str, expected: String, actual: String| {
            Err(ModelError::Field {
                file: file.to_string(),
                field: field.to_string(),
                expected,
                actual,
            })
        };
        if self.format_version != contract::FORMAT_VERSION {
            return Err(ModelError::FormatVersion {
                file: file.to_string(),
                supported: contract::FORMAT_VERSION,
                actual: self.format_version.to_string(),
            });
        }
        if self.name.trim().is_empty() {
            return fail("name", "a non-empty name".into(), "\"\"".into());
        }
        if self.sample_rate != config::SAMPLE_RATE {
            return fail(
                "sample_rate",
                config::SAMPLE_RATE.to_string(),
                self.sample_rate.to_string(),
            );
        }
        if self.n_mels != config::N_MELS {
            return fail(
                "n_mels",
                config::N_MELS.to_string(),
                self.n_mels.to_string(),
            );
        }
        if self.power != 1.0 {
            return fail("power", "1.0 (magnitude)".into(), self.power.to_string());
        }
        match self.variant {
            // The quality set is the seed's configuration, exactly.
            Variant::Quality => self.check_mel_equals(&MelConfig::default(), file)?,
            Variant::LowLatency => self.check_stft_consistent(file)?,
        }
        if !(self.log_clamp.is_finite() && self.log_clamp > 0.0) {
            return fail(
                "log_clamp",
                "a finite value > 0".into(),
                self.log_clamp.to_string(),
            );
        }

        self.check_models(file)?;

        let nyquist = self.sample_rate as f32 / 2.0;
        if !(self.cutoff_hz.is_finite() && self.cutoff_hz > 0.0 && self.cutoff_hz < nyquist) {
            return fail(
                "cutoff_hz",
                format!("a frequency between 0 and {nyquist} Hz (exclusive)"),
                self.cutoff_hz.to_string(),
            );
        }
        let n_bins = self.n_bins();
        if self.crossover_bins >= n_bins / 2 {
            return fail(
                "crossover_bins",
                format!("fewer than half the {n_bins} STFT bins (< {})", n_bins / 2),
                self.crossover_bins.to_string(),
            );
        }
        if !(self.default_amount.is_finite() && self.default_amount >= 0.0) {
            return fail(
                "default_amount",
                "a finite gain >= 0".into(),
                self.default_amount.to_string(),
            );
        }
        Ok(())
    }

    fn check_mel_equals(&self, want: &MelConfig, file: &str) -> Result<(), ModelError> {
        let have = self.mel_config();
        let norm = |area: bool| if area { "\"slaney\"" } else { "null" };
        let scale = |s: MelScale| match s {
            MelScale::Htk => "\"htk\"",
            MelScale::Slaney => "\"slaney\"",
        };
        let pairs: [(&str, String, String); 9] = [
            ("n_fft", want.n_fft.to_string(), have.n_fft.to_string()),
            ("hop", want.hop.to_string(), have.hop.to_string()),
            ("win", want.win.to_string(), have.win.to_string()),
            ("f_min", want.f_min.to_string(), have.f_min.to_string()),
            ("f_max", want.f_max.to_string(), have.f_max.to_string()),
            (
                "mel_scale",
                scale(want.scale).into(),
                scale(have.scale).into(),
            ),
            (
                "mel_norm",
                norm(want.area_norm).into(),
                norm(have.area_norm).into(),
            ),
            (
                "log_clamp",
                want.log_clamp.to_string(),
                have.log_clamp.to_string(),
            ),
            ("power", want.power.to_string(), have.power.to_string()),
        ];
        for (field, expected, actual) in pairs {
            if expected != actual {
                return Err(ModelError::Field {
                    file: file.to_string(),
                    field: field.to_string(),
                    expected: format!("{expected} (the quality set uses the seed's mel config)"),
                    actual,
                });
            }
        }
        Ok(())
    }

    fn check_stft_consistent(&self, file: &str) -> Result<(), ModelError> {
        let fail = |field: &str, expected: String, actual: String| {
            Err(ModelError::Field {
                file: file.to_string(),
                field: field.to_string(),
                expected,
                actual,
            })
        };
        if self.n_fft < 2
            || !self.n_fft.is_multiple_of(2)
            || self.n_fft > crate::dsp::stft::MAX_N_FFT
        {
            return fail(
                "n_fft",
                format!("an even size in 2..={}", crate::dsp::stft::MAX_N_FFT),
                self.n_fft.to_string(),
            );
        }
        if self.win == 0 || self.win > self.n_fft {
            return fail(
                "win",
                format!("1..={} (at most n_fft)", self.n_fft),
                self.win.to_string(),
            );
        }
        if self.hop == 0 || !self.n_fft.is_multiple_of(self.hop) {
            return fail(
                "hop",
                format!("a divisor of n_fft ({})", self.n_fft),
                self.hop.to_string(),
            );
        }
        // Below 50 % overlap the Hann^2 overlap-add envelope dips towards zero between frames.
        if self.hop > self.win / 2 {
            return fail(
                "hop",
                format!("at most win / 2 ({})", self.win / 2),
                self.hop.to_string(),
            );
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if !(self.f_min.is_finite() && self.f_min >= 0.0) {
            return fail(
                "f_min",
                "a finite frequency >= 0 Hz".into(),
                self.f_min.to_string(),
            );
        }
        if !(self.f_max.is_finite() && self.f_max > self.f_min && self.f_max <= nyquist) {
            return fail(
                "f_max",
                format!(
                    "above f_min ({} Hz) and at most sample_rate / 2 ({nyquist} Hz)",
                    self.f_min
                ),
                self.f_max.to_string(),
            );
        }
        let lookahead = self.generator.context_right + self.vocoder.context_right;
        if lookahead > low_latency::MAX_LOOKAHEAD_FRAMES {
            return fail(
                "generator.context_right + vocoder.context_right",
                format!(
                    "at most {} frames for a low-latency set",
                    low_latency::MAX_LOOKAHEAD_FRAMES
                ),
                format!(
                    "{} + {} = {lookahead}",
                    self.generator.context_right, self.vocoder.context_right
                ),
            );
        }
        Ok(())
    }

    fn check_models(&self, file: &str) -> Result<(), ModelError> {
        let fail = |field: String, expected: String, actual: String| {
            Err(ModelError::Field {
                file: file.to_string(),
                field,
                expected,
                actual,
            })
        };
        let g = &self.generator;
        let v = &self.vocoder;
        for (role, name, sha, left, right) in [
            (
                "generator",
                &g.file,
                &g.sha256,
                g.context_left,
                g.context_right,
            ),
            (
                "vocoder",
                &v.file,
                &v.sha256,
                v.context_left,
                v.context_right,
            ),
        ] {
            if !is_plain_file_name(name) {
                return fail(
                    format!("{role}.file"),
                    "a file name inside the model folder (no path separators, not . or ..)".into(),
                    format!("{name:?}"),
                );
            }
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return fail(
                    format!("{role}.sha256"),
                    "64 hexadecimal digits".into(),
                    format!("{sha:?}"),
                );
            }
            for (side, frames) in [("context_left", left), ("context_right", right)] {
                if frames > contract::MAX_CONTEXT_FRAMES {
                    return fail(
                        format!("{role}.{side}"),
                        format!("at most {} frames", contract::MAX_CONTEXT_FRAMES),
                        frames.to_string(),
                    );
                }
            }
        }
        if g.file == v.file {
            return fail(
                "vocoder.file".into(),
                "a file other than generator.file".into(),
                format!("{:?}", v.file),
            );
        }
        let names = [
            ("generator.input", &g.input),
            ("generator.output", &g.output),
            ("vocoder.input", &v.input),
            ("vocoder.outputs.mag", &v.outputs.mag),
            ("vocoder.outputs.cos", &v.outputs.cos),
            ("vocoder.outputs.sin", &v.outputs.sin),
        ];
        for (field, name) in names {
            if name.is_empty() {
                return fail(field.into(), "a tensor name".into(), "\"\"".into());
            }
        }
        let o = &v.outputs;
        if o.mag == o.cos || o.mag == o.sin || o.cos == o.sin {
            return fail(
                "vocoder.outputs".into(),
                "three distinct tensor names".into(),
                format!("{:?}, {:?}, {:?}", o.mag, o.cos, o.sin),
            );
        }
        Ok(())
    }
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
