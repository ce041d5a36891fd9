//! Round trips, streaming and bad-input cases of the io module.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::read::Backend;
use super::*;

/// Deterministic test signal that also exceeds full scale (to exercise clamping).
fn signal(frames: usize, channels: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..frames * channels)
        .map(|i| {
            let t = (i / channels) as f32;
            let tone = 0.5 * (t * 0.01 * (1 + i % channels) as f32).sin();
            tone + rng.gen_range(-0.6f32..0.6)
        })
        .collect()
}

/// What an integer file must read back as: [`quantize`] then the reader's scaling.
fn quantized(x: &[f32], bits: u32) -> Vec<f32> {
    let scale = 1.0 / f64::from(1u32 << (bits - 1));
    x.iter()
        .map(|&v| (f64::from(quantize(v, bits)) * scale) as f32)
        .collect()
}

fn read_symphonia(path: &Path) -> Result<Audio, AudioError> {
    let mut r = AudioReader::open_with(path, Backend::Symphonia)?;
    let mut all = Vec::new();
    let mut block = Vec::new();
    while r.read_frames(&mut block, 777)? > 0 {
        all.extend_from_slice(&block);
    }
    Ok(Audio {
        sample_rate: r.info().sample_rate,
        channels: r.info().channels,
        samples: all,
    })
}

/// Decodes a FLAC file with symphonia's MD5 verification switched on.
fn flac_md5_ok(path: &Path) -> bool {
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .unwrap();
    let track = probed.format.default_track().unwrap().clone();
    let mut dec = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions { verify: true })
        .unwrap();
    while let Ok(p) = probed.format.next_packet() {
        dec.decode(&p).unwrap();
    }
    dec.finalize().verify_ok == Some(true)
}

#[test]
fn quantize_clamps_and_zeroes_nan() {
    assert_eq!(quantize(1.0, 16), 32767);
    assert_eq!(quantize(1.5, 16), 32767);
    assert_eq!(quantize(f32::INFINITY, 16), 32767);
    assert_eq!(quantize(-1.0, 16), -32768);
    assert_eq!(quantize(-7.0, 16), -32768);
    assert_eq!(quantize(f32::NEG_INFINITY, 24), -8_388_608);
    assert_eq!(quantize(f32::NAN, 16), 0);
    assert_eq!(quantize(0.5, 16), 16384);
    assert_eq!(quantize(-0.5, 24), -4_194_304);
    assert_eq!(quantize(1.0 / 65536.0, 16), 1); // 0.5 LSB rounds away from zero
}

#[test]
fn round_trip_every_format_container_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    // 10_001 frames: not a multiple of the FLAC block, so the short last frame is exercised.
    let frames = 10_001;
    for channels in [1usize, 2, 6] {
        let x = signal(frames, channels, channels as u64);
        let audio = Audio {
            sample_rate: 22_050,
            channels,
            samples: x.clone(),
        };
        for (ext, format) in [
            ("wav", SampleFormat::I16),
            ("wav", SampleFormat::I24),
            ("wav", SampleFormat::F32),
            ("flac", SampleFormat::I16),
            ("flac", SampleFormat::I24),
        ] {
            let path = dir.path().join(format!("rt_{channels}_{format:?}.{ext}"));
            write(&path, &audio, format).unwrap();
            let expected = match format {
                SampleFormat::F32 => x.clone(),
                f => quantized(&x, u32::from(f.bits())),
            };
            let info = probe(&path).unwrap();
            assert_eq!(info.container, ext);
            assert_eq!(info.channels, channels);
            assert_eq!(info.sample_rate, 22_050);
            assert_eq!(info.frames, Some(frames as u64));
            assert_eq!(info.bits_per_sample, Some(u32::from(format.bits())));
            // Default path: hound for WAV, symphonia for FLAC.
            let back = read(&path).unwrap();
            assert_eq!(back.channels, channels);
            assert_eq!(back.sample_rate, 22_050);
            assert_eq!(back.samples.len(), expected.len(), "{}", path.display());
            assert!(back.samples == expected, "{} differs", path.display());
            // symphonia for every container, so the two decoders agree on WAV too.
            let sym = read_symphonia(&path).unwrap();
            assert!(
                sym.samples == expected,
                "{} differs via symphonia",
                path.display()
            );
            if ext == "flac" {
                assert!(flac_md5_ok(&path), "{}: MD5 mismatch", path.display());
            }
        }
    }
}

