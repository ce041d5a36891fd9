//! Mel filterbank and log-mel features.
//!
//! [`MelFilterbank`] reproduces `librosa.filters.mel` (triangles between mel-spaced edges,
//! HTK or Slaney scale, optional Slaney area normalisation); with HTK and no normalisation it
//! is also torchaudio's `melscale_fbanks(norm=None, mel_scale="htk")`, the seed's front end.
//! [`LogMel`] computes `ln(max(mel(|STFT|^power), clamp))` as a mel-major [`MelSpec`].

use crate::config::{MelConfig, MelScale};

use super::stft::{Spectrogram, Stft};
use super::{abs, check_len, invalid, Complex32, DspError};

/// Largest number of mel bands accepted (bounds the filterbank's memory).
pub const MAX_N_MELS: usize = 4096;

/// Hz -> mel on the given scale (librosa's `hz_to_mel`).
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney => {
            // Linear below 1 kHz, logarithmic above (Slaney's Auditory Toolbox).
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if hz >= min_log_hz {
                min_log_mel + (hz / min_log_hz).ln() / logstep
            } else {
                hz / f_sp
            }
        }
    }
}

/// Mel -> Hz on the given scale (librosa's `mel_to_hz`).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if mel >= min_log_mel {
                min_log_hz * (logstep * (mel - min_log_mel)).exp()
            } else {
                f_sp * mel
            }
        }
    }
}

/// Triangular mel filterbank, `n_mels` rows over `n_fft / 2 + 1` bins.
#[derive(Debug, Clone)]
pub struct MelFilterbank {
    n_mels: usize,
    n_bins: usize,
    /// Row-major `[n_mels][n_bins]`.
    weights: Vec<f32>,
    /// Per row, the half-open bin range holding its non-zero weights (for a sparse `apply`).
    support: Vec<(usize, usize)>,
}

impl MelFilterbank {
    /// Builds the filterbank of `cfg` (uses `sample_rate`, `n_fft`, `n_mels`, `f_min`,
    /// `f_max`, `scale`, `area_norm`). Errors on a zero/odd `n_fft`, zero `n_mels`, or band
    /// edges outside `0 <= f_min < f_max <= sample_rate / 2`.
    ///
    /// Like librosa, a filter narrower than the bin spacing can be all zero; that is not an
    /// error (the seed's 80 bands at n_fft 1024 all have non-zero weights).
    pub fn new(cfg: &MelConfig) -> Result<Self, DspError> {
        if cfg.sample_rate == 0 {
            return Err(invalid(
                "sample_rate",
                "a positive rate in Hz",
                cfg.sample_rate,
            ));
        }
        if cfg.n_fft < 2 || !cfg.n_fft.is_multiple_of(2) || cfg.n_fft > super::stft::MAX_N_FFT {
            return Err(invalid(
                "n_fft",
                format!("an even size in 2..={}", super::stft::MAX_N_FFT),
                cfg.n_fft,
            ));
        }
        if cfg.n_mels == 0 || cfg.n_mels > MAX_N_MELS {
            return Err(invalid(
                "n_mels",
                format!("a band count in 1..={MAX_N_MELS}"),
                cfg.n_mels,
            ));
        }
        let nyquist = cfg.sample_rate as f32 / 2.0;
        if !(cfg.f_min.is_finite() && cfg.f_min >= 0.0) {
            return Err(invalid("f_min", "a finite frequency >= 0 Hz", cfg.f_min));
        }
        if !(cfg.f_max.is_finite() && cfg.f_max > cfg.f_min && cfg.f_max <= nyquist) {
            return Err(invalid(
                "f_max",
                format!(
                    "a frequency above f_min ({} Hz) and at most Nyquist ({nyquist} Hz)",
                    cfg.f_min
                ),
                cfg.f_max,
            ));
        }
        let n_mels = cfg.n_mels;
        let n_bins = cfg.n_bins();
        let sr = cfg.sample_rate as f64;
        // Band edges equally spaced in mel (numpy.linspace semantics), then back to Hz.
        let mel_lo = hz_to_mel(cfg.f_min as f64, cfg.scale);
        let mel_hi = hz_to_mel(cfg.f_max as f64, cfg.scale);
        let n_edges = n_mels + 2;
        let step = (mel_hi - mel_lo) / (n_edges - 1) as f64;
        let edges: Vec<f64> = (0..n_edges)
            .map(|i| {
                if i == n_edges - 1 {
                    mel_to_hz(mel_hi, cfg.scale)
                } else {
                    mel_to_hz(mel_lo + step * i as f64, cfg.scale)
                }
            })
            .collect();
        let bin_hz = sr / cfg.n_fft as f64;
        let mut weights = vec![0.0f32; n_mels * n_bins];
        let mut support = Vec::with_capacity(n_mels);
        for m in 0..n_mels {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let enorm = if cfg.area_norm { 2.0 / (hi - lo) } else { 1.0 };
            let row = &mut weights[m * n_bins..(m + 1) * n_bins];
            let mut first = n_bins;
            let mut last = 0;
            for (k, w) in row.iter_mut().enumerate() {
                let f = k as f64 * bin_hz;
                let rising = (f - lo) / (mid - lo);
                let falling = (hi - f) / (hi - mid);
                let v = rising.min(falling).max(0.0) * enorm;
                *w = v as f32;
                if *w != 0.0 {
                    first = first.min(k);
                    last = k + 1;
                }
            }
            support.push(if first < last { (first, last) } else { (0, 0) });
        }
        Ok(Self {
            n_mels,
            n_bins,
            weights,
            support,
        })
    }

