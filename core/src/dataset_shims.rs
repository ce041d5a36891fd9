//! TEMPORARY SHIM — branch `h-dataset` only; DELETE AT MERGE.
//!
//! Minimal stand-ins with the same signatures as the real `crate::io` (read/write audio) and
//! `crate::dsp::resample` (written in parallel by other helpers), so `dataset` compiles and its
//! tests run before the merge. WAV only (hound), naive windowed-sinc resampler. After the merge,
//! `dataset.rs` imports the real modules instead (see the MERGE note at its top) and this file goes.

pub mod io {
    use std::fmt;
    use std::path::{Path, PathBuf};

    /// Decoded audio, interleaved.
    pub struct Audio {
        pub sample_rate: u32,
        pub channels: usize,
        pub samples: Vec<f32>,
    }

    impl Audio {
        pub fn to_mono(&self) -> Vec<f32> {
            if self.channels <= 1 {
                return self.samples.clone();
            }
            self.samples
                .chunks(self.channels)
                .map(|f| f.iter().sum::<f32>() / self.channels as f32)
                .collect()
        }
    }

    #[derive(Debug, Clone, Copy)]
    pub enum SampleFormat {
        I16,
        #[allow(dead_code)]
        I24,
        #[allow(dead_code)]
        F32,
    }

    #[derive(Debug)]
    pub struct AudioError {
        path: PathBuf,
        reason: String,
    }

    impl fmt::Display for AudioError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: {}", self.path.display(), self.reason)
        }
    }

    fn err(path: &Path, reason: impl ToString) -> AudioError {
        AudioError {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub fn read(path: &Path) -> Result<Audio, AudioError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext.as_deref() != Some("wav") {
            return Err(err(path, "shim reads WAV only"));
        }
        let mut r = hound::WavReader::open(path).map_err(|e| err(path, e))?;
        let spec = r.spec();
        let samples: Result<Vec<f32>, _> = match spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().collect(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                r.samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect()
            }
        };
        Ok(Audio {
            sample_rate: spec.sample_rate,
            channels: usize::from(spec.channels),
            samples: samples.map_err(|e| err(path, e))?,
        })
    }

    pub fn write(path: &Path, audio: &Audio, format: SampleFormat) -> Result<(), AudioError> {
        let (bits, sample_format) = match format {
            SampleFormat::I16 => (16, hound::SampleFormat::Int),
            SampleFormat::I24 => (24, hound::SampleFormat::Int),
            SampleFormat::F32 => (32, hound::SampleFormat::Float),
        };
        let spec = hound::WavSpec {
            channels: audio.channels as u16,
            sample_rate: audio.sample_rate,
            bits_per_sample: bits,
            sample_format,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut w = hound::WavWriter::create(&partial, spec).map_err(|e| err(path, e))?;
        for &s in &audio.samples {
            let r = match format {
                SampleFormat::F32 => w.write_sample(s),
                _ => {
                    let full = (1i64 << (bits - 1)) as f32;
                    w.write_sample((s * full).round().clamp(-full, full - 1.0) as i32)
                }
            };
            r.map_err(|e| err(path, e))?;
        }
        w.finalize().map_err(|e| err(path, e))?;
        std::fs::rename(&partial, path).map_err(|e| err(path, e))
    }
}

pub mod resample {
    use std::f64::consts::PI;
    use std::fmt;

    #[derive(Debug)]
    pub struct DspError(String);

    impl fmt::Display for DspError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    /// Direct windowed-sinc interpolation (Blackman, 16 zero crossings each side), output length
    /// `round(len * to / from)`, sample-aligned.
    pub fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, DspError> {
        if from_hz == 0 || to_hz == 0 {
            return Err(DspError(format!(
                "rates must be positive, got {from_hz} -> {to_hz}"
            )));
        }
        if from_hz == to_hz {
            return Ok(x.to_vec());
        }
        let ratio = f64::from(to_hz) / f64::from(from_hz);
        let n_out = (x.len() as f64 * ratio).round() as usize;
        let fc = 0.5 * ratio.min(1.0) * 0.95; // cycles per input sample
        let half = (16.0 / (2.0 * fc)).ceil();
        let out = (0..n_out)
            .map(|i| {
                let t = i as f64 / ratio;
                let lo = ((t - half).ceil().max(0.0)) as usize;
                let hi = ((t + half).floor() as usize).min(x.len().saturating_sub(1));
                let mut acc = 0.0;
                for (j, &v) in x.iter().enumerate().take(hi + 1).skip(lo) {
                    let d = j as f64 - t;
                    let arg = 2.0 * fc * d;
                    let s = if arg == 0.0 {
                        1.0
                    } else {
                        (PI * arg).sin() / (PI * arg)
                    };
                    let u = (d / half + 1.0) / 2.0; // 0..1 across the window
                    let w = 0.42 - 0.5 * (2.0 * PI * u).cos() + 0.08 * (4.0 * PI * u).cos();
                    acc += f64::from(v) * 2.0 * fc * s * w;
                }
                acc as f32
            })
            .collect();
        Ok(out)
    }
}