#[test]
fn flac_short_and_exact_block_lengths() {
    let dir = tempfile::tempdir().unwrap();
    for frames in [1usize, 5, 15, 16, 17, 4095, 4096, 4097, 8192] {
        let x = signal(frames, 2, frames as u64);
        let path = dir.path().join(format!("short_{frames}.flac"));
        write(
            &path,
            &Audio {
                sample_rate: 8_000,
                channels: 2,
                samples: x.clone(),
            },
            SampleFormat::I16,
        )
        .unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.frames(), frames);
        assert!(back.samples == quantized(&x, 16), "{frames} frames");
        assert!(flac_md5_ok(&path), "{frames} frames: MD5 mismatch");
    }
}

#[test]
fn sixty_four_channels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ch64.wav");
    let x = signal(500, 64, 64);
    let audio = Audio {
        sample_rate: 48_000,
        channels: 64,
        samples: x.clone(),
    };
    write(&path, &audio, SampleFormat::F32).unwrap();
    let back = read(&path).unwrap();
    assert_eq!(back.channels, 64);
    assert!(back.samples == x);
    assert_eq!(back.to_mono().len(), 500);
}

#[test]
fn float_writer_zeroes_non_finite_and_keeps_overs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.wav");
    let x = vec![f32::NAN, 1.5, f32::INFINITY, -2.0, f32::NEG_INFINITY, 0.25];
    write(
        &path,
        &Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: x,
        },
        SampleFormat::F32,
    )
    .unwrap();
    assert_eq!(
        read(&path).unwrap().samples,
        vec![0.0, 1.5, 0.0, -2.0, 0.0, 0.25]
    );
}

#[test]
fn streaming_read_of_long_file_equals_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    // 2^21 stereo frames (~47 s at 44.1 kHz) written block-wise, so neither side holds it twice.
    let frames = 1usize << 21;
    for ext in ["wav", "flac"] {
        let path = dir.path().join(format!("long.{ext}"));
        let spec = WriteSpec {
            sample_rate: 44_100,
            channels: 2,
            format: SampleFormat::I16,
            container: Container::from_path(&path).unwrap(),
        };
        let mut w = AudioWriter::create(&path, spec).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut block = vec![0f32; 2 * 10_000];
        let mut left = frames;
        while left > 0 {
            let n = left.min(10_000);
            for v in block[..2 * n].iter_mut() {
                *v = rng.gen_range(-0.9f32..0.9);
            }
            w.write(&block[..2 * n]).unwrap();
            left -= n;
        }
        w.finish().unwrap();

        let whole = read(&path).unwrap();
        assert_eq!(whole.frames(), frames);
        let mut r = AudioReader::open(&path).unwrap();
        let mut buf = Vec::new();
        let mut pos = 0usize;
        let mut max_cap = 0usize;
        loop {
            // An odd block size so blocks never line up with packets.
            let n = r.read_frames(&mut buf, 3_001).unwrap();
            if n == 0 {
                break;
            }
            assert!(n <= 3_001);
            assert_eq!(buf.len(), 2 * n);
            assert!(
                buf[..] == whole.samples[2 * pos..2 * (pos + n)],
                "{ext} block at {pos}"
            );
            max_cap = max_cap.max(buf.capacity());
            pos += n;
        }
        assert_eq!(pos, frames);
        assert_eq!(r.frames_read(), frames as u64);
        // The caller's buffer stays block-sized: memory does not grow with the file.
        assert!(max_cap <= 2 * 3_001 * 2, "{ext}: buffer grew to {max_cap}");
        // EOF is sticky.
        assert_eq!(r.read_frames(&mut buf, 100).unwrap(), 0);
    }
}