    /// Number of mel bands (rows).
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Number of STFT bins (columns).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// All weights, row-major `[n_mels][n_bins]`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// A linear map from log-mel to log-magnitude (a vocoder's fixed or initial magnitude
    /// prior): bin `k` takes the filterbank-weighted mean of the log-mels covering it, each
    /// corrected by the log of its filter's total weight, so a flat spectrum of magnitude `a`
    /// (whose band `m` is `a * sum_k w[m][k]`) maps back to `ln a` wherever filters overlap.
    /// Bins no filter covers (DC, Nyquist) copy the nearest filter's band. Returns the weight
    /// row-major `[n_bins][n_mels]` and the bias `[n_bins]`. (`cargo xtask gen-default-models`
    /// uses it as the placeholder vocoder's prior.)
    pub fn log_inverse(&self) -> (Vec<f32>, Vec<f32>) {
        let (n_mels, n_bins, w) = (self.n_mels, self.n_bins, &self.weights);
        let log_sums: Vec<f64> = (0..n_mels)
            .map(|m| {
                let s: f64 = w[m * n_bins..(m + 1) * n_bins]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum();
                s.max(f64::MIN_POSITIVE).ln()
            })
            .collect();
        let centres: Vec<usize> = (0..n_mels)
            .map(|m| {
                let row = &w[m * n_bins..(m + 1) * n_bins];
                (0..n_bins)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0)
            })
            .collect();
        let mut weight = vec![0.0f32; n_bins * n_mels];
        let mut bias = vec![0.0f32; n_bins];
        for k in 0..n_bins {
            let total: f64 = (0..n_mels).map(|m| f64::from(w[m * n_bins + k])).sum();
            let row = &mut weight[k * n_mels..(k + 1) * n_mels];
            let mut b = 0.0f64;
            if total > 0.0 {
                for m in 0..n_mels {
                    let c = f64::from(w[m * n_bins + k]) / total;
                    row[m] = c as f32;
                    b -= c * log_sums[m];
                }
            } else {
                let nearest = (0..n_mels)
                    .min_by_key(|&m| centres[m].abs_diff(k))
                    .unwrap_or(0);
                row[nearest] = 1.0;
                b = -log_sums[nearest];
            }
            bias[k] = b as f32;
        }
        (weight, bias)
    }

    /// `out[m] = sum_k weights[m][k] * mag[k]` for one frame. Errors unless
    /// `mag.len() == n_bins` and `out.len() == n_mels`.
    pub fn apply(&self, mag: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("magnitude frame bins", self.n_bins, mag.len())?;
        check_len("mel output bands", self.n_mels, out.len())?;
        self.apply_unchecked(mag, out);
        Ok(())
    }

    /// [`apply`](Self::apply) for callers that sized the slices themselves.
    fn apply_unchecked(&self, mag: &[f32], out: &mut [f32]) {
        for (m, (o, &(a, b))) in out.iter_mut().zip(&self.support).enumerate() {
            let row = &self.weights[m * self.n_bins + a..m * self.n_bins + b];
            *o = row.iter().zip(&mag[a..b]).map(|(w, v)| w * v).sum();
        }
    }
}

