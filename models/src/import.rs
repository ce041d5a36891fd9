//! Import: a model set's ONNX files back into checkpoint folders, so the shipped models (or any
//! exported set) can be evaluated, fine-tuned (`--warm-start`) or re-exported on a machine that
//! does not have the training runs they came from, a fresh clone or a lent GPU machine.
//!
//! The exported graphs carry every trained weight as an initializer named after the layer
//! (`widen_onnx::nets::initializer_weights`), and the tch models are built from the same specs,
//! so the import is exact: importing a set and exporting it again gives byte-identical ONNX files
//! (test `models/tests/import.rs`). Only weights come back: an imported folder has no optimiser
//! state (so `--resume` cannot continue it; `--warm-start` can), and its `state.json` takes the
//! step count, corpus minutes and metrics from the sidecar's provenance, with `kind` `imported`.
//! The generator's shape is read from the graph (channels from `conv_in`, each block's dilation
//! from its first convolution) and recorded there when it is not the set's default, so a grown
//! or widened generator imports as itself.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{nn, Device};
use widen_core::model::{Sidecar, Variant};
use widen_onnx::nets::{initializer_weights, TrainedWeights};
use widen_onnx::proto::ModelProto;

use crate::checkpoint::{self, State};
use crate::evaluate::copy_weights;
use crate::generator::Generator;
use crate::spec::{self, GenShape};
use crate::vocoder::Vocoder;

/// The two checkpoint folders an import writes.
#[derive(Debug, Clone)]
pub struct Imported {
    /// `out/generator`: `generator.safetensors` + `state.json`.
    pub generator: PathBuf,
    /// `out/vocoder`: `vocoder.safetensors` + `state.json`.
    pub vocoder: PathBuf,
}

/// The shape of an exported generator: channels from `conv_in`'s bias, each block's dilation
/// from its first convolution's node (`block{i}.conv1`, attribute `dilations`).
fn generator_shape(model: &ModelProto, weights: &TrainedWeights) -> Result<GenShape> {
    let channels = weights
        .get("conv_in.bias")
        .map(Vec::len)
        .context("no `conv_in.bias`")?;
    let nodes = model
        .graph
        .as_ref()
        .map(|g| g.node.as_slice())
        .unwrap_or(&[]);
    let mut dilations = Vec::new();
    while weights.contains_key(&format!("block{}.conv1.weight", dilations.len())) {
        let out = format!("block{}.conv1", dilations.len());
        let d = nodes
            .iter()
            .find(|n| n.output.first() == Some(&out))
            .and_then(|n| {
                n.attribute
                    .iter()
                    .find(|a| a.name.as_deref() == Some("dilations"))
            })
            .and_then(|a| a.ints.first().copied())
            .with_context(|| format!("no dilation on `{out}`"))?;
        dilations.push(usize::try_from(d).context("negative dilation")?);
    }
    Ok(GenShape {
        channels,
        dilations,
    })
}

/// `"... : 270.5 min"` -> 270.5 (the export's corpus line); 0 when absent.
fn corpus_minutes(sc: &Sidecar) -> f64 {
    sc.provenance
        .corpus
        .as_deref()
        .and_then(|c| c.trim_end_matches(" min").rsplit(' ').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0.0)
}

fn state_of(variant: Variant, sc: &Sidecar, step: u64, metrics: serde_json::Value) -> State {
    State {
        step,
        total_steps: step,
        corpus_minutes: corpus_minutes(sc),
        metrics,
        ..State::blank("imported", variant)
    }
}

/// Imports the generator and vocoder of the model set folder `set` (a `widen.json` with its two
/// ONNX files) into `out/generator` and `out/vocoder`.
pub fn import_set(variant: Variant, set: &Path, out: &Path) -> Result<Imported> {
    let json = set.join(widen_core::config::model::SIDECAR_FILE);
    let text = std::fs::read(&json).with_context(|| format!("reading {}", json.display()))?;
    let sc = Sidecar::from_json(&text, &json.display().to_string())?;
    let mel = spec::mel_config(variant);
    if sc.n_bins() != mel.n_bins() {
        bail!(
            "{}: the set has {} STFT bins, the {} variant {} (wrong --variant?)",
            json.display(),
            sc.n_bins(),
            variant.as_str(),
            mel.n_bins()
        );
    }
    let read = |file: &str| -> Result<(TrainedWeights, ModelProto)> {
        let path = set.join(file);
        let model = widen_onnx::load(&path)?;
        Ok((initializer_weights(&model)?, model))
    };

    let gen_dir = out.join("generator");
    let (gweights, gmodel) = read(&sc.generator.file)?;
    let shape = generator_shape(&gmodel, &gweights)
        .with_context(|| format!("{}: not a widen generator", sc.generator.file))?;
    let gvs = nn::VarStore::new(Device::Cpu);
    Generator::new(&gvs.root(), &spec::generator_spec_shaped(variant, &shape))?;
    copy_weights(&gvs, &gweights)
        .with_context(|| format!("{} (a set of the other variant?)", sc.generator.file))?;
    let mut gstate = state_of(
        variant,
        &sc,
        sc.provenance.steps.unwrap_or(0),
        sc.provenance.metrics.clone(),
    );
    if shape != spec::default_shape(variant) {
        gstate.generator = Some(shape);
    }
    checkpoint::save(
        &gen_dir,
        &gstate,
        |d| Ok(gvs.save(d.join(checkpoint::GEN))?),
    )?;

    let voc_dir = out.join("vocoder");
    let vvs = nn::VarStore::new(Device::Cpu);
    Vocoder::new(&vvs.root(), &spec::vocoder_spec(variant)?, &mel)?;
    copy_weights(&vvs, &read(&sc.vocoder.file)?.0)
        .with_context(|| format!("{} (a set of the other variant?)", sc.vocoder.file))?;
    let vmetrics = sc
        .provenance
        .metrics
        .get("vocoder")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let vstep = vmetrics.get("steps").and_then(|s| s.as_u64()).unwrap_or(0);
    let vstate = state_of(variant, &sc, vstep, vmetrics);
    checkpoint::save(
        &voc_dir,
        &vstate,
        |d| Ok(vvs.save(d.join(checkpoint::VOC))?),
    )?;
    Ok(Imported {
        generator: gen_dir,
        vocoder: voc_dir,
    })
}
