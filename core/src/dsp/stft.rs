//! Centred short-time Fourier transform and its inverse.
//!
//! Conventions follow `torch.stft(center=True, pad_mode="reflect", onesided=True,
//! normalized=False)` and `librosa.stft(center=True, pad_mode="reflect")`:
//! a periodic Hann window of length `win` zero-padded (centred) to `n_fft`, the signal
//! reflect-padded by `n_fft / 2` on both ends, `1 + len / hop` frames, no scaling of the
//! forward transform. [`Stft::inverse`] matches `torch.istft(center=True, length=..)`:
//! window-weighted overlap-add divided by the summed squared window.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::{check_len, invalid, Complex32, DspError};

/// Largest `n_fft` accepted (keeps plans and buffers at sane sizes).
pub const MAX_N_FFT: usize = 1 << 20;

/// Window-sum values at or below this are treated as zero by [`Stft::inverse`] (same
/// threshold as torch's NOLA check).
const WSUM_FLOOR: f32 = 1e-11;

/// One-sided complex spectrogram, frame-major: bin `k` of frame `t` is `data[t * n_bins + k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    /// Bins per frame (`n_fft / 2 + 1`).
    pub n_bins: usize,
    /// Number of frames.
    pub n_frames: usize,
    /// `n_frames * n_bins` values.
    pub data: Vec<Complex32>,
}

impl Spectrogram {
    /// The bins of frame `t`, or `None` past the end.
    pub fn frame(&self, t: usize) -> Option<&[Complex32]> {
        let start = t.checked_mul(self.n_bins)?;
        self.data.get(start..start.checked_add(self.n_bins)?)
    }

    /// `|X|` for every bin, frame-major like `data`.
    pub fn magnitude(&self) -> Vec<f32> {
        self.data.iter().map(|&c| super::abs(c)).collect()
    }

    /// Checks that `data` holds exactly `n_frames * n_bins` values.
    pub fn validate(&self) -> Result<(), DspError> {
        let expected = self.n_frames.checked_mul(self.n_bins).ok_or_else(|| {
            invalid(
                "spectrogram shape",
                "n_frames * n_bins to fit in usize",
                format!("{} x {}", self.n_frames, self.n_bins),
            )
        })?;
        check_len(
            "spectrogram data length (n_frames * n_bins)",
            expected,
            self.data.len(),
        )
    }
}

/// Reusable per-call buffers of an [`Stft`].
pub(crate) struct StftScratch {
    frame: Vec<f32>,
    spectrum: Vec<Complex32>,
    fft: Vec<Complex32>,
}

/// STFT/iSTFT with fixed sizes; FFT plans are made once in [`Stft::new`].
pub struct Stft {
    n_fft: usize,
    hop: usize,
    win: usize,
    /// Periodic Hann of length `win` centred in `n_fft` zeros.
    window: Vec<f32>,
    /// First index of the non-zero part of `window` (`(n_fft - win) / 2`).
    win_left: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .field("win", &self.win)
            .finish()
    }
}

impl Clone for Stft {
    fn clone(&self) -> Self {
        Self {
            n_fft: self.n_fft,
            hop: self.hop,
            win: self.win,
            window: self.window.clone(),
            win_left: self.win_left,
            forward: Arc::clone(&self.forward),
            inverse: Arc::clone(&self.inverse),
        }
    }
}

impl Stft {
    /// Plans an STFT with an even `n_fft` in `2..=MAX_N_FFT`, `hop >= 1` and
    /// `1 <= win <= n_fft`.
    pub fn new(n_fft: usize, hop: usize, win: usize) -> Result<Self, DspError> {
        if n_fft < 2 || !n_fft.is_multiple_of(2) || n_fft > MAX_N_FFT {
            return Err(invalid(
                "n_fft",
                format!("an even size in 2..={MAX_N_FFT}"),
                n_fft,
            ));
        }
        if hop == 0 {
            return Err(invalid("hop", "at least 1 sample", hop));
        }
        if win == 0 || win > n_fft {
            return Err(invalid(
                "win",
                format!("a window length in 1..={n_fft} (n_fft)"),
                win,
            ));
        }
        let win_left = (n_fft - win) / 2;
        let mut window = vec![0.0f32; n_fft];
        for (n, w) in window[win_left..win_left + win].iter_mut().enumerate() {
            // Periodic Hann (torch.hann_window(periodic=True), scipy 'hann' with fftbins).
            let phase = 2.0 * std::f64::consts::PI * n as f64 / win as f64;
            *w = (0.5 - 0.5 * phase.cos()) as f32;
        }
        let mut planner = RealFftPlanner::<f32>::new();
        Ok(Self {
            n_fft,
            hop,
            win,
            window,
            win_left,
            forward: planner.plan_fft_forward(n_fft),
            inverse: planner.plan_fft_inverse(n_fft),
        })
    }

