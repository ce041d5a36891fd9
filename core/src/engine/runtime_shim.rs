//! MERGE: replace with crate::runtime::ModelRuntime (and crate::runtime::RuntimeError).
//!
//! Temporary copy of the model-runtime seam so that the engine builds and is tested with mock
//! runtimes before the ONNX Runtime module lands. The trait below is the agreed interface,
//! verbatim; `RuntimeError` is a minimal stand-in for the runtime module's error enum.

/// Error of a model run. MERGE: replace with crate::runtime::RuntimeError.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Any failure, described in words.
    #[error("{0}")]
    Message(String),
}

/// One loaded model that maps a `[1, channels, frames]` tensor to one or more tensors.
/// MERGE: replace with crate::runtime::ModelRuntime.
pub trait ModelRuntime: Send {
    /// Input: one `[1, channels, frames]` tensor, channel-major (`data[c*frames + t]`).
    /// Output i is written to `outputs[i]` as `[channels_i * frames]`, channel-major; a Vec is only
    /// grown when its capacity is too small (repeated runs with the same frames do not allocate).
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError>;
    /// Name of the model's input tensor.
    fn input_name(&self) -> &str;
    /// Names of the output tensors, in the order `run` writes them.
    fn output_names(&self) -> &[String];
    /// Channels (dimension 1) of each output tensor, in the order of `output_names`.
    fn output_channels(&self) -> &[usize];
}
