//! Decoding: WAV through hound, everything else (and WAV encodings hound lacks) through symphonia.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{self, CodecType, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::error::{check_rate, io_reason, AudioError};
use super::wav_scan::{self, TAG_ALAW, TAG_FLOAT, TAG_MULAW, TAG_PCM};

/// What a file's header says about its audio.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AudioInfo {
    /// Container: `"wav"`, `"flac"`, `"ogg"` or `"mp3"`.
    pub container: String,
    /// Codec, e.g. `"pcm_s16le"`, `"pcm_f32le"`, `"flac"`, `"vorbis"`, `"mp3"`.
    pub codec: String,
    /// Sample rate in Hz (always within 1000..=768000: other rates are an error).
    pub sample_rate: u32,
    /// Channel count (at least 1).
    pub channels: usize,
    /// Stored bits per sample for PCM and FLAC; `None` for lossy codecs.
    pub bits_per_sample: Option<u32>,
    /// `"int"` or `"float"`: how the samples are stored (lossy codecs decode to float).
    pub sample_format: String,
    /// Frames per channel the header declares; `None` when the container does not say.
    pub frames: Option<u64>,
}

/// Decoded audio, interleaved, in the range [-1, 1) for integer sources.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of interleaved channels.
    pub channels: usize,
    /// Interleaved samples, `frames() * channels` long.
    pub samples: Vec<f32>,
}

impl Audio {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len().checked_div(self.channels).unwrap_or(0)
    }

    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// Mean of the channels, one value per frame.
    pub fn to_mono(&self) -> Vec<f32> {
        let mut out = Vec::new();
        mix_to_mono(&self.samples, self.channels, &mut out);
        out
    }
}

/// Appends the per-frame mean of the channels of `interleaved` to `out`
/// (a trailing partial frame is ignored). Streaming code mixes block by block with it.
pub fn mix_to_mono(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    match channels {
        0 => {}
        1 => out.extend_from_slice(interleaved),
        _ => {
            let scale = 1.0 / channels as f64;
            out.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|f| (f.iter().map(|&x| f64::from(x)).sum::<f64>() * scale) as f32),
            );
        }
    }
}

/// Reads the header of `path` (and, for WAV, checks the data length) without decoding.
pub fn probe(path: impl AsRef<Path>) -> Result<AudioInfo, AudioError> {
    AudioReader::open(path).map(|r| r.info)
}

/// Reads a whole file. See [`AudioReader`] for formats and checks.
pub fn read(path: impl AsRef<Path>) -> Result<Audio, AudioError> {
    let mut reader = AudioReader::open(path)?;
    let channels = reader.info.channels;
    let mut samples = Vec::new();
    if let Some(frames) = reader.info.frames {
        // A hint only: a lying header must not make us allocate absurd amounts up front.
        samples.reserve((frames as usize).saturating_mul(channels).min(1 << 24));
    }
    let mut block = Vec::new();
    while reader.read_frames(&mut block, 1 << 16)? > 0 {
        samples.extend_from_slice(&block);
    }
    Ok(Audio {
        sample_rate: reader.info.sample_rate,
        channels,
        samples,
    })
}

/// Which decoder a reader uses; tests force symphonia to cross-check hound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// hound for the PCM WAV encodings it supports, symphonia otherwise.
    Auto,
    /// symphonia for every container.
    #[cfg_attr(not(test), allow(dead_code))]
    Symphonia,
}

