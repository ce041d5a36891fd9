//! Loading a model set and its ONNX Runtime sessions once per run (`enhance`, `vocoder-eval`).

use std::path::Path;

use anyhow::{anyhow, Result};
use widen_core::config::contract;
use widen_core::model::{ModelSet, Variant};
use widen_core::runtime::{init_ort, Device, SessionOptions, SharedModel};

/// One line: messages from ONNX Runtime or serde may span several.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The model set and its two sessions, loaded once per run.
pub struct Models {
    pub set: ModelSet,
    pub generator: SharedModel,
    pub vocoder: SharedModel,
}

impl Models {
    /// The set in `dir`, else the embedded `variant`; sessions on `device` with `threads`
    /// intra-op threads. Errors are one line each.
    pub fn load(
        dir: Option<&Path>,
        variant: Variant,
        device: Device,
        threads: usize,
    ) -> Result<Self> {
        let set = match dir {
            Some(dir) => ModelSet::load_dir(dir),
            None => ModelSet::embedded(variant),
        }
        .map_err(|e| anyhow!(one_line(&e.to_string())))?;
        // Before any session: a missing library gets its own message naming the set-up command.
        init_ort().map_err(|e| anyhow!(one_line(&e.to_string())))?;
        let options = SessionOptions {
            device,
            intra_op_threads: threads,
        };
        let (generator, vocoder) = set
            .instantiate(&options)
            .map_err(|e| anyhow!(one_line(&e.to_string())))?;
        // `instantiate` returns the vocoder outputs in contract order whatever the sidecar calls
        // them; the engine finds them by the contract's names.
        let vocoder = SharedModel::new(vocoder)
            .with_output_names(&[
                contract::VOCODER_MAG,
                contract::VOCODER_COS,
                contract::VOCODER_SIN,
            ])
            .map_err(|e| anyhow!(one_line(&e.to_string())))?;
        Ok(Self {
            set,
            generator: SharedModel::new(generator),
            vocoder,
        })
    }
}
