//! Quality metrics of `widen eval` (DESIGN.md, "Metrics").
//!
//! All metrics compare a mono `reference` against a mono `estimate` at the same sample rate.
//! Signals of unequal length are truncated to the shorter one (align them first with
//! [`find_lag`] / [`align`] when a constant delay is expected).
//!
//! - [`lsd()`]: log-spectral distance, full band and high band (bins above
//!   [`crate::config::lsd::HIGH_BAND_HZ`]).
//! - [`snr_db`], [`mse`].
//! - [`stoi`]: a port of PyPI `pystoi` 0.4.1 (`extended=False`), including its Octave-style
//!   resampler ([`resample_poly_oct`]).
//! - [`pesq_wb`]: ITU-T P.862.2 through the `pesq` crate, after resampling to 16 kHz.
//! - [`evaluate`]: all of the above in one [`Scores`].
//!
//! The fixture test `core/tests/metrics_fixtures.rs` checks every metric against numpy, pystoi
//! and the PyPI `pesq` package on real speech.

mod lag;
mod lsd;
mod pesq_wb;
mod resample;
mod stoi;

pub use lag::{align, find_lag};
pub use lsd::{lsd, Lsd};
pub use pesq_wb::pesq_wb;
pub use resample::resample_poly_oct;
pub use stoi::stoi;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// An input holds no samples.
    #[error("{metric}: the {which} signal is empty, expected at least one sample")]
    Empty {
        metric: &'static str,
        which: &'static str,
    },
    /// The (common) length is below what the metric needs.
    #[error(
        "signal too short for {metric}: {seconds:.3} s ({samples} samples at {sample_rate} Hz), \
         need at least {need_seconds:.3} s"
    )]
    TooShort {
        metric: &'static str,
        samples: usize,
        sample_rate: u32,
        seconds: f64,
        need_seconds: f64,
    },
    /// A sample is NaN or infinite.
    #[error("{metric}: the {which} signal has a non-finite sample (NaN or infinity) at index {index}, expected finite samples")]
    NonFinite {
        metric: &'static str,
        which: &'static str,
        index: usize,
    },
    /// The sample rate cannot be used by this metric.
    #[error("{metric}: unsupported sample rate {sample_rate} Hz, expected {expected}")]
    SampleRate {
        metric: &'static str,
        sample_rate: u32,
        expected: &'static str,
    },
    /// A signal holds only zeros (for PESQ: after 16-bit quantisation), so the metric is undefined.
    #[error("{metric}: the {which} signal is silent (all samples are zero), expected speech")]
    Silent {
        metric: &'static str,
        which: &'static str,
    },
    /// STOI kept too few frames after `remove_silent_frames`.
    #[error(
        "signal too short for STOI after removing silent frames: {frames} STFT frames of speech at 10 kHz, \
         need at least {need} (about 0.41 s of speech)"
    )]
    StoiTooFewFrames { frames: usize, need: usize },
    /// PESQ's voice activity detection found no utterance.
    #[error(
        "PESQ found no utterance in the signals, expected active speech in reference and estimate"
    )]
    PesqNoUtterances,
    /// The PESQ implementation failed in an unexpected way (including a panic inside the
    /// `pesq` crate, which is caught).
    #[error("PESQ failed: {0}")]
    Pesq(String),
    /// An FFT rejected its buffers (buffers are sized by the plan, so this indicates a bug).
    #[error("internal FFT error: {0}")]
    Fft(String),
}

impl MetricError {
    fn fft(e: realfft::FftError) -> Self {
        Self::Fft(e.to_string())
    }
}

/// Check that a signal is non-empty and finite.
fn check_signal(metric: &'static str, which: &'static str, x: &[f32]) -> Result<(), MetricError> {
    if x.is_empty() {
        return Err(MetricError::Empty { metric, which });
    }
    if let Some(index) = x.iter().position(|v| !v.is_finite()) {
        return Err(MetricError::NonFinite {
            metric,
            which,
            index,
        });
    }
    Ok(())
}

/// Check both signals and truncate them to the shorter length.
fn check_pair<'a>(
    metric: &'static str,
    reference: &'a [f32],
    estimate: &'a [f32],
) -> Result<(&'a [f32], &'a [f32]), MetricError> {
    check_signal(metric, "reference", reference)?;
    check_signal(metric, "estimate", estimate)?;
    let n = reference.len().min(estimate.len());
    Ok((&reference[..n], &estimate[..n]))
}

