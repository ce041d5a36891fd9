//! Encoding: WAV through hound, FLAC through flacenc, both streaming and atomic.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};

use super::error::{io_reason, AudioError, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use super::read::Audio;

/// Sample encoding of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    /// 16-bit integer PCM.
    I16,
    /// 24-bit integer PCM.
    I24,
    /// 32-bit IEEE float (WAV only).
    F32,
}

impl SampleFormat {
    /// Bits per stored sample.
    pub fn bits(self) -> u16 {
        match self {
            Self::I16 => 16,
            Self::I24 => 24,
            Self::F32 => 32,
        }
    }
}

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// RIFF WAVE (hound).
    Wav,
    /// FLAC (flacenc); integer formats only.
    Flac,
}

impl Container {
    /// Chooses the container from the extension (`.wav`/`.wave`, `.flac`; case-insensitive).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("wav" | "wave") => Ok(Self::Wav),
            Some("flac") => Ok(Self::Flac),
            _ => Err(AudioError::UnknownContainer {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Everything [`AudioWriter::create`] needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSpec {
    /// Sample rate in Hz (1000..=768000; FLAC: at most 96000, flacenc's limit).
    pub sample_rate: u32,
    /// Channels (WAV: up to 65535; FLAC: 1..=8).
    pub channels: usize,
    /// Sample encoding.
    pub format: SampleFormat,
    /// Container.
    pub container: Container,
}

/// FLAC frames hold this many samples per channel (flacenc's default).
const FLAC_BLOCK: usize = 4096;
/// Blocks shorter than this are encoded without prediction (see `FlacWriter::encode_block`).
const SHORT_BLOCK: usize = 256;

/// Converts one sample to a `bits`-wide integer: NaN becomes 0, everything else is
/// clamped to [-1, 1] and then to the integer range (so +1.0 maps to the largest code).
pub fn quantize(x: f32, bits: u32) -> i32 {
    let full = f64::from(1u32 << (bits - 1));
    let x = if x.is_nan() {
        0.0
    } else {
        f64::from(x).clamp(-1.0, 1.0)
    };
    (x * full).round().clamp(-full, full - 1.0) as i32
}

/// A streaming encoder that writes `NAME.partial` beside the target and renames it
/// to the target in [`AudioWriter::finish`], so an interrupted job never leaves a
/// truncated file under the final name. Dropping an unfinished writer deletes the
/// partial file.
///
/// Sample handling: integer formats clamp to [-1, 1] and turn NaN into 0 (see
/// [`quantize`]); F32 stores finite values as they are (no clamping) and turns NaN and
/// ±Inf into 0, so every written file reads back without [`AudioError::NonFinite`].
pub struct AudioWriter {
    path: PathBuf,
    partial: PathBuf,
    spec: WriteSpec,
    inner: Option<Inner>,
}

enum Inner {
    Wav(hound::WavWriter<BufWriter<File>>),
    Flac(Box<FlacWriter>),
}

/// `out/y.wav` -> `out/y.wav.partial`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name: OsString = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

impl AudioWriter {
    /// Validates `spec` and creates `path.partial`.
    pub fn create(path: impl AsRef<Path>, spec: WriteSpec) -> Result<Self, AudioError> {
        let path = path.as_ref();
        let unsupported = |what: String| AudioError::UnsupportedSpec {
            path: path.to_path_buf(),
            what,
        };
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&spec.sample_rate) {
            return Err(unsupported(format!(
                "sample rate {} Hz (expected {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz)",
                spec.sample_rate
            )));
        }
        if spec.channels == 0 {
            return Err(unsupported("0 channels (expected at least 1)".to_string()));
        }
        match spec.container {
            Container::Wav if spec.channels > usize::from(u16::MAX) => {
                return Err(unsupported(format!(
                    "{} channels to WAV (at most 65535)",
                    spec.channels
                )))
            }
            Container::Flac if spec.format == SampleFormat::F32 => {
                return Err(unsupported(
                    "32-bit float samples to FLAC (FLAC stores integers: use I16 or I24)"
                        .to_string(),
                ))
            }
            Container::Flac if spec.channels > 8 => {
                return Err(unsupported(format!(
                    "{} channels to FLAC (at most 8)",
                    spec.channels
                )))
            }
            Container::Flac if spec.sample_rate > 96_000 => {
                return Err(unsupported(format!(
                    "{} Hz to FLAC (the encoder supports at most 96000 Hz)",
                    spec.sample_rate
                )))
            }
            _ => {}
        }
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|e| AudioError::Create {
            path: path.to_path_buf(),
            reason: io_reason(&e),
        })?;
        let out = BufWriter::with_capacity(1 << 16, file);
        let write_err = |reason: String| AudioError::Write {
            path: path.to_path_buf(),
            reason,
        };
        let inner = match spec.container {
            Container::Wav => {
                let wav_spec = hound::WavSpec {
                    // Checked above.
                    channels: spec.channels as u16,
                    sample_rate: spec.sample_rate,
                    bits_per_sample: spec.format.bits(),
                    sample_format: if spec.format == SampleFormat::F32 {
                        hound::SampleFormat::Float
                    } else {
                        hound::SampleFormat::Int
                    },
                };
                hound::WavWriter::new(out, wav_spec)
                    .map(Inner::Wav)
                    .map_err(|e| write_err(e.to_string()))
            }
            Container::Flac => FlacWriter::new(out, &spec)
                .map(|w| Inner::Flac(Box::new(w)))
                .map_err(write_err),
        };
        let inner = match inner {
            Ok(i) => i,
            Err(e) => {
                // Best effort: the error that matters is `e`.
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            partial,
            spec,
            inner: Some(inner),
        })
    }

    /// The spec this writer was created with.
    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }

