//! Band-limiting low-pass filters that simulate telephone/codec band limits.
//!
//! `make-dataset` draws one of these per file (random family, order and cutoff) and applies it
//! at the wide-band rate before decimation, so a model never learns one particular filter edge.
//!
//! Families (all designed at run time for any sample rate and cutoff):
//! - Butterworth IIR: analog prototype, bilinear transform with the cutoff prewarped, realised as
//!   second-order sections (SOS) with `f64` state. Matches `scipy.signal.butter(..., output="sos")`.
//! - Chebyshev type I IIR: same construction; like SciPy, even orders have their DC gain at
//!   `-ripple` dB (the passband ripples between `-ripple` and 0 dB). Matches `scipy.signal.cheby1`.
//! - Windowed-sinc FIR (Hann, Blackman or Kaiser window, odd length): matches
//!   `scipy.signal.firwin(taps, cutoff, window=..., fs=...)` (symmetric window, unit DC gain).
//!   Linear phase with an integer group delay of `(taps - 1) / 2` samples.
//!
//! Elliptic filters are not implemented (optional in the design brief).
//!
//! [`Lowpass::process`] is streaming and allocation-free (its output is delayed by the filter's
//! group delay); [`Lowpass::filter_aligned`] is the offline form that removes the delay
//! ([`Lowpass::latency_samples`]) so the output stays sample-aligned with the input.

use std::f64::consts::PI;
use std::fmt;
use std::ops::RangeInclusive;

use rand::Rng;
use rustfft::num_complex::Complex64;
use serde::{Deserialize, Serialize};

/// Butterworth orders [`draw_random`] picks from.
pub const BUTTERWORTH_ORDERS: RangeInclusive<usize> = 4..=12;
/// Chebyshev type I orders [`draw_random`] picks from.
pub const CHEBYSHEV1_ORDERS: RangeInclusive<usize> = 4..=10;
/// Chebyshev type I passband ripple range (dB) [`draw_random`] picks from.
pub const CHEBYSHEV1_RIPPLE_DB: (f64, f64) = (0.1, 1.0);
/// FIR lengths [`draw_random`] picks from (odd lengths only).
pub const FIR_TAPS: RangeInclusive<usize> = 63..=255;
/// Kaiser window beta range [`draw_random`] picks from.
pub const KAISER_BETA: (f64, f64) = (5.0, 10.0);

/// Highest IIR order [`design`] accepts (beyond this the SOS cascade is still stable, but no
/// band-limit simulation needs it and it is more likely a typo).
pub const MAX_IIR_ORDER: usize = 32;
/// Longest FIR [`design`] accepts.
pub const MAX_FIR_TAPS: usize = 4095;
/// Largest Chebyshev ripple [`design`] accepts (dB).
pub const MAX_RIPPLE_DB: f64 = 6.0;
/// Largest Kaiser beta [`design`] accepts.
pub const MAX_KAISER_BETA: f64 = 30.0;

/// Window of a windowed-sinc FIR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum FirWindow {
    /// Symmetric Hann window.
    Hann,
    /// Symmetric Blackman window (0.42, 0.5, 0.08).
    Blackman,
    /// Kaiser window with shape parameter `beta`.
    Kaiser {
        /// Kaiser shape parameter (larger: lower side lobes, wider transition).
        beta: f64,
    },
}

/// Filter family and its shape parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum LowpassKind {
    /// Butterworth IIR of the given order.
    Butterworth {
        /// Filter order (number of poles).
        order: usize,
    },
    /// Chebyshev type I IIR.
    Chebyshev1 {
        /// Filter order (number of poles).
        order: usize,
        /// Peak-to-peak passband ripple (dB).
        ripple_db: f64,
    },
    /// Linear-phase windowed-sinc FIR.
    Fir {
        /// Number of taps (odd, so the group delay is a whole number of samples).
        taps: usize,
        /// Window applied to the ideal sinc.
        window: FirWindow,
    },
}

/// A complete low-pass description: family and cutoff. Serialises flat, e.g.
/// `{"family":"butterworth","order":8,"cutoff_hz":3712.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LowpassSpec {
    /// Family and shape parameters.
    #[serde(flatten)]
    pub kind: LowpassKind,
    /// Cutoff frequency (Hz): -3 dB point for Butterworth, passband edge (end of the ripple band)
    /// for Chebyshev I, the -6 dB point for the FIR.
    pub cutoff_hz: f64,
}

