//! Model sets: `generator.onnx` + `vocoder.onnx` + the `widen.json` sidecar that describes them
//! (DESIGN.md, "Model contract").
//!
//! A [`ModelSet`] is validated when it is made: the sidecar against the contract (typed
//! [`ModelError::Field`] errors naming field, expected and actual), and each ONNX file against the
//! SHA-256 the sidecar records. [`ModelSet::instantiate`] then loads both files into ONNX Runtime
//! and checks their tensor names and channel counts against the sidecar.
//!
//! The default sets under `models/default/{quality,low-latency}/` are compiled into the library
//! ([`ModelSet::embedded_default`], [`ModelSet::embedded`]), so no model path is ever needed.
//! Until trained models land they are untrained placeholders (`provenance.trained == false`)
//! written by `cargo xtask gen-default-models`.

mod sidecar;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use sidecar::{
    GeneratorEntry, LogBase, MelNorm, Provenance, Sidecar, Synthesis, Variant, VocoderEntry,
    VocoderOutputs,
};

use crate::config::{model as contract, MelConfig};
use crate::runtime::{IoSpec, OrtModel, RuntimeError, SessionOptions};

/// Errors from loading or validating a model set. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The sidecar is not JSON at all.
    #[error("{file}: not valid JSON: {message}")]
    Json {
        /// The sidecar.
        file: String,
        /// serde_json's message (with line and column).
        message: String,
    },
    /// The sidecar declares a format this build cannot read.
    #[error("{file}: field `format_version`: expected {supported}, found {actual} (this widen reads sidecar format {supported} only)")]
    FormatVersion {
        /// The sidecar.
        file: String,
        /// The version this build reads.
        supported: u32,
        /// What the file says.
        actual: String,
    },
    /// A field is missing, unknown or of the wrong JSON type.
    #[error("{file}: {message}")]
    Schema {
        /// The sidecar.
        file: String,
        /// serde_json's message (names the field, with line and column).
        message: String,
    },
    /// A field has a value the contract does not allow.
    #[error("{file}: field `{field}`: expected {expected}, found {actual}")]
    Field {
        /// The sidecar.
        file: String,
        /// The field (`n_mels`, `generator.sha256`, ...).
        field: String,
        /// What the contract requires.
        expected: String,
        /// What the sidecar says.
        actual: String,
    },
    /// A file of the set cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file (`model sidecar`, `generator file (sidecar field generator.file)`, ...).
        what: String,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An ONNX file does not hash to the SHA-256 the sidecar records.
    #[error("{file}: SHA-256 mismatch: sidecar field `{field}` expects {expected}, the file hashes to {actual}")]
    Sha256 {
        /// The ONNX file.
        file: String,
        /// The sidecar field (`generator.sha256` or `vocoder.sha256`).
        field: String,
        /// The sidecar's value.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// ONNX Runtime rejected a model file, or its inputs/outputs differ from the sidecar.
    #[error("model file {file}: {source}")]
    Onnx {
        /// The ONNX file.
        file: String,
        /// The runtime's error.
        source: RuntimeError,
    },
}

/// Lowercase hex SHA-256 of `bytes` (the form the sidecar records).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A validated sidecar with the bytes of its two ONNX files.
#[derive(Debug, Clone)]
pub struct ModelSet {
    sidecar: Sidecar,
    sidecar_label: String,
    generator: Cow<'static, [u8]>,
    generator_label: String,
    vocoder: Cow<'static, [u8]>,
    vocoder_label: String,
}

/// The default sets, compiled in.
mod embedded {
    pub const QUALITY: [&[u8]; 3] = [
        include_bytes!("../../../models/default/quality/widen.json"),
        include_bytes!("../../../models/default/quality/generator.onnx"),
        include_bytes!("../../../models/default/quality/vocoder.onnx"),
    ];
    pub const LOW_LATENCY: [&[u8]; 3] = [
        include_bytes!("../../../models/default/low-latency/widen.json"),
        include_bytes!("../../../models/default/low-latency/generator.onnx"),
        include_bytes!("../../../models/default/low-latency/vocoder.onnx"),
    ];
}