    /// Appends interleaved samples; the length must be a whole number of frames.
    pub fn write(&mut self, interleaved: &[f32]) -> Result<(), AudioError> {
        let write_err = |reason: String| AudioError::Write {
            path: self.path.clone(),
            reason,
        };
        if !interleaved.len().is_multiple_of(self.spec.channels) {
            return Err(write_err(format!(
                "{} samples are not a whole number of {}-channel frames",
                interleaved.len(),
                self.spec.channels
            )));
        }
        let format = self.spec.format;
        match self.inner.as_mut() {
            None => Err(write_err("writer already finished".to_string())),
            Some(Inner::Wav(w)) => {
                let res = match format {
                    SampleFormat::F32 => interleaved
                        .iter()
                        .try_for_each(|&x| w.write_sample(if x.is_finite() { x } else { 0.0 })),
                    // hound's fast 16-bit path; chunked so its buffer stays small.
                    SampleFormat::I16 => interleaved.chunks(1 << 16).try_for_each(|chunk| {
                        let mut w16 = w.get_i16_writer(chunk.len() as u32);
                        for &x in chunk {
                            // quantize(.., 16) always fits in i16.
                            w16.write_sample(quantize(x, 16) as i16);
                        }
                        w16.flush()
                    }),
                    SampleFormat::I24 => interleaved
                        .iter()
                        .try_for_each(|&x| w.write_sample(quantize(x, 24))),
                };
                res.map_err(|e| write_err(e.to_string()))
            }
            Some(Inner::Flac(f)) => f.write(interleaved).map_err(write_err),
        }
    }

    /// Finalises the header and renames `NAME.partial` to `NAME`.
    pub fn finish(mut self) -> Result<(), AudioError> {
        let write_err = |reason: String| AudioError::Write {
            path: self.path.clone(),
            reason,
        };
        let result = match self.inner.take() {
            None => Err("writer already finished".to_string()),
            Some(Inner::Wav(w)) => w.finalize().map_err(|e| e.to_string()),
            Some(Inner::Flac(f)) => f.finish(),
        };
        if let Err(reason) = result {
            let _ = std::fs::remove_file(&self.partial);
            return Err(write_err(reason));
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.partial);
            write_err(format!(
                "cannot rename the .partial file: {}",
                io_reason(&e)
            ))
        })
    }
}

