//! Checkpoints: a folder with the model weights (safetensors), the optimiser states and a JSON
//! state, written to a temporary folder and renamed into place so an interrupted write never
//! leaves a half checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What a checkpoint records besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// `cnn`, `gan`, `vocoder` or `vocoder-ft` (fine-tuned on generator output).
    pub kind: String,
    /// `quality` or `low-latency`.
    pub variant: String,
    /// Steps done.
    pub step: u64,
    /// Steps the run was started with (the learning-rate schedule depends on it).
    pub total_steps: u64,
    /// Data seed.
    pub seed: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// Mel frames per example.
    pub frames: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Minutes of training audio.
    pub corpus_minutes: f64,
    /// Best in-corpus validation score so far (high-band log-mel L1) and its step.
    pub best_holdout: Option<(f64, u64)>,
    /// Latest validation metrics.
    pub metrics: serde_json::Value,
    /// Generator shape (generator runs of a non-default shape; absent = the set's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<crate::spec::GenShape>,
}

impl State {
    /// A state of `kind` for `variant` with nothing recorded yet (no steps, seed 0, no metrics):
    /// the start of an import or of a hand-made checkpoint.
    pub fn blank(kind: &str, variant: widen_core::model::Variant) -> Self {
        Self {
            kind: kind.into(),
            variant: variant.as_str().into(),
            step: 0,
            total_steps: 0,
            seed: 0,
            batch_size: 0,
            frames: 0,
            lr: 0.0,
            corpus_minutes: 0.0,
            best_holdout: None,
            metrics: serde_json::json!({}),
            generator: None,
        }
    }
}

/// File names inside a checkpoint folder.
pub const STATE: &str = "state.json";
/// Generator weights.
pub const GEN: &str = "generator.safetensors";
/// Generator optimiser.
pub const GEN_OPT: &str = "generator_adam.safetensors";
/// Discriminator weights.
pub const DISC: &str = "disc.safetensors";
/// Discriminator optimiser.
pub const DISC_OPT: &str = "disc_adam.safetensors";
/// Vocoder weights.
pub const VOC: &str = "vocoder.safetensors";
/// Vocoder optimiser.
pub const VOC_OPT: &str = "vocoder_adam.safetensors";

/// Writes a checkpoint into `dir` atomically: `write(tmp)` fills a temporary folder, which
/// then replaces `dir`.
pub fn save(dir: &Path, state: &State, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_of(dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    write(&tmp)?;
    std::fs::write(tmp.join(STATE), serde_json::to_string_pretty(state)?)?;
    let old = dir.with_extension("old");
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("renaming into {}", dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

fn tmp_of(dir: &Path) -> PathBuf {
    dir.with_extension("tmp")
}

/// Reads a checkpoint's state.
pub fn load_state(dir: &Path) -> Result<State> {
    let p = dir.join(STATE);
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}
