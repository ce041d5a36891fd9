//! The one error type of audio reading and writing.

use std::path::{Path, PathBuf};

/// Lowest sample rate widen accepts (Hz).
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest sample rate widen accepts (Hz).
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Everything that can go wrong reading or writing an audio file.
///
/// Every message is one line that starts with the file's path and says what was
/// expected and what was found, e.g. `x.wav: truncated: header says 48000 frames, file holds 1200`.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened (missing, no permission, a directory, ...).
    #[error("{}: cannot open: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// The file has no bytes at all.
    #[error("{}: empty file (0 bytes)", path.display())]
    EmptyFile { path: PathBuf },
    /// The first bytes are none of the container signatures widen decodes.
    #[error("{}: not a supported audio file (no RIFF/fLaC/OggS/ID3 header)", path.display())]
    NotAudio { path: PathBuf },
    /// The container header is damaged or ends early.
    #[error("{}: invalid {container} header: {reason}", path.display())]
    BadHeader {
        path: PathBuf,
        container: &'static str,
        reason: String,
    },
    /// The audio data ends before the length the header declares.
    #[error("{}: truncated: header says {declared} frames, file holds {actual}", path.display())]
    Truncated {
        path: PathBuf,
        declared: u64,
        actual: u64,
    },
    /// A container or codec feature widen cannot decode.
    #[error("{}: unsupported: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    /// The sample rate lies outside [`MIN_SAMPLE_RATE`]`..=`[`MAX_SAMPLE_RATE`].
    #[error(
        "{}: sample rate {rate} Hz is out of range {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz",
        path.display()
    )]
    SampleRate { path: PathBuf, rate: u64 },
    /// The header declares zero channels.
    #[error("{}: header declares 0 channels (expected at least 1)", path.display())]
    NoChannels { path: PathBuf },
    /// Floating-point samples that are NaN or infinite.
    #[error("{}: {count} non-finite samples (NaN/Inf)", path.display())]
    NonFinite { path: PathBuf, count: u64 },
    /// The header is valid but the file holds no audio frames.
    #[error("{}: no audio samples", path.display())]
    NoSamples { path: PathBuf },
    /// The codec reported malformed data.
    #[error("{}: decode error: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    /// An I/O error while reading.
    #[error("{}: read error: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// The output file (or its `.partial` sibling) could not be created.
    #[error("{}: cannot create: {reason}", path.display())]
    Create { path: PathBuf, reason: String },
    /// An I/O or encoder error while writing.
    #[error("{}: write error: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    /// The output file name has no extension widen can write.
    #[error("{}: cannot choose an output container from the extension (expected .wav or .flac)", path.display())]
    UnknownContainer { path: PathBuf },
    /// The requested output format cannot be stored in the chosen container/encoder.
    #[error("{}: cannot write {what}", path.display())]
    UnsupportedSpec { path: PathBuf, what: String },
}

impl AudioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Open { path, .. }
            | Self::EmptyFile { path }
            | Self::NotAudio { path }
            | Self::BadHeader { path, .. }
            | Self::Truncated { path, .. }
            | Self::Unsupported { path, .. }
            | Self::SampleRate { path, .. }
            | Self::NoChannels { path }
            | Self::NonFinite { path, .. }
            | Self::NoSamples { path }
            | Self::Decode { path, .. }
            | Self::Read { path, .. }
            | Self::Create { path, .. }
            | Self::Write { path, .. }
            | Self::UnknownContainer { path }
            | Self::UnsupportedSpec { path, .. } => path,
        }
    }
}

/// `std::io::Error` as a short reason: "Permission denied" rather than
/// "Permission denied (os error 13)", so messages stay one readable line.
pub(crate) fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(idx) => text[..idx].to_string(),
        None => text,
    }
}

/// Checks the sample rate range every reader enforces.
pub(crate) fn check_rate(path: &Path, rate: u64) -> Result<u32, AudioError> {
    if (u64::from(MIN_SAMPLE_RATE)..=u64::from(MAX_SAMPLE_RATE)).contains(&rate) {
        // In range, so it fits in u32.
        Ok(rate as u32)
    } else {
        Err(AudioError::SampleRate {
            path: path.to_path_buf(),
            rate,
        })
    }
}
