//! Per-frame spectral pieces of the engine: FFT of one frame, overlap-add, the band splice
//! with its energy limit, and the mel pseudo-inverse of phase-copy synthesis.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::EngineConfig;
use crate::config::engine::{HIGH_BAND_MAX_ENERGY_RATIO, MAX_LOG_MEL};
use crate::dsp::{Complex32, MelFilterbank, Stft};

/// Window-sum values at or below this are treated as zero (same floor as `Stft::inverse`).
const WSUM_FLOOR: f32 = 1e-11;

/// Forward/inverse FFT of single frames with the STFT's window, all buffers preallocated.
pub(crate) struct FrameFft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spec: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl FrameFft {
    pub(crate) fn new(cfg: &EngineConfig) -> Result<Self, crate::dsp::DspError> {
        let m = &cfg.mel;
        let stft = Stft::new(m.n_fft, m.hop, m.win)?;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(m.n_fft);
        let inverse = planner.plan_fft_inverse(m.n_fft);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Ok(Self {
            n_fft: m.n_fft,
            hop: m.hop,
            window: stft.window().to_vec(),
            forward,
            inverse,
            time: vec![0.0; m.n_fft],
            spec: vec![Complex32::new(0.0, 0.0); m.n_bins()],
            scratch: vec![Complex32::new(0.0, 0.0); scratch_len],
        })
    }

    /// Spectrum of the windowed `frame` (`n_fft` samples) into `out` (`n_bins`).
    pub(crate) fn analyse(&mut self, frame: &[f32], out: &mut [Complex32]) {
        for ((d, s), w) in self.time.iter_mut().zip(frame).zip(&self.window) {
            *d = s * w;
        }
        // Buffers are sized in `new`, so realfft cannot report a length error.
        if self
            .forward
            .process_with_scratch(&mut self.time, out, &mut self.scratch)
            .is_err()
        {
            out.fill(Complex32::new(0.0, 0.0));
        }
    }

    /// Inverse FFT of `spec` (scaled by `1 / n_fft`, like `torch.istft`), windowed, added into
    /// the overlap-add accumulators at their start.
    pub(crate) fn synthesise_into(&mut self, spec: &[Complex32], ola: &mut Ola) {
        let n_bins = self.spec.len();
        self.spec.copy_from_slice(spec);
        // A real signal's DC and Nyquist bins are real (realfft refuses anything else).
        self.spec[0].im = 0.0;
        self.spec[n_bins - 1].im = 0.0;
        if self
            .inverse
            .process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch)
            .is_err()
        {
            self.time.fill(0.0);
        }
        let scale = 1.0 / self.n_fft as f32;
        for (((a, s), w), t) in ola
            .acc
            .iter_mut()
            .zip(ola.wsum.iter_mut())
            .zip(&self.window)
            .zip(&self.time)
        {
            *a += t * scale * w;
            *s += w * w;
        }
    }

    pub(crate) fn hop(&self) -> usize {
        self.hop
    }
}

/// Overlap-add accumulators for one window span (`n_fft` samples starting at the next frame's
/// first sample). Normalised by the actual sum of squared windows, so the first frames of a
/// stream (with no frames before them) reconstruct exactly, like `torch.istft`.
pub(crate) struct Ola {
    acc: Vec<f32>,
    wsum: Vec<f32>,
}

impl Ola {
    pub(crate) fn new(n_fft: usize) -> Self {
        Self {
            acc: vec![0.0; n_fft],
            wsum: vec![0.0; n_fft],
        }
    }

    /// Writes the first `out.len()` (= hop) finished samples to `out` and shifts by a hop.
    pub(crate) fn take_hop(&mut self, out: &mut [f32]) {
        let hop = out.len();
        for ((o, a), w) in out.iter_mut().zip(&self.acc).zip(&self.wsum) {
            *o = if *w > WSUM_FLOOR { a / w } else { 0.0 };
        }
        let n = self.acc.len();
        self.acc.copy_within(hop.., 0);
        self.acc[n - hop..].fill(0.0);
        self.wsum.copy_within(hop.., 0);
        self.wsum[n - hop..].fill(0.0);
    }

    pub(crate) fn clear(&mut self) {
        self.acc.fill(0.0);
        self.wsum.fill(0.0);
    }
}