    /// FFT size.
    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// Hop between frames (samples).
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Window length (samples).
    pub fn win(&self) -> usize {
        self.win
    }

    /// One-sided bins per frame (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The analysis/synthesis window, zero-padded to `n_fft`.
    pub fn window(&self) -> &[f32] {
        &self.window
    }

    /// Frames produced for a signal of `len` samples: `1 + len / hop`.
    pub fn n_frames(&self, len: usize) -> usize {
        1 + len / self.hop
    }

    pub(crate) fn scratch(&self) -> StftScratch {
        let scratch_len = self
            .forward
            .get_scratch_len()
            .max(self.inverse.get_scratch_len());
        StftScratch {
            frame: vec![0.0; self.n_fft],
            spectrum: vec![Complex32::new(0.0, 0.0); self.n_bins()],
            fft: vec![Complex32::new(0.0, 0.0); scratch_len],
        }
    }

    /// Centred STFT of `x` (see the module docs for the conventions). Holds every frame in
    /// memory; [`LogMel::compute`](super::LogMel::compute) streams frames instead.
    ///
    /// Reflect padding needs `x.len() > n_fft / 2`; shorter signals (including empty ones) are
    /// zero-padded instead, where torch would refuse and librosa would error.
    pub fn forward(&self, x: &[f32]) -> Spectrogram {
        let n_bins = self.n_bins();
        let n_frames = self.n_frames(x.len());
        let mut data = Vec::with_capacity(n_frames * n_bins);
        self.forward_into(x, &mut self.scratch(), &mut data);
        Spectrogram {
            n_bins,
            n_frames,
            data,
        }
    }

    /// STFT of `x` into `out` (frame-major, resized to `n_frames(x.len()) * n_bins`).
    pub(crate) fn forward_into(
        &self,
        x: &[f32],
        scratch: &mut StftScratch,
        out: &mut Vec<Complex32>,
    ) {
        out.clear();
        self.for_each_frame(x, scratch, |_, spectrum| out.extend_from_slice(spectrum));
    }

    /// Runs the STFT frame by frame, handing `(t, spectrum)` to `f` without allocating.
    pub(crate) fn for_each_frame(
        &self,
        x: &[f32],
        scratch: &mut StftScratch,
        mut f: impl FnMut(usize, &[Complex32]),
    ) {
        let pad = self.n_fft / 2;
        let len = x.len();
        let reflect = len > pad;
        // Value of the padded signal at signal index `i` (may be negative or past the end).
        let sample = |i: isize| -> f32 {
            if i >= 0 && (i as usize) < len {
                x[i as usize]
            } else if !reflect {
                0.0
            } else if i < 0 {
                x[(-i) as usize]
            } else {
                x[2 * (len - 1) - i as usize]
            }
        };
        let (wl, wr) = (self.win_left, self.win_left + self.win);
        let window = &self.window[wl..wr];
        for t in 0..self.n_frames(len) {
            let frame = &mut scratch.frame;
            // realfft uses its input as scratch, so the zero margins are rewritten per frame.
            frame[..wl].fill(0.0);
            frame[wr..].fill(0.0);
            // Signal index of the first windowed sample of frame t.
            let start = (t * self.hop + wl) as isize - pad as isize;
            let end = start + self.win as isize;
            if start >= 0 && end as usize <= len {
                let src = &x[start as usize..end as usize];
                for ((d, s), w) in frame[wl..wr].iter_mut().zip(src).zip(window) {
                    *d = s * w;
                }
            } else {
                for (q, (d, w)) in frame[wl..wr].iter_mut().zip(window).enumerate() {
                    *d = sample(start + q as isize) * w;
                }
            }
            // Buffers are sized by `scratch()`, so the FFT cannot report a length error.
            if self
                .forward
                .process_with_scratch(frame, &mut scratch.spectrum, &mut scratch.fft)
                .is_err()
            {
                scratch.spectrum.fill(Complex32::new(0.0, 0.0));
            }
            f(t, &scratch.spectrum);
        }
    }

