//! A small RIFF/WAVE chunk walker.
//!
//! hound decodes the samples, but it neither says where the data chunk starts nor
//! notices a data chunk that claims more bytes than the file holds until it fails
//! half-way through. Walking the chunks ourselves gives exact messages up front:
//! truncated header, truncated data (declared vs present frames), odd format tags.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::{io_reason, AudioError};

/// WAVE format tags widen knows by name.
pub(crate) const TAG_PCM: u16 = 0x0001;
pub(crate) const TAG_FLOAT: u16 = 0x0003;
pub(crate) const TAG_ALAW: u16 = 0x0006;
pub(crate) const TAG_MULAW: u16 = 0x0007;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// What the header of a WAV file declares.
#[derive(Debug, Clone)]
pub(crate) struct WavScan {
    /// Format tag, with WAVE_FORMAT_EXTENSIBLE resolved to its sub-format.
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    /// Container bits per sample.
    pub bits_per_sample: u16,
    /// Significant bits (WAVE_FORMAT_EXTENSIBLE may store e.g. 24 valid bits in 32).
    pub valid_bits: u16,
    /// Number of whole frames in the data chunk.
    pub frames: u64,
}

fn bad(path: &Path, reason: String) -> AudioError {
    AudioError::BadHeader {
        path: path.to_path_buf(),
        container: "WAV",
        reason,
    }
}

/// Reads exactly `buf.len()` bytes or says where the file ended.
fn read_exact_at(
    path: &Path,
    r: &mut BufReader<File>,
    buf: &mut [u8],
    pos: u64,
    what: &str,
) -> Result<(), AudioError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(bad(
                    path,
                    format!(
                        "truncated: file ends at byte {} inside the {what}",
                        pos + got as u64
                    ),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(AudioError::Read {
                    path: path.to_path_buf(),
                    reason: io_reason(&e),
                })
            }
        }
    }
    Ok(())
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Walks the chunks of the WAV file at `path` (whose length is `file_len`) up to
/// the data chunk and checks the declared data length against the file.
pub(crate) fn scan(path: &Path, file: File, file_len: u64) -> Result<WavScan, AudioError> {
    let mut r = BufReader::new(file);
    let mut head = [0u8; 12];
    read_exact_at(path, &mut r, &mut head, 0, "RIFF header")?;
    if &head[0..4] != b"RIFF" {
        let found = String::from_utf8_lossy(&head[0..4]).into_owned();
        return Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            what: format!("'{found}' WAV variant (only little-endian RIFF WAVE under 4 GiB)"),
        });
    }
    if &head[8..12] != b"WAVE" {
        let found = String::from_utf8_lossy(&head[8..12]).into_owned();
        return Err(bad(
            path,
            format!("RIFF form type is '{found}', expected 'WAVE'"),
        ));
    }
    let mut pos = 12u64;
    let mut fmt: Option<(u16, u16, u32, u16, u16, u16)> = None;
    loop {
        let mut ch = [0u8; 8];
        if pos >= file_len {
            return Err(bad(
                path,
                format!("truncated: no data chunk before the end of the file (byte {pos})"),
            ));
        }
        read_exact_at(path, &mut r, &mut ch, pos, "chunk header")?;
        pos += 8;
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let len = u64::from(u32_at(&ch, 4));
        match &id {
            b"fmt " => {
                if len < 16 {
                    return Err(bad(
                        path,
                        format!("fmt chunk is {len} bytes, expected at least 16"),
                    ));
                }
                // Only the first 40 bytes matter (WAVEFORMATEXTENSIBLE); skip the rest.
                let keep = len.min(40) as usize;
                let mut body = [0u8; 40];
                read_exact_at(path, &mut r, &mut body[..keep], pos, "fmt chunk")?;
                let mut tag = u16_at(&body, 0);
                let bits = u16_at(&body, 14);
                let mut valid_bits = bits;
                if tag == TAG_EXTENSIBLE {
                    if keep < 40 {
                        return Err(bad(
                            path,
                            format!("extensible fmt chunk is {len} bytes, expected 40"),
                        ));
                    }
                    // The sub-format GUID starts with the plain format tag.
                    tag = u16_at(&body, 24);
                    let valid = u16_at(&body, 18);
                    if valid > 0 && valid <= bits {
                        valid_bits = valid;
                    }
                }
                fmt = Some((
                    tag,
                    u16_at(&body, 2),
                    u32_at(&body, 4),
                    u16_at(&body, 12),
                    bits,
                    valid_bits,
                ));
                skip(path, &mut r, len + (len & 1) - keep as u64)?;
            }
            b"data" => {
                let Some((format_tag, channels, sample_rate, block_align, bits, valid_bits)) = fmt
                else {
                    return Err(bad(
                        path,
                        "data chunk comes before the fmt chunk".to_string(),
                    ));
                };
                if channels == 0 {
                    return Err(AudioError::NoChannels {
                        path: path.to_path_buf(),
                    });
                }
                if block_align == 0 {
                    return Err(bad(path, "block align is 0".to_string()));
                }
                let available = file_len.saturating_sub(pos);
                // 0xFFFFFFFF marks a stream whose length was unknown when the header was written.
                let data_len = if len == u64::from(u32::MAX) {
                    available
                } else {
                    len
                };
                let ba = u64::from(block_align);
                if data_len > available {
                    return Err(AudioError::Truncated {
                        path: path.to_path_buf(),
                        declared: data_len / ba,
                        actual: available / ba,
                    });
                }
                return Ok(WavScan {
                    format_tag,
                    channels,
                    sample_rate,
                    bits_per_sample: bits,
                    valid_bits,
                    frames: data_len / ba,
                });
            }
            _ => {
                skip(path, &mut r, len + (len & 1))?;
            }
        }
        pos += len + (len & 1);
    }
}

fn skip(path: &Path, r: &mut BufReader<File>, n: u64) -> Result<(), AudioError> {
    if n == 0 {
        return Ok(());
    }
    let offset = i64::try_from(n).map_err(|_| bad(path, format!("chunk length {n} too large")))?;
    r.seek(SeekFrom::Current(offset))
        .map(|_| ())
        .map_err(|e| AudioError::Read {
            path: path.to_path_buf(),
            reason: io_reason(&e),
        })
}
