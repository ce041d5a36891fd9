//! widen-onnx: write ONNX models from Rust.
//!
//! - [`proto`]: the ONNX protobuf types, generated once from `proto/onnx.proto` (PyPI `onnx` 1.19.1) by
//!   `cargo xtask gen-onnx-proto` and committed, so builds need only `prost`.
//! - [`GraphBuilder`]: declare inputs/outputs with symbolic dims, add initializers and nodes, get a
//!   [`proto::ModelProto`] (opset [`OPSET`], IR version [`IR_VERSION`]).
//! - Layer helpers on [`GraphBuilder`] (see [`layers`]): Conv1d, LayerNorm, GELU, LeakyReLU/PReLU,
//!   element-wise ops, MatMul, Transpose, Clip, Slice/Split, Concat, Pad.
//! - [`nets`]: the generator and vocoder shapes of widen's model contract with seeded weights
//!   (the untrained placeholder default models).
//! - [`encode`], [`decode`], [`save`]: model bytes and files.
//!
//! Tensors are `float32` throughout except for the `int64` shape/index operands ONNX requires.

pub mod attr;
mod builder;
pub mod layers;
pub mod nets;

#[allow(clippy::all, clippy::pedantic, rustdoc::all, missing_docs)]
#[rustfmt::skip] // kept byte-identical to the generator output (prettyplease), so regenerating shows no diff
pub mod proto;

pub use builder::{Dim, GraphBuilder};
pub use layers::{Conv1d, PadMode};
pub use prost;

use prost::Message;
use std::path::{Path, PathBuf};

/// Default-domain operator set the builder targets. 17 is the first with `LayerNormalization`;
/// GELU is written as its exact `Erf` formula so no newer opset is needed.
pub const OPSET: i64 = 17;

/// ONNX IR version matching opset 17 (ONNX 1.12); older runtimes accept it, newer ones too.
pub const IR_VERSION: i64 = 8;

/// Errors from building, encoding or decoding a model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A tensor's data does not fill its declared shape.
    #[error("tensor `{name}`: shape {shape:?} holds {expected} values, but {actual} were given")]
    DataLength {
        /// Tensor name.
        name: String,
        /// Declared shape.
        shape: Vec<i64>,
        /// Product of the shape.
        expected: usize,
        /// Number of values given.
        actual: usize,
    },
    /// A layer's hyper-parameters are inconsistent.
    #[error("layer `{layer}`: {message}")]
    InvalidLayer {
        /// Layer name.
        layer: String,
        /// What is wrong, with expected and found values.
        message: String,
    },
    /// The same value name is produced (or declared) twice.
    #[error("value name `{0}` is defined more than once")]
    DuplicateName(String),
    /// A node reads a value that no input, initializer or earlier node defines.
    #[error("node `{node}` ({op_type}) reads `{value}`, which is not defined by any graph input, initializer or earlier node")]
    UndefinedValue {
        /// Node name.
        node: String,
        /// Operator type.
        op_type: String,
        /// The undefined value name.
        value: String,
    },
    /// A declared graph output is never produced.
    #[error("graph output `{0}` is not produced by any node, input or initializer")]
    OutputNotProduced(String),
    /// The graph has no outputs.
    #[error("graph `{0}` declares no outputs")]
    NoOutputs(String),
    /// Bytes are not a valid ONNX model protobuf.
    #[error("not an ONNX model ({what}): {source}")]
    Decode {
        /// Where the bytes came from.
        what: String,
        /// The protobuf error.
        source: prost::DecodeError,
    },
    /// Reading or writing a model file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Serialises a model to ONNX protobuf bytes.
pub fn encode(model: &proto::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Parses ONNX protobuf bytes; `what` names the source in the error.
pub fn decode(bytes: &[u8], what: &str) -> Result<proto::ModelProto, OnnxError> {
    proto::ModelProto::decode(bytes).map_err(|source| OnnxError::Decode {
        what: what.to_string(),
        source,
    })
}

/// Writes a model to `path` (creating or truncating it).
pub fn save(model: &proto::ModelProto, path: impl AsRef<Path>) -> Result<(), OnnxError> {
    let path = path.as_ref();
    std::fs::write(path, encode(model)).map_err(|source| OnnxError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses an ONNX model file.
pub fn load(path: impl AsRef<Path>) -> Result<proto::ModelProto, OnnxError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, &path.display().to_string())
}