    /// Inverse of [`forward`](Self::forward): returns exactly `length` samples (like
    /// `torch.istft(center=True, length=length)`).
    ///
    /// Samples not covered by any window (possible only when `hop > win` or past the last
    /// frame) come out as zero. Errors when `spec` does not have `n_fft / 2 + 1` bins or its
    /// data length is not `n_frames * n_bins`.
    pub fn inverse(&self, spec: &Spectrogram, length: usize) -> Result<Vec<f32>, DspError> {
        check_len(
            "spectrogram bins (n_fft / 2 + 1)",
            self.n_bins(),
            spec.n_bins,
        )?;
        spec.validate()?;
        let mut scratch = self.scratch();
        let mut ola = Vec::new();
        let mut wsum = Vec::new();
        let mut out = vec![0.0f32; length];
        self.inverse_into(
            &spec.data,
            spec.n_frames,
            &mut scratch,
            &mut ola,
            &mut wsum,
            &mut out,
        );
        Ok(out)
    }

    /// iSTFT core on frame-major `data` (already validated) into `out` (its length is the
    /// requested output length); `ola`/`wsum` are reusable buffers.
    pub(crate) fn inverse_into(
        &self,
        data: &[Complex32],
        n_frames: usize,
        scratch: &mut StftScratch,
        ola: &mut Vec<f32>,
        wsum: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let n_bins = self.n_bins();
        let pad = self.n_fft / 2;
        // Only the part of the padded signal that lands in `out` is accumulated.
        let span = out.len();
        ola.clear();
        ola.resize(span, 0.0);
        wsum.clear();
        wsum.resize(span, 0.0);
        let (wl, wr) = (self.win_left, self.win_left + self.win);
        let scale = 1.0 / self.n_fft as f32;
        for (t, bins) in data.chunks_exact(n_bins).take(n_frames).enumerate() {
            // Output index of the first windowed sample of frame t.
            let start = (t * self.hop + wl) as isize - pad as isize;
            if start >= span as isize {
                break;
            }
            if start + (self.win as isize) <= 0 {
                continue;
            }
            scratch.spectrum.copy_from_slice(bins);
            // A real signal's DC and Nyquist bins are real; drop any imaginary part like
            // numpy's irfft does (realfft would flag it as an error).
            scratch.spectrum[0].im = 0.0;
            scratch.spectrum[n_bins - 1].im = 0.0;
            if self
                .inverse
                .process_with_scratch(&mut scratch.spectrum, &mut scratch.frame, &mut scratch.fft)
                .is_err()
            {
                scratch.frame.fill(0.0);
            }
            for q in wl..wr {
                let i = start + (q - wl) as isize;
                if i < 0 {
                    continue;
                }
                let i = i as usize;
                if i >= span {
                    break;
                }
                let w = self.window[q];
                ola[i] += scratch.frame[q] * scale * w;
                wsum[i] += w * w;
            }
        }
        for ((o, y), w) in out.iter_mut().zip(ola.iter()).zip(wsum.iter()) {
            *o = if *w > WSUM_FLOOR { y / w } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    /// Direct O(n^2) DFT of one reflect-padded, windowed frame (independent of realfft).
    fn naive_frame(stft: &Stft, x: &[f32], t: usize) -> Vec<Complex32> {
        let n = stft.n_fft();
        let pad = (n / 2) as isize;
        let len = x.len() as isize;
        let mut out = Vec::new();
        for k in 0..stft.n_bins() {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for q in 0..n {
                let mut i = (t * stft.hop() + q) as isize - pad;
                if i < 0 {
                    i = -i;
                }
                if i >= len {
                    i = 2 * (len - 1) - i;
                }
                let v = x[i as usize] as f64 * stft.window()[q] as f64;
                let ph = -2.0 * std::f64::consts::PI * (k * q) as f64 / n as f64;
                re += v * ph.cos();
                im += v * ph.sin();
            }
            out.push(Complex32::new(re as f32, im as f32));
        }
        out
    }

    #[test]
    fn window_is_periodic_hann_centred() {
        let s = Stft::new(16, 4, 8).unwrap();
        let w = s.window();
        assert_eq!(&w[..4], &[0.0; 4]);
        assert_eq!(&w[12..], &[0.0; 4]);
        assert_eq!(w[4], 0.0);
        assert!((w[8] - 1.0).abs() < 1e-7);
        assert!((w[6] - 0.5).abs() < 1e-7);
    }

    #[test]
    fn forward_matches_naive_dft_including_edges() {
        let x = noise(300, 1);
        let s = Stft::new(64, 16, 48).unwrap();
        let spec = s.forward(&x);
        assert_eq!(spec.n_frames, 1 + 300 / 16);
        assert_eq!(spec.n_bins, 33);
        for t in [0, 1, 9, spec.n_frames - 2, spec.n_frames - 1] {
            let expected = naive_frame(&s, &x, t);
            for (a, b) in spec.frame(t).unwrap().iter().zip(&expected) {
                assert!((a - b).norm() < 1e-4, "frame {t}: {a} vs {b}");
            }
        }
    }

    /// Largest absolute sample difference.
    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn round_trip_noise_several_lengths() {
        let s = Stft::new(1024, 256, 1024).unwrap();
        for (i, &len) in [513usize, 1000, 1024, 4097, 22050, 30011]
            .iter()
            .enumerate()
        {
            let x = noise(len, 10 + i as u64);
            let y = s.inverse(&s.forward(&x), len).unwrap();
            assert_eq!(y.len(), len);
            let err = max_abs_diff(&x, &y);
            assert!(err < 1e-5, "length {len}: max error {err}");
        }
    }

    #[test]
    fn round_trip_with_short_window() {
        let s = Stft::new(512, 128, 400).unwrap();
        let x = noise(5000, 3);
        let y = s.inverse(&s.forward(&x), x.len()).unwrap();
        let err = max_abs_diff(&x, &y);
        assert!(err < 1e-5, "max error {err}");
    }

    #[test]
    fn short_signals_do_not_panic() {
        let s = Stft::new(1024, 256, 1024).unwrap();
        for len in [0usize, 1, 2, 100, 512, 513] {
            let x = noise(len, 7);
            let spec = s.forward(&x);
            assert_eq!(spec.n_frames, 1 + len / 256);
            assert!(spec
                .data
                .iter()
                .all(|c| c.re.is_finite() && c.im.is_finite()));
            let y = s.inverse(&spec, len).unwrap();
            assert_eq!(y.len(), len);
        }
        // With zero padding the round trip still holds where windows cover the signal.
        let x = noise(300, 8);
        let y = s.inverse(&s.forward(&x), 300).unwrap();
        let err = max_abs_diff(&x, &y);
        assert!(err < 1e-5, "max error {err}");
    }

    #[test]
    fn inverse_pads_or_trims_to_length() {
        let s = Stft::new(64, 16, 64).unwrap();
        let x = noise(200, 4);
        let spec = s.forward(&x);
        let long = s.inverse(&spec, 260).unwrap();
        assert_eq!(long.len(), 260);
        assert!(long[200 + 32..].iter().all(|&v| v == 0.0));
        let short = s.inverse(&spec, 50).unwrap();
        assert!(short.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn bad_parameters_and_shapes_are_rejected() {
        assert!(Stft::new(0, 1, 1).is_err());
        assert!(Stft::new(1023, 256, 1023).is_err());
        assert!(Stft::new(1024, 0, 1024).is_err());
        assert!(Stft::new(1024, 256, 0).is_err());
        let err = Stft::new(1024, 256, 2048).unwrap_err().to_string();
        assert!(
            err.contains("expected") && err.contains("found 2048"),
            "{err}"
        );
        let s = Stft::new(64, 16, 64).unwrap();
        let mut spec = s.forward(&noise(100, 5));
        spec.data.pop();
        assert!(s.inverse(&spec, 100).is_err());
        let wrong_bins = Spectrogram {
            n_bins: 10,
            n_frames: 1,
            data: vec![Complex32::new(0.0, 0.0); 10],
        };
        let err = s.inverse(&wrong_bins, 10).unwrap_err().to_string();
        assert!(err.contains("expected 33, found 10"), "{err}");
    }
}
