//! Short-time objective intelligibility: a port of PyPI `pystoi` 0.4.1, `stoi(x, y, fs,
//! extended=False)` (Taal et al. 2010/2011), step by step so that scores match it.

use realfft::RealFftPlanner;

use super::{check_pair, resample_poly_oct, MetricError};
use crate::config::STOI_RATE;

/// Window support (samples at 10 kHz).
const N_FRAME: usize = 256;
/// Hop of the silence removal and of the STFT.
const HOP: usize = N_FRAME / 2;
/// FFT size (zero-padded frames).
const NFFT: usize = 512;
/// Number of third-octave bands.
const NUMBAND: usize = 15;
/// Centre frequency of the lowest band (Hz).
const MINFREQ: f64 = 150.0;
/// Frames per intermediate-intelligibility segment.
const N: usize = 30;
/// Lower signal-to-distortion bound (dB) of the clipping step.
const BETA: f64 = -15.0;
/// Frames quieter than the loudest reference frame by more than this (dB) are dropped.
const DYN_RANGE: f64 = 40.0;
/// numpy `finfo(float).eps`, used by pystoi as a guard everywhere.
const EPS: f64 = f64::EPSILON;

/// STOI of `estimate` against the clean `reference`, like `pystoi.stoi(reference, estimate,
/// sample_rate)`: resampled to 10 kHz with [`resample_poly_oct`], silent frames (40 dB below the
/// loudest reference frame) removed, 15 third-octave bands, 30-frame segments, clipping at
/// -15 dB SDR, mean correlation.
///
/// Differences from pystoi, all on inputs where pystoi gives no usable score: unequal lengths are
/// truncated to the shorter (pystoi raises), fewer than 30 frames of speech is
/// [`MetricError::StoiTooFewFrames`] (pystoi warns and returns 1e-5), and an all-zero reference
/// is [`MetricError::Silent`] (pystoi returns 0). A silent estimate scores 0, as in pystoi.
pub fn stoi(reference: &[f32], estimate: &[f32], sample_rate: u32) -> Result<f64, MetricError> {
    let (reference, estimate) = check_pair("STOI", reference, estimate)?;
    if sample_rate == 0 {
        return Err(MetricError::SampleRate {
            metric: "STOI",
            sample_rate,
            expected: "a positive rate",
        });
    }
    if reference.iter().all(|&v| v == 0.0) {
        return Err(MetricError::Silent {
            metric: "STOI",
            which: "reference",
        });
    }
    let mut x: Vec<f64> = reference.iter().map(|&v| f64::from(v)).collect();
    let mut y: Vec<f64> = estimate.iter().map(|&v| f64::from(v)).collect();
    if sample_rate != STOI_RATE {
        x = resample_poly_oct(&x, STOI_RATE as usize, sample_rate as usize);
        y = resample_poly_oct(&y, STOI_RATE as usize, sample_rate as usize);
    }
    let window = hanning_inner(N_FRAME);
    let (x, y) = remove_silent_frames(&x, &y, &window);

    let x_pow = stft_power(&x, &window)?;
    let y_pow = stft_power(&y, &window)?;
    if x_pow.len() < N {
        return Err(MetricError::StoiTooFewFrames {
            frames: x_pow.len(),
            need: N,
        });
    }
    let bands = third_octave_bands();
    let x_tob = band_envelopes(&x_pow, &bands);
    let y_tob = band_envelopes(&y_pow, &bands);

    let clip = 1.0 + 10f64.powf(-BETA / 20.0);
    let n_frames = x_pow.len();
    let n_segments = n_frames - N + 1;
    let mut total = 0.0;
    let mut xs = [0.0f64; N];
    let mut ys = [0.0f64; N];
    for m in N..=n_frames {
        for band in 0..NUMBAND {
            xs.copy_from_slice(&x_tob[band][m - N..m]);
            ys.copy_from_slice(&y_tob[band][m - N..m]);
            // Scale y to x's energy, then clip (eq. 3 of Taal 2011).
            let alpha = norm(&xs) / (norm(&ys) + EPS);
            for (yv, &xv) in ys.iter_mut().zip(&xs) {
                *yv = (*yv * alpha).min(xv * clip);
            }
            center_and_normalize(&mut ys);
            center_and_normalize(&mut xs);
            total += xs.iter().zip(&ys).map(|(a, b)| a * b).sum::<f64>();
        }
    }
    Ok(total / (n_segments * NUMBAND) as f64)
}

/// `numpy.hanning(n + 2)[1:-1]` (MATLAB's `hanning(n)`), with numpy's formula.
fn hanning_inner(n: usize) -> Vec<f64> {
    let m = n + 2;
    (1..=n)
        .map(|k| {
            let t = (2 * k) as f64 + 1.0 - m as f64;
            0.5 + 0.5 * (std::f64::consts::PI * t / (m as f64 - 1.0)).cos()
        })
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn center_and_normalize(v: &mut [f64]) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    for a in v.iter_mut() {
        *a -= mean;
    }
    let scale = norm(v) + EPS;
    for a in v.iter_mut() {
        *a /= scale;
    }
}