impl LowpassSpec {
    /// Human-readable one-line description, e.g. `"butterworth order 8 @ 3712 Hz"`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            LowpassKind::Butterworth { order } => format!("butterworth order {order}"),
            LowpassKind::Chebyshev1 { order, ripple_db } => {
                format!("chebyshev1 order {order}, {ripple_db} dB ripple")
            }
            LowpassKind::Fir { taps, window } => match window {
                FirWindow::Hann => format!("fir {taps} taps, hann window"),
                FirWindow::Blackman => format!("fir {taps} taps, blackman window"),
                FirWindow::Kaiser { beta } => format!("fir {taps} taps, kaiser beta {beta}"),
            },
        };
        format!("{kind} @ {} Hz", self.cutoff_hz)
    }
}

impl fmt::Display for LowpassSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why a filter could not be designed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The sample rate is zero.
    #[error("sample rate must be positive, got 0 Hz")]
    ZeroSampleRate,
    /// The cutoff is not strictly between 0 and Nyquist.
    #[error("cutoff must be between 0 Hz and Nyquist ({nyquist_hz} Hz at {sample_rate} Hz) exclusive, got {cutoff_hz} Hz")]
    Cutoff {
        cutoff_hz: f64,
        sample_rate: u32,
        nyquist_hz: f64,
    },
    /// IIR order outside `1..=MAX_IIR_ORDER`.
    #[error("IIR order must be between 1 and {max}, got {order}")]
    Order { order: usize, max: usize },
    /// Chebyshev ripple outside `(0, MAX_RIPPLE_DB]`.
    #[error("Chebyshev ripple must be in (0, {max}] dB, got {ripple_db} dB")]
    Ripple { ripple_db: f64, max: f64 },
    /// FIR length not odd or outside `3..=MAX_FIR_TAPS`.
    #[error("FIR length must be odd and between 3 and {max}, got {taps}")]
    Taps { taps: usize, max: usize },
    /// Kaiser beta outside `[0, MAX_KAISER_BETA]`.
    #[error("Kaiser beta must be in [0, {max}], got {beta}")]
    KaiserBeta { beta: f64, max: f64 },
}

