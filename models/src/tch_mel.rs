//! Log-mel in tch, for losses on synthesised audio: the same STFT framing (centred, reflect
//! padding, periodic Hann), the same filterbank (taken from `widen_core`) and the same clamp
//! and natural log as `widen_core::dsp::LogMel`; a fixture test checks they agree.

use anyhow::Result;
use tch::{Device, Kind, Tensor};
use widen_core::config::MelConfig;
use widen_core::dsp::MelFilterbank;

/// Log-mel front end on a device.
#[derive(Debug)]
pub struct TchMel {
    cfg: MelConfig,
    window: Tensor,
    /// `[n_mels, n_bins]`.
    fb: Tensor,
}

impl TchMel {
    /// Builds the window and filterbank on `device`.
    pub fn new(cfg: &MelConfig, device: Device) -> Result<Self> {
        let fb = MelFilterbank::new(cfg)?;
        let fb = Tensor::from_slice(fb.weights())
            .reshape([cfg.n_mels as i64, cfg.n_bins() as i64])
            .to_device(device);
        let window = Tensor::hann_window_periodic(cfg.win as i64, true, (Kind::Float, device));
        Ok(Self {
            cfg: cfg.clone(),
            window,
            fb,
        })
    }

    /// Magnitude spectrogram `[B, n_bins, T]` of `x` `[B, L]`, `T = 1 + L / hop`.
    pub fn magnitude(&self, x: &Tensor) -> Tensor {
        let c = &self.cfg;
        // Centre framing by explicit reflect padding (libtorch rejects `align_to_window` with
        // `center = true`, and tch always passes it).
        let p = (c.n_fft / 2) as i64;
        let padded = x.unsqueeze(1).reflection_pad1d([p, p]).squeeze_dim(1);
        padded
            .stft(
                c.n_fft as i64,
                c.hop as i64,
                c.win as i64,
                Some(&self.window),
                false,
                true,
                true,
                false,
            )
            .abs()
    }

    /// Log-mel `[B, n_mels, T]` of a magnitude spectrogram `[B, n_bins, T]`.
    pub fn log_mel_of_magnitude(&self, mag: &Tensor) -> Tensor {
        let p = if (self.cfg.power - 1.0).abs() < f32::EPSILON {
            mag.shallow_clone()
        } else {
            mag.pow_tensor_scalar(self.cfg.power as f64)
        };
        self.fb
            .matmul(&p)
            .clamp_min(self.cfg.log_clamp as f64)
            .log()
    }

    /// Log-mel `[B, n_mels, T]` of audio `[B, L]`.
    pub fn log_mel(&self, x: &Tensor) -> Tensor {
        self.log_mel_of_magnitude(&self.magnitude(x))
    }
}
