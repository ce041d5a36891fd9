//! Decoding real files from the test data: OGG Vorbis (symphonia), PCM WAV (hound), and the
//! Opus files symphonia cannot decode.

mod common;

use common::{speech_clips, testdata_dir};
use widen_core::io::{probe, read, write, AudioError, AudioReader, SampleFormat};

#[test]
fn ogg_vorbis_decodes_and_streams_identically() {
    let path = testdata_dir().join("ktuberling/en/ball.ogg");
    let info = probe(&path).unwrap();
    assert_eq!(info.container, "ogg");
    assert_eq!(info.codec, "vorbis");
    assert_eq!(info.sample_rate, 44_100);
    assert_eq!(info.channels, 2);
    assert_eq!(info.bits_per_sample, None);
    assert_eq!(info.sample_format, "float");
    let a = read(&path).unwrap();
    assert!(
        a.duration_secs() > 0.3 && a.duration_secs() < 10.0,
        "{}",
        a.duration_secs()
    );
    let peak = a.samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.05 && peak <= 1.5, "peak {peak}");
    let mut r = AudioReader::open(&path).unwrap();
    let mut buf = Vec::new();
    let mut all = Vec::new();
    while r.read_frames(&mut buf, 100).unwrap() > 0 {
        all.extend_from_slice(&buf);
    }
    assert!(all == a.samples);
}

#[test]
fn pcm_wav_speech_survives_a_flac_round_trip() {
    let src = &speech_clips("fr", 44_100)[0];
    let a = read(src).unwrap();
    assert_eq!(probe(src).unwrap().codec, "pcm_s16le");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.flac");
    write(&out, &a, SampleFormat::I16).unwrap();
    // 16-bit in, 16-bit out: lossless.
    assert!(read(&out).unwrap() == a);
    // And FLAC is smaller than the PCM it holds.
    let flac = std::fs::metadata(&out).unwrap().len();
    assert!(flac < (a.samples.len() * 2) as u64, "{flac} bytes");
}

#[test]
fn opus_is_reported_as_unsupported() {
    let path = testdata_dir().join("ktuberling/nn/xmas_reindeer.opus");
    let err = read(&path).unwrap_err();
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("xmas_reindeer.opus: unsupported: codec opus"),
        "{msg}"
    );
}