fn too_short(
    metric: &'static str,
    samples: usize,
    sample_rate: u32,
    need_samples: usize,
) -> MetricError {
    let rate = f64::from(sample_rate.max(1));
    MetricError::TooShort {
        metric,
        samples,
        sample_rate,
        seconds: samples as f64 / rate,
        need_seconds: need_samples as f64 / rate,
    }
}

/// Signal-to-noise ratio `10 log10(sum ref^2 / sum (ref - est)^2)` in dB, over the common length.
///
/// Zero error gives `+inf` (also for two silent signals); a silent reference with a non-zero
/// error gives `-inf`; empty input gives NaN. Computed in f64.
pub fn snr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    let n = reference.len().min(estimate.len());
    if n == 0 {
        return f64::NAN;
    }
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for (&r, &e) in reference[..n].iter().zip(&estimate[..n]) {
        let (r, e) = (f64::from(r), f64::from(e));
        signal += r * r;
        error += (r - e) * (r - e);
    }
    if error == 0.0 {
        f64::INFINITY
    } else if signal == 0.0 {
        f64::NEG_INFINITY
    } else {
        10.0 * (signal / error).log10()
    }
}

/// Mean squared error over the common length (NaN for empty input). Computed in f64.
pub fn mse(reference: &[f32], estimate: &[f32]) -> f64 {
    let n = reference.len().min(estimate.len());
    if n == 0 {
        return f64::NAN;
    }
    let sum: f64 = reference[..n]
        .iter()
        .zip(&estimate[..n])
        .map(|(&r, &e)| {
            let d = f64::from(r) - f64::from(e);
            d * d
        })
        .sum();
    sum / n as f64
}

/// Every metric of `widen eval` for one reference/estimate pair.
///
/// `snr_db` may be infinite (identical signals); serde_json writes non-finite numbers as `null`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scores {
    /// STOI (pystoi-compatible), `None` when it cannot be computed (see `notes`).
    pub stoi: Option<f64>,
    /// PESQ wide-band MOS-LQO (P.862.2), `None` when it cannot be computed (see `notes`).
    pub pesq_wb: Option<f64>,
    /// Full-band log-spectral distance.
    pub lsd: f64,
    /// Log-spectral distance of the bins above [`crate::config::lsd::HIGH_BAND_HZ`].
    pub lsd_hf: f64,
    /// Signal-to-noise ratio in dB.
    pub snr_db: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Why a metric is missing, and other remarks (e.g. truncation to a common length).
    pub notes: Vec<String>,
}

