//! Audio decoding and encoding, whole-file and streaming.
//!
//! - Reading: [`read()`] (whole file), [`AudioReader`] (bounded blocks), [`probe`] (header only).
//!   WAV via hound (symphonia for A-law/mu-law/64-bit float), FLAC/OGG Vorbis/MP3 via symphonia.
//!   The container is recognised by its first bytes, not by the file name.
//! - Writing: [`write()`] and the streaming [`AudioWriter`], WAV (16/24-bit int, 32-bit float) and
//!   FLAC (16/24-bit). Files appear under their final name only once complete
//!   (`NAME.partial` is renamed on [`AudioWriter::finish`]).
//! - Errors: one [`AudioError`] whose messages name the file and the reason on one line.

mod error;
mod read;
mod wav_scan;
mod write;

#[cfg(test)]
mod tests;

pub use error::{AudioError, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
pub use read::{mix_to_mono, probe, read, Audio, AudioInfo, AudioReader};
pub use write::{quantize, write, AudioWriter, Container, SampleFormat, WriteSpec};

/// File extensions (lower case) that directory walks treat as audio.
///
/// `.opus` is not listed: symphonia 0.5 has no Opus decoder, so walking into
/// such files would only produce failures. Given explicitly, they fail with a clear reason.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "ogg", "oga", "mp3"];
