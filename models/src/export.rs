//! Export: a generator checkpoint becomes `generator.onnx` (built by `widen_onnx` from the same
//! spec, with the trained weights) inside a complete model set folder: the sidecar is the base
//! set's with the generator entry, default amount and provenance replaced, and the base set's
//! vocoder is copied beside it. A vocoder checkpoint becomes `vocoder.onnx` the same way
//! ([`export_vocoder`]), replacing the set's vocoder entry.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use tch::{nn, Device, Kind};
use widen_core::model::{sha256_hex, Sidecar, Synthesis};
use widen_onnx::nets::{ResCnnSpec, TrainedWeights, VocosSpec};

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
    // The base's vocoder stays, and so does what its provenance says about it.
    let vocoder_metrics = sc.provenance.metrics.get("vocoder").cloned();
    let vocoder_note = sc
        .provenance
        .notes
        .find("Vocoder:")
        .map(|i| sc.provenance.notes[i..].to_string());
    sc.provenance.metrics = info.metrics.clone();
    if let Some(v) = vocoder_metrics {
        if !sc.provenance.metrics.is_object() {
            sc.provenance.metrics = serde_json::json!({});
        }
        sc.provenance.metrics["vocoder"] = v;
    }
    sc.provenance.notes = match vocoder_note {
        Some(v) => format!("{} {v}", info.notes),
        None => info.notes.clone(),
    };
    std::fs::write(out.join("generator.onnx"), &bytes)?;
    std::fs::write(
        out.join(widen_core::config::model::SIDECAR_FILE),
        sc.to_json()?,
    )?;
    Ok(sc)
}

/// Copies a model set (sidecar and the two model files it names) from `base` to `out`
/// (nothing to do when they are the same folder).
pub fn copy_set(base: &Path, out: &Path) -> Result<Sidecar> {
    let base_json = base.join(widen_core::config::model::SIDECAR_FILE);
    let text =
        std::fs::read(&base_json).with_context(|| format!("reading {}", base_json.display()))?;
    let sc = Sidecar::from_json(&text, &base_json.display().to_string())?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if base.canonicalize().ok() != out.canonicalize().ok() {
        for f in [
            sc.generator.file.as_str(),
            sc.vocoder.file.as_str(),
            widen_core::config::model::SIDECAR_FILE,
        ] {
            std::fs::copy(base.join(f), out.join(f))
                .with_context(|| format!("copying {}", base.join(f).display()))?;
        }
    }
    Ok(sc)
}

/// Writes `set/vocoder.onnx` (built by `widen_onnx` from `spec` with the trained weights of
/// `vs`) into the model set folder `set` and updates its sidecar's vocoder entry (file, hash,
/// context), provenance (`metrics.vocoder`, notes) and, when given, default synthesis.
pub fn export_vocoder(
    spec: &VocosSpec,
    vs: &nn::VarStore,
    state: &checkpoint::State,
    set: &Path,
    synthesis: Option<Synthesis>,
    metrics: serde_json::Value,
) -> Result<Sidecar> {
    let weights = trained_weights(vs)?;
    let built = spec.build_trained(&weights)?;
    let bytes = widen_onnx::encode(&built.model);
    let json = set.join(widen_core::config::model::SIDECAR_FILE);
    let text = std::fs::read(&json).with_context(|| format!("reading {}", json.display()))?;
    let mut sc = Sidecar::from_json(&text, &json.display().to_string())?;
    if sc.n_bins() != spec.n_bins {
        anyhow::bail!(
            "{}: the set has {} STFT bins, the vocoder {} (wrong --variant?)",
            json.display(),
            sc.n_bins(),
            spec.n_bins
        );
    }
    sc.vocoder.file = "vocoder.onnx".into();
    sc.vocoder.sha256 = sha256_hex(&bytes);
    sc.vocoder.context_left = built.context_left;
    sc.vocoder.context_right = built.context_right;
    if let Some(s) = synthesis {
        sc.default_synthesis = s;
    }
    sc.provenance.trained = true;
    if !sc.provenance.metrics.is_object() {
        sc.provenance.metrics = serde_json::json!({});
    }
    sc.provenance.metrics["vocoder"] = serde_json::json!({"kind": state.kind,
        "steps": state.step, "best_holdout": state.best_holdout, "validation": state.metrics,
        "extra": metrics});
    let note = format!(
        "Vocoder: trained by widen-train {} ({} steps, batch {}, {} frames, seed {}; {:.1} min \
         of training audio); Vocos design, {} channels, {} ConvNeXt blocks, context {}/{} frames \
         (replaces the untrained placeholder).",
        state.kind,
        state.step,
        state.batch_size,
        state.frames,
        state.seed,
        state.corpus_minutes,
        spec.channels,
        spec.blocks,
        built.context_left,
        built.context_right
    );
    sc.provenance.notes = if sc.provenance.notes.is_empty() {
        note
    } else {
        format!("{} {note}", sc.provenance.notes)
    };
    std::fs::write(set.join("vocoder.onnx"), &bytes)?;
    std::fs::write(&json, sc.to_json()?)?;
    Ok(sc)
}
