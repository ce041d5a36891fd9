//! PESQ wide-band (ITU-T P.862.2) through the `pesq` crate.

use super::{check_pair, resample_poly_oct, MetricError};
use crate::config::PESQ_RATE;

/// P.862.2 needs at least a quarter of a second at 16 kHz.
const MIN_SAMPLES_16K: usize = PESQ_RATE as usize / 4;

/// PESQ wide-band MOS-LQO (P.862.2) of `estimate` against `reference`.
///
/// Both signals are truncated to the shorter, resampled to 16 kHz with [`resample_poly_oct`]
/// (`PESQ_RATE / gcd` over `sample_rate / gcd`, e.g. 320/441 from 22.05 kHz), scaled by 32767,
/// rounded (ties to even) and clamped to 16-bit PCM, then scored by `pesq::pesq_wb`. The
/// fixture test checks this against the PyPI `pesq` 0.0.4 package fed the same 16-bit samples.
///
/// Errors: empty or non-finite input, rate 0, less than 0.25 s, a reference that is all zeros
/// after quantisation, and no utterance found by PESQ's voice activity detection.
pub fn pesq_wb(reference: &[f32], estimate: &[f32], sample_rate: u32) -> Result<f64, MetricError> {
    let (reference, estimate) = check_pair("PESQ", reference, estimate)?;
    if sample_rate == 0 {
        return Err(MetricError::SampleRate {
            metric: "PESQ",
            sample_rate,
            expected: "a positive rate",
        });
    }
    let ref16 = to_pcm16(&resample_to_pesq_rate(reference, sample_rate));
    let est16 = to_pcm16(&resample_to_pesq_rate(estimate, sample_rate));
    if ref16.len() < MIN_SAMPLES_16K {
        let n = reference.len();
        return Err(MetricError::TooShort {
            metric: "PESQ",
            samples: n,
            sample_rate,
            seconds: n as f64 / f64::from(sample_rate),
            need_seconds: MIN_SAMPLES_16K as f64 / f64::from(PESQ_RATE),
        });
    }
    if ref16.iter().all(|&v| v == 0) {
        return Err(MetricError::SilentReference { metric: "PESQ" });
    }
    let mos = pesq::pesq_wb(&ref16, &est16).map_err(|e| match e {
        pesq::PesqError::NoUtterancesFound => MetricError::PesqNoUtterances,
        other => MetricError::Pesq(other.to_string()),
    })?;
    let mos = f64::from(mos);
    if !mos.is_finite() {
        return Err(MetricError::Pesq(format!(
            "score is not finite ({mos}), expected a MOS-LQO between 1 and 4.64"
        )));
    }
    Ok(mos)
}

fn resample_to_pesq_rate(x: &[f32], sample_rate: u32) -> Vec<f64> {
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    resample_poly_oct(&x, PESQ_RATE as usize, sample_rate as usize)
}

/// Float in [-1, 1] to 16-bit PCM: `round_ties_even(x * 32767)` clamped (numpy's `np.round`).
fn to_pcm16(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|&v| (v * 32767.0).round_ties_even().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_rounds_and_clamps() {
        assert_eq!(
            to_pcm16(&[0.0, 0.25, -0.25, 1.0, -1.0, 2.0, -2.0]),
            vec![0, 8192, -8192, 32767, -32767, 32767, -32768]
        );
    }
}
