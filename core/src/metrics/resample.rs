//! Octave-compatible polyphase resampler: a port of `pystoi.utils.resample_oct` 0.4.1, which
//! designs a Kaiser-windowed sinc like Octave's `resample` and runs `scipy.signal.resample_poly`
//! (1.15) with it. STOI and PESQ both go through it so that widen's scores reproduce pystoi's.

/// Resample `x` by the rational factor `p / q` exactly like `pystoi.utils.resample_oct(x, p, q)`.
///
/// `p` and `q` are reduced by their gcd first (so rates can be passed directly, e.g.
/// `(16_000, 22_050)` runs at 320/441). The filter is an ideal low-pass at
/// `1 / (2 max(p, q))` (in cycles per upsampled sample) with a roll-off of a tenth of that,
/// apodised by a Kaiser window for 60 dB rejection and normalised to unit DC gain. The output
/// has `ceil(len * p / q)` samples, centred like `scipy.signal.resample_poly` with zero padding.
/// `p == q` returns a copy; `p == 0` or `q == 0` returns an empty vector.
pub fn resample_poly_oct(x: &[f64], p: usize, q: usize) -> Vec<f64> {
    if p == 0 || q == 0 {
        return Vec::new();
    }
    let g = gcd(p, q);
    let (up, down) = (p / g, q / g);
    if up == 1 && down == 1 {
        return x.to_vec();
    }
    let h = oct_filter(up, down);
    let half_len = (h.len() - 1) / 2;
    // scipy.signal.resample_poly: pre-pad the filter so that the output samples sit at the
    // filter centre, then drop the first `n_pre_remove` outputs of upfirdn.
    let n_pre_pad = down - half_len % down;
    let n_pre_remove = (half_len + n_pre_pad) / down;
    let n_out = (x.len() * up).div_ceil(down);

    let len_h = h.len() as i64;
    let (up_i, n_in) = (up as i64, x.len() as i64);
    (0..n_out)
        .map(|m| {
            // Output m is sample (m + n_pre_remove) * down of the zero-stuffed, filtered signal:
            // sum over inputs i of x[i] * h[base - i * up] with 0 <= base - i * up < len_h.
            let base = ((m + n_pre_remove) * down - n_pre_pad) as i64;
            let i_hi = (base / up_i).min(n_in - 1);
            let i_lo = (base - len_h + 1).max(0).div_ceil_i64(up_i);
            let mut acc = 0.0;
            let mut i = i_lo;
            while i <= i_hi {
                acc += x[i as usize] * h[(base - i * up_i) as usize];
                i += 1;
            }
            acc
        })
        .collect()
}

/// Ceiling division for non-negative `i64` (std's `div_ceil` on signed ints is unstable).
trait DivCeilI64 {
    fn div_ceil_i64(self, d: i64) -> i64;
}

impl DivCeilI64 for i64 {
    fn div_ceil_i64(self, d: i64) -> i64 {
        (self + d - 1) / d
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `pystoi.utils._resample_window_oct(p, q)`, normalised to unit sum and multiplied by `up`
/// (what `resample_poly` does with a given window).
fn oct_filter(up: usize, down: usize) -> Vec<f64> {
    let (p, q) = (up as f64, down as f64);
    let log10_rejection = -3.0f64;
    let stopband_cutoff_f = 1.0 / (2.0 * p.max(q));
    let roll_off_width = stopband_cutoff_f / 10.0;
    let rejection_db = -20.0 * log10_rejection;
    let l = ((rejection_db - 8.0) / (28.714 * roll_off_width)).ceil();
    // rejection_db is 60 > 50: the "high attenuation" branch of Kaiser's formula.
    let beta = 0.1102 * (rejection_db - 8.7);

    let half = l as usize;
    let len = 2 * half + 1;
    let alpha = (len as f64 - 1.0) / 2.0;
    let i0_beta = bessel_i0(beta);
    let mut h: Vec<f64> = (0..len)
        .map(|n| {
            let r = (n as f64 - alpha) / alpha;
            let kaiser = bessel_i0(beta * (1.0 - r * r).sqrt()) / i0_beta;
            let t = n as f64 - l;
            kaiser * (2.0 * p * stopband_cutoff_f * np_sinc(2.0 * stopband_cutoff_f * t))
        })
        .collect();
    let sum: f64 = h.iter().sum();
    for v in &mut h {
        *v = *v / sum * p;
    }
    h
}

/// `numpy.sinc`: `sin(pi x) / (pi x)` with the same guard at 0.
fn np_sinc(x: f64) -> f64 {
    let y = std::f64::consts::PI * if x == 0.0 { 1.0e-20 } else { x };
    y.sin() / y
}

/// Modified Bessel function of the first kind, order 0, by its power series (converges to full
/// double precision for the Kaiser betas used here, |x| < 10).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    let mut k = 1.0f64;
    while term > sum * 1e-18 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_i0_known_values() {
        // numpy.i0 values.
        assert_eq!(bessel_i0(0.0), 1.0);
        assert!((bessel_i0(1.0) / 1.266_065_877_752_008_2 - 1.0).abs() < 1e-15);
        assert!((bessel_i0(0.1102 * (60.0 - 8.7)) / 49.048_459_302_582_02 - 1.0).abs() < 1e-14);
    }

    #[test]
    fn output_length_and_dc_gain() {
        let x = vec![1.0f64; 22_050];
        let y = resample_poly_oct(&x, 10_000, 22_050);
        assert_eq!(y.len(), 10_000);
        // Unit DC gain away from the zero-padded edges.
        for v in &y[2000..8000] {
            assert!((v - 1.0).abs() < 1e-3, "{v}");
        }
        assert_eq!(resample_poly_oct(&x[..5], 7, 7), x[..5].to_vec());
        assert!(resample_poly_oct(&x, 0, 3).is_empty());
    }
}