/// Bin positions of the splice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpliceGeometry {
    /// First bin that is not plain input: `round(cutoff_hz * n_fft / rate)`.
    pub cut_bin: usize,
    /// Phase-copy period `kc`: the cutoff bin rounded down to a multiple of `phase_step`.
    pub phase_base: usize,
    /// `n_fft / gcd(n_fft, hop)`: shifting a bin by a multiple of this keeps the phase advance
    /// per hop a multiple of 2 pi (4 for hop = n_fft / 4), so no phase correction is needed.
    pub phase_step: usize,
}

impl SpliceGeometry {
    pub(crate) fn new(cfg: &EngineConfig) -> Self {
        let m = &cfg.mel;
        let cut = (cfg.cutoff_hz as f64 * m.n_fft as f64 / m.sample_rate as f64).round();
        let cut_bin = (cut.max(0.0) as usize).min(m.n_bins());
        let phase_step = m.n_fft / gcd(m.n_fft, m.hop.max(1));
        Self {
            cut_bin,
            phase_base: cut_bin / phase_step * phase_step,
            phase_step,
        }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// What [`Splicer::splice`] did to the generated band of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpliceOutcome {
    /// Used as predicted (times `amount`).
    Kept,
    /// Scaled down by the energy limit.
    Limited,
    /// Dropped (a model output was not finite).
    Dropped,
}

/// The band splice: input bins below the cutoff untouched, generated bins above (times
/// `amount`), raised-cosine cross-fade over `crossfade_bins` bins starting at the cutoff bin.
///
/// Energy limit: per frame, the generated band's energy (after the cross-fade weights and
/// `amount`) is scaled down to at most
/// [`HIGH_BAND_MAX_ENERGY_RATIO`] times the energy of the input's bins below the cutoff. A
/// silent frame therefore gets no generated band at all.
pub(crate) struct Splicer {
    /// Weight of the input bin (1 below the cutoff, 0 above the cross-fade).
    low: Vec<f32>,
    cut_bin: usize,
    enabled: bool,
}

impl Splicer {
    /// First bin whose generated value the splice uses (all of them without splicing).
    pub(crate) fn first_generated_bin(&self) -> usize {
        if self.enabled {
            self.cut_bin
        } else {
            0
        }
    }