/// One second-order section `(b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)`, transposed
/// direct form II with `f64` state.
#[derive(Debug, Clone)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl Biquad {
    #[inline]
    fn tick(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

#[derive(Debug, Clone)]
enum Structure {
    Iir {
        sections: Vec<Biquad>,
    },
    Fir {
        taps: Vec<f64>,
        /// Each input is stored twice (at `pos` and `pos + taps.len()`) so the newest
        /// `taps.len()` inputs are always one contiguous slice: no modulo in the inner loop.
        history: Vec<f64>,
        pos: usize,
    },
}

/// A designed low-pass filter with its streaming state.
#[derive(Debug, Clone)]
pub struct Lowpass {
    spec: LowpassSpec,
    sample_rate: u32,
    latency: usize,
    structure: Structure,
}

/// Design `spec` for `sample_rate`. Allocates; [`Lowpass::process`] afterwards does not.
pub fn design(spec: LowpassSpec, sample_rate: u32) -> Result<Lowpass, FilterError> {
    if sample_rate == 0 {
        return Err(FilterError::ZeroSampleRate);
    }
    let fs = f64::from(sample_rate);
    let nyquist_hz = fs / 2.0;
    if !(spec.cutoff_hz.is_finite() && spec.cutoff_hz > 0.0 && spec.cutoff_hz < nyquist_hz) {
        return Err(FilterError::Cutoff {
            cutoff_hz: spec.cutoff_hz,
            sample_rate,
            nyquist_hz,
        });
    }
    let structure = match spec.kind {
        LowpassKind::Butterworth { order } => {
            check_order(order)?;
            let poles = butterworth_poles(order);
            iir_structure(&poles, 1.0, spec.cutoff_hz, fs)
        }
        LowpassKind::Chebyshev1 { order, ripple_db } => {
            check_order(order)?;
            if !(ripple_db.is_finite() && ripple_db > 0.0 && ripple_db <= MAX_RIPPLE_DB) {
                return Err(FilterError::Ripple {
                    ripple_db,
                    max: MAX_RIPPLE_DB,
                });
            }
            let (poles, dc_gain) = chebyshev1_poles(order, ripple_db);
            iir_structure(&poles, dc_gain, spec.cutoff_hz, fs)
        }
        LowpassKind::Fir { taps, window } => {
            if taps % 2 == 0 || !(3..=MAX_FIR_TAPS).contains(&taps) {
                return Err(FilterError::Taps {
                    taps,
                    max: MAX_FIR_TAPS,
                });
            }
            if let FirWindow::Kaiser { beta } = window {
                if !(beta.is_finite() && (0.0..=MAX_KAISER_BETA).contains(&beta)) {
                    return Err(FilterError::KaiserBeta {
                        beta,
                        max: MAX_KAISER_BETA,
                    });
                }
            }
            Structure::Fir {
                taps: firwin(taps, spec.cutoff_hz, fs, window),
                history: vec![0.0; 2 * taps],
                pos: 0,
            }
        }
    };
    let mut filter = Lowpass {
        spec,
        sample_rate,
        latency: 0,
        structure,
    };
    filter.latency = match &filter.structure {
        Structure::Fir { taps, .. } => (taps.len() - 1) / 2,
        Structure::Iir { .. } => filter.iir_alignment_delay(),
    };
    Ok(filter)
}

fn check_order(order: usize) -> Result<(), FilterError> {
    if (1..=MAX_IIR_ORDER).contains(&order) {
        Ok(())
    } else {
        Err(FilterError::Order {
            order,
            max: MAX_IIR_ORDER,
        })
    }
}

/// Draw a random band-limiting filter: family uniform over Butterworth / Chebyshev I / FIR,
/// shape parameters uniform over the `*_ORDERS`, `*_RIPPLE_DB`, `FIR_TAPS`, `KAISER_BETA` ranges,
/// cutoff uniform in `cutoff_range` (either order of the bounds), rounded to 1 Hz (ripple to
/// 0.01 dB, beta to 0.1) so that the description string reproduces the filter exactly.
pub fn draw_random<R: Rng + ?Sized>(rng: &mut R, cutoff_range: (f64, f64)) -> LowpassSpec {
    let kind = match rng.gen_range(0..3u32) {
        0 => LowpassKind::Butterworth {
            order: rng.gen_range(BUTTERWORTH_ORDERS),
        },
        1 => LowpassKind::Chebyshev1 {
            order: rng.gen_range(CHEBYSHEV1_ORDERS),
            ripple_db: round_to(uniform(rng, CHEBYSHEV1_RIPPLE_DB), 100.0),
        },
        _ => {
            let half_min = (FIR_TAPS.start() - 1) / 2;
            let half_max = (FIR_TAPS.end() - 1) / 2;
            let taps = 2 * rng.gen_range(half_min..=half_max) + 1;
            let window = match rng.gen_range(0..3u32) {
                0 => FirWindow::Hann,
                1 => FirWindow::Blackman,
                _ => FirWindow::Kaiser {
                    beta: round_to(uniform(rng, KAISER_BETA), 10.0),
                },
            };
            LowpassKind::Fir { taps, window }
        }
    };
    LowpassSpec {
        kind,
        cutoff_hz: uniform(rng, cutoff_range).round(),
    }
}

/// Uniform in `[lo, hi)` for either order of the bounds; never panics (unlike `gen_range` on an
/// empty range). Non-finite bounds give a non-finite value, which `design` then rejects.
fn uniform<R: Rng + ?Sized>(rng: &mut R, (a, b): (f64, f64)) -> f64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    lo + (hi - lo) * rng.gen::<f64>()
}

fn round_to(x: f64, per_unit: f64) -> f64 {
    (x * per_unit).round() / per_unit
}

impl Lowpass {
    /// The description this filter was designed from.
    pub fn spec(&self) -> &LowpassSpec {
        &self.spec
    }

