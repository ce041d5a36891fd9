//! Shared helpers of the engine integration tests (mock models, real speech, streaming).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use widen_core::config::MelConfig;
use widen_core::dsp::resample;
use widen_core::engine::mock::{MockGenerator, MockVocoder};
use widen_core::engine::{Context, Engine, EngineConfig, ModelRuntime, StreamProcessor, Synthesis};

/// Mel band of 4 kHz in the seed's 80-band HTK filterbank (bands above it are generated).
pub const SPLIT_BAND: usize = 50;

/// A small, fast test configuration: contexts cover the mocks' receptive fields, chunk 4.
pub fn small_config(rate: u32) -> EngineConfig {
    EngineConfig {
        generator_context: Context { left: 4, right: 4 },
        vocoder_context: Context { left: 3, right: 5 },
        chunk_frames: 4,
        input_rate: rate,
        output_rate: rate,
        ..EngineConfig::default()
    }
}

/// Mock generator (radius 3) and vocoder (radius 2) for `mel`.
pub fn mocks(mel: &MelConfig) -> (Box<dyn ModelRuntime>, Option<Box<dyn ModelRuntime>>) {
    (
        Box::new(MockGenerator::new(mel.n_mels, SPLIT_BAND, 3)),
        Some(Box::new(
            MockVocoder::new(mel, 2, 1.0).expect("valid mel config"),
        )),
    )
}

/// An engine with the mock models.
pub fn engine(cfg: EngineConfig, max_block: usize) -> Engine {
    let (g, v) = mocks(&cfg.mel);
    let v = if cfg.synthesis == Synthesis::Vocoder {
        v
    } else {
        None
    };
    Engine::new(cfg, g, v, max_block).expect("valid engine")
}

/// Root of the real-speech test data: `$WIDEN_TESTDATA` or `<workspace>/.cache/testdata`.
pub fn testdata() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata"));
    assert!(
        dir.join("ktuberling/fr").is_dir(),
        "real-speech test data missing at {}: run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        dir.display()
    );
    dir
}

/// Mono PCM16 WAV as f32, with its rate.
pub fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample),
        (1, 16),
        "{}",
        path.display()
    );
    let x = reader
        .samples::<i16>()
        .map(|s| s.map(|v| v as f32 / 32768.0))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()));
    (x, spec.sample_rate)
}

/// Real narrow-band speech (an 8 kHz ktuberling word) up-sampled to `rate`, at most `seconds`.
pub fn speech(rate: u32, seconds: f32) -> Vec<f32> {
    let (x, sr) = read_wav(&testdata().join("ktuberling/fr/bouche.wav"));
    assert_eq!(sr, 8000);
    let n = ((seconds * sr as f32) as usize).min(x.len());
    resample(&x[..n], sr, rate).expect("resample")
}

/// Streams `input` followed by `latency` zeros through `engine` (reset first) in blocks of
/// `block`, and drops the first `latency` output samples: same length and alignment as
/// `process_offline`.
pub fn stream_trimmed(engine: &mut Engine, input: &[f32], block: usize) -> Vec<f32> {
    engine.reset();
    let lat = engine.latency_samples();
    let mut x = input.to_vec();
    x.resize(input.len() + lat, 0.0);
    let mut y = vec![0.0f32; x.len()];
    for (i, o) in x.chunks(block).zip(y.chunks_mut(block)) {
        engine.process_block(i, o).expect("process_block");
    }
    y.drain(..lat);
    y
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// `x` with 10 ms raised-cosine fades at both ends: a stream that starts or stops on a
/// non-zero sample has a step, whose spectrum reaches above any cutoff.
pub fn faded(mut x: Vec<f32>, rate: u32) -> Vec<f32> {
    let n = (rate as usize / 100).min(x.len() / 2);
    let len = x.len();
    for i in 0..n {
        let g = (0.5 - 0.5 * (std::f64::consts::PI * i as f64 / n as f64).cos()) as f32;
        x[i] *= g;
        x[len - 1 - i] *= g;
    }
    x
}