impl Drop for AudioWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Not finished: the partial file must not survive to look like output.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Writes `audio` to `path`, choosing the container from the extension.
pub fn write(
    path: impl AsRef<Path>,
    audio: &Audio,
    format: SampleFormat,
) -> Result<(), AudioError> {
    let path = path.as_ref();
    let container = Container::from_path(path)?;
    let mut w = AudioWriter::create(
        path,
        WriteSpec {
            sample_rate: audio.sample_rate,
            channels: audio.channels,
            format,
            container,
        },
    )?;
    let chunk = audio.channels.max(1) * 65_536;
    for block in audio.samples.chunks(chunk) {
        w.write(block)?;
    }
    w.finish()
}

/// Frame-by-frame FLAC encoder: STREAMINFO is written as a placeholder first and
/// rewritten with the totals, frame sizes and MD5 when the stream ends.
struct FlacWriter {
    out: BufWriter<File>,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    /// Verbatim/constant-only coding for blocks shorter than [`SHORT_BLOCK`].
    short_config: flacenc::error::Verified<flacenc::config::Encoder>,
    info: StreamInfo,
    bits: u32,
    channels: usize,
    sample_rate: u32,
    /// Interleaved integer samples of the block being gathered.
    block: Vec<i32>,
    framebuf: FrameBuf,
    /// MD5 of the samples; fed one frame at a time because flacenc's `Context`
    /// pads short (last) blocks with zeros into the digest.
    md5: Context,
    frame_number: usize,
    total: u64,
    min_frame: usize,
    max_frame: usize,
    sink: MemSink<u8>,
}

impl FlacWriter {
    fn new(mut out: BufWriter<File>, spec: &WriteSpec) -> Result<Self, String> {
        let bits = u32::from(spec.format.bits());
        let info = StreamInfo::new(spec.sample_rate as usize, spec.channels, bits as usize)
            .map_err(|e| e.to_string())?;
        let config = flacenc::config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| e.to_string())?;
        let mut short = flacenc::config::Encoder::default();
        short.subframe_coding.use_fixed = false;
        short.subframe_coding.use_lpc = false;
        let short_config = short.into_verified().map_err(|(_, e)| e.to_string())?;
        let framebuf = FrameBuf::with_size(spec.channels, FLAC_BLOCK).map_err(|e| e.to_string())?;
        // Placeholder header, same size as the final one.
        let placeholder = StreamHeader {
            block: FLAC_BLOCK as u64,
            min_frame: 0,
            max_frame: 0,
            sample_rate: u64::from(spec.sample_rate),
            channels: spec.channels as u64,
            bits: u64::from(bits),
            total: 0,
            md5: [0; 16],
        };
        write_flac_header(&mut out, &placeholder)?;
        Ok(Self {
            out,
            config,
            short_config,
            info,
            bits,
            channels: spec.channels,
            sample_rate: spec.sample_rate,
            block: Vec::with_capacity(FLAC_BLOCK * spec.channels),
            framebuf,
            md5: Context::new(bits as usize, spec.channels, 1),
            frame_number: 0,
            total: 0,
            min_frame: usize::MAX,
            max_frame: 0,
            sink: MemSink::new(),
        })
    }

    fn write(&mut self, interleaved: &[f32]) -> Result<(), String> {
        let block_len = FLAC_BLOCK * self.channels;
        for &x in interleaved {
            self.block.push(quantize(x, self.bits));
            if self.block.len() == block_len {
                self.encode_block()?;
            }
        }
        Ok(())
    }

    fn encode_block(&mut self) -> Result<(), String> {
        let frames = self.block.len() / self.channels;
        if frames == 0 {
            return Ok(());
        }
        if frames != self.framebuf.size() {
            // Only the last block is short; FLAC allows that in fixed-block-size streams.
            self.framebuf.resize(frames);
        }
        self.framebuf
            .fill_interleaved(&self.block)
            .map_err(|e| e.to_string())?;
        for frame in self.block.chunks_exact(self.channels) {
            self.md5
                .fill_interleaved(frame)
                .map_err(|e| e.to_string())?;
        }
        // flacenc's rice partitioning underflows on blocks shorter than its minimum partition
        // (64 samples); a short last block is stored verbatim instead (cost: a few bytes).
        let config = if frames < SHORT_BLOCK {
            &self.short_config
        } else {
            &self.config
        };
        let frame =
            flacenc::encode_fixed_size_frame(config, &self.framebuf, self.frame_number, &self.info)
                .map_err(|e| format!("{e:?}"))?;
        self.sink.clear();
        frame.write(&mut self.sink).map_err(|e| e.to_string())?;
        let bytes = self.sink.as_slice();
        self.out.write_all(bytes).map_err(|e| io_reason(&e))?;
        self.min_frame = self.min_frame.min(bytes.len());
        self.max_frame = self.max_frame.max(bytes.len());
        self.frame_number += 1;
        self.total += frames as u64;
        self.block.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<(), String> {
        self.encode_block()?;
        // STREAMINFO's minimum block size excludes the last block, so a fixed-size
        // stream states its block size; a one-block stream states that block (FLAC minimum 16).
        let block = if self.frame_number > 1 {
            FLAC_BLOCK
        } else {
            (self.total as usize).clamp(16, FLAC_BLOCK)
        };
        let (min_frame, max_frame) = if self.frame_number > 0 {
            (self.min_frame, self.max_frame)
        } else {
            (0, 0)
        };
        let header = StreamHeader {
            block: block as u64,
            min_frame: min_frame as u64,
            max_frame: max_frame as u64,
            sample_rate: u64::from(self.sample_rate),
            channels: self.channels as u64,
            bits: u64::from(self.bits),
            total: self.total,
            md5: self.md5.md5_digest(),
        };
        self.out
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_reason(&e))?;
        write_flac_header(&mut self.out, &header)?;
        self.out.flush().map_err(|e| io_reason(&e))?;
        Ok(())
    }
}

