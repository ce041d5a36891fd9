//! [`SharedModel`]: one loaded model used by several engines.

use std::sync::{Arc, Mutex};

use super::{ModelRuntime, RuntimeError};

/// A [`ModelRuntime`] shared by several engines, e.g. one engine per channel of a
/// multichannel file, so that a model is loaded once and not once per channel.
///
/// Clones share one underlying model behind a mutex; calls from one thread at a time (the
/// usual case: channels processed in turn) never wait. The names and channel counts are
/// copied at construction, because the trait returns them by reference.
#[derive(Clone)]
pub struct SharedModel {
    inner: Arc<Mutex<dyn ModelRuntime>>,
    input_name: String,
    output_names: Vec<String>,
    output_channels: Vec<usize>,
}

impl std::fmt::Debug for SharedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedModel")
            .field("input", &self.input_name)
            .field("outputs", &self.output_names)
            .field("output_channels", &self.output_channels)
            .finish()
    }
}

impl SharedModel {
    /// Wraps `model`.
    pub fn new(model: impl ModelRuntime + 'static) -> Self {
        let input_name = model.input_name().to_string();
        let output_names = model.output_names().to_vec();
        let output_channels = model.output_channels().to_vec();
        Self {
            inner: Arc::new(Mutex::new(model)),
            input_name,
            output_names,
            output_channels,
        }
    }

    /// The same model reporting its outputs under `names` (same order and count as the
    /// model's own outputs). For a model set whose sidecar names the vocoder outputs
    /// differently from the contract: the loader has already put them in contract order.
    /// Errors when the count differs.
    pub fn with_output_names(mut self, names: &[&str]) -> Result<Self, RuntimeError> {
        if names.len() != self.output_names.len() {
            return Err(RuntimeError::BadCall {
                model: self.input_name.clone(),
                field: "output names",
                expected: format!("{} names", self.output_names.len()),
                actual: format!("{} names", names.len()),
            });
        }
        self.output_names = names.iter().map(|n| (*n).to_string()).collect();
        Ok(self)
    }
}

impl ModelRuntime for SharedModel {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        // A panic in another user cannot leave a stateless model half-updated: keep going.
        let mut model = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        model.run(input, channels, frames, outputs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mock::MockGenerator;

    #[test]
    fn clones_share_one_model_and_agree_with_it() {
        let mut direct = MockGenerator::new(80, 50, 3);
        let shared = SharedModel::new(MockGenerator::new(80, 50, 3));
        let mut a = shared.clone();
        let mut b = shared;
        let input: Vec<f32> = (0..80 * 20).map(|i| (i as f32 * 0.37).sin()).collect();
        let (mut want, mut got_a, mut got_b) =
            (vec![Vec::new()], vec![Vec::new()], vec![Vec::new()]);
        direct.run(&input, 80, 20, &mut want).unwrap();
        a.run(&input, 80, 20, &mut got_a).unwrap();
        b.run(&input, 80, 20, &mut got_b).unwrap();
        assert_eq!(want, got_a);
        assert_eq!(want, got_b);
        assert_eq!(a.output_names(), direct.output_names());
        assert_eq!(a.output_channels(), direct.output_channels());
    }

    #[test]
    fn renamed_outputs_keep_their_count() {
        let shared = SharedModel::new(MockGenerator::new(80, 50, 3));
        let renamed = shared.clone().with_output_names(&["y"]).unwrap();
        assert_eq!(renamed.output_names(), ["y".to_string()]);
        assert!(shared.with_output_names(&["a", "b"]).is_err());
    }
}
