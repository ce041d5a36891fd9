//! Pure-Rust [`ModelRuntime`]s with known behaviour, for tests and benchmarks of the engine
//! without ONNX Runtime. They follow the model contract's shapes and names and never allocate
//! once their output buffers have grown to size.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{ModelRuntime, RuntimeError};
use crate::config::{contract, MelConfig};
use crate::dsp::MelFilterbank;

/// Stand-in generator: a fixed 1-D convolution over time (receptive field `±radius` frames,
/// 'same' zero padding at the tensor's edges) of the input log-mel, with the bands from
/// `split` up filled by mirroring the bands below it, 1 nat quieter (a crude "bandwidth
/// extension" whose output depends on the input, so tests can see it).
#[derive(Debug, Clone)]
pub struct MockGenerator {
    n_mels: usize,
    split: usize,
    taps: Vec<f32>,
    names: Vec<String>,
    channels: Vec<usize>,
}

impl MockGenerator {
    /// `n_mels` bands, generated bands from `split` (1..=n_mels) up, kernel radius `radius`.
    pub fn new(n_mels: usize, split: usize, radius: usize) -> Self {
        // Triangular kernel summing to 1.
        let raw: Vec<f32> = (0..=2 * radius)
            .map(|i| (radius + 1 - i.abs_diff(radius)) as f32)
            .collect();
        let sum: f32 = raw.iter().sum();
        Self {
            n_mels,
            split: split.clamp(1, n_mels),
            taps: raw.iter().map(|v| v / sum).collect(),
            names: vec![contract::GENERATOR_OUTPUT.to_string()],
            channels: vec![n_mels],
        }
    }

    /// Frames on each side that influence one output frame.
    pub fn radius(&self) -> usize {
        self.taps.len() / 2
    }

    fn source_band(&self, m: usize) -> usize {
        if m < self.split {
            m
        } else {
            self.split - 1 - (m - self.split) % self.split
        }
    }
}

impl ModelRuntime for MockGenerator {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        check_input(
            "generator",
            input,
            channels,
            frames,
            self.n_mels,
            outputs,
            1,
        )?;
        let out = &mut outputs[0];
        out.clear();
        out.resize(channels * frames, 0.0);
        let r = self.radius() as isize;
        for m in 0..channels {
            let src = &input[self.source_band(m) * frames..][..frames];
            let offset = if m < self.split { 0.0 } else { -1.0 };
            for t in 0..frames {
                let mut acc = 0.0;
                for (i, w) in self.taps.iter().enumerate() {
                    let j = t as isize + i as isize - r;
                    if j >= 0 && (j as usize) < frames {
                        acc += w * src[j as usize];
                    }
                }
                out[m * frames + t] = acc + offset;
            }
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        contract::GENERATOR_INPUT
    }

    fn output_names(&self) -> &[String] {
        &self.names
    }

    fn output_channels(&self) -> &[usize] {
        &self.channels
    }
}

/// Stand-in vocoder: magnitude of bin `k` = `gain * exp(min(mean of band b(k) over ±radius
/// frames, 10))`, where `b(k)` is the mel band whose filter peaks nearest bin `k` (the
/// filterbank's transpose, one entry per bin); phase `0.37 k + 2 * mel[b(k), t]`, a
/// deterministic function of the input (so chunk-invariant). Outputs `mag`, `cos`, `sin`.
#[derive(Debug, Clone)]
pub struct MockVocoder {
    n_mels: usize,
    band_of_bin: Vec<usize>,
    radius: usize,
    gain: f32,
    names: Vec<String>,
    channels: Vec<usize>,
}

impl MockVocoder {
    /// For the mel configuration `mel` (its filterbank defines `b(k)`).
    pub fn new(mel: &MelConfig, radius: usize, gain: f32) -> Result<Self, crate::dsp::DspError> {
        let fb = MelFilterbank::new(mel)?;
        let (n_mels, n_bins) = (fb.n_mels(), fb.n_bins());
        let w = fb.weights();
        let band_of_bin = (0..n_bins)
            .map(|k| {
                (0..n_mels)
                    .max_by(|&a, &b| w[a * n_bins + k].total_cmp(&w[b * n_bins + k]))
                    .unwrap_or(0)
            })
            .collect();
        Ok(Self {
            n_mels,
            band_of_bin,
            radius,
            gain,
            names: [
                contract::VOCODER_MAG,
                contract::VOCODER_COS,
                contract::VOCODER_SIN,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            channels: vec![n_bins; 3],
        })
    }

    /// Frames on each side that influence one output frame.
    pub fn radius(&self) -> usize {
        self.radius
    }
}

impl ModelRuntime for MockVocoder {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        check_input("vocoder", input, channels, frames, self.n_mels, outputs, 3)?;
        let n_bins = self.band_of_bin.len();
        for o in outputs.iter_mut() {
            o.clear();
            o.resize(n_bins * frames, 0.0);
        }
        let r = self.radius as isize;
        for (k, &b) in self.band_of_bin.iter().enumerate() {
            let src = &input[b * frames..][..frames];
            for t in 0..frames {
                let (mut acc, mut n) = (0.0f32, 0.0f32);
                for j in (t as isize - r)..=(t as isize + r) {
                    if j >= 0 && (j as usize) < frames {
                        acc += src[j as usize];
                        n += 1.0;
                    }
                }
                let mag = self.gain * (acc / n).min(10.0).exp();
                let (s, c) = (0.37 * k as f32 + 2.0 * src[t]).sin_cos();
                outputs[0][k * frames + t] = mag;
                outputs[1][k * frames + t] = c;
                outputs[2][k * frames + t] = s;
            }
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        contract::VOCODER_INPUT
    }

