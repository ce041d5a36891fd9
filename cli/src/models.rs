//! Loading a model set and its ONNX Runtime sessions once per run (`enhance`, `vocoder-eval`).

use std::path::Path;
use std::sync::OnceLock;

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
    /// With more than one CPU thread: how many single-threaded (generator, vocoder) pairs
    /// [`workers`](Self::workers) gives, one per thread, for engines that process segments of
    /// a file in parallel (`widen_core::engine::ParallelStream`); 0 otherwise.
    pub worker_count: usize,
    /// The worker pairs, loaded on first use: a run of short files never needs them.
    workers: OnceLock<Vec<(SharedModel, SharedModel)>>,
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
    /// intra-op threads (and, when `threads` is above one on the CPU, `threads`
    /// single-threaded worker pairs on demand). Errors are one line each.
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
        let worker_count = if device == Device::Cpu && threads > 1 {
            threads
        } else {
            0
        };
        Ok(Self {
            set,
            generator,
            vocoder,
            worker_count,
            workers: OnceLock::new(),
        })
    }

    /// The [`worker_count`](Self::worker_count) single-threaded CPU session pairs, loaded the
    /// first time they are asked for (by whichever thread asks first).
    pub fn workers(&self) -> Result<&[(SharedModel, SharedModel)]> {
        if let Some(w) = self.workers.get() {
            return Ok(w);
        }
        let one = SessionOptions {
            device: Device::Cpu,
            intra_op_threads: 1,
        };
        let loaded = (0..self.worker_count)
            .map(|_| pair(&self.set, &one))
            .collect::<Result<Vec<_>>>()?;
        // Another thread may have won the race: either set is the same.
        Ok(self.workers.get_or_init(|| loaded))
    }
}
