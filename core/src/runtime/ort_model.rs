//! [`OrtModel`]: a [`ModelRuntime`] backed by an ONNX Runtime session.

use std::path::Path;

use ort::session::builder::SessionBuilder;
use ort::session::Session;
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};

use super::library::{environment, Loaded};
use super::{Device, IoSpec, ModelRuntime, RuntimeError, SessionOptions};

/// An ONNX model loaded into ONNX Runtime, checked against an [`IoSpec`].
pub struct OrtModel {
    session: Session,
    label: String,
    input_name: String,
    input_channels: usize,
    output_names: Vec<String>,
    output_channels: Vec<usize>,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel")
            .field("label", &self.label)
            .field("input", &(&self.input_name, self.input_channels))
            .field("outputs", &self.output_names)
            .field("output_channels", &self.output_channels)
            .finish()
    }
}

impl OrtModel {
    /// Loads the model file at `path` and checks it against `spec`.
    pub fn from_file(
        path: impl AsRef<Path>,
        spec: &IoSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        // ORT's own message for a missing file is vague; say which file and why.
        std::fs::metadata(path).map_err(|source| RuntimeError::ModelRead {
            path: path.to_path_buf(),
            source,
        })?;
        let mut builder = session_builder(&label, options)?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| RuntimeError::ModelLoad {
                model: label.clone(),
                message: e.to_string(),
            })?;
        Self::checked(session, label, spec)
    }

    /// Loads a model from bytes in memory (an embedded model); `label` names it in errors.
    pub fn from_memory(
        bytes: &[u8],
        label: &str,
        spec: &IoSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        let mut builder = session_builder(label, options)?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|e| RuntimeError::ModelLoad {
                model: label.to_string(),
                message: e.to_string(),
            })?;
        Self::checked(session, label.to_string(), spec)
    }

    /// The label used in errors (the file path, or the name given to [`OrtModel::from_memory`]).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Channels of the input tensor.
    pub fn input_channels(&self) -> usize {
        self.input_channels
    }

    fn checked(session: Session, label: String, spec: &IoSpec) -> Result<Self, RuntimeError> {
        let mismatch = |field: String, expected: String, actual: String| RuntimeError::Mismatch {
            model: label.clone(),
            field,
            expected,
            actual,
        };
        let names = |outlets: &[Outlet]| -> Vec<String> {
            outlets.iter().map(|o| o.name().to_string()).collect()
        };

        let inputs = session.inputs();
        let (in_name, in_channels) = &spec.input;
        if inputs.len() != 1 || inputs[0].name() != in_name {
            return Err(mismatch(
                "inputs".into(),
                format!("[{in_name}]"),
                format!("{:?}", names(inputs)),
            ));
        }
        check_channels(&inputs[0], *in_channels, "input", &mismatch)?;

        let outputs = session.outputs();
        let wanted: Vec<&str> = spec.outputs.iter().map(|(n, _)| n.as_str()).collect();
        let mut found = names(outputs);
        let mut wanted_sorted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
        found.sort();
        wanted_sorted.sort();
        if found != wanted_sorted {
            return Err(mismatch(
                "outputs".into(),
                format!("{wanted:?}"),
                format!("{:?}", names(outputs)),
            ));
        }
        for (name, channels) in &spec.outputs {
            if let Some(outlet) = outputs.iter().find(|o| o.name() == name) {
                check_channels(outlet, *channels, "output", &mismatch)?;
            }
        }

        Ok(Self {
            session,
            label,
            input_name: in_name.clone(),
            input_channels: *in_channels,
            output_names: spec.outputs.iter().map(|(n, _)| n.clone()).collect(),
            output_channels: spec.outputs.iter().map(|(_, c)| *c).collect(),
        })
    }
}

/// Requires a `float32` tensor `[batch, channels, time]` with a static `channels` of `expected`.
fn check_channels(
    outlet: &Outlet,
    expected: usize,
    role: &str,
    mismatch: &dyn Fn(String, String, String) -> RuntimeError,
) -> Result<(), RuntimeError> {
    let name = outlet.name();
    let ValueType::Tensor {
        ty,
        shape,
        dimension_symbols,
    } = outlet.dtype()
    else {
        return Err(mismatch(
            format!("{role} `{name}` type"),
            "a float32 tensor".into(),
            format!("{}", outlet.dtype()),
        ));
    };
    if *ty != TensorElementType::Float32 {
        return Err(mismatch(
            format!("{role} `{name}` element type"),
            "float32".into(),
            format!("{ty}"),
        ));
    }
    let describe = |i: usize| match shape.get(i) {
        Some(d) if *d >= 0 => d.to_string(),
        _ => match dimension_symbols.get(i).filter(|s| !s.is_empty()) {
            Some(sym) => format!("symbolic `{sym}`"),
            None => "dynamic".into(),
        },
    };
    if shape.len() != 3 {
        let dims: Vec<String> = (0..shape.len()).map(describe).collect();
        return Err(mismatch(
            format!("{role} `{name}` rank"),
            "3 ([batch, channels, frames])".into(),
            format!("{} ([{}])", shape.len(), dims.join(", ")),
        ));
    }
    if usize::try_from(shape[1]).ok() != Some(expected) {
        return Err(mismatch(
            format!("{role} `{name}` channels (dim 1)"),
            expected.to_string(),
            describe(1),
        ));
    }
    Ok(())
}