impl ModelSet {
    /// Loads `dir/widen.json` and the two ONNX files it names, checking the sidecar and hashes.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let dir = dir.as_ref();
        let read = |path: PathBuf, what: String| {
            std::fs::read(&path).map_err(|source| ModelError::Read { what, path, source })
        };
        let sidecar_path = dir.join(contract::SIDECAR_FILE);
        let json = read(sidecar_path.clone(), "model sidecar".into())?;
        let sidecar_label = sidecar_path.display().to_string();
        let sidecar = Sidecar::from_json(&json, &sidecar_label)?;
        let gen_path = dir.join(&sidecar.generator.file);
        let generator = read(
            gen_path.clone(),
            format!("generator file (named by `generator.file` in {sidecar_label})"),
        )?;
        let voc_path = dir.join(&sidecar.vocoder.file);
        let vocoder = read(
            voc_path.clone(),
            format!("vocoder file (named by `vocoder.file` in {sidecar_label})"),
        )?;
        Self::assemble(
            sidecar,
            sidecar_label,
            (Cow::Owned(generator), gen_path.display().to_string()),
            (Cow::Owned(vocoder), voc_path.display().to_string()),
        )
    }

    /// A set from bytes in memory (errors call the files `memory:<name>`).
    pub fn from_memory(json: &[u8], generator: &[u8], vocoder: &[u8]) -> Result<Self, ModelError> {
        Self::from_parts(
            "memory:",
            json,
            Cow::Owned(generator.to_vec()),
            Cow::Owned(vocoder.to_vec()),
        )
    }

    /// The default quality set compiled into the library.
    pub fn embedded_default() -> Result<Self, ModelError> {
        Self::embedded(Variant::Quality)
    }

    /// The default set of `variant` compiled into the library.
    pub fn embedded(variant: Variant) -> Result<Self, ModelError> {
        let [json, generator, vocoder] = match variant {
            Variant::Quality => embedded::QUALITY,
            Variant::LowLatency => embedded::LOW_LATENCY,
        };
        let prefix = format!("embedded:models/default/{}/", variant.as_str());
        let set = Self::from_parts(
            &prefix,
            json,
            Cow::Borrowed(generator),
            Cow::Borrowed(vocoder),
        )?;
        if set.sidecar.variant != variant {
            return Err(ModelError::Field {
                file: set.sidecar_label,
                field: "variant".into(),
                expected: format!("{:?}", variant.as_str()),
                actual: format!("{:?}", set.sidecar.variant.as_str()),
            });
        }
        Ok(set)
    }

    fn from_parts(
        prefix: &str,
        json: &[u8],
        generator: Cow<'static, [u8]>,
        vocoder: Cow<'static, [u8]>,
    ) -> Result<Self, ModelError> {
        let sidecar_label = format!("{prefix}{}", contract::SIDECAR_FILE);
        let sidecar = Sidecar::from_json(json, &sidecar_label)?;
        let gen_label = format!("{prefix}{}", sidecar.generator.file);
        let voc_label = format!("{prefix}{}", sidecar.vocoder.file);
        Self::assemble(
            sidecar,
            sidecar_label,
            (generator, gen_label),
            (vocoder, voc_label),
        )
    }

    fn assemble(
        sidecar: Sidecar,
        sidecar_label: String,
        (generator, generator_label): (Cow<'static, [u8]>, String),
        (vocoder, vocoder_label): (Cow<'static, [u8]>, String),
    ) -> Result<Self, ModelError> {
        for (bytes, label, field, expected) in [
            (
                &generator,
                &generator_label,
                "generator.sha256",
                &sidecar.generator.sha256,
            ),
            (
                &vocoder,
                &vocoder_label,
                "vocoder.sha256",
                &sidecar.vocoder.sha256,
            ),
        ] {
            let actual = sha256_hex(bytes);
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(ModelError::Sha256 {
                    file: label.clone(),
                    field: field.into(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(Self {
            sidecar,
            sidecar_label,
            generator,
            generator_label,
            vocoder,
            vocoder_label,
        })
    }

    /// The validated sidecar.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// The mel front end the models expect.
    pub fn mel_config(&self) -> MelConfig {
        self.sidecar.mel_config()
    }

    /// Where the sidecar came from (a path, `memory:widen.json` or `embedded:...`).
    pub fn sidecar_label(&self) -> &str {
        &self.sidecar_label
    }

    /// The generator's ONNX bytes.
    pub fn generator_bytes(&self) -> &[u8] {
        &self.generator
    }

    /// The vocoder's ONNX bytes.
    pub fn vocoder_bytes(&self) -> &[u8] {
        &self.vocoder
    }

    /// The generator's file (path or label) as errors name it.
    pub fn generator_label(&self) -> &str {
        &self.generator_label
    }

    /// The vocoder's file (path or label) as errors name it.
    pub fn vocoder_label(&self) -> &str {
        &self.vocoder_label
    }

    /// What the generator must look like: `input` `[B, n_mels, T]` -> `output` `[B, n_mels, T]`.
    pub fn generator_spec(&self) -> IoSpec {
        let g = &self.sidecar.generator;
        let m = self.sidecar.n_mels;
        IoSpec::new((&g.input, m), &[(&g.output, m)])
    }

    /// What the vocoder must look like: `input` `[B, n_mels, T]` -> `mag`, `cos`, `sin`
    /// `[B, n_fft / 2 + 1, T]`, in that order.
    pub fn vocoder_spec(&self) -> IoSpec {
        let v = &self.sidecar.vocoder;
        let bins = self.sidecar.n_bins();
        IoSpec::new(
            (&v.input, self.sidecar.n_mels),
            &[
                (&v.outputs.mag, bins),
                (&v.outputs.cos, bins),
                (&v.outputs.sin, bins),
            ],
        )
    }

    /// Loads both models into ONNX Runtime, checked against the sidecar: `(generator, vocoder)`.
    /// The vocoder's outputs come back in the order magnitude, cosine, sine.
    pub fn instantiate(
        &self,
        options: &SessionOptions,
    ) -> Result<(OrtModel, OrtModel), ModelError> {
        let load = |bytes: &[u8], label: &str, spec: IoSpec| {
            OrtModel::from_memory(bytes, label, &spec, options).map_err(|source| ModelError::Onnx {
                file: label.to_string(),
                source,
            })
        };
        let generator = load(
            &self.generator,
            &self.generator_label,
            self.generator_spec(),
        )?;
        let vocoder = load(&self.vocoder, &self.vocoder_label, self.vocoder_spec())?;
        Ok((generator, vocoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_strings() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn enum_spellings_match_serde() {
        for v in Variant::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        for s in Synthesis::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