#[test]
fn atomic_creation_and_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.flac");
    let partial = dir.path().join("a.flac.partial");
    let spec = WriteSpec {
        sample_rate: 16_000,
        channels: 1,
        format: SampleFormat::I16,
        container: Container::Flac,
    };
    let mut w = AudioWriter::create(&path, spec).unwrap();
    w.write(&[0.1; 5000]).unwrap();
    assert!(partial.exists() && !path.exists());
    w.finish().unwrap();
    assert!(path.exists() && !partial.exists());

    // An abandoned writer leaves nothing behind, and does not touch an older finished file.
    let before = std::fs::read(&path).unwrap();
    let mut w = AudioWriter::create(&path, spec).unwrap();
    w.write(&[0.2; 100]).unwrap();
    drop(w);
    assert!(!partial.exists());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn writer_rejects_bad_specs_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |format, channels, sample_rate, container| WriteSpec {
        sample_rate,
        channels,
        format,
        container,
    };
    let msg = |p: &str, s: WriteSpec| {
        AudioWriter::create(dir.path().join(p), s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let m = msg(
        "x.flac",
        spec(SampleFormat::F32, 1, 16_000, Container::Flac),
    );
    assert!(m.contains("x.flac") && m.contains("float"), "{m}");
    let m = msg(
        "x.flac",
        spec(SampleFormat::I16, 9, 16_000, Container::Flac),
    );
    assert!(m.contains("9 channels"), "{m}");
    let m = msg("x.wav", spec(SampleFormat::I16, 0, 16_000, Container::Wav));
    assert!(m.contains("0 channels"), "{m}");
    let m = msg("x.wav", spec(SampleFormat::I16, 1, 10, Container::Wav));
    assert!(m.contains("10 Hz"), "{m}");
    assert!(!dir.path().join("x.flac.partial").exists());

    let m = Container::from_path("out/y.mp3").unwrap_err().to_string();
    assert!(
        m.starts_with("out/y.mp3: ") && m.contains(".wav or .flac"),
        "{m}"
    );
    assert_eq!(Container::from_path("Y.FLAC").unwrap(), Container::Flac);
    assert_eq!(Container::from_path("y.wav").unwrap(), Container::Wav);

    let mut w = AudioWriter::create(
        dir.path().join("odd.wav"),
        spec(SampleFormat::I16, 2, 16_000, Container::Wav),
    )
    .unwrap();
    let m = w.write(&[0.0; 3]).unwrap_err().to_string();
    assert!(m.contains("2-channel frames"), "{m}");
}

#[test]
fn create_in_missing_folder_names_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("y.wav");
    let audio = Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: vec![0.0; 10],
    };
    let m = write(&path, &audio, SampleFormat::I16)
        .unwrap_err()
        .to_string();
    assert_eq!(
        m,
        format!(
            "{}: cannot create: No such file or directory",
            path.display()
        )
    );
}

/// A canonical 44-byte WAV header followed by `data` (the header may lie about its length).
/// A-law/mu-law get the 18-byte fmt chunk (with `cbSize`) that those formats require.
pub(crate) fn wav_bytes(
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let companded = matches!(tag, 6 | 7);
    let fmt_len: u32 = if companded { 18 } else { 16 };
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(20 + fmt_len + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&fmt_len.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    v.extend_from_slice(&block_align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    if companded {
        v.extend_from_slice(&0u16.to_le_bytes());
    }
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn err_of(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let e = read(&path).unwrap_err();
    assert_eq!(e.path(), path);
    // probe and the streaming reader agree with read on header-level problems.
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{}: ", path.display())), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    msg.trim_start_matches(&format!("{}: ", path.display()))
        .to_string()
}

#[test]
fn bad_inputs_give_one_line_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(err_of(d, "empty.wav", b""), "empty file (0 bytes)");
    assert_eq!(
        err_of(d, "text.wav", b"hello, I am not audio\n"),
        "not a supported audio file (no RIFF/fLaC/OggS/ID3 header)"
    );
    assert_eq!(
        err_of(d, "tiny.wav", b"RI"),
        "not a supported audio file (no RIFF/fLaC/OggS/ID3 header)"
    );
    let full = wav_bytes(1, 1, 48_000, 16, 96_000, &vec![0u8; 2400]);
    assert_eq!(
        err_of(d, "trunc.wav", &full),
        "truncated: header says 48000 frames, file holds 1200"
    );
    let m = err_of(d, "trunc_header.wav", &full[..30]);
    assert!(
        m.starts_with("invalid WAV header: truncated: file ends at byte 30"),
        "{m}"
    );
    assert_eq!(
        err_of(d, "zero.wav", &wav_bytes(1, 1, 16_000, 16, 0, &[])),
        "no audio samples"
    );
    assert_eq!(
        err_of(d, "rate1.wav", &wav_bytes(1, 1, 1, 16, 4, &[0, 0, 1, 0])),
        "sample rate 1 Hz is out of range 1000..=768000 Hz"
    );
    assert_eq!(
        err_of(
            d,
            "rate_huge.wav",
            &wav_bytes(1, 1, 1_000_000, 16, 4, &[0, 0, 1, 0])
        ),
        "sample rate 1000000 Hz is out of range 1000..=768000 Hz"
    );
    assert_eq!(
        err_of(
            d,
            "nochan.wav",
            &wav_bytes(1, 0, 16_000, 16, 4, &[0, 0, 1, 0])
        ),
        "header declares 0 channels (expected at least 1)"
    );
    let m = err_of(
        d,
        "adpcm.wav",
        &wav_bytes(2, 1, 16_000, 16, 4, &[0, 0, 1, 0]),
    );
    assert!(m.starts_with("unsupported: WAV format tag 0x0002"), "{m}");

    // 12 non-finite values among 100 float samples.
    let mut data = Vec::new();
    for i in 0..100 {
        let v = match i % 25 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            _ => 0.1,
        };
        data.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(
        err_of(d, "nan.wav", &wav_bytes(3, 1, 16_000, 32, 400, &data)),
        "12 non-finite samples (NaN/Inf)"
    );

    let m = err_of(d, "missing.wav", b"x");
    assert!(m.starts_with("not a supported"), "{m}");
    let gone = d.join("does_not_exist.wav");
    assert_eq!(
        read(&gone).unwrap_err().to_string(),
        format!("{}: cannot open: No such file or directory", gone.display())
    );
    assert_eq!(
        read(d).unwrap_err().to_string(),
        format!("{}: cannot open: is a directory", d.display())
    );
}

#[test]
fn truncated_flac_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.flac");
    let x = signal(20_000, 1, 3);
    write(
        &path,
        &Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: x,
        },
        SampleFormat::I16,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let m = read(&path).unwrap_err().to_string();
    assert!(
        m.contains("t.flac: truncated: header says 20000 frames"),
        "{m}"
    );
    // Cut inside STREAMINFO.
    std::fs::write(&path, &bytes[..20]).unwrap();
    let m = read(&path).unwrap_err().to_string();
    assert!(m.contains("t.flac: "), "{m}");
}

#[test]
fn eight_bit_and_32_bit_int_wav_scale_like_symphonia() {
    let dir = tempfile::tempdir().unwrap();
    // 8-bit WAV is unsigned: 0 -> -1.0, 128 -> 0.0, 255 -> 127/128.
    let p8 = dir.path().join("u8.wav");
    std::fs::write(&p8, wav_bytes(1, 1, 8_000, 8, 4, &[0, 128, 255, 64])).unwrap();
    let a = read(&p8).unwrap();
    assert_eq!(a.samples, vec![-1.0, 0.0, 127.0 / 128.0, -0.5]);
    assert_eq!(read_symphonia(&p8).unwrap().samples, a.samples);
    let p32 = dir.path().join("s32.wav");
    let vals: [i32; 3] = [i32::MIN, 0x4000_0000, 12345];
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&p32, wav_bytes(1, 1, 8_000, 32, 12, &data)).unwrap();
    let a = read(&p32).unwrap();
    assert_eq!(a.samples[..2], [-1.0, 0.5]);
    assert_eq!(read_symphonia(&p32).unwrap().samples, a.samples);
    assert_eq!(probe(&p32).unwrap().codec, "pcm_s32le");
}