fn session_builder(label: &str, options: &SessionOptions) -> Result<SessionBuilder, RuntimeError> {
    let loaded = environment()?;
    let err = |message: String| RuntimeError::Session {
        model: label.to_string(),
        message,
    };
    if options.intra_op_threads == 0 {
        return Err(err("intra_op_threads must be at least 1, found 0".into()));
    }
    // Spinning is off for both pools: idle spinning would burn a core between the small
    // per-hop runs of streaming inference.
    let msg = |e: ort::Error<SessionBuilder>| err(e.to_string());
    let builder = Session::builder(&loaded.env).map_err(|e| err(e.to_string()))?;
    let builder = builder
        .with_intra_threads(options.intra_op_threads)
        .map_err(msg)?;
    let builder = builder.with_inter_threads(1).map_err(msg)?;
    let builder = builder.with_intra_op_spinning(false).map_err(msg)?;
    let builder = builder.with_inter_op_spinning(false).map_err(msg)?;
    match options.device {
        Device::Cpu => Ok(builder),
        Device::Cuda => with_cuda(builder, loaded),
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder, loaded: &Loaded) -> Result<SessionBuilder, RuntimeError> {
    use ort::ep::{ExecutionProvider, CUDA};
    match CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(RuntimeError::CudaUnavailable(format!(
            "the ONNX Runtime library {} has no CUDA execution provider (the PyPI `onnxruntime` \
                 wheel is CPU-only; use the library from `onnxruntime-gpu` via {})",
            loaded.path.display(),
            super::ORT_DYLIB_ENV
        )))
        }
        Err(e) => {
            return Err(RuntimeError::CudaUnavailable(format!(
                "cannot list ONNX Runtime's execution providers: {e}"
            )))
        }
    }
    // Without error_on_failure ORT would log and quietly fall back to the CPU.
    builder
        .with_execution_providers([CUDA::default().build().error_on_failure()])
        .map_err(|e| {
            RuntimeError::CudaUnavailable(format!(
                "registering the CUDA execution provider failed (are the CUDA runtime and cuDNN 9 \
                 libraries installed and loadable?): {e}"
            ))
        })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_builder: SessionBuilder, _loaded: &Loaded) -> Result<SessionBuilder, RuntimeError> {
    Err(RuntimeError::CudaUnavailable(
        "widen was built without the `cuda` feature; rebuild with `--features cuda` \
         (widen-core/cuda) or use the CPU"
            .into(),
    ))
}

impl ModelRuntime for OrtModel {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        let bad = |field: &'static str, expected: String, actual: String| RuntimeError::BadCall {
            model: self.label.clone(),
            field,
            expected,
            actual,
        };
        if channels != self.input_channels {
            return Err(bad(
                "channels",
                self.input_channels.to_string(),
                channels.to_string(),
            ));
        }
        if frames == 0 {
            return Err(bad("frames", "at least 1".into(), "0".into()));
        }
        if input.len() != channels * frames {
            return Err(bad(
                "input length",
                format!("{channels} x {frames} = {}", channels * frames),
                input.len().to_string(),
            ));
        }
        if outputs.len() != self.output_names.len() {
            return Err(bad(
                "number of output buffers",
                self.output_names.len().to_string(),
                outputs.len().to_string(),
            ));
        }

        let Self {
            session,
            label,
            output_names,
            output_channels,
            ..
        } = self;
        let failed = |message: String| RuntimeError::Inference {
            model: label.clone(),
            message,
        };
        let tensor = TensorRef::from_array_view(([1usize, channels, frames], input))
            .map_err(|e| failed(e.to_string()))?;
        let results = session
            .run(ort::inputs![tensor])
            .map_err(|e| failed(e.to_string()))?;
        for ((name, &ch), dst) in output_names.iter().zip(output_channels.iter()).zip(outputs) {
            let value = results
                .get(name.as_str())
                .ok_or_else(|| failed(format!("output `{name}` missing from the results")))?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| failed(format!("output `{name}`: {e}")))?;
            let want = [1i64, ch as i64, frames as i64];
            if **shape != want {
                return Err(RuntimeError::Mismatch {
                    model: label.clone(),
                    field: format!("output `{name}` shape"),
                    expected: format!("{want:?}"),
                    actual: format!("{:?}", &**shape),
                });
            }
            // clear + extend reuses the existing capacity: no allocation once warmed up.
            dst.clear();
            dst.extend_from_slice(data);
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        &self.input_name
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }

    fn output_channels(&self) -> &[usize] {
        &self.output_channels
    }
}
