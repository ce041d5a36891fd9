//! Helpers of the `widen` CLI tests. These tests live in `cli/tests/` rather than the
//! workspace `tests/` crate because only here does Cargo build the binary first and hand
//! its path over as `CARGO_BIN_EXE_widen`, so the tests can never run a stale binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use widen_core::io::{write, Audio, SampleFormat};

/// Exit code, stdout and stderr of `widen ARGS...`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn widen<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    widen_env(args, &[])
}

/// [`widen`] with extra environment variables.
pub fn widen_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_widen"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run widen");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "widen panicked:\n{}",
        run.stderr
    );
    run
}

/// The error lines (`error: ...`) of stderr.
pub fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

/// The real-speech test data: `$WIDEN_TESTDATA`, else `<workspace root>/.cache/testdata`.
/// Missing data fails the test (never a silent skip).
pub fn testdata_dir() -> PathBuf {
    let dir = match std::env::var_os("WIDEN_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("cli/ has a parent")
            .join(".cache")
            .join("testdata"),
    };
    assert!(
        dir.join("ktuberling").is_dir(),
        "test data not found at {} (set WIDEN_TESTDATA or run scripts/setup-tests.sh)",
        dir.display()
    );
    dir
}

/// A sine of `amp` at `freq` Hz on every channel (channel c is phase-shifted by c radians).
pub fn sine(rate: u32, channels: usize, secs: f64, freq: f64, amp: f32) -> Audio {
    let frames = (secs * f64::from(rate)) as usize;
    let samples = (0..frames * channels)
        .map(|i| {
            let t = (i / channels) as f64 / f64::from(rate);
            amp * (2.0 * std::f64::consts::PI * freq * t + (i % channels) as f64).sin() as f32
        })
        .collect();
    Audio {
        sample_rate: rate,
        channels,
        samples,
    }
}

pub fn write_audio(path: &Path, audio: &Audio, format: SampleFormat) {
    write(path, audio, format).expect("write test audio");
}

/// A canonical 44-byte WAV header followed by `data` (the header may lie about its length).
pub fn wav_bytes(
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    v.extend_from_slice(&block_align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// 32-bit float mono WAV bytes holding `samples`.
pub fn float_wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
    wav_bytes(3, 1, rate, 32, data.len() as u32, &data)
}

/// Blackman-windowed sinc low-pass (`taps` odd, unity DC gain), applied as a centred FIR.
pub fn lowpass(x: &[f32], cutoff_hz: f64, fs: f64, taps: usize) -> Vec<f32> {
    let fc = cutoff_hz / fs;
    let m = (taps - 1) as f64;
    let pi = std::f64::consts::PI;
    let mut h: Vec<f64> = (0..taps)
        .map(|j| {
            let t = j as f64 - m / 2.0;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * pi * fc * t).sin() / (pi * t)
            };
            let a = 2.0 * pi * j as f64 / m;
            sinc * (0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos())
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    let half = taps / 2;
    (0..x.len())
        .map(|i| {
            let lo = (i + half + 1).saturating_sub(x.len());
            let hi = (i + half).min(taps - 1);
            (lo..=hi)
                .map(|j| h[j] * f64::from(x[i + half - j]))
                .sum::<f64>() as f32
        })
        .collect()
}
