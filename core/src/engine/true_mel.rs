//! [`TrueMel`]: a generator that returns its input, so the engine synthesises from the true
//! log-mel of a wide-band signal (`widen vocoder-eval`: the synthesis judged on its own).

use super::{ModelRuntime, RuntimeError};
use crate::config::contract;

/// A "generator" whose predicted log-mel is its input log-mel. Fed wide-band audio, the engine
/// then reconstructs that audio from its own mel with the chosen synthesis, which measures the
/// synthesis (vocoder, Griffin-Lim, phase copy) apart from the generator.
#[derive(Debug, Clone)]
pub struct TrueMel {
    n_mels: usize,
    input_name: String,
    output_names: Vec<String>,
    output_channels: Vec<usize>,
}

impl TrueMel {
    /// A pass-through for `n_mels`-band log-mels, named like the contract's generator.
    pub fn new(n_mels: usize) -> Self {
        Self {
            n_mels,
            input_name: contract::GENERATOR_INPUT.to_string(),
            output_names: vec![contract::GENERATOR_OUTPUT.to_string()],
            output_channels: vec![n_mels],
        }
    }
}

impl ModelRuntime for TrueMel {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        let n = channels * frames;
        if channels != self.n_mels || input.len() < n {
            return Err(RuntimeError::BadCall {
                model: "true mel".into(),
                field: "input",
                expected: format!("{} channels x {frames} frames", self.n_mels),
                actual: format!("{} values in {channels} channels", input.len()),
            });
        }
        if let Some(out) = outputs.first_mut() {
            out.clear();
            out.extend_from_slice(&input[..n]);
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