    pub(crate) fn new(cfg: &EngineConfig) -> Self {
        let geom = SpliceGeometry::new(cfg);
        let n_bins = cfg.mel.n_bins();
        let width = cfg.crossfade_bins;
        let low = (0..n_bins)
            .map(|k| {
                if k < geom.cut_bin {
                    1.0
                } else if k < geom.cut_bin + width {
                    // Strictly between 1 and 0 inside the fade.
                    let x = (k - geom.cut_bin + 1) as f64 / (width + 1) as f64;
                    (0.5 + 0.5 * (std::f64::consts::PI * x).cos()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        Self {
            low,
            cut_bin: geom.cut_bin,
            enabled: cfg.splice,
        }
    }

    /// Splices input `x` and generated `v` into `out`. `valid == false` drops the generated
    /// band (non-finite model output).
    pub(crate) fn splice(
        &self,
        x: &[Complex32],
        v: &[Complex32],
        amount: f32,
        valid: bool,
        out: &mut [Complex32],
    ) -> SpliceOutcome {
        if !self.enabled {
            // The seed's pure synthesis: every bin generated, no limit (comparison mode).
            if valid {
                out.copy_from_slice(v);
                return SpliceOutcome::Kept;
            }
            out.fill(Complex32::new(0.0, 0.0));
            return SpliceOutcome::Dropped;
        }
        let low_energy: f64 = x[..self.cut_bin].iter().map(|c| c.norm_sqr() as f64).sum();
        let mut gen_energy = 0.0f64;
        if valid {
            for (a, c) in self.low[self.cut_bin..].iter().zip(&v[self.cut_bin..]) {
                let g = (1.0 - a) as f64 * amount as f64;
                gen_energy += g * g * c.norm_sqr() as f64;
            }
        }
        let limit = HIGH_BAND_MAX_ENERGY_RATIO as f64 * low_energy;
        let (gain, outcome) = if !valid {
            (0.0, SpliceOutcome::Dropped)
        } else if gen_energy > limit {
            ((limit / gen_energy).sqrt() as f32, SpliceOutcome::Limited)
        } else {
            (1.0, SpliceOutcome::Kept)
        };
        let g = gain * amount;
        for (((o, a), xi), vi) in out.iter_mut().zip(&self.low).zip(x).zip(v) {
            *o = if g == 0.0 {
                xi * *a
            } else {
                xi * *a + vi * ((1.0 - a) * g)
            };
        }
        outcome
    }
}

/// Non-negative pseudo-inverse of the mel filterbank ("normalised transpose") for phase copy
/// and Griffin-Lim: each band's mean magnitude `mel_m / sum_k W[m][k]` is spread back over its
/// triangle, and each bin takes the `W`-weighted average of the bands covering it:
/// `mag_k = sum_m W[m][k] * mel_m / B_m / sum_m W[m][k]`. A flat spectrum maps back exactly;
/// bins that no band covers get 0.
pub(crate) struct MelInverse {
    /// Per bin, the range of `entries` holding its bands.
    offsets: Vec<usize>,
    /// `(band, W[m][k] / (B_m * sum_m W[m][k]))` (8 bytes each: the loop is a gather).
    entries: Vec<(u32, f32)>,
    mel: Vec<f32>,
    inv_power: f32,
}

impl MelInverse {
    pub(crate) fn new(fb: &MelFilterbank, power: f32) -> Self {
        let (n_mels, n_bins) = (fb.n_mels(), fb.n_bins());
        let w = fb.weights();
        let band_sum: Vec<f64> = (0..n_mels)
            .map(|m| {
                w[m * n_bins..(m + 1) * n_bins]
                    .iter()
                    .map(|&v| v as f64)
                    .sum()
            })
            .collect();
        let mut offsets = Vec::with_capacity(n_bins + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for k in 0..n_bins {
            let col: f64 = (0..n_mels).map(|m| w[m * n_bins + k] as f64).sum();
            for (m, &bs) in band_sum.iter().enumerate() {
                let wk = w[m * n_bins + k] as f64;
                if wk > 0.0 && bs > 0.0 && col > 0.0 {
                    entries.push((m as u32, (wk / (bs * col)) as f32));
                }
            }
            offsets.push(entries.len());
        }
        Self {
            offsets,
            entries,
            mel: vec![0.0; n_mels],
            inv_power: 1.0 / power,
        }
    }

    /// Linear magnitudes of one frame of log-mel `log_mel` (`n_mels`) into `mag` (`n_bins`).
    pub(crate) fn magnitude(&mut self, log_mel: &[f32], mag: &mut [f32]) {
        self.magnitude_from(log_mel, 0, mag);
    }

    /// [`magnitude`](Self::magnitude) of the bins from `first` on; the bins below are 0 (the
    /// band splice does not use them).
    pub(crate) fn magnitude_from(&mut self, log_mel: &[f32], first: usize, mag: &mut [f32]) {
        for (d, &l) in self.mel.iter_mut().zip(log_mel) {
            *d = l.min(MAX_LOG_MEL).exp();
        }
        let first = first.min(mag.len());
        mag[..first].fill(0.0);
        for (k, m_out) in mag.iter_mut().enumerate().skip(first) {
            let v: f32 = self.entries[self.offsets[k]..self.offsets[k + 1]]
                .iter()
                .map(|&(m, w)| w * self.mel[m as usize])
                .sum();
            *m_out = if self.inv_power == 1.0 {
                v
            } else {
                v.powf(self.inv_power)
            };
        }
    }
}

/// Phase copy: `out[k] = mag[k] * x[k mod base] / |x[k mod base]|` (unit phasor 1 where the
/// source bin is zero).
///
/// The `base` unit phasors are computed once into `out[..base]` and then repeated: no
/// division or square root per generated bin, no integer modulo. Bins below `first` are left
/// holding the unit phasors (finite; the band splice does not use them).
pub(crate) fn phase_copy(
    x: &[Complex32],
    mag: &[f32],
    base: usize,
    first: usize,
    out: &mut [Complex32],
) {
    let base = base.clamp(1, out.len().max(1));
    let (unit, rest) = out.split_at_mut(base.min(out.len()));
    for (u, src) in unit.iter_mut().zip(x) {
        let norm = src.norm_sqr().sqrt();
        *u = if norm > 0.0 {
            src * (1.0 / norm)
        } else {
            Complex32::new(1.0, 0.0)
        };
    }
    for (block, mags) in rest.chunks_mut(base).zip(mag[base..].chunks(base)) {
        for ((o, u), &m) in block.iter_mut().zip(unit.iter()).zip(mags) {
            *o = u * m;
        }
    }
    for (u, &m) in unit.iter_mut().zip(mag).skip(first) {
        *u *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MelConfig;

    #[test]
    fn pseudo_inverse_maps_flat_spectrum_back() {
        let cfg = MelConfig::default();
        let fb = MelFilterbank::new(&cfg).unwrap();
        let flat = vec![0.7f32; cfg.n_bins()];
        let mut mel = vec![0.0; cfg.n_mels];
        fb.apply(&flat, &mut mel).unwrap();
        let log: Vec<f32> = mel.iter().map(|v| v.ln()).collect();
        let mut inv = MelInverse::new(&fb, 1.0);
        let mut mag = vec![0.0; cfg.n_bins()];
        inv.magnitude(&log, &mut mag);
        // Every bin between the first and last band centre is covered by two triangles.
        for (k, &m) in mag.iter().enumerate().take(cfg.n_bins() - 1).skip(1) {
            assert!((m - 0.7).abs() < 1e-4, "bin {k}: {m}");
        }
        assert!(mag.iter().all(|&m| m >= 0.0));
    }

    #[test]
    fn phase_copy_repeats_the_unit_phasors_of_the_base_bins() {
        let n = 513;
        let x: Vec<Complex32> = (0..n)
            .map(|k| Complex32::new((k as f32 * 0.7).sin(), (k as f32 * 1.3).cos() * 0.5))
            .chain(std::iter::once(Complex32::new(0.0, 0.0)))
            .take(n)
            .collect();
        let mut x = x;
        x[5] = Complex32::new(0.0, 0.0);
        let mag: Vec<f32> = (0..n).map(|k| 0.1 + k as f32 * 0.01).collect();
        let base = 184;
        let mut out = vec![Complex32::new(9.0, 9.0); n];
        phase_copy(&x, &mag, base, 0, &mut out);
        let mut from_cut = vec![Complex32::new(9.0, 9.0); n];
        phase_copy(&x, &mag, base, 186, &mut from_cut);
        assert_eq!(from_cut[186..], out[186..]);
        assert!(from_cut
            .iter()
            .all(|c| c.re.is_finite() && c.im.is_finite()));
        for k in 0..n {
            let src = x[k % base];
            let want = if src.norm() > 0.0 {
                src * (mag[k] / src.norm())
            } else {
                Complex32::new(mag[k], 0.0)
            };
            assert!((out[k] - want).norm() < 1e-5 * mag[k], "bin {k}");
        }
    }

    #[test]
    fn geometry_of_the_seed_config() {
        let cfg = EngineConfig::default();
        let g = SpliceGeometry::new(&cfg);
        // 4000 Hz * 1024 / 22050 = 185.76 -> 186; phase period 184 (multiple of 4).
        assert_eq!((g.cut_bin, g.phase_base, g.phase_step), (186, 184, 4));
    }

    #[test]
    fn splice_weights_and_energy_limit() {
        let cfg = EngineConfig::default();
        let s = Splicer::new(&cfg);
        let n = cfg.mel.n_bins();
        assert_eq!(s.low[185], 1.0);
        assert!(s.low[186] < 1.0 && s.low[186] > 0.9);
        assert!(s.low[193] > 0.0 && s.low[193] < 0.1);
        assert_eq!(s.low[194], 0.0);
        let x = vec![Complex32::new(0.1, 0.0); n];
        let v = vec![Complex32::new(0.0, 10.0); n];
        let mut out = vec![Complex32::new(0.0, 0.0); n];
        assert_eq!(
            s.splice(&x, &v, 1.0, true, &mut out),
            SpliceOutcome::Limited
        );
        let low: f32 = out[..186].iter().map(|c| c.norm_sqr()).sum();
        let high: f32 = out[186..].iter().map(|c| c.norm_sqr()).sum();
        // Energy above the cutoff: the faded input plus the generated band, limited to the low band's.
        let faded: f32 = (186..n).map(|k| (0.1 * s.low[k]).powi(2)).sum();
        assert!(high <= low * 1.0001 + faded * 4.0, "high {high} low {low}");
        assert!(out[..186].iter().zip(&x).all(|(a, b)| a == b));
        // Silence: nothing generated at all.
        let zero = vec![Complex32::new(0.0, 0.0); n];
        s.splice(&zero, &v, 1.0, true, &mut out);
        assert!(out.iter().all(|c| c.norm_sqr() == 0.0));
        // Dropped band: low band only.
        assert_eq!(
            s.splice(&x, &v, 1.0, false, &mut out),
            SpliceOutcome::Dropped
        );
        assert!(out[194..].iter().all(|c| c.norm_sqr() == 0.0));
    }
}