/// The STREAMINFO fields. Packed by hand: flacenc's `StreamInfo` setters refuse block
/// sizes under 64, which a short file legitimately has.
struct StreamHeader {
    block: u64,
    min_frame: u64,
    max_frame: u64,
    sample_rate: u64,
    channels: u64,
    bits: u64,
    total: u64,
    md5: [u8; 16],
}

impl StreamHeader {
    fn to_bytes(&self) -> [u8; 34] {
        let mut b = [0u8; 34];
        b[0..2].copy_from_slice(&(self.block as u16).to_be_bytes());
        b[2..4].copy_from_slice(&(self.block as u16).to_be_bytes());
        b[4..7].copy_from_slice(&(self.min_frame as u32).to_be_bytes()[1..]);
        b[7..10].copy_from_slice(&(self.max_frame as u32).to_be_bytes()[1..]);
        // 20 bits rate, 3 bits channels-1, 5 bits bits-1, 36 bits total samples.
        let packed: u64 = ((self.sample_rate & 0xF_FFFF) << 44)
            | (((self.channels - 1) & 0x7) << 41)
            | (((self.bits - 1) & 0x1F) << 36)
            | (self.total & 0xF_FFFF_FFFF);
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        b[18..34].copy_from_slice(&self.md5);
        b
    }
}

/// `fLaC`, then one STREAMINFO metadata block flagged as the last one.
fn write_flac_header(out: &mut BufWriter<File>, header: &StreamHeader) -> Result<(), String> {
    // Type 0 (STREAMINFO) with the last-block bit set, then the 24-bit length 34.
    let block_header = [0x80, 0, 0, 34];
    out.write_all(b"fLaC").map_err(|e| io_reason(&e))?;
    out.write_all(&block_header).map_err(|e| io_reason(&e))?;
    out.write_all(&header.to_bytes())
        .map_err(|e| io_reason(&e))?;
    Ok(())
}