    /// Sample rate the filter was designed for (Hz).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Delay (samples) that [`Lowpass::filter_aligned`] removes: `(taps - 1) / 2` for the FIR
    /// (exact, linear phase); for IIR filters the rounded mean group delay over the lower half of
    /// the passband (0 to cutoff/2, where most speech energy is), so the bulk of the signal stays
    /// aligned; the remaining frequency-dependent phase is the IIR's own, as in real channels.
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// Clear the filter state (no allocation).
    pub fn reset(&mut self) {
        match &mut self.structure {
            Structure::Iir { sections } => {
                for s in sections {
                    s.s = [0.0; 2];
                }
            }
            Structure::Fir { history, pos, .. } => {
                history.fill(0.0);
                *pos = 0;
            }
        }
    }

    /// Filter `x` in place, continuing from the previous call's state. Allocation-free; the
    /// output is the causal filter output (delayed, see [`Lowpass::latency_samples`]).
    pub fn process(&mut self, x: &mut [f32]) {
        match &mut self.structure {
            Structure::Iir { sections } => {
                for v in x.iter_mut() {
                    let mut y = f64::from(*v);
                    for s in sections.iter_mut() {
                        y = s.tick(y);
                    }
                    *v = y as f32;
                }
                // Decaying state in silence would otherwise reach subnormals, which are slow.
                for s in sections.iter_mut() {
                    for st in &mut s.s {
                        if st.abs() < 1e-200 {
                            *st = 0.0;
                        }
                    }
                }
            }
            Structure::Fir { taps, history, pos } => {
                let n = taps.len();
                for v in x.iter_mut() {
                    *pos = if *pos == 0 { n - 1 } else { *pos - 1 };
                    let xin = f64::from(*v);
                    history[*pos] = xin;
                    history[*pos + n] = xin;
                    let window = &history[*pos..*pos + n];
                    let y: f64 = taps.iter().zip(window).map(|(h, s)| h * s).sum();
                    *v = y as f32;
                }
            }
        }
    }

    /// Offline filtering of a whole signal with the delay removed: resets the state, filters
    /// `x` followed by [`Lowpass::latency_samples`] zeros and drops the first that many output
    /// samples. The result has `x.len()` samples aligned with `x`. Allocates the output.
    pub fn filter_aligned(&mut self, x: &[f32]) -> Vec<f32> {
        self.reset();
        let d = self.latency;
        let mut out = Vec::with_capacity(x.len() + d);
        out.extend_from_slice(x);
        out.resize(x.len() + d, 0.0);
        self.process(&mut out);
        out.drain(..d);
        out.truncate(x.len());
        self.reset();
        out
    }

    /// Complex frequency response of the designed coefficients at `freq_hz`.
    pub fn response(&self, freq_hz: f64) -> Complex64 {
        let w = 2.0 * PI * freq_hz / f64::from(self.sample_rate);
        match &self.structure {
            Structure::Iir { sections } => {
                sections.iter().fold(Complex64::new(1.0, 0.0), |h, s| {
                    h * poly_at(&s.b, w) / poly_at(&[1.0, s.a[0], s.a[1]], w)
                })
            }
            Structure::Fir { taps, .. } => poly_at(taps, w),
        }
    }

    /// Magnitude response at `freq_hz` in dB (`20 log10 |H|`, floored at -400 dB).
    pub fn magnitude_db(&self, freq_hz: f64) -> f64 {
        20.0 * self.response(freq_hz).norm().max(1e-20).log10()
    }

    /// Group delay (samples) of the designed coefficients at `freq_hz`. Undefined (NaN/inf) at
    /// exact zeros of the response, e.g. Nyquist for the IIR families.
    pub fn group_delay(&self, freq_hz: f64) -> f64 {
        let w = 2.0 * PI * freq_hz / f64::from(self.sample_rate);
        match &self.structure {
            Structure::Iir { sections } => sections
                .iter()
                .map(|s| poly_group_delay(&s.b, w) - poly_group_delay(&[1.0, s.a[0], s.a[1]], w))
                .sum(),
            Structure::Fir { taps, .. } => poly_group_delay(taps, w),
        }
    }

    /// FIR taps or, for IIR filters, the sections as `[b0, b1, b2, 1, a1, a2]` rows
    /// (SciPy's `sos` layout). For tests and inspection.
    pub fn coefficients(&self) -> Vec<Vec<f64>> {
        match &self.structure {
            Structure::Iir { sections } => sections
                .iter()
                .map(|s| vec![s.b[0], s.b[1], s.b[2], 1.0, s.a[0], s.a[1]])
                .collect(),
            Structure::Fir { taps, .. } => vec![taps.clone()],
        }
    }