    fn output_names(&self) -> &[String] {
        &self.names
    }

    fn output_channels(&self) -> &[usize] {
        &self.channels
    }
}

fn check_input(
    model: &str,
    input: &[f32],
    channels: usize,
    frames: usize,
    n_mels: usize,
    outputs: &[Vec<f32>],
    n_outputs: usize,
) -> Result<(), RuntimeError> {
    if channels != n_mels || input.len() != channels * frames || outputs.len() != n_outputs {
        return Err(RuntimeError::Inference {
            model: "mock".into(),
            message: format!(
            "mock {model}: expected [1, {n_mels}, {frames}] input ({} values) and {n_outputs} outputs, found {channels} channels, {} values, {} outputs",
            n_mels * frames,
            input.len(),
            outputs.len()
        ),
        });
    }
    Ok(())
}

/// Wraps a runtime and misbehaves on schedule: sleeps on every `slow_every`-th run, writes NaN
/// into every `nan_every`-th run's outputs, or fails every `fail_every`-th run (0 = never).
/// A slow run can also be held until the test releases it ([`hold`](Self::hold)), so a
/// stall lasts exactly as long as the test needs however slow the machine is.
#[derive(Debug, Clone)]
pub struct Faulty<R> {
    inner: R,
    /// How long a slow run sleeps.
    pub delay: Duration,
    /// Every n-th run is slow (0 = never).
    pub slow_every: u64,
    /// At most this many slow runs in all (0 = no limit).
    pub slow_limit: u64,
    /// While this flag is set, a slow run waits (after its `delay`) until it is cleared.
    pub hold: Option<Arc<AtomicBool>>,
    /// Slow runs begun so far, readable from another thread (a test knows the stall began).
    pub slow_started: Arc<AtomicU64>,
    /// Frames run on so far (all runs), readable from another thread (how much model work
    /// the engine asked for).
    pub frames_run: Arc<AtomicU64>,
    /// Every n-th run writes NaN into all its outputs (0 = never).
    pub nan_every: u64,
    /// Every n-th run returns an error (0 = never).
    pub fail_every: u64,
    runs: u64,
    slow_runs: u64,
}

impl<R> Faulty<R> {
    /// Wraps `inner`, behaving normally until a schedule is set.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            delay: Duration::ZERO,
            slow_every: 0,
            slow_limit: 0,
            hold: None,
            slow_started: Arc::default(),
            frames_run: Arc::default(),
            nan_every: 0,
            fail_every: 0,
            runs: 0,
            slow_runs: 0,
        }
    }

    /// Runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }
}

impl<R: ModelRuntime> ModelRuntime for Faulty<R> {
    fn run(
        &mut self,
        input: &[f32],
        channels: usize,
        frames: usize,
        outputs: &mut [Vec<f32>],
    ) -> Result<(), RuntimeError> {
        self.runs += 1;
        self.frames_run.fetch_add(frames as u64, Ordering::Relaxed);
        let hit = |every: u64| every != 0 && self.runs.is_multiple_of(every);
        if hit(self.fail_every) {
            return Err(RuntimeError::Inference {
                model: "mock".into(),
                message: format!("scheduled failure on run {}", self.runs),
            });
        }
        if hit(self.slow_every) && (self.slow_limit == 0 || self.slow_runs < self.slow_limit) {
            self.slow_runs += 1;
            self.slow_started.fetch_add(1, Ordering::Release);
            std::thread::sleep(self.delay);
            if let Some(hold) = &self.hold {
                while hold.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        self.inner.run(input, channels, frames, outputs)?;
        if hit(self.nan_every) {
            // Poison every value: whatever frame the engine keeps is non-finite.
            for o in outputs.iter_mut() {
                o.fill(f32::NAN);
            }
        }
        Ok(())
    }

    fn input_name(&self) -> &str {
        self.inner.input_name()
    }

    fn output_names(&self) -> &[String] {
        self.inner.output_names()
    }

    fn output_channels(&self) -> &[usize] {
        self.inner.output_channels()
    }
}
