//! widen-core: everything the widen front ends share.
//!
//! - [`config`]: the one place for the mel/STFT/metric constants.
//! - [`io`]: audio decoding (WAV, FLAC, OGG/Vorbis, MP3) and encoding (WAV, FLAC), whole-file and streaming.
//! - [`dsp`]: resampling, STFT/iSTFT, mel filterbank and log-mel, Griffin-Lim, band-limiting filters.
//! - [`engine`]: the streaming enhancement engine (band splice, chunked models, real-time wrapper).
//! - [`analysis`]: signal statistics and effective bandwidth (used by `widen info` and `widen check-bw`).
//! - [`metrics`]: LSD (full/high band), SNR, MSE, STOI, PESQ wide-band, lag detection.
//! - [`model`]: model sets (`generator.onnx`, `vocoder.onnx`, `widen.json` sidecar), validated, with the
//!   default sets embedded.
//! - [`runtime`]: model inference through ONNX Runtime behind the [`runtime::ModelRuntime`] trait.

pub mod analysis;
pub mod config;
pub mod dataset;
pub mod dsp;
pub mod engine;
pub mod io;
pub mod metrics;
pub mod model;
pub mod runtime;