#[test]
fn mulaw_wav_decodes_via_symphonia() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mulaw.wav");
    // mu-law 0xFF and 0x7F are the two zero codes.
    std::fs::write(&p, wav_bytes(7, 1, 8_000, 8, 4, &[0xFF, 0x7F, 0x80, 0x00])).unwrap();
    let info = probe(&p).unwrap();
    assert_eq!(info.codec, "pcm_mulaw");
    let a = read(&p).unwrap();
    assert_eq!(a.frames(), 4);
    assert_eq!(a.samples[..2], [0.0, 0.0]);
    assert!(a.samples[2] > 0.9 && a.samples[3] < -0.9, "{:?}", a.samples);
}

#[test]
fn mono_mix_is_channel_mean() {
    let a = Audio {
        sample_rate: 8_000,
        channels: 3,
        samples: vec![0.3, 0.6, 0.0, -1.0, -1.0, 1.0],
    };
    let m = a.to_mono();
    assert_eq!(m.len(), 2);
    assert!((m[0] - 0.3).abs() < 1e-7 && (m[1] + 1.0 / 3.0).abs() < 1e-7);
    assert!((a.duration_secs() - 2.0 / 8000.0).abs() < 1e-12);
}

#[test]
fn extensible_24_in_32_bit_wav_is_left_justified() {
    // WAVE_FORMAT_EXTENSIBLE, 32-bit container, 24 valid bits, PCM sub-format.
    let vals: [i32; 3] = [0x40_0000, -0x80_0000, 1];
    let data: Vec<u8> = vals.iter().flat_map(|v| (v << 8).to_le_bytes()).collect();
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(4 + 8 + 40 + 8 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&40u32.to_le_bytes());
    v.extend_from_slice(&0xFFFEu16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8_000u32.to_le_bytes());
    v.extend_from_slice(&32_000u32.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&32u16.to_le_bytes());
    v.extend_from_slice(&22u16.to_le_bytes());
    v.extend_from_slice(&24u16.to_le_bytes());
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&[
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B,
        0x71,
    ]);
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s24in32.wav");
    std::fs::write(&p, v).unwrap();
    let info = probe(&p).unwrap();
    assert_eq!(info.bits_per_sample, Some(24));
    let a = read(&p).unwrap();
    assert_eq!(a.samples, vec![0.5, -1.0, 1.0 / 8_388_608.0]);
}

#[test]
fn readers_and_writers_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<AudioReader>();
    send::<AudioWriter>();
}
