//! Log-spectral distance (DESIGN.md, "Metrics").

use realfft::RealFftPlanner;

use super::{check_pair, too_short, MetricError};
use crate::config::lsd::{HIGH_BAND_HZ, HOP, N_FFT, POWER_CLAMP};

/// Log-spectral distance of one pair, in log10-power units (not dB).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Lsd {
    /// Over all `N_FFT / 2 + 1` bins.
    pub full: f64,
    /// Over the bins strictly above [`HIGH_BAND_HZ`].
    pub high: f64,
}

/// Log-spectral distance: STFT with `N_FFT` = 2048, hop 512, periodic Hann window, centred
/// (reflect padding of `N_FFT / 2` on both sides, like librosa/torch `center=True,
/// pad_mode="reflect"`); power `|X|^2` clamped at 1e-8; `log10`; per frame
/// `sqrt(mean over bins of (log10 P_ref - log10 P_est)^2)`; mean over frames.
///
/// Signals of unequal length are truncated to the shorter. Needs at least `N_FFT / 2 + 1`
/// samples (reflect padding) and a sample rate whose Nyquist lies above the high band.
pub fn lsd(reference: &[f32], estimate: &[f32], sample_rate: u32) -> Result<Lsd, MetricError> {
    let (reference, estimate) = check_pair("LSD", reference, estimate)?;
    if f64::from(sample_rate) / 2.0 <= HIGH_BAND_HZ {
        return Err(MetricError::SampleRate {
            metric: "LSD",
            sample_rate,
            expected: "a rate above 8000 Hz so that bins above 4 kHz exist",
        });
    }
    let pad = N_FFT / 2;
    let n = reference.len();
    if n <= pad {
        return Err(too_short("LSD", n, sample_rate, pad + 1));
    }
    let bins = N_FFT / 2 + 1;
    // First bin strictly above the high-band edge.
    let first_high = (0..bins)
        .position(|k| k as f64 * f64::from(sample_rate) / N_FFT as f64 > HIGH_BAND_HZ)
        .unwrap_or(bins);

    let window: Vec<f64> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
        .collect();
    let padded_ref = reflect_pad(reference, pad);
    let padded_est = reflect_pad(estimate, pad);
    let n_frames = 1 + (padded_ref.len() - N_FFT) / HOP;

    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
    let mut frame = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut log_ref = vec![0.0f64; bins];
    let mut log_est = vec![0.0f64; bins];
    let (mut sum_full, mut sum_high) = (0.0f64, 0.0f64);
    for t in 0..n_frames {
        for (padded, out) in [(&padded_ref, &mut log_ref), (&padded_est, &mut log_est)] {
            let seg = &padded[t * HOP..t * HOP + N_FFT];
            for ((f, &s), &w) in frame.iter_mut().zip(seg).zip(&window) {
                *f = s * w;
            }
            fft.process_with_scratch(&mut frame, &mut spec, &mut scratch)
                .map_err(MetricError::fft)?;
            for (o, c) in out.iter_mut().zip(&spec) {
                *o = c.norm_sqr().max(POWER_CLAMP).log10();
            }
        }
        let sq: Vec<f64> = log_ref
            .iter()
            .zip(&log_est)
            .map(|(a, b)| (a - b) * (a - b))
            .collect();
        sum_full += (sq.iter().sum::<f64>() / bins as f64).sqrt();
        let high = &sq[first_high..];
        sum_high += (high.iter().sum::<f64>() / high.len() as f64).sqrt();
    }
    Ok(Lsd {
        full: sum_full / n_frames as f64,
        high: sum_high / n_frames as f64,
    })
}

/// numpy `mode="reflect"` padding (edge sample not repeated); requires `x.len() > pad`.
fn reflect_pad(x: &[f32], pad: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    out.extend((0..pad).map(|i| f64::from(x[pad - i])));
    out.extend(x.iter().map(|&v| f64::from(v)));
    out.extend((0..pad).map(|i| f64::from(x[n - 2 - i])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_pad_matches_numpy() {
        // np.pad([1, 2, 3, 4], 2, mode="reflect") == [3, 2, 1, 2, 3, 4, 3, 2]
        assert_eq!(
            reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
        );
    }
}