/// Mel spectrogram, mel-major: band `m` of frame `t` is `data[m * n_frames + t]`
/// (the `[n_mels, T]` layout of the ONNX models).
#[derive(Debug, Clone, PartialEq)]
pub struct MelSpec {
    /// Number of mel bands.
    pub n_mels: usize,
    /// Number of frames.
    pub n_frames: usize,
    /// `n_mels * n_frames` values.
    pub data: Vec<f32>,
}

impl MelSpec {
    /// Value of band `m` at frame `t`, or `None` out of range.
    pub fn get(&self, m: usize, t: usize) -> Option<f32> {
        if m < self.n_mels && t < self.n_frames {
            self.data.get(m * self.n_frames + t).copied()
        } else {
            None
        }
    }

    /// The time series of band `m`.
    pub fn band(&self, m: usize) -> Option<&[f32]> {
        if m < self.n_mels {
            self.data.get(m * self.n_frames..(m + 1) * self.n_frames)
        } else {
            None
        }
    }
}

/// `|c|^power` with the common powers special-cased (exact and cheaper than `powf`).
fn magnitude_pow(c: Complex32, power: f32) -> f32 {
    if power == 1.0 {
        abs(c)
    } else if power == 2.0 {
        c.norm_sqr()
    } else {
        c.norm_sqr().powf(0.5 * power)
    }
}

fn check_power(power: f32) -> Result<(), DspError> {
    if power.is_finite() && power > 0.0 {
        Ok(())
    } else {
        Err(invalid("power", "a finite exponent > 0", power))
    }
}

fn check_clamp(clamp: f32) -> Result<(), DspError> {
    if clamp.is_finite() && clamp > 0.0 {
        Ok(())
    } else {
        Err(invalid("log_clamp", "a finite value > 0", clamp))
    }
}

/// Mel spectrogram of a complex spectrogram: `mel(|X|^power)`, followed by
/// `ln(max(., clamp))` when `log_clamp` is `Some(clamp)`.
///
/// Errors when `spec` does not have `filterbank.n_bins()` bins or an inconsistent data
/// length, or on a non-positive `power` / `clamp`.
pub fn mel_from_spectrogram(
    spec: &Spectrogram,
    filterbank: &MelFilterbank,
    power: f32,
    log_clamp: Option<f32>,
) -> Result<MelSpec, DspError> {
    check_len(
        "spectrogram bins (mel filterbank columns)",
        filterbank.n_bins(),
        spec.n_bins,
    )?;
    spec.validate()?;
    check_power(power)?;
    if let Some(c) = log_clamp {
        check_clamp(c)?;
    }
    let mut acc = MelAccumulator::new(filterbank, power, log_clamp, spec.n_frames);
    for (t, frame) in spec.data.chunks_exact(spec.n_bins).enumerate() {
        acc.push(t, frame);
    }
    Ok(acc.finish())
}

/// Per-frame mel computation with reused buffers.
struct MelAccumulator<'a> {
    fb: &'a MelFilterbank,
    power: f32,
    log_clamp: Option<f32>,
    mag: Vec<f32>,
    mel: Vec<f32>,
    out: MelSpec,
}

impl<'a> MelAccumulator<'a> {
    fn new(fb: &'a MelFilterbank, power: f32, log_clamp: Option<f32>, n_frames: usize) -> Self {
        Self {
            fb,
            power,
            log_clamp,
            mag: vec![0.0; fb.n_bins()],
            mel: vec![0.0; fb.n_mels()],
            out: MelSpec {
                n_mels: fb.n_mels(),
                n_frames,
                data: vec![0.0; fb.n_mels() * n_frames],
            },
        }
    }

