//! Model inference: the [`ModelRuntime`] seam the engine calls, and its ONNX Runtime implementation
//! [`OrtModel`].
//!
//! ONNX Runtime is loaded at run time (ort's `load-dynamic`), never linked: [`init_ort`] finds
//! `libonnxruntime.so` through `ORT_DYLIB_PATH`, beside the executable, or in the project cache
//! `.cache/onnxruntime/` that `cargo xtask setup` fills from the PyPI `onnxruntime` wheel.
//!
//! Every model takes one `[1, channels, frames]` `float32` tensor and returns tensors of shape
//! `[1, channels_i, frames]`, all channel-major (`data[c * frames + t]`).

mod library;
mod ort_model;
mod shared;

use std::path::PathBuf;

pub use library::{init_ort, library_candidates, prefer_library_dir, ORT_DYLIB_ENV};
pub use ort_model::OrtModel;
pub use shared::SharedModel;

/// One inference back end. The engine owns one per model; tests substitute a mock.
pub trait ModelRuntime: Send {
    /// Runs the model on `input` = `[1, channels, frames]` (channel-major) and writes output `i` into
    /// `outputs[i]` as `output_channels()[i] * frames` channel-major values. A `Vec` is reallocated
    /// only when its capacity is too small, so repeated calls with the same `frames` do not allocate
    /// on the Rust side.
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError>;

    /// Name of the single input tensor.
    fn input_name(&self) -> &str;

    /// Names of the output tensors, in `outputs` order.
    fn output_names(&self) -> &[String];

    /// Channels of each output, in `outputs` order.
    fn output_channels(&self) -> &[usize];
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider (needs the `cuda` cargo feature, the `onnxruntime-gpu`
    /// library and CUDA/cuDNN at run time).
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Execution provider.
    pub device: Device,
    /// Threads ONNX Runtime may use inside one operator (1 = run on the calling thread only).
    /// Idle pool threads never spin: spinning would burn a core between the small per-hop runs
    /// of streaming inference.
    pub intra_op_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_op_threads: 1,
        }
    }
}

/// The tensor names and channel counts a caller requires of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoSpec {
    /// Input name and channels.
    pub input: (String, usize),
    /// Output names and channels, in the order `run` fills them.
    pub outputs: Vec<(String, usize)>,
}

impl IoSpec {
    /// `IoSpec::new(("mel_lr", 80), &[("mel_hr", 80)])`.
    pub fn new(input: (&str, usize), outputs: &[(&str, usize)]) -> Self {
        Self {
            input: (input.0.to_string(), input.1),
            outputs: outputs
                .iter()
                .map(|(n, c)| ((*n).to_string(), *c))
                .collect(),
        }
    }
}

/// Errors from loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No ONNX Runtime library was found.
    #[error(
        "ONNX Runtime library (libonnxruntime.so) not found; looked in: {searched}. \
         Run `cargo xtask setup` to fetch it into .cache/onnxruntime/, or set {env} to its path"
    )]
    LibraryNotFound {
        /// The places searched, in order.
        searched: String,
        /// The environment variable that overrides the search.
        env: &'static str,
    },
    /// A candidate library file exists but is not usable (not a shared library, wrong version,
    /// missing symbols, dlopen failure).
    #[error("ONNX Runtime library {path} cannot be used: {reason}. Run `cargo xtask setup` to fetch a working copy")]
    LibraryInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The CUDA execution provider cannot be used.
    #[error("CUDA execution provider unavailable: {0}")]
    CudaUnavailable(String),
    /// ONNX Runtime rejected the session options.
    #[error("ONNX Runtime session setup for {model}: {message}")]
    Session {
        /// Model label.
        model: String,
        /// ORT's message.
        message: String,
    },
    /// A model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    ModelRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// ONNX Runtime could not parse or prepare the model (corrupt bytes, unsupported operator).
    #[error("cannot load model {model}: {message}")]
    ModelLoad {
        /// Model label.
        model: String,
        /// ORT's message.
        message: String,
    },
    /// The model's interface differs from what the caller requires.
    #[error("model {model}: {field}: expected {expected}, found {actual}")]
    Mismatch {
        /// Model label.
        model: String,
        /// Which property (`input name`, `output 0 channels`, ...).
        field: String,
        /// What the caller requires.
        expected: String,
        /// What the model has.
        actual: String,
    },
    /// The arguments of one `run` call are inconsistent.
    #[error("model {model}: {field}: expected {expected}, found {actual}")]
    BadCall {
        /// Model label.
        model: String,
        /// Which argument.
        field: &'static str,
        /// What was required.
        expected: String,
        /// What was passed.
        actual: String,
    },
    /// ONNX Runtime failed while running the model.
    #[error("ONNX Runtime failed running {model}: {message}")]
    Inference {
        /// Model label.
        model: String,
        /// ORT's message.
        message: String,
    },
}