/// A streaming decoder: [`AudioReader::read_frames`] hands out bounded blocks, so a
/// multi-hour file is processed in constant memory.
///
/// Formats: WAV (PCM 8/16/24/32-bit integer and 32-bit float via hound; 64-bit float,
/// A-law and mu-law via symphonia), FLAC, OGG Vorbis and MP3 (symphonia). Any channel count
/// the container can express. Integer samples are scaled by `2^-(bits-1)` (so they lie in [-1, 1)).
///
/// Checks: the sample rate must lie within 1000..=768000 Hz (at open); a WAV data chunk
/// longer than the file, or a FLAC stream that ends before its STREAMINFO total, is
/// [`AudioError::Truncated`]; a file without frames is [`AudioError::NoSamples`].
/// Non-finite samples are replaced by 0 as they stream past and counted; when the end is
/// reached the reader returns [`AudioError::NonFinite`] with the exact count instead of `Ok(0)`.
/// Note that symphonia's Vorbis and MP3 decoders clamp their output to [-1, 1], so overs in
/// lossy files read as full scale.
pub struct AudioReader {
    path: PathBuf,
    info: AudioInfo,
    source: Source,
    /// Decoded samples not yet handed out (symphonia decodes whole packets).
    pending: Vec<f32>,
    pending_pos: usize,
    frames_read: u64,
    non_finite: u64,
    /// Frame count the stream must reach, when the container states it exactly.
    exact_frames: Option<u64>,
}

enum Source {
    Hound {
        reader: hound::WavReader<BufReader<File>>,
        float: bool,
        scale: f64,
    },
    Symphonia(Box<SymSource>),
}

struct SymSource {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn codecs::Decoder>,
    track_id: u32,
    buf: Option<SampleBuffer<f32>>,
}