    fn iir_alignment_delay(&self) -> usize {
        const POINTS: usize = 32;
        let top = self.spec.cutoff_hz / 2.0;
        let mean = (0..POINTS)
            .map(|i| self.group_delay(top * i as f64 / (POINTS - 1) as f64))
            .sum::<f64>()
            / POINTS as f64;
        // A stable minimum-phase low-pass has positive delay here; guard anyway.
        if mean.is_finite() && mean > 0.0 {
            mean.round() as usize
        } else {
            0
        }
    }
}

/// `sum_k c[k] e^{-j w k}`.
fn poly_at(c: &[f64], w: f64) -> Complex64 {
    c.iter()
        .enumerate()
        .map(|(k, &ck)| Complex64::from_polar(ck, -w * k as f64))
        .sum()
}

/// Group delay of the polynomial `sum_k c[k] z^-k` at `w`: `Re(sum k c_k e^{-jwk} / sum c_k e^{-jwk})`.
fn poly_group_delay(c: &[f64], w: f64) -> f64 {
    let num: Complex64 = c
        .iter()
        .enumerate()
        .map(|(k, &ck)| Complex64::from_polar(ck * k as f64, -w * k as f64))
        .sum();
    (num / poly_at(c, w)).re
}

/// Analog Butterworth prototype poles (cutoff 1 rad/s), as `scipy.signal.buttap`.
fn butterworth_poles(order: usize) -> Vec<Complex64> {
    let n = order as f64;
    (0..order)
        .map(|i| {
            let m = -(n - 1.0) + 2.0 * i as f64;
            -Complex64::from_polar(1.0, PI * m / (2.0 * n))
        })
        .collect()
}

/// Analog Chebyshev I prototype poles (passband edge 1 rad/s) and DC gain, as
/// `scipy.signal.cheb1ap`.
fn chebyshev1_poles(order: usize, ripple_db: f64) -> (Vec<Complex64>, f64) {
    let n = order as f64;
    let eps = (10f64.powf(0.1 * ripple_db) - 1.0).sqrt();
    let mu = (1.0 / eps).asinh() / n;
    let poles = (0..order)
        .map(|i| {
            let m = -(n - 1.0) + 2.0 * i as f64;
            let theta = PI * m / (2.0 * n);
            -Complex64::new(mu, theta).sinh()
        })
        .collect();
    let dc_gain = if order.is_multiple_of(2) {
        1.0 / (1.0 + eps * eps).sqrt()
    } else {
        1.0
    };
    (poles, dc_gain)
}

/// Prewarp, bilinear-transform the analog poles (all zeros at infinity map to z = -1) and build
/// sections, each normalised to unit DC gain, with `dc_gain` applied to the first.
fn iir_structure(analog_poles: &[Complex64], dc_gain: f64, cutoff_hz: f64, fs: f64) -> Structure {
    let warped = 2.0 * fs * (PI * cutoff_hz / fs).tan();
    let fs2 = 2.0 * fs;
    let digital: Vec<Complex64> = analog_poles
        .iter()
        .map(|p| {
            let p = p * warped;
            (fs2 + p) / (fs2 - p)
        })
        .collect();
    // One representative per conjugate pair (positive imaginary part) plus the real pole of odd
    // orders. Relative tolerance: the real pole's imaginary part is rounding noise.
    let mut pairs: Vec<Complex64> = digital.iter().copied().filter(|p| p.im > 1e-12).collect();
    let mut reals: Vec<f64> = digital
        .iter()
        .filter(|p| p.im.abs() <= 1e-12)
        .map(|p| p.re)
        .collect();
    // Poles far from the unit circle first, the sharpest resonances last (SciPy's ordering).
    pairs.sort_by(|a, b| a.norm().total_cmp(&b.norm()));
    reals.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut sections = Vec::with_capacity(pairs.len() + reals.len());
    for p in reals {
        let a = [-p, 0.0];
        let g = (1.0 + a[0]) / 2.0;
        sections.push(Biquad {
            b: [g, g, 0.0],
            a,
            s: [0.0; 2],
        });
    }
    for p in pairs {
        let a = [-2.0 * p.re, p.norm_sqr()];
        let g = (1.0 + a[0] + a[1]) / 4.0;
        sections.push(Biquad {
            b: [g, 2.0 * g, g],
            a,
            s: [0.0; 2],
        });
    }
    if let Some(first) = sections.first_mut() {
        for b in &mut first.b {
            *b *= dc_gain;
        }
    }
    Structure::Iir { sections }
}

