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
    /// With more than one CPU thread: one single-threaded (generator, vocoder) pair per
    /// thread, for engines that process segments of a file in parallel
    /// (`widen_core::engine::ParallelStream`). Empty otherwise.
    pub workers: Vec<(SharedModel, SharedModel)>,
}

/// One (generator, vocoder) pair of sessions; the vocoder answers to the contract's output
/// names whatever the sidecar calls them (`instantiate` returns them in contract order).
fn pair(set: &ModelSet, options: &SessionOptions) -> Result<(SharedModel, SharedModel)> {
    let (generator, vocoder) = set
        .instantiate(options)
        .map_err(|e| anyhow!(one_line(&e.to_string())))?;
    let vocoder = SharedModel::new(vocoder)
        .with_output_names(&[
            contract::VOCODER_MAG,
            contract::VOCODER_COS,
            contract::VOCODER_SIN,
        ])
        .map_err(|e| anyhow!(one_line(&e.to_string())))?;
    Ok((SharedModel::new(generator), vocoder))
}

impl Models {
    /// The set in `dir`, else the embedded `variant`; sessions on `device` with `threads`
    /// intra-op threads, plus `threads` single-threaded worker pairs on the CPU when `threads`
    /// is above one. Errors are one line each.
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
        let (generator, vocoder) = pair(&set, &options)?;
        let workers = if device == Device::Cpu && threads > 1 {
            let one = SessionOptions {
                device,
                intra_op_threads: 1,
            };
            (0..threads)
                .map(|_| pair(&set, &one))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Self {
            set,
            generator,
            vocoder,
            workers,
        })
    }
}