fn open_file(path: &Path) -> Result<(File, u64), AudioError> {
    let open_err = |reason: String| AudioError::Open {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| open_err(io_reason(&e)))?;
    let meta = file.metadata().map_err(|e| open_err(io_reason(&e)))?;
    if meta.is_dir() {
        return Err(open_err("is a directory".to_string()));
    }
    if !meta.is_file() {
        return Err(open_err("not a regular file".to_string()));
    }
    Ok((file, meta.len()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Wav,
    Flac,
    Ogg,
    Mp3,
}

/// Identifies the container by its first bytes, never by the file name.
fn sniff(path: &Path, file: &mut File, len: u64) -> Result<Kind, AudioError> {
    if len == 0 {
        return Err(AudioError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
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
    let h = &head[..got];
    if h.starts_with(b"RIFF") || h.starts_with(b"RIFX") || h.starts_with(b"RF64") {
        Ok(Kind::Wav)
    } else if h.starts_with(b"fLaC") {
        Ok(Kind::Flac)
    } else if h.starts_with(b"OggS") {
        Ok(Kind::Ogg)
    } else if h.starts_with(b"ID3") || (h.len() >= 2 && h[0] == 0xFF && h[1] & 0xE0 == 0xE0) {
        // ID3 tag, or a bare MPEG audio frame sync.
        Ok(Kind::Mp3)
    } else {
        Err(AudioError::NotAudio {
            path: path.to_path_buf(),
        })
    }
}

fn pcm_codec_name(tag: u16, bits: u16) -> String {
    match tag {
        TAG_PCM if bits == 8 => "pcm_u8".to_string(),
        TAG_PCM => format!("pcm_s{bits}le"),
        TAG_FLOAT => format!("pcm_f{bits}le"),
        TAG_ALAW => "pcm_alaw".to_string(),
        TAG_MULAW => "pcm_mulaw".to_string(),
        other => format!("wav_format_0x{other:04x}"),
    }
}

fn symphonia_codec_name(codec: CodecType) -> String {
    use symphonia::core::codecs::*;
    let known = [
        (CODEC_TYPE_FLAC, "flac"),
        (CODEC_TYPE_VORBIS, "vorbis"),
        (CODEC_TYPE_MP3, "mp3"),
        (CODEC_TYPE_MP2, "mp2"),
        (CODEC_TYPE_MP1, "mp1"),
        (CODEC_TYPE_OPUS, "opus"),
        (CODEC_TYPE_AAC, "aac"),
        (CODEC_TYPE_SPEEX, "speex"),
        (CODEC_TYPE_PCM_S16LE, "pcm_s16le"),
        (CODEC_TYPE_PCM_S24LE, "pcm_s24le"),
        (CODEC_TYPE_PCM_S32LE, "pcm_s32le"),
        (CODEC_TYPE_PCM_U8, "pcm_u8"),
        (CODEC_TYPE_PCM_F32LE, "pcm_f32le"),
        (CODEC_TYPE_PCM_F64LE, "pcm_f64le"),
        (CODEC_TYPE_PCM_ALAW, "pcm_alaw"),
        (CODEC_TYPE_PCM_MULAW, "pcm_mulaw"),
    ];
    known
        .iter()
        .find(|(c, _)| *c == codec)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| format!("{codec}"))
}

fn sym_err(path: &Path, container: &'static str, e: SymError) -> AudioError {
    let path = path.to_path_buf();
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::BadHeader {
                path,
                container,
                reason: "truncated: the file ends inside the header".to_string(),
            }
        }
        SymError::IoError(io) => AudioError::Read {
            path,
            reason: io_reason(&io),
        },
        SymError::Unsupported(what) => AudioError::Unsupported {
            path,
            what: what.to_string(),
        },
        SymError::DecodeError(what) => AudioError::BadHeader {
            path,
            container,
            reason: what.to_string(),
        },
        other => AudioError::Decode {
            path,
            reason: other.to_string(),
        },
    }
}

impl AudioReader {
    /// Opens `path`, identifies the container by its first bytes and reads the header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        Self::open_with(path.as_ref(), Backend::Auto)
    }

    pub(crate) fn open_with(path: &Path, backend: Backend) -> Result<Self, AudioError> {
        let (mut file, len) = open_file(path)?;
        let kind = sniff(path, &mut file, len)?;
        let reader = if kind == Kind::Wav {
            Self::open_wav(path, len, backend)?
        } else {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| AudioError::Read {
                    path: path.to_path_buf(),
                    reason: io_reason(&e),
                })?;
            Self::open_symphonia(path, file, kind, None)?
        };
        if reader.info.frames == Some(0) {
            return Err(AudioError::NoSamples {
                path: path.to_path_buf(),
            });
        }
        Ok(reader)
    }

    fn open_wav(path: &Path, len: u64, backend: Backend) -> Result<Self, AudioError> {
        let (file, _) = open_file(path)?;
        let scan = wav_scan::scan(path, file, len)?;
        let rate = check_rate(path, u64::from(scan.sample_rate))?;
        let channels = usize::from(scan.channels);
        let bits = scan.bits_per_sample;
        let float = scan.format_tag == TAG_FLOAT;
        let info = AudioInfo {
            container: "wav".to_string(),
            codec: pcm_codec_name(scan.format_tag, bits),
            sample_rate: rate,
            channels,
            bits_per_sample: Some(u32::from(scan.valid_bits)),
            sample_format: if float { "float" } else { "int" }.to_string(),
            frames: Some(scan.frames),
        };
        if scan.frames == 0 {
            return Err(AudioError::NoSamples {
                path: path.to_path_buf(),
            });
        }
        // hound reads 24-in-32-bit samples from the low bytes, but the WAV spec left-justifies
        // them, so padded containers go to symphonia.
        let hound_can = scan.valid_bits == bits
            && match scan.format_tag {
                TAG_PCM => matches!(bits, 8 | 16 | 24 | 32),
                TAG_FLOAT => bits == 32,
                _ => false,
            };
        let symphonia_can = matches!(scan.format_tag, TAG_PCM | TAG_FLOAT | TAG_ALAW | TAG_MULAW);
        if backend == Backend::Auto && hound_can {
            let (file, _) = open_file(path)?;
            match hound::WavReader::new(BufReader::new(file)) {
                Ok(reader) => {
                    let spec = reader.spec();
                    if usize::from(spec.channels) != channels || spec.sample_rate != rate {
                        return Err(AudioError::BadHeader {
                            path: path.to_path_buf(),
                            container: "WAV",
                            reason: "inconsistent fmt chunk".to_string(),
                        });
                    }
                    return Ok(Self::new(
                        path,
                        info,
                        Source::Hound {
                            reader,
                            float,
                            scale: 1.0 / f64::from(1u32 << (bits - 1)),
                        },
                        Some(scan.frames),
                    ));
                }
                // hound is strict about fmt chunk sizes; symphonia may still read the file.
                Err(hound_err) => {
                    let (file, _) = open_file(path)?;
                    return Self::open_symphonia(path, file, Kind::Wav, Some(info)).map_err(|_| {
                        AudioError::BadHeader {
                            path: path.to_path_buf(),
                            container: "WAV",
                            reason: hound_err.to_string(),
                        }
                    });
                }
            }
        }
        if !symphonia_can {
            return Err(AudioError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "WAV format tag 0x{:04x} (widen reads PCM integer, IEEE float, A-law and mu-law)",
                    scan.format_tag
                ),
            });
        }
        let (file, _) = open_file(path)?;
        Self::open_symphonia(path, file, Kind::Wav, Some(info))
    }

    /// `wav_info`: the WAV header as scanned by us, which symphonia then only decodes.
    fn open_symphonia(
        path: &Path,
        file: File,
        kind: Kind,
        wav_info: Option<AudioInfo>,
    ) -> Result<Self, AudioError> {
        let (container, ext) = match kind {
            Kind::Wav => ("WAV", "wav"),
            Kind::Flac => ("FLAC", "flac"),
            Kind::Ogg => ("OGG", "ogg"),
            Kind::Mp3 => ("MP3", "mp3"),
        };
        let mut hint = Hint::new();
        hint.with_extension(ext);
        let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
        let fmt_opts = FormatOptions {
            enable_gapless: true,
            ..FormatOptions::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
            .map_err(|e| sym_err(path, container, e))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != codecs::CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::BadHeader {
                path: path.to_path_buf(),
                container,
                reason: "no audio track".to_string(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codec = symphonia_codec_name(params.codec);
        let rate = params.sample_rate.ok_or_else(|| AudioError::BadHeader {
            path: path.to_path_buf(),
            container,
            reason: "no sample rate".to_string(),
        })?;
        let rate = check_rate(path, u64::from(rate))?;
        let channels = params
            .channels
            .map(|c| c.count())
            .ok_or_else(|| AudioError::BadHeader {
                path: path.to_path_buf(),
                container,
                reason: "no channel count".to_string(),
            })?;
        if channels == 0 {
            return Err(AudioError::NoChannels {
                path: path.to_path_buf(),
            });
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(_) => AudioError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "codec {codec} (widen decodes PCM WAV, FLAC, Vorbis and MP3; convert the file first)"
                    ),
                },
                other => sym_err(path, container, other),
            })?;
        let lossy = matches!(kind, Kind::Ogg | Kind::Mp3);
        let (info, exact) = match wav_info {
            Some(info) => {
                let frames = info.frames;
                (info, frames)
            }
            None => {
                let info = AudioInfo {
                    container: ext.to_string(),
                    codec,
                    sample_rate: rate,
                    channels,
                    bits_per_sample: if lossy { None } else { params.bits_per_sample },
                    sample_format: if lossy { "float" } else { "int" }.to_string(),
                    // FLAC's STREAMINFO total is exact (0 means unknown); others are estimates.
                    frames: params.n_frames.filter(|&n| !(kind == Kind::Flac && n == 0)),
                };
                let exact = if kind == Kind::Flac {
                    info.frames
                } else {
                    None
                };
                (info, exact)
            }
        };
        if info.sample_rate != rate || info.channels != channels {
            return Err(AudioError::BadHeader {
                path: path.to_path_buf(),
                container,
                reason: "inconsistent fmt chunk".to_string(),
            });
        }
        Ok(Self::new(
            path,
            info,
            Source::Symphonia(Box::new(SymSource {
                format,
                decoder,
                track_id,
                buf: None,
            })),
            exact,
        ))
    }

    fn new(path: &Path, info: AudioInfo, source: Source, exact_frames: Option<u64>) -> Self {
        Self {
            path: path.to_path_buf(),
            info,
            source,
            pending: Vec::new(),
            pending_pos: 0,
            frames_read: 0,
            non_finite: 0,
            exact_frames,
        }
    }

    /// The header information.
    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// Clears `buf` and fills it with up to `max_frames` interleaved frames.
    ///
    /// Returns the number of frames read; `Ok(0)` means the end of the stream (also when
    /// `max_frames` is 0). At the end, the whole-file checks run instead of `Ok(0)`: no frames
    /// at all, non-finite samples, fewer frames than an exact header declares.
    pub fn read_frames(
        &mut self,
        buf: &mut Vec<f32>,
        max_frames: usize,
    ) -> Result<usize, AudioError> {
        buf.clear();
        if max_frames == 0 {
            return Ok(0);
        }
        let ch = self.info.channels;
        let want = max_frames.saturating_mul(ch);
        match &mut self.source {
            Source::Hound {
                reader,
                float,
                scale,
            } => {
                buf.reserve(want.min(1 << 20));
                let result: Result<(), hound::Error> = if *float {
                    reader
                        .samples::<f32>()
                        .take(want)
                        .try_for_each(|s| s.map(|v| buf.push(v)))
                } else {
                    let scale = *scale;
                    reader
                        .samples::<i32>()
                        .take(want)
                        .try_for_each(|s| s.map(|v| buf.push((f64::from(v) * scale) as f32)))
                };
                result.map_err(|e| AudioError::Read {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
            }
            Source::Symphonia(sym) => {
                while buf.len() < want {
                    if self.pending_pos >= self.pending.len() {
                        self.pending.clear();
                        self.pending_pos = 0;
                        if !sym.decode_next(&self.path, ch, &mut self.pending)? {
                            break;
                        }
                    }
                    let take = (want - buf.len()).min(self.pending.len() - self.pending_pos);
                    buf.extend_from_slice(&self.pending[self.pending_pos..self.pending_pos + take]);
                    self.pending_pos += take;
                }
            }
        }
        // A torn last frame cannot be handed out as interleaved audio.
        buf.truncate(buf.len() - buf.len() % ch);
        for x in buf.iter_mut() {
            if !x.is_finite() {
                *x = 0.0;
                self.non_finite += 1;
            }
        }
        let frames = buf.len() / ch;
        self.frames_read += frames as u64;
        if frames == 0 {
            self.check_end()?;
        }
        Ok(frames)
    }

    fn check_end(&self) -> Result<(), AudioError> {
        let path = || self.path.clone();
        if self.frames_read == 0 {
            return Err(AudioError::NoSamples { path: path() });
        }
        if self.non_finite > 0 {
            return Err(AudioError::NonFinite {
                path: path(),
                count: self.non_finite,
            });
        }
        if let Some(declared) = self.exact_frames {
            if self.frames_read < declared {
                return Err(AudioError::Truncated {
                    path: path(),
                    declared,
                    actual: self.frames_read,
                });
            }
        }
        Ok(())
    }
}

impl SymSource {
    /// Decodes the next packet of our track into `out`; `false` at the end of the stream.
    fn decode_next(
        &mut self,
        path: &Path,
        channels: usize,
        out: &mut Vec<f32>,
    ) -> Result<bool, AudioError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(SymError::ResetRequired) => {
                    return Err(AudioError::Unsupported {
                        path: path.to_path_buf(),
                        what: "stream parameters change mid-file (chained stream)".to_string(),
                    })
                }
                Err(SymError::IoError(e)) => {
                    return Err(AudioError::Read {
                        path: path.to_path_buf(),
                        reason: io_reason(&e),
                    })
                }
                Err(e) => {
                    return Err(AudioError::Decode {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(e) => {
                    return Err(AudioError::Decode {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
                }
            };
            if decoded.frames() == 0 {
                continue;
            }
            let spec = *decoded.spec();
            if spec.channels.count() != channels {
                return Err(AudioError::Decode {
                    path: path.to_path_buf(),
                    reason: format!(
                        "a packet has {} channels, the header declares {channels}",
                        spec.channels.count()
                    ),
                });
            }
            // SampleBuffer counts samples, AudioBufferRef counts frames.
            let frames_cap = decoded.capacity();
            let buf = match &mut self.buf {
                Some(b) if b.capacity() >= frames_cap * channels => b,
                slot => slot.insert(SampleBuffer::new(frames_cap as u64, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            out.extend_from_slice(buf.samples());
            return Ok(true);
        }
    }
}