    fn push(&mut self, t: usize, spectrum: &[Complex32]) {
        for (m, c) in self.mag.iter_mut().zip(spectrum) {
            *m = magnitude_pow(*c, self.power);
        }
        self.fb.apply_unchecked(&self.mag, &mut self.mel);
        let n_frames = self.out.n_frames;
        for (m, &v) in self.mel.iter().enumerate() {
            self.out.data[m * n_frames + t] = match self.log_clamp {
                Some(c) => v.max(c).ln(),
                None => v,
            };
        }
    }

    fn finish(self) -> MelSpec {
        self.out
    }
}

/// Log-mel front end: STFT plans and filterbank built once from a [`MelConfig`].
#[derive(Debug, Clone)]
pub struct LogMel {
    config: MelConfig,
    stft: Stft,
    filterbank: MelFilterbank,
}

impl LogMel {
    /// Validates `config` and builds the STFT and filterbank.
    pub fn new(config: MelConfig) -> Result<Self, DspError> {
        check_power(config.power)?;
        check_clamp(config.log_clamp)?;
        let filterbank = MelFilterbank::new(&config)?;
        let stft = Stft::new(config.n_fft, config.hop, config.win)?;
        Ok(Self {
            config,
            stft,
            filterbank,
        })
    }

    /// The configuration this front end was built from.
    pub fn config(&self) -> &MelConfig {
        &self.config
    }

    /// The STFT it uses.
    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    /// The filterbank it uses.
    pub fn filterbank(&self) -> &MelFilterbank {
        &self.filterbank
    }

    /// `ln(max(mel(|STFT(x)|^power), clamp))`, `[n_mels, 1 + len / hop]`.
    ///
    /// Streams frame by frame: memory is the output plus one frame of buffers.
    pub fn compute(&self, x: &[f32]) -> MelSpec {
        let n_frames = self.stft.n_frames(x.len());
        let mut acc = MelAccumulator::new(
            &self.filterbank,
            self.config.power,
            Some(self.config.log_clamp),
            n_frames,
        );
        let mut scratch = self.stft.scratch();
        self.stft
            .for_each_frame(x, &mut scratch, |t, spectrum| acc.push(t, spectrum));
        acc.finish()
    }