/// `scipy.signal.firwin(taps, cutoff_hz, window=..., fs=fs)`: symmetric window, ideal sinc,
/// scaled to unit DC gain.
fn firwin(taps: usize, cutoff_hz: f64, fs: f64, window: FirWindow) -> Vec<f64> {
    let wc = cutoff_hz / (fs / 2.0);
    let alpha = (taps - 1) as f64 / 2.0;
    let denom = (taps - 1) as f64;
    let mut h: Vec<f64> = (0..taps)
        .map(|n| {
            let m = n as f64 - alpha;
            let win = match window {
                FirWindow::Hann => 0.5 - 0.5 * (2.0 * PI * n as f64 / denom).cos(),
                FirWindow::Blackman => {
                    0.42 - 0.5 * (2.0 * PI * n as f64 / denom).cos()
                        + 0.08 * (4.0 * PI * n as f64 / denom).cos()
                }
                FirWindow::Kaiser { beta } => {
                    let r = m / alpha;
                    bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
                }
            };
            win * wc * sinc(wc * m)
        })
        .collect();
    let sum: f64 = h.iter().sum();
    for v in &mut h {
        *v /= sum;
    }
    h
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// beta values accepted here).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > 1e-17 * sum {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn spec(kind: LowpassKind, cutoff_hz: f64) -> LowpassSpec {
        LowpassSpec { kind, cutoff_hz }
    }

    fn all_families() -> Vec<LowpassSpec> {
        vec![
            spec(LowpassKind::Butterworth { order: 8 }, 3712.0),
            spec(LowpassKind::Butterworth { order: 5 }, 3500.0),
            spec(
                LowpassKind::Chebyshev1 {
                    order: 6,
                    ripple_db: 0.5,
                },
                3800.0,
            ),
            spec(
                LowpassKind::Fir {
                    taps: 127,
                    window: FirWindow::Kaiser { beta: 8.6 },
                },
                3900.0,
            ),
            spec(
                LowpassKind::Fir {
                    taps: 63,
                    window: FirWindow::Hann,
                },
                3400.0,
            ),
        ]
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    #[test]
    fn describe_is_readable() {
        let s = spec(LowpassKind::Butterworth { order: 8 }, 3712.0);
        assert_eq!(s.describe(), "butterworth order 8 @ 3712 Hz");
        let s = spec(
            LowpassKind::Chebyshev1 {
                order: 6,
                ripple_db: 0.25,
            },
            3400.0,
        );
        assert_eq!(s.describe(), "chebyshev1 order 6, 0.25 dB ripple @ 3400 Hz");
        let s = spec(
            LowpassKind::Fir {
                taps: 127,
                window: FirWindow::Kaiser { beta: 7.5 },
            },
            4000.0,
        );
        assert_eq!(s.describe(), "fir 127 taps, kaiser beta 7.5 @ 4000 Hz");
        let s = spec(
            LowpassKind::Fir {
                taps: 63,
                window: FirWindow::Blackman,
            },
            3999.0,
        );
        assert_eq!(s.to_string(), "fir 63 taps, blackman window @ 3999 Hz");
    }

    #[test]
    fn spec_serialises_flat_and_round_trips() {
        let s = spec(
            LowpassKind::Fir {
                taps: 101,
                window: FirWindow::Kaiser { beta: 6.0 },
            },
            3600.0,
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"family":"fir","taps":101,"window":{"name":"kaiser","beta":6.0},"cutoff_hz":3600.0}"#
        );
        let back: LowpassSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        for s in all_families() {
            let back: LowpassSpec =
                serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn design_rejects_bad_specs() {
        let ok = LowpassKind::Butterworth { order: 4 };
        assert_eq!(
            design(spec(ok, 3000.0), 0).unwrap_err(),
            FilterError::ZeroSampleRate
        );
        for cutoff in [0.0, -1.0, 4000.0, 5000.0, f64::NAN, f64::INFINITY] {
            let err = design(spec(ok, cutoff), 8000).unwrap_err();
            assert!(matches!(err, FilterError::Cutoff { .. }), "{cutoff}: {err}");
        }
        let err = design(spec(LowpassKind::Butterworth { order: 0 }, 3000.0), 8000).unwrap_err();
        assert_eq!(err, FilterError::Order { order: 0, max: 32 });
        assert!(err.to_string().contains("got 0"));
        for ripple_db in [0.0, -0.5, 7.0, f64::NAN] {
            let k = LowpassKind::Chebyshev1 {
                order: 4,
                ripple_db,
            };
            assert!(matches!(
                design(spec(k, 3000.0), 8000),
                Err(FilterError::Ripple { .. })
            ));
        }
        for taps in [0, 1, 2, 64, 4097] {
            let k = LowpassKind::Fir {
                taps,
                window: FirWindow::Hann,
            };
            assert!(matches!(
                design(spec(k, 3000.0), 8000),
                Err(FilterError::Taps { .. })
            ));
        }
        let k = LowpassKind::Fir {
            taps: 63,
            window: FirWindow::Kaiser { beta: -1.0 },
        };
        assert!(matches!(
            design(spec(k, 3000.0), 8000),
            Err(FilterError::KaiserBeta { .. })
        ));
    }

    #[test]
    fn draw_random_stays_in_ranges_and_covers_families() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [0usize; 5];
        for _ in 0..3000 {
            let s = draw_random(&mut rng, (3400.0, 4000.0));
            assert!((3400.0..=4000.0).contains(&s.cutoff_hz), "{s}");
            assert_eq!(s.cutoff_hz, s.cutoff_hz.round());
            match s.kind {
                LowpassKind::Butterworth { order } => {
                    assert!(BUTTERWORTH_ORDERS.contains(&order));
                    seen[0] += 1;
                }
                LowpassKind::Chebyshev1 { order, ripple_db } => {
                    assert!(CHEBYSHEV1_ORDERS.contains(&order));
                    assert!((0.1..=1.0).contains(&ripple_db), "{ripple_db}");
                    seen[1] += 1;
                }
                LowpassKind::Fir { taps, window } => {
                    assert!(FIR_TAPS.contains(&taps) && taps % 2 == 1, "{taps}");
                    match window {
                        FirWindow::Hann => seen[2] += 1,
                        FirWindow::Blackman => seen[3] += 1,
                        FirWindow::Kaiser { beta } => {
                            assert!((5.0..=10.0).contains(&beta), "{beta}");
                            seen[4] += 1;
                        }
                    }
                }
            }
            // Every drawn spec designs at the project's rates.
            design(s, 22_050).unwrap();
        }
        assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
        // Reversed or degenerate ranges do not panic.
        let s = draw_random(&mut rng, (4000.0, 3400.0));
        assert!((3400.0..=4000.0).contains(&s.cutoff_hz));
        assert_eq!(draw_random(&mut rng, (3500.0, 3500.0)).cutoff_hz, 3500.0);
    }

    #[test]
    fn draw_random_is_deterministic_for_a_seed() {
        let a: Vec<_> = (0..20)
            .scan(ChaCha8Rng::seed_from_u64(1), |r, _| {
                Some(draw_random(r, (3400.0, 4000.0)))
            })
            .collect();
        let b: Vec<_> = (0..20)
            .scan(ChaCha8Rng::seed_from_u64(1), |r, _| {
                Some(draw_random(r, (3400.0, 4000.0)))
            })
            .collect();
        let c: Vec<_> = (0..20)
            .scan(ChaCha8Rng::seed_from_u64(2), |r, _| {
                Some(draw_random(r, (3400.0, 4000.0)))
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// The impulse response of `process` must have the spectrum of the designed coefficients:
    /// checks the streaming implementation against the transfer function.
    #[test]
    fn impulse_response_matches_transfer_function() {
        let fs = 22_050u32;
        let n = 8192;
        for s in all_families() {
            let mut f = design(s, fs).unwrap();
            let mut x = vec![0.0f32; n];
            x[0] = 1.0;
            f.process(&mut x);
            for k in [0usize, 100, 500, 1000, 1300, 1400, 1500, 2000, 3000, 4000] {
                let freq = k as f64 * f64::from(fs) / n as f64;
                let w = 2.0 * PI * k as f64 / n as f64;
                let h: Complex64 = x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Complex64::from_polar(f64::from(v), -w * i as f64))
                    .sum();
                let want = f.response(freq);
                // f32 output quantisation bounds the agreement.
                assert!(
                    (h - want).norm() < 1e-5,
                    "{s} at {freq} Hz: impulse {h} vs transfer {want}"
                );
            }
        }
    }

    #[test]
    fn block_size_does_not_change_output_and_reset_restores() {
        let x = noise(5000, 3);
        for s in all_families() {
            let mut f = design(s, 22_050).unwrap();
            let mut whole = x.clone();
            f.process(&mut whole);
            for block in [1usize, 7, 64, 1000] {
                f.reset();
                let mut y = x.clone();
                for chunk in y.chunks_mut(block) {
                    f.process(chunk);
                }
                assert_eq!(y, whole, "{s}, block {block}");
            }
        }
    }

    #[test]
    fn fir_filter_aligned_has_no_delay() {
        // A 300 Hz tone is far inside the passband: aligned output = input (away from the edges).
        let fs = 22_050.0;
        let x: Vec<f32> = (0..4000)
            .map(|i| (2.0 * PI * 300.0 * i as f64 / fs).sin() as f32)
            .collect();
        for s in all_families() {
            let mut f = design(s, 22_050).unwrap();
            let y = f.filter_aligned(&x);
            assert_eq!(y.len(), x.len());
            let lag = best_lag(&x[500..3500], &y, 500, 20);
            match s.kind {
                LowpassKind::Fir { taps, .. } => {
                    assert_eq!(f.latency_samples(), (taps - 1) / 2);
                    assert_eq!(lag, 0, "{s}");
                    let err = x[500..3500]
                        .iter()
                        .zip(&y[500..3500])
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    assert!(err < 1e-3, "{s}: max error {err}");
                }
                // IIR: the integer part of the low-frequency delay is removed.
                _ => {
                    assert!(f.latency_samples() > 0, "{s}");
                    assert!(lag.abs() <= 1, "{s}: residual lag {lag}");
                }
            }
        }
    }

    /// Lag (samples) of `y` relative to `x_mid` (which starts at `start` in the full signal).
    fn best_lag(x_mid: &[f32], y: &[f32], start: usize, max_lag: i64) -> i64 {
        (-max_lag..=max_lag)
            .max_by(|&a, &b| {
                let c = |l: i64| -> f64 {
                    x_mid
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| {
                            f64::from(v) * f64::from(y[(start as i64 + i as i64 + l) as usize])
                        })
                        .sum()
                };
                c(a).total_cmp(&c(b))
            })
            .unwrap_or(0)
    }

    #[test]
    fn chebyshev_ripple_and_butterworth_cutoff() {
        let f = design(
            spec(
                LowpassKind::Chebyshev1 {
                    order: 6,
                    ripple_db: 0.5,
                },
                3800.0,
            ),
            22_050,
        )
        .unwrap();
        let db: Vec<f64> = (0..=3800).map(|i| f.magnitude_db(i as f64)).collect();
        let max = db.iter().copied().fold(f64::MIN, f64::max);
        let min = db.iter().copied().fold(f64::MAX, f64::min);
        assert!(max.abs() < 1e-3 && (min + 0.5).abs() < 1e-3, "{min}..{max}");
        let f = design(spec(LowpassKind::Butterworth { order: 9 }, 3712.0), 22_050).unwrap();
        assert!((f.magnitude_db(3712.0) + 3.0103).abs() < 1e-3);
        assert!(f.magnitude_db(0.0).abs() < 1e-9);
    }

    #[test]
    fn stable_at_extreme_designs() {
        // High order with a very low cutoff: poles crowd z = 1, the SOS form must still be stable.
        let f = design(spec(LowpassKind::Butterworth { order: 32 }, 50.0), 192_000).unwrap();
        let mut g = f.clone();
        let mut x = noise(20_000, 5);
        g.process(&mut x);
        assert!(x.iter().all(|v| v.is_finite() && v.abs() < 10.0));
        assert!(f.coefficients().iter().all(|s| s[5] < 1.0));
    }

    #[test]
    fn bessel_i0_matches_known_values() {
        // Abramowitz & Stegun table 9.8 values.
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-14);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_44).abs() < 1e-11);
    }
}
