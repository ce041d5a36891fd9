//! The model sets the live engine runs: loaded once (ONNX Runtime sessions shared by every
//! engine the daemon builds after a recovery).

use std::path::Path;

use widen_core::config::{
    contract,
    live::{CHUNK_FRAMES, QUALITY_CHUNK_FRAMES},
};
use widen_core::engine::{engine_config_for, Engine, EngineConfig, EngineError, ResamplerProfile};
use widen_core::model::{ModelSet, Variant};
use widen_core::runtime::{init_ort, Device, SessionOptions, SharedModel};

use crate::daemon::{EngineFactory, Mode};

/// Errors loading the models.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The set's sidecar or ONNX files.
    #[error(transparent)]
    Model(#[from] widen_core::model::ModelError),
    /// ONNX Runtime (library missing, session failed).
    #[error(transparent)]
    Runtime(#[from] widen_core::runtime::RuntimeError),
}

/// A model set with its two loaded sessions.
#[derive(Debug, Clone)]
pub struct LiveModels {
    set: ModelSet,
    generator: SharedModel,
    vocoder: SharedModel,
}

impl LiveModels {
    /// Loads `dir` or the embedded set of `mode` into ONNX Runtime on the CPU with `threads`
    /// intra-op threads.
    pub fn load(mode: Mode, dir: Option<&Path>, threads: usize) -> Result<Self, ModelLoadError> {
        let set = match dir {
            Some(d) => ModelSet::load_dir(d)?,
            None => ModelSet::embedded(match mode {
                Mode::LowLatency => Variant::LowLatency,
                Mode::Quality => Variant::Quality,
            })?,
        };
        init_ort()?;
        let options = SessionOptions {
            device: Device::Cpu,
            intra_op_threads: threads.max(1),
        };
        let (generator, vocoder) = set.instantiate(&options)?;
        // The engine finds the vocoder outputs by the contract's names.
        let vocoder = SharedModel::new(vocoder).with_output_names(&[
            contract::VOCODER_MAG,
            contract::VOCODER_COS,
            contract::VOCODER_SIN,
        ])?;
        Ok(Self {
            set,
            generator: SharedModel::new(generator),
            vocoder,
        })
    }

    /// The live engine configuration at `rate` in and out: the set's sidecar, one frame per
    /// model call ([`CHUNK_FRAMES`]) and the short resampler filter
    /// ([`ResamplerProfile::LowLatency`]) for the low-latency set, [`QUALITY_CHUNK_FRAMES`] and
    /// the default filter for the quality set (whose 40 + 40 frames of context are recomputed
    /// per call, and whose half second of latency makes the filter's 12 ms immaterial).
    pub fn engine_config(&self, rate: u32) -> EngineConfig {
        let (chunk_frames, resampler) = match self.set.sidecar().variant {
            Variant::Quality => (QUALITY_CHUNK_FRAMES, ResamplerProfile::Quality),
            Variant::LowLatency => (CHUNK_FRAMES, ResamplerProfile::LowLatency),
        };
        EngineConfig {
            chunk_frames,
            resampler,
            ..engine_config_for(&self.set, rate, rate)
        }
    }

    /// A new engine at `rate` taking blocks of up to `max_block`.
    pub fn engine(&self, rate: u32, max_block: usize) -> Result<Engine, EngineError> {
        Engine::new(
            self.engine_config(rate),
            Box::new(self.generator.clone()),
            Some(Box::new(self.vocoder.clone())),
            max_block,
        )
    }

    /// The model set.
    pub fn set(&self) -> &ModelSet {
        &self.set
    }

    /// An [`EngineFactory`] for [`run`](crate::run).
    pub fn factory(self) -> EngineFactory {
        Box::new(move |rate, max_block| self.engine(rate, max_block))
    }
}