/// Start indices `range(0, len - N_FRAME, HOP)` of pystoi's framings.
fn frame_starts(len: usize) -> impl Iterator<Item = usize> {
    (0..len.saturating_sub(N_FRAME)).step_by(HOP)
}

/// `pystoi.utils.remove_silent_frames`: windowed frames whose reference energy is within
/// `DYN_RANGE` dB of the loudest one, overlap-added back into two signals.
fn remove_silent_frames(x: &[f64], y: &[f64], window: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let energies: Vec<f64> = frame_starts(x.len())
        .map(|i| {
            let e: f64 = x[i..i + N_FRAME]
                .iter()
                .zip(window)
                .map(|(s, w)| (s * w) * (s * w))
                .sum();
            20.0 * (e.sqrt() + EPS).log10()
        })
        .collect();
    let max = energies.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<usize> = frame_starts(x.len())
        .zip(&energies)
        .filter(|(_, &e)| (max - DYN_RANGE - e) < 0.0)
        .map(|(i, _)| i)
        .collect();
    let out_len = match kept.len() {
        0 => 0,
        k => (k - 1) * HOP + N_FRAME,
    };
    let mut x_out = vec![0.0; out_len];
    let mut y_out = vec![0.0; out_len];
    for (j, &i) in kept.iter().enumerate() {
        for n in 0..N_FRAME {
            x_out[j * HOP + n] += window[n] * x[i + n];
            y_out[j * HOP + n] += window[n] * y[i + n];
        }
    }
    (x_out, y_out)
}

/// `|rfft(w * frame, 512)|^2` for each frame of `pystoi.utils.stft(x, 256, 512, overlap=2)`.
fn stft_power(x: &[f64], window: &[f64]) -> Result<Vec<Vec<f64>>, MetricError> {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(NFFT);
    let mut frame = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    frame_starts(x.len())
        .map(|i| {
            frame.fill(0.0);
            for ((f, &s), &w) in frame.iter_mut().zip(&x[i..i + N_FRAME]).zip(window) {
                *f = w * s;
            }
            fft.process_with_scratch(&mut frame, &mut spec, &mut scratch)
                .map_err(MetricError::fft)?;
            Ok(spec.iter().map(|c| c.norm_sqr()).collect())
        })
        .collect()
}

/// Bin ranges `[lo, hi)` of `pystoi.utils.thirdoct(10000, 512, 15, 150)`: band edges snapped to
/// the nearest FFT bin (first one on ties, like `argmin`).
fn third_octave_bands() -> Vec<(usize, usize)> {
    let fs = f64::from(STOI_RATE);
    let bins = NFFT / 2 + 1;
    // numpy.linspace(0, fs, NFFT + 1): i * (fs / NFFT).
    let step = fs / NFFT as f64;
    let nearest = |f: f64| {
        let mut best = 0;
        let mut best_d = f64::INFINITY;
        for i in 0..bins {
            let d = (i as f64 * step - f).powi(2);
            if d < best_d {
                best_d = d;
                best = i;
            }
        }
        best
    };
    (0..NUMBAND)
        .map(|k| {
            let k = k as f64;
            let lo = MINFREQ * 2f64.powf((2.0 * k - 1.0) / 6.0);
            let hi = MINFREQ * 2f64.powf((2.0 * k + 1.0) / 6.0);
            (nearest(lo), nearest(hi))
        })
        .collect()
}

/// `sqrt(OBM @ |X|^2)`, as `[band][frame]`.
fn band_envelopes(power: &[Vec<f64>], bands: &[(usize, usize)]) -> Vec<Vec<f64>> {
    bands
        .iter()
        .map(|&(lo, hi)| {
            power
                .iter()
                .map(|p| p[lo..hi].iter().sum::<f64>().sqrt())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hanning_inner_matches_numpy() {
        // numpy.hanning(6)[1:-1]
        let w = hanning_inner(4);
        let want = [0.345_491_502_812_526_3, 0.904_508_497_187_473_7];
        assert!((w[0] - want[0]).abs() < 1e-15 && (w[3] - want[0]).abs() < 1e-15);
        assert!((w[1] - want[1]).abs() < 1e-15 && (w[2] - want[1]).abs() < 1e-15);
    }

    #[test]
    fn third_octave_bands_match_pystoi() {
        // (lo, hi) column indices of the ones in pystoi.utils.thirdoct(10000, 512, 15, 150)[0].
        let want = [
            (7, 9),
            (9, 11),
            (11, 14),
            (14, 17),
            (17, 22),
            (22, 27),
            (27, 34),
            (34, 43),
            (43, 55),
            (55, 69),
            (69, 87),
            (87, 109),
            (109, 138),
            (138, 174),
            (174, 219),
        ];
        assert_eq!(third_octave_bands(), want);
    }
}