    /// Log-mel of an already computed spectrogram (same conventions as [`compute`](Self::compute)).
    pub fn from_spectrogram(&self, spec: &Spectrogram) -> Result<MelSpec, DspError> {
        mel_from_spectrogram(
            spec,
            &self.filterbank,
            self.config.power,
            Some(self.config.log_clamp),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_inverse_maps_a_flat_spectrum_back() {
        for cfg in [MelConfig::default(), MelConfig::low_latency()] {
            let fb = MelFilterbank::new(&cfg).unwrap();
            let (w, b) = fb.log_inverse();
            let flat = vec![0.3f32; cfg.n_bins()];
            let mut mel = vec![0.0; cfg.n_mels];
            fb.apply(&flat, &mut mel).unwrap();
            let log: Vec<f32> = mel.iter().map(|v| v.ln()).collect();
            for k in 0..cfg.n_bins() {
                let v: f32 = b[k]
                    + (0..cfg.n_mels)
                        .map(|m| w[k * cfg.n_mels + m] * log[m])
                        .sum::<f32>();
                assert!((v - 0.3f32.ln()).abs() < 1e-4, "bin {k}: {v}");
            }
        }
    }

    #[test]
    fn scales_round_trip_and_known_points() {
        for scale in [MelScale::Htk, MelScale::Slaney] {
            for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 11025.0] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!((back - hz).abs() < 1e-9, "{scale:?} {hz}: {back}");
            }
        }
        // HTK: 1000 Hz is ~1000 mel; Slaney: 1000 Hz is exactly 15 mel.
        assert!((hz_to_mel(1000.0, MelScale::Htk) - 999.985).abs() < 1e-3);
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn seed_filterbank_shape_and_coverage() {
        let fb = MelFilterbank::new(&MelConfig::default()).unwrap();
        assert_eq!((fb.n_mels(), fb.n_bins()), (80, 513));
        for m in 0..80 {
            let row = &fb.weights()[m * 513..(m + 1) * 513];
            let max = row.iter().cloned().fold(0.0, f32::max);
            assert!(max > 0.0 && max <= 1.0, "row {m} peak {max}");
        }
    }

    #[test]
    fn apply_matches_dense_product() {
        let fb = MelFilterbank::new(&MelConfig {
            scale: MelScale::Slaney,
            area_norm: true,
            ..MelConfig::default()
        })
        .unwrap();
        let mag: Vec<f32> = (0..513).map(|k| ((k * 37) % 101) as f32 / 10.0).collect();
        let mut out = vec![0.0; 80];
        fb.apply(&mag, &mut out).unwrap();
        for (row, &o) in fb.weights().chunks_exact(513).zip(&out) {
            let dense: f64 = row
                .iter()
                .zip(&mag)
                .map(|(w, v)| *w as f64 * *v as f64)
                .sum();
            assert!((o as f64 - dense).abs() < 1e-4 * dense.abs().max(1.0));
        }
        assert!(fb.apply(&mag[..512], &mut out).is_err());
        assert!(fb.apply(&mag, &mut out[..79]).is_err());
    }

    #[test]
    fn bad_configs_are_rejected() {
        let base = MelConfig::default();
        let bad = [
            MelConfig {
                n_mels: 0,
                ..base.clone()
            },
            MelConfig {
                n_fft: 1023,
                ..base.clone()
            },
            MelConfig {
                f_max: 12000.0,
                ..base.clone()
            },
            MelConfig {
                f_min: 11025.0,
                ..base.clone()
            },
            MelConfig {
                f_min: f32::NAN,
                ..base.clone()
            },
            MelConfig {
                sample_rate: 0,
                ..base.clone()
            },
        ];
        for cfg in bad {
            let err = MelFilterbank::new(&cfg).unwrap_err().to_string();
            assert!(err.contains("expected"), "{err}");
        }
        assert!(LogMel::new(MelConfig {
            power: 0.0,
            ..base.clone()
        })
        .is_err());
        assert!(LogMel::new(MelConfig {
            log_clamp: 0.0,
            ..base.clone()
        })
        .is_err());
        assert!(LogMel::new(MelConfig {
            hop: 0,
            ..base.clone()
        })
        .is_err());
        assert!(LogMel::new(MelConfig { win: 2048, ..base }).is_err());
    }

    #[test]
    fn compute_matches_spectrogram_path_and_layout() {
        let lm = LogMel::new(MelConfig::default()).unwrap();
        let x: Vec<f32> = (0..5000)
            .map(|i| (i as f32 * 0.05).sin() * 0.5 + ((i * 7919) % 113) as f32 / 1130.0)
            .collect();
        let a = lm.compute(&x);
        assert_eq!((a.n_mels, a.n_frames), (80, 1 + 5000 / 256));
        let spec = lm.stft().forward(&x);
        let b = lm.from_spectrogram(&spec).unwrap();
        assert_eq!(a, b);
        // Mel-major layout: check one value by hand.
        let mag: Vec<f32> = spec.frame(3).unwrap().iter().map(|c| c.norm()).collect();
        let mut mel = vec![0.0; 80];
        lm.filterbank().apply(&mag, &mut mel).unwrap();
        assert_eq!(a.get(10, 3), Some(mel[10].max(1e-5).ln()));
        assert_eq!(a.band(10).map(|b| b[3]), a.get(10, 3));
        // Silence hits the clamp.
        let silent = lm.compute(&[0.0; 1000]);
        assert!(silent.data.iter().all(|&v| v == 1e-5f32.ln()));
    }

    #[test]
    fn power_two_squares_magnitudes() {
        let spec = Spectrogram {
            n_bins: 513,
            n_frames: 1,
            data: (0..513)
                .map(|k| Complex32::new(k as f32 * 0.01, 0.5))
                .collect(),
        };
        let fb = MelFilterbank::new(&MelConfig::default()).unwrap();
        let p2 = mel_from_spectrogram(&spec, &fb, 2.0, None).unwrap();
        let mag2: Vec<f32> = spec.data.iter().map(|c| c.norm() * c.norm()).collect();
        let mut mel = vec![0.0; 80];
        fb.apply(&mag2, &mut mel).unwrap();
        for (&a, &b) in p2.data.iter().zip(&mel) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0));
        }
        assert!(mel_from_spectrogram(&spec, &fb, -1.0, None).is_err());
        assert!(mel_from_spectrogram(&spec, &fb, 1.0, Some(0.0)).is_err());
    }
}
