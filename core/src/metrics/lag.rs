//! Constant-delay detection and trimming, so that metrics compare time-aligned signals.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// The lag in `[-max_lag, max_lag]` that maximises the cross-correlation
/// `c[k] = sum_n reference[n] * estimate[n + k]`, computed with one FFT pair.
///
/// Positive: the estimate is delayed (`estimate[n + lag] ~ reference[n]`). Ties go to the
/// smallest `|lag|` (then the positive one). Returns 0 for empty input or all-zero correlation.
pub fn find_lag(reference: &[f32], estimate: &[f32], max_lag: usize) -> isize {
    let (nr, ne) = (reference.len(), estimate.len());
    if nr == 0 || ne == 0 {
        return 0;
    }
    // Linear (not circular) correlation needs nr + ne - 1 points.
    let n = (nr + ne - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);

    let spectrum = |x: &[f32]| -> Option<Vec<Complex<f64>>> {
        let mut buf = forward.make_input_vec();
        for (b, &v) in buf.iter_mut().zip(x) {
            *b = f64::from(v);
        }
        let mut out = forward.make_output_vec();
        forward.process(&mut buf, &mut out).ok()?;
        Some(out)
    };
    let (Some(r), Some(e)) = (spectrum(reference), spectrum(estimate)) else {
        return 0;
    };
    let mut cross: Vec<Complex<f64>> = r.iter().zip(&e).map(|(a, b)| a.conj() * b).collect();
    // DC and Nyquist of a real correlation are real; clear rounding residue so the inverse
    // real FFT accepts them.
    let last = cross.len() - 1;
    cross[0].im = 0.0;
    cross[last].im = 0.0;
    let mut corr = inverse.make_output_vec();
    if inverse.process(&mut cross, &mut corr).is_err() {
        return 0;
    }

    // c[k] for k >= 0 sits at index k, for k < 0 at n + k (circular layout).
    let max_pos = max_lag.min(ne - 1);
    let max_neg = max_lag.min(nr - 1);
    let mut best_lag = 0isize;
    let mut best = corr[0];
    for k in 1..=max_pos.max(max_neg) {
        if k <= max_pos && corr[k] > best {
            best = corr[k];
            best_lag = k as isize;
        }
        if k <= max_neg && corr[n - k] > best {
            best = corr[n - k];
            best_lag = -(k as isize);
        }
    }
    best_lag
}

/// Trim `reference` and `estimate` to their overlapping region for a given `lag` (as returned by
/// [`find_lag`]) and to equal length. A lag at least as long as a signal gives two empty slices.
pub fn align<'a>(reference: &'a [f32], estimate: &'a [f32], lag: isize) -> (&'a [f32], &'a [f32]) {
    let shift = lag.unsigned_abs();
    let (r, e) = if lag >= 0 {
        (reference, estimate.get(shift..).unwrap_or(&[]))
    } else {
        (reference.get(shift..).unwrap_or(&[]), estimate)
    };
    let n = r.len().min(e.len());
    (&r[..n], &e[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Aperiodic, so that the correlation has one peak.
    use crate::dsp::test_noise as pulse_train;

    #[test]
    fn finds_positive_and_negative_shifts() {
        let x = pulse_train(5000);
        for shift in [0usize, 1, 17, 300] {
            let mut delayed = vec![0.0f32; shift];
            delayed.extend_from_slice(&x[..5000 - shift]);
            assert_eq!(find_lag(&x, &delayed, 512), shift as isize);
            assert_eq!(find_lag(&delayed, &x, 512), -(shift as isize));
        }
        // Outside the search range: never reported.
        let mut delayed = vec![0.0f32; 700];
        delayed.extend_from_slice(&x[..4300]);
        assert!(find_lag(&x, &delayed, 512).unsigned_abs() <= 512);
        assert_eq!(find_lag(&[], &x, 10), 0);
        assert_eq!(find_lag(&[0.0; 10], &[0.0; 10], 10), 0);
    }

    #[test]
    fn align_trims_to_overlap() {
        let r = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let e = [0.0f32, 0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(align(&r, &e, 2), (&r[..4], &e[2..6]));
        assert_eq!(align(&e, &r, -2), (&e[2..6], &r[..4]));
        assert_eq!(align(&r, &e, 0), (&r[..5], &e[..5]));
        let (a, b) = align(&r, &e, 10);
        assert!(a.is_empty() && b.is_empty());
    }
}
