//! Export: a generator checkpoint becomes `generator.onnx` (built by `widen_onnx` from the same
//! spec, with the trained weights) inside a complete model set folder: the sidecar is the base
//! set's with the generator entry, default amount and provenance replaced, and the base set's
//! vocoder is copied beside it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use tch::{nn, Device, Kind};
use widen_core::model::{sha256_hex, Sidecar, Synthesis};
use widen_onnx::nets::{ResCnnSpec, TrainedWeights};

use crate::checkpoint;
use crate::generator::Generator;

/// Row-major f32 copies of every variable of `vs`, by name.
pub fn trained_weights(vs: &nn::VarStore) -> Result<TrainedWeights> {
    let mut out = HashMap::new();
    for (name, t) in vs.variables() {
        let flat = t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
        out.insert(name, Vec::<f32>::try_from(flat)?);
    }
    Ok(out)
}

/// Loads a generator checkpoint folder into a CPU `VarStore`.
pub fn load_generator(spec: &ResCnnSpec, ckpt: &Path) -> Result<(nn::VarStore, Generator)> {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let gen = Generator::new(&vs.root(), spec)?;
    let f = ckpt.join(checkpoint::GEN);
    vs.load(&f)
        .with_context(|| format!("loading {}", f.display()))?;
    Ok((vs, gen))
}

/// What goes into the exported sidecar besides the weights.
#[derive(Debug, Clone)]
pub struct ExportInfo {
    /// Set name.
    pub name: String,
    /// Default high-band gain.
    pub amount: f32,
    /// Default synthesis (`None` keeps the base set's).
    pub synthesis: Option<Synthesis>,
    /// Provenance notes.
    pub notes: String,
    /// Provenance metrics.
    pub metrics: serde_json::Value,
}

/// Writes `out/generator.onnx`, `out/vocoder.onnx` (from `base`) and `out/widen.json`.
pub fn export_set(
    spec: &ResCnnSpec,
    vs: &nn::VarStore,
    state: &checkpoint::State,
    base: &Path,
    out: &Path,
    info: &ExportInfo,
) -> Result<Sidecar> {
    let weights = trained_weights(vs)?;
    let built = spec.build_trained(&weights)?;
    let bytes = widen_onnx::encode(&built.model);
    let base_json = base.join(widen_core::config::model::SIDECAR_FILE);
    let text =
        std::fs::read(&base_json).with_context(|| format!("reading {}", base_json.display()))?;
    let mut sc = Sidecar::from_json(&text, &base_json.display().to_string())?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let voc_src = base.join(&sc.vocoder.file);
    if base.canonicalize().ok() != out.canonicalize().ok() {
        std::fs::copy(&voc_src, out.join(&sc.vocoder.file))
            .with_context(|| format!("copying {}", voc_src.display()))?;
    }
    sc.generator.file = "generator.onnx".into();
    sc.generator.sha256 = sha256_hex(&bytes);
    sc.generator.context_left = built.context_left;
    sc.generator.context_right = built.context_right;
    sc.name = info.name.clone();
    sc.default_amount = info.amount;
    if let Some(s) = info.synthesis {
        sc.default_synthesis = s;
    }
    sc.provenance.trained = true;
    sc.provenance.corpus = Some(format!(
        "widen corpus (cargo xtask corpus), train split minus hold-out: {:.1} min",
        state.corpus_minutes
    ));
    sc.provenance.steps = Some(state.step);
    sc.provenance.metrics = info.metrics.clone();
    sc.provenance.notes = info.notes.clone();
    std::fs::write(out.join("generator.onnx"), &bytes)?;
    std::fs::write(
        out.join(widen_core::config::model::SIDECAR_FILE),
        sc.to_json()?,
    )?;
    Ok(sc)
}
