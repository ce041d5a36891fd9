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
/// Errors: empty or non-finite input, rate 0, less than 0.25 s, a reference or estimate that is
/// all zeros after quantisation, no utterance found by PESQ's voice activity detection, and a
/// panic inside the `pesq` crate (caught; seen only on pathological, non-speech pairs).
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
    // The ITU reference code (and so the PyPI package) returns NaN for a silent estimate while
    // pesq 0.2 returns a perfect 4.64: neither is a score.
    for (which, pcm) in [("reference", &ref16), ("estimate", &est16)] {
        if pcm.iter().all(|&v| v == 0) {
            return Err(MetricError::Silent {
                metric: "PESQ",
                which,
            });
        }
    }
    // Last resort: pesq 0.2 indexes out of bounds in its utterance splitting on some
    // pathological pairs (e.g. a lone impulse as reference against long active speech).
    let result = std::panic::catch_unwind(|| pesq::pesq_wb(&ref16, &est16)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        MetricError::Pesq(format!(
            "the pesq crate panicked on this input ({msg}); expected a score or an error"
        ))
    })?;
    let mos = result.map_err(|e| match e {
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
    fn crate_panic_becomes_an_error() {
        // A lone impulse against noise bursts made pesq 0.2 index out of bounds (splitting.rs).
        let n = 100_000;
        let mut reference = vec![0.0f32; n];
        reference[n / 2] = 30_000.0 / 32_767.0;
        // 0.25 s silence / 0.25 s noise bursts, one 2 s pattern repeated.
        let mut state = 3u32;
        let pattern: Vec<f32> = (0..32_000)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = (((state >> 8) as f32 / 16_777_216.0 - 0.5) * 2.0 * 8000.0) as i16;
                if (i / 4000) % 2 == 1 {
                    f32::from(v) / 32_767.0
                } else {
                    0.0
                }
            })
            .collect();
        let estimate: Vec<f32> = pattern.iter().cycle().take(n).copied().collect();
        match pesq_wb(&reference, &estimate, PESQ_RATE) {
            Err(MetricError::Pesq(msg)) => assert!(msg.contains("panicked"), "{msg}"),
            other => panic!("expected the caught crate panic, got {other:?}"),
        }
    }

    #[test]
    fn pcm16_rounds_and_clamps() {
        assert_eq!(
            to_pcm16(&[0.0, 0.25, -0.25, 1.0, -1.0, 2.0, -2.0]),
            vec![0, 8192, -8192, 32767, -32767, 32767, -32768]
        );
    }
}