/// Compute all metrics on the common length. LSD problems (empty, too short, non-finite input,
/// unusable rate) are errors; STOI and PESQ failures only leave their field `None` with the
/// reason in `notes`. No delay compensation happens here: use [`find_lag`] and [`align`] first.
pub fn evaluate(
    reference: &[f32],
    estimate: &[f32],
    sample_rate: u32,
) -> Result<Scores, MetricError> {
    let mut notes = Vec::new();
    if reference.len() != estimate.len() {
        notes.push(format!(
            "reference has {} samples and estimate {}: both truncated to {}",
            reference.len(),
            estimate.len(),
            reference.len().min(estimate.len())
        ));
    }
    let Lsd { full, high } = lsd(reference, estimate, sample_rate)?;
    let (r, e) = check_pair("evaluate", reference, estimate)?;
    let stoi = match stoi(r, e, sample_rate) {
        Ok(v) => Some(v),
        Err(err) => {
            notes.push(format!("STOI not computed: {err}"));
            None
        }
    };
    let pesq_wb = match pesq_wb(r, e, sample_rate) {
        Ok(v) => Some(v),
        Err(err) => {
            notes.push(format!("PESQ-WB not computed: {err}"));
            None
        }
    };
    Ok(Scores {
        stoi,
        pesq_wb,
        lsd: full,
        lsd_hf: high,
        snr_db: snr_db(r, e),
        mse: mse(r, e),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, rate: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                    + 0.1 * (2.0 * std::f64::consts::PI * 6000.0 * t).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn snr_and_mse_trivial_values() {
        let r = [1.0f32, -1.0, 1.0, -1.0];
        let e = [0.9f32, -0.9, 0.9, -0.9];
        // Error 0.1 on every sample: SNR = 10 log10(1 / 0.01) = 20 dB.
        assert!((snr_db(&r, &e) - 20.0).abs() < 1e-5);
        assert!((mse(&r, &e) - 0.01).abs() < 1e-8);
        assert_eq!(snr_db(&r, &r), f64::INFINITY);
        assert_eq!(mse(&r, &r), 0.0);
        assert_eq!(snr_db(&[0.0; 4], &r), f64::NEG_INFINITY);
        assert_eq!(snr_db(&[0.0; 4], &[0.0; 4]), f64::INFINITY);
        assert!(snr_db(&[], &[]).is_nan());
        assert!(mse(&[], &r).is_nan());
        // Gain 0.5: error = 0.5 ref, SNR = 20 log10(2).
        let half: Vec<f32> = r.iter().map(|v| v * 0.5).collect();
        assert!((snr_db(&r, &half) - 20.0 * 2f64.log10()).abs() < 1e-9);
        // Truncation to the common length.
        assert_eq!(mse(&r, &e[..2]), mse(&r[..2], &e[..2]));
    }

    #[test]
    fn lsd_of_identical_signals_is_zero() {
        let x = tone(22_050, 22_050);
        let d = lsd(&x, &x, 22_050).unwrap();
        assert_eq!(d.full, 0.0);
        assert_eq!(d.high, 0.0);
    }

    #[test]
    fn lsd_of_gain_is_constant_log_ratio() {
        // Away from the clamp, a gain g changes every bin's log power by 2 log10(g).
        // Tone plus white LCG noise, so that no bin falls to the clamp.
        let mut state = 1u32;
        let x: Vec<f32> = tone(22_050, 22_050)
            .iter()
            .map(|v| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                v + 1e-2 * ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
            })
            .collect();
        let y: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
        let d = lsd(&x, &y, 22_050).unwrap();
        let want = 2.0 * 2f64.log10();
        assert!((d.full - want).abs() < 1e-4, "{d:?}");
        assert!((d.high - want).abs() < 1e-4, "{d:?}");
    }

    #[test]
    fn lsd_errors_on_bad_input() {
        let x = tone(4096, 22_050);
        assert!(matches!(
            lsd(&[], &x, 22_050),
            Err(MetricError::Empty { .. })
        ));
        let e = lsd(&x[..1000], &x, 22_050).unwrap_err();
        assert!(matches!(e, MetricError::TooShort { samples: 1000, .. }));
        assert!(e.to_string().contains("need at least"), "{e}");
        assert!(matches!(
            lsd(&x, &x, 8_000),
            Err(MetricError::SampleRate { .. })
        ));
        let mut bad = x.clone();
        bad[17] = f32::NAN;
        assert!(matches!(
            lsd(&x, &bad, 22_050),
            Err(MetricError::NonFinite { index: 17, .. })
        ));
    }

    #[test]
    fn stoi_and_pesq_errors_on_short_or_silent_input() {
        let x = tone(2000, 22_050);
        let e = stoi(&x, &x, 22_050).unwrap_err();
        assert!(matches!(e, MetricError::StoiTooFewFrames { .. }), "{e}");
        let e = pesq_wb(&x, &x, 22_050).unwrap_err();
        assert!(matches!(e, MetricError::TooShort { .. }), "{e}");
        assert!(e.to_string().contains("need at least 0.250 s"), "{e}");
        assert!(matches!(
            stoi(&[], &x, 22_050),
            Err(MetricError::Empty { .. })
        ));
        assert!(matches!(
            pesq_wb(&x, &[], 22_050),
            Err(MetricError::Empty { .. })
        ));
        let silent = vec![0.0f32; 22_050];
        let long = tone(22_050, 22_050);
        assert!(matches!(
            stoi(&silent, &long, 22_050),
            Err(MetricError::Silent {
                which: "reference",
                ..
            })
        ));
        assert!(matches!(
            pesq_wb(&silent, &long, 22_050),
            Err(MetricError::Silent {
                which: "reference",
                ..
            })
        ));
        // A silent estimate has a STOI (0: no correlation) but no PESQ score.
        assert_eq!(stoi(&long, &silent, 22_050), Ok(0.0));
        assert!(matches!(
            pesq_wb(&long, &silent, 22_050),
            Err(MetricError::Silent {
                which: "estimate",
                ..
            })
        ));
        assert!(matches!(
            stoi(&long, &long, 0),
            Err(MetricError::SampleRate { .. })
        ));
        assert!(matches!(
            pesq_wb(&long, &long, 0),
            Err(MetricError::SampleRate { .. })
        ));
    }

    #[test]
    fn evaluate_reports_missing_metrics_in_notes() {
        let x = tone(2000, 22_050);
        let s = evaluate(&x, &x[..1900], 22_050).unwrap();
        assert_eq!(s.lsd, 0.0);
        assert_eq!(s.stoi, None);
        assert_eq!(s.pesq_wb, None);
        assert_eq!(s.notes.len(), 3, "{:?}", s.notes);
        assert!(s.notes[0].contains("truncated to 1900"));
        assert!(evaluate(&[], &x, 22_050).is_err());
    }
}
