//! DSP building blocks of widen.
//!
//! - [`resample`]: offline and streaming sinc resampling (rubato), delay-compensated so that
//!   an event at `t` seconds in the input stays at `t` seconds in the output.
//! - [`stft`]: centred STFT / iSTFT with the conventions of `torch.stft(center=True)` and
//!   `librosa.stft(center=True, pad_mode="reflect")`.
//! - [`mel`]: mel filterbank (HTK or Slaney, optional area normalisation) and log-mel features,
//!   matching `librosa.filters.mel` and the seed's `ln(max(mel(|STFT|), clamp))`.
//! - [`griffin_lim`]: fast Griffin-Lim phase reconstruction (Perraudin et al. 2013).
//! - [`filters`]: band-limiting low-pass filters (Butterworth, Chebyshev I, windowed-sinc FIR).
//!
//! Shapes: a [`Spectrogram`] is frame-major (`data[t * n_bins + k]`), a [`MelSpec`] is
//! mel-major (`data[m * n_frames + t]`, i.e. `[n_mels, T]` like the ONNX models).

pub mod delay;
pub mod filters;
pub mod griffin_lim;
pub mod mel;
mod polyphase;
pub mod resample;
pub mod stft;

pub use delay::DelayLine;
pub use griffin_lim::{griffin_lim, griffin_lim_from, spectral_convergence, GriffinLimConfig};
pub use mel::{mel_from_spectrogram, LogMel, MelFilterbank, MelSpec};
pub use resample::{resample, resample_with, ResamplerProfile, StreamResampler};
pub use stft::{Spectrogram, Stft};

/// Complex sample type used by the spectra of this module.
pub use realfft::num_complex::Complex32;

/// Errors of the DSP module. Every message names what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum DspError {
    /// A sample rate outside the supported range.
    #[error("expected a {which} sample rate in {min}..={max} Hz, found {found} Hz")]
    InvalidRate {
        /// Which rate ("input" or "output").
        which: &'static str,
        /// Smallest accepted rate.
        min: u32,
        /// Largest accepted rate.
        max: u32,
        /// The rate given.
        found: u32,
    },
    /// A parameter outside its valid range.
    #[error("invalid {name}: expected {expected}, found {found}")]
    InvalidParameter {
        /// Parameter name, e.g. `"n_fft"`.
        name: &'static str,
        /// Human-readable description of the valid range.
        expected: String,
        /// The value given.
        found: String,
    },
    /// A buffer whose length does not match the shape it must have.
    #[error("{what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What was being checked, e.g. `"spectrogram bins"`.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// rubato refused to build a resampler.
    #[error("expected rubato to accept the resampler settings ({from_hz} Hz -> {to_hz} Hz), found error: {source}")]
    ResamplerConstruction {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// rubato's error.
        source: rubato::ResamplerConstructionError,
    },
    /// rubato failed while processing (should not happen with the buffers this module sizes).
    #[error("expected rubato to process a chunk, found error: {0}")]
    Resample(#[from] rubato::ResampleError),
    /// realfft failed (should not happen with the buffers this module sizes).
    #[error("expected the FFT to run on correctly sized buffers, found error: {0}")]
    Fft(#[from] realfft::FftError),
}

/// Shorthand for a [`DspError::InvalidParameter`].
pub(crate) fn invalid(
    name: &'static str,
    expected: impl Into<String>,
    found: impl std::fmt::Display,
) -> DspError {
    DspError::InvalidParameter {
        name,
        expected: expected.into(),
        found: found.to_string(),
    }
}

/// `|c|` as `sqrt(re^2 + im^2)`: several times faster than `Complex::norm` (which uses the
/// overflow-safe `hypot`), and audio spectra are nowhere near `f32` overflow.
#[inline]
pub(crate) fn abs(c: Complex32) -> f32 {
    c.norm_sqr().sqrt()
}

/// Checks that `found == expected`, else returns a [`DspError::ShapeMismatch`].
pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), DspError> {
    if expected == found {
        Ok(())
    } else {
        Err(DspError::ShapeMismatch {
            what,
            expected,
            found,
        })
    }
}

/// A deterministic broadband, aperiodic test signal (an LCG, seed 12345) in [-0.5, 0.5).
#[cfg(test)]
pub(crate) fn test_noise(n: usize) -> Vec<f32> {
    let mut s = 12345u32;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}
