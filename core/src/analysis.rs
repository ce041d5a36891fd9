//! Signal statistics and effective bandwidth (used by `widen info` and `widen check-bw`).
//!
//! Both come as whole-signal functions ([`stats`], [`bandwidth`]) and as streaming
//! accumulators ([`StatsAccumulator`], [`BandwidthAccumulator`]) that give identical results
//! in bounded memory, so multi-hour files can be analysed block by block.
//!
//! # Bandwidth rule
//!
//! The mono signal is cut into [`BW_FFT`]-sample frames every [`BW_HOP`] samples (only whole
//! frames; a signal shorter than one frame is zero-padded to one frame). Each frame has its
//! mean removed and is weighted by a periodic Hann window; its level is the windowed mean
//! square in dBFS. Frames whose level, rounded down to a whole dB, is at least the loudest
//! frame's (also rounded down) minus [`ACTIVE_RANGE_DB`] are *active*; the long-term power
//! spectrum is the mean of `|X[k]|^2` over the active frames, with the DC bin set to zero.
//!
//! - `energy_bw_hz`: the lowest bin frequency `k * fs / N` at which the cumulative long-term
//!   power (from bin 1 up) reaches `energy_fraction` of the total.
//! - `rolloff_50db_hz`: the spectrum is median-filtered over about [`SMOOTH_HZ`] (odd number
//!   of bins, at least 3, edges replicated) so that single bins — tones, noise spikes — cannot
//!   decide; the roll-off is the highest bin frequency whose smoothed power is within
//!   [`ROLLOFF_DB`] of the smoothed maximum.
//! - `cutoff_hz`: the splice-point estimate. On the smoothed spectrum in dB (floored at
//!   -150 dB re its maximum), the edge strength at bin `k` is the mean level over the
//!   [`EDGE_WINDOW_HZ`] below `k` minus the highest level anywhere from `k` to Nyquist
//!   (searched from [`EDGE_SEARCH_FROM_HZ`]). If the strongest edge reaches [`EDGE_MIN_DB`],
//!   the cutoff is the highest bin within two windows below it whose level is at least the
//!   midpoint of those two levels; otherwise it is the roll-off.
//! - verdict: [`Verdict::Silent`] when no frame reaches [`SILENCE_DBFS`];
//!   [`Verdict::NarrowBand`] when the Nyquist frequency or the roll-off is below
//!   [`NARROW_BAND_MAX_HZ`]; [`Verdict::Undetermined`] when fewer than [`MIN_ACTIVE_FRAMES`]
//!   frames are active (too little material to judge); otherwise [`Verdict::WideBand`].
//!
//! The median filter also removes isolated spectral lines, so for a signal made of a few pure
//! tones the roll-off describes the noise floor around them, not the tones. The rule is made
//! for speech and other broadband material; on the ktuberling clips it calls every 44.1 kHz
//! recording wide-band (roll-off 6.5 kHz and up) and every 8 kHz one narrow-band.

use std::collections::BTreeMap;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Level reported for digital silence (dBFS), instead of minus infinity.
pub const MIN_DBFS: f64 = -200.0;
/// Samples with `|x| >=` this count as clipped.
pub const CLIP_LEVEL: f32 = 0.999;

/// Frame length of the bandwidth analysis.
pub const BW_FFT: usize = 2048;
/// Hop between bandwidth frames.
pub const BW_HOP: usize = 1024;
/// Frames within this many dB of the loudest frame are active.
pub const ACTIVE_RANGE_DB: f64 = 40.0;
/// The roll-off is where the smoothed long-term spectrum falls this many dB below its peak.
pub const ROLLOFF_DB: f64 = 50.0;
/// Width of the median filter applied before the roll-off search (Hz).
pub const SMOOTH_HZ: f64 = 250.0;
/// A signal whose loudest frame is below this level (windowed mean square, dBFS) is silent.
pub const SILENCE_DBFS: f64 = -90.0;
/// Roll-off (or Nyquist) below this frequency means narrow-band.
pub const NARROW_BAND_MAX_HZ: f64 = 5_500.0;
/// Fewer active frames than this leave the verdict undetermined.
pub const MIN_ACTIVE_FRAMES: usize = 2;
/// Width of the bands compared by the cutoff's edge detector (Hz).
pub const EDGE_WINDOW_HZ: f64 = 500.0;
/// The edge detector looks for edges from this frequency up (Hz).
pub const EDGE_SEARCH_FROM_HZ: f64 = 500.0;
/// A drop of at least this many dB (mean level below vs. highest level above) is an edge.
pub const EDGE_MIN_DB: f64 = 20.0;
/// Default energy fraction of `widen check-bw`.
pub const DEFAULT_ENERGY_FRACTION: f64 = 0.99;

fn db(power: f64) -> f64 {
    if power > 0.0 {
        (10.0 * power.log10()).max(MIN_DBFS)
    } else {
        MIN_DBFS
    }
}

/// Level statistics of an interleaved signal.
///
/// 0 dBFS is a full-scale square wave (a full-scale sine has an RMS of -3.01 dBFS).
/// Non-finite samples are counted and otherwise ignored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SignalStats {
    /// Largest `|x|` in dBFS ([`MIN_DBFS`] for digital silence).
    pub peak_dbfs: f64,
    /// RMS over all channels in dBFS ([`MIN_DBFS`] for digital silence).
    pub rms_dbfs: f64,
    /// Samples with `|x| >=` [`CLIP_LEVEL`].
    pub clipped_samples: u64,
    /// The channel mean (DC) with the largest magnitude, signed, in full-scale units.
    pub dc_offset: f64,
    /// NaN or infinite samples.
    pub non_finite: u64,
}

/// Streaming form of [`stats`]; blocks may split frames anywhere.
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    channels: usize,
    /// Channel of the next sample.
    next_channel: usize,
    peak: f32,
    sum_sq: f64,
    count: u64,
    clipped: u64,
    non_finite: u64,
    channel_sums: Vec<f64>,
    channel_counts: Vec<u64>,
}

impl StatsAccumulator {
    /// An empty accumulator for `channels` interleaved channels (0 is treated as 1).
    pub fn new(channels: usize) -> Self {
        let channels = channels.max(1);
        Self {
            channels,
            next_channel: 0,
            peak: 0.0,
            sum_sq: 0.0,
            count: 0,
            clipped: 0,
            non_finite: 0,
            channel_sums: vec![0.0; channels],
            channel_counts: vec![0; channels],
        }
    }

    /// Adds interleaved samples.
    pub fn push(&mut self, interleaved: &[f32]) {
        for &x in interleaved {
            let ch = self.next_channel;
            self.next_channel = if ch + 1 == self.channels { 0 } else { ch + 1 };
            if !x.is_finite() {
                self.non_finite += 1;
                continue;
            }
            let a = x.abs();
            if a > self.peak {
                self.peak = a;
            }
            if a >= CLIP_LEVEL {
                self.clipped += 1;
            }
            let v = f64::from(x);
            self.sum_sq += v * v;
            self.count += 1;
            self.channel_sums[ch] += v;
            self.channel_counts[ch] += 1;
        }
    }

    /// The statistics of everything pushed so far.
    pub fn finish(&self) -> SignalStats {
        let dc_offset = self
            .channel_sums
            .iter()
            .zip(&self.channel_counts)
            .filter(|(_, &n)| n > 0)
            .map(|(&s, &n)| s / n as f64)
            .fold(
                0.0f64,
                |best, m| if m.abs() > best.abs() { m } else { best },
            );
        let ms = if self.count > 0 {
            self.sum_sq / self.count as f64
        } else {
            0.0
        };
        let peak = f64::from(self.peak);
        SignalStats {
            peak_dbfs: db(peak * peak),
            rms_dbfs: db(ms),
            clipped_samples: self.clipped,
            dc_offset,
            non_finite: self.non_finite,
        }
    }
}

/// Level statistics of `interleaved` with `channels` channels.
pub fn stats(interleaved: &[f32], channels: usize) -> SignalStats {
    let mut acc = StatsAccumulator::new(channels);
    acc.push(interleaved);
    acc.finish()
}

/// What the bandwidth analysis concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Content stops below [`NARROW_BAND_MAX_HZ`]: a candidate for widening.
    NarrowBand,
    /// Content reaches above [`NARROW_BAND_MAX_HZ`].
    WideBand,
    /// No frame reaches [`SILENCE_DBFS`].
    Silent,
    /// Too little active material to judge.
    Undetermined,
}

impl Verdict {
    /// Lower-case, hyphenated name (`narrow-band`, ...), as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NarrowBand => "narrow-band",
            Self::WideBand => "wide-band",
            Self::Silent => "silent",
            Self::Undetermined => "undetermined",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Effective bandwidth of a signal (see the module docs for the exact rule).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bandwidth {
    /// The fraction used for `energy_bw_hz`.
    pub energy_fraction: f64,
    /// Frequency below which `energy_fraction` of the long-term spectral energy lies (Hz).
    pub energy_bw_hz: f64,
    /// Highest frequency whose smoothed long-term power is within [`ROLLOFF_DB`] of its peak (Hz).
    pub rolloff_50db_hz: f64,
    /// Where the input's content ends, as a splice point for the engine (Hz): bins below it
    /// come from the input, bins above it need synthesis. The middle (in dB) of the last
    /// clear band edge when there is one (a low-pass or resampling edge), else the roll-off.
    /// For a 4 kHz windowed-sinc low-pass of speech it lands within about 100 Hz of 4 kHz.
    pub cutoff_hz: f64,
    /// Half the sample rate (Hz).
    pub nyquist_hz: f64,
    /// Frames that entered the long-term spectrum.
    pub active_frames: u64,
    /// The conclusion.
    pub verdict: Verdict,
}

/// Streaming form of [`bandwidth`]: push mono blocks of any size, then [`finish`](Self::finish).
///
/// Memory is bounded: spectra are summed per whole-dB frame level, and levels that can no
/// longer be within [`ACTIVE_RANGE_DB`] of the loudest frame are dropped as soon as a louder
/// frame arrives.
pub struct BandwidthAccumulator {
    sample_rate: u32,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    window_power: f64,
    /// Samples not yet consumed by a whole frame (at most `BW_FFT` long).
    pending: Vec<f32>,
    frame: Vec<f64>,
    spectrum: Vec<realfft::num_complex::Complex<f64>>,
    scratch: Vec<realfft::num_complex::Complex<f64>>,
    /// Floor(level dB) -> (sum of power spectra, frame count).
    buckets: BTreeMap<i32, (Vec<f64>, u64)>,
    max_bucket: Option<i32>,
    frames_seen: u64,
}

impl BandwidthAccumulator {
    /// An empty accumulator for a signal at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(BW_FFT);
        // Periodic Hann, as in scipy.signal.get_window("hann", N).
        let window: Vec<f64> = (0..BW_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / BW_FFT as f64).cos())
            .collect();
        let window_power = window.iter().map(|w| w * w).sum();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self {
            sample_rate,
            fft,
            window,
            window_power,
            pending: Vec::with_capacity(BW_FFT),
            frame: vec![0.0; BW_FFT],
            spectrum,
            scratch,
            buckets: BTreeMap::new(),
            max_bucket: None,
            frames_seen: 0,
        }
    }

    /// Adds mono samples (non-finite samples count as 0).
    pub fn push(&mut self, mono: &[f32]) {
        let mut rest = mono;
        while !rest.is_empty() {
            let take = (BW_FFT - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == BW_FFT {
                self.analyse_pending();
                self.pending.drain(..BW_HOP);
            }
        }
    }

    /// Analyses `pending` (zero-padded to a whole frame) as one frame.
    fn analyse_pending(&mut self) {
        let n = self.pending.len();
        let finite = |x: f32| if x.is_finite() { f64::from(x) } else { 0.0 };
        let mean = self.pending.iter().map(|&x| finite(x)).sum::<f64>() / BW_FFT as f64;
        for (i, f) in self.frame.iter_mut().enumerate() {
            let x = if i < n { finite(self.pending[i]) } else { 0.0 };
            *f = (x - mean) * self.window[i];
        }
        self.frames_seen += 1;
        let ms = self.frame.iter().map(|v| v * v).sum::<f64>() / self.window_power;
        if ms <= 0.0 {
            return;
        }
        let bucket = (10.0 * ms.log10()).floor() as i32;
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            // Only possible with mismatched buffer lengths, which `new` rules out.
            return;
        }
        let range = ACTIVE_RANGE_DB as i32;
        match self.max_bucket {
            Some(m) if bucket < m - range => return,
            Some(m) if bucket <= m => {}
            _ => {
                self.max_bucket = Some(bucket);
                // Levels that can never become active again.
                self.buckets = self.buckets.split_off(&(bucket - range));
            }
        }
        let bins = self.spectrum.len();
        let entry = self
            .buckets
            .entry(bucket)
            .or_insert_with(|| (vec![0.0; bins], 0));
        for (acc, c) in entry.0.iter_mut().zip(&self.spectrum) {
            *acc += c.norm_sqr();
        }
        entry.0[0] = 0.0;
        entry.1 += 1;
    }

    /// Mean power spectrum of the active frames and their count; `None` when no frame has energy.
    fn active_mean(&self) -> Option<(Vec<f64>, u64)> {
        let max_bucket = self.max_bucket?;
        let mut mean = vec![0.0f64; self.spectrum.len()];
        let mut active = 0u64;
        for (_, (sum, count)) in self.buckets.range(max_bucket - ACTIVE_RANGE_DB as i32..) {
            for (m, s) in mean.iter_mut().zip(sum) {
                *m += s;
            }
            active += count;
        }
        if active == 0 {
            return None;
        }
        for m in mean.iter_mut() {
            *m /= active as f64;
        }
        Some((mean, active))
    }

    /// The long-term power spectrum `|X[k]|^2` (bins `0..=BW_FFT/2`, DC zeroed) of the active
    /// frames pushed so far, before smoothing; `None` when no frame had energy.
    pub fn long_term_spectrum(&self) -> Option<Vec<f64>> {
        self.active_mean().map(|(m, _)| m)
    }

    /// The bandwidth of everything pushed so far, with `energy_fraction` (clamped to (0, 1]).
    pub fn finish(&mut self, energy_fraction: f64) -> Bandwidth {
        if self.frames_seen == 0 && !self.pending.is_empty() {
            // Shorter than one frame: analyse it zero-padded.
            self.analyse_pending();
        }
        let fraction = if energy_fraction.is_finite() {
            energy_fraction.clamp(f64::MIN_POSITIVE, 1.0)
        } else {
            DEFAULT_ENERGY_FRACTION
        };
        let nyquist = f64::from(self.sample_rate) / 2.0;
        let df = f64::from(self.sample_rate) / BW_FFT as f64;
        let silent = Bandwidth {
            energy_fraction: fraction,
            energy_bw_hz: 0.0,
            rolloff_50db_hz: 0.0,
            cutoff_hz: 0.0,
            nyquist_hz: nyquist,
            active_frames: 0,
            verdict: Verdict::Silent,
        };
        let Some(max_bucket) = self.max_bucket else {
            return silent;
        };
        if f64::from(max_bucket) < SILENCE_DBFS {
            return silent;
        }
        let Some((mean, active)) = self.active_mean() else {
            return silent;
        };
        let energy_bin = energy_bin(&mean, fraction);
        let smoothed = median_smooth(&mean, smooth_width(df));
        let rolloff_bin = rolloff_bin(&smoothed, ROLLOFF_DB);
        let rolloff = rolloff_bin as f64 * df;
        let verdict = if nyquist < NARROW_BAND_MAX_HZ {
            Verdict::NarrowBand
        } else if (active as usize) < MIN_ACTIVE_FRAMES {
            Verdict::Undetermined
        } else if rolloff < NARROW_BAND_MAX_HZ {
            Verdict::NarrowBand
        } else {
            Verdict::WideBand
        };
        Bandwidth {
            energy_fraction: fraction,
            energy_bw_hz: energy_bin as f64 * df,
            rolloff_50db_hz: rolloff,
            cutoff_hz: cutoff_bin(&smoothed, df, rolloff_bin) as f64 * df,
            nyquist_hz: nyquist,
            active_frames: active,
            verdict,
        }
    }
}

/// Bandwidth of a mono signal (see the module docs for the rule).
pub fn bandwidth(mono: &[f32], sample_rate: u32, energy_fraction: f64) -> Bandwidth {
    let mut acc = BandwidthAccumulator::new(sample_rate);
    acc.push(mono);
    acc.finish(energy_fraction)
}

/// First bin (from 1) where the cumulative power reaches `fraction` of the total.
fn energy_bin(power: &[f64], fraction: f64) -> usize {
    let total: f64 = power.iter().skip(1).sum();
    if total <= 0.0 {
        return 0;
    }
    let target = fraction * total;
    let mut cum = 0.0;
    for (k, p) in power.iter().enumerate().skip(1) {
        cum += p;
        if cum >= target {
            return k;
        }
    }
    power.len() - 1
}

/// Median-filter width in bins for a bin spacing of `df` Hz: odd, at least 3.
fn smooth_width(df: f64) -> usize {
    let w = ((SMOOTH_HZ / df).round() as usize).max(3);
    w | 1
}

/// Running median of odd width `w`, edges replicated.
fn median_smooth(x: &[f64], w: usize) -> Vec<f64> {
    let half = w / 2;
    let n = x.len();
    let mut window = Vec::with_capacity(w);
    (0..n)
        .map(|i| {
            window.clear();
            window.extend((0..w).map(|j| {
                let idx = (i + j).saturating_sub(half).min(n - 1);
                x[idx]
            }));
            window.sort_by(f64::total_cmp);
            window[half]
        })
        .collect()
}

/// Highest bin (from 1) within `range_db` of the maximum of bins 1.. .
fn rolloff_bin(smoothed: &[f64], range_db: f64) -> usize {
    let peak = smoothed.iter().skip(1).copied().fold(0.0f64, f64::max);
    if peak <= 0.0 {
        return 0;
    }
    let threshold = peak * 10f64.powf(-range_db / 10.0);
    smoothed
        .iter()
        .enumerate()
        .skip(1)
        .rev()
        .find(|(_, &p)| p >= threshold)
        .map_or(0, |(k, _)| k)
}

/// Splice-point estimate in bins (see [`Bandwidth::cutoff_hz`] and the module docs).
///
/// Works on the smoothed spectrum in dB re its maximum, floored at -150 dB. For every bin
/// `k` from [`EDGE_SEARCH_FROM_HZ`] up, the edge strength is the mean level of the
/// [`EDGE_WINDOW_HZ`] below `k` minus the *highest* level anywhere from `k` to Nyquist, so
/// only a drop after which nothing comes back counts (a notch does not). If the strongest
/// edge is at least [`EDGE_MIN_DB`], the cutoff is the highest bin, at most two windows
/// below the edge, whose level is still above the midpoint (in dB) between the levels
/// before and after the edge; otherwise there is no clear edge and the cutoff is the roll-off.
fn cutoff_bin(smoothed: &[f64], df: f64, rolloff_bin: usize) -> usize {
    let n = smoothed.len();
    let peak = smoothed.iter().skip(1).copied().fold(0.0f64, f64::max);
    if peak <= 0.0 || n < 4 {
        return rolloff_bin;
    }
    let level: Vec<f64> = smoothed
        .iter()
        .map(|&p| {
            if p > 0.0 {
                (10.0 * (p / peak).log10()).max(-150.0)
            } else {
                -150.0
            }
        })
        .collect();
    let mut suffix_max = level.clone();
    for k in (0..n - 1).rev() {
        suffix_max[k] = suffix_max[k].max(suffix_max[k + 1]);
    }
    let width = ((EDGE_WINDOW_HZ / df).round() as usize).max(1);
    let start = width
        .max((EDGE_SEARCH_FROM_HZ / df).round() as usize)
        .max(1);
    // Running sum of `level` so each window mean costs O(1).
    let mut prefix = vec![0.0f64; n + 1];
    for (k, l) in level.iter().enumerate() {
        prefix[k + 1] = prefix[k] + l;
    }
    let below_mean = |k: usize| (prefix[k] - prefix[k - width]) / width as f64;
    let mut best: Option<(usize, f64)> = None;
    for (k, &above) in suffix_max.iter().enumerate().skip(start) {
        let strength = below_mean(k) - above;
        if best.is_none_or(|(_, b)| strength > b) {
            best = Some((k, strength));
        }
    }
    match best {
        Some((edge, strength)) if strength >= EDGE_MIN_DB => {
            let mid = (below_mean(edge) + suffix_max[edge]) / 2.0;
            (edge.saturating_sub(2 * width)..=edge)
                .rev()
                .find(|&k| level[k] >= mid)
                .unwrap_or(edge)
        }
        _ => rolloff_bin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_signals() {
        let s = stats(&[0.5, -0.5, 0.5, -0.5], 1);
        assert!((s.peak_dbfs - 20.0 * 0.5f64.log10()).abs() < 1e-9);
        assert!((s.rms_dbfs - 20.0 * 0.5f64.log10()).abs() < 1e-9);
        assert_eq!(s.clipped_samples, 0);
        assert_eq!(s.dc_offset, 0.0);
        // Stereo: left +0.25 DC, right -0.75 DC (largest magnitude wins, sign kept).
        let s = stats(&[0.25, -0.75, 0.25, -0.75, 1.0, f32::NAN], 2);
        assert_eq!(s.non_finite, 1);
        assert_eq!(s.clipped_samples, 1);
        assert!((s.dc_offset - (-0.75)).abs() < 1e-12, "{}", s.dc_offset);
        assert_eq!(s.peak_dbfs, 0.0);
        let s = stats(&[0.0; 10], 2);
        assert_eq!((s.peak_dbfs, s.rms_dbfs), (MIN_DBFS, MIN_DBFS));
        let s = stats(&[], 1);
        assert_eq!(s.rms_dbfs, MIN_DBFS);
    }

    #[test]
    fn streaming_stats_equal_whole_stats_for_any_split() {
        let x: Vec<f32> = (0..3001)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let whole = stats(&x, 3);
        for block in [1, 2, 7, 64, 1000] {
            let mut acc = StatsAccumulator::new(3);
            for c in x.chunks(block) {
                acc.push(c);
            }
            assert_eq!(acc.finish(), whole, "block {block}");
        }
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect()
    }

    #[test]
    fn white_noise_is_wide_band_and_silence_is_silent() {
        let bw = bandwidth(&noise(44_100, 1), 44_100, 0.99);
        assert_eq!(bw.verdict, Verdict::WideBand);
        assert!(bw.rolloff_50db_hz > 21_000.0, "{bw:?}");
        // Flat spectrum: 99% of the energy lies below ~99% of Nyquist.
        assert!(
            (bw.energy_bw_hz / bw.nyquist_hz - 0.99).abs() < 0.01,
            "{bw:?}"
        );
        let bw = bandwidth(&[0.0; 44_100], 44_100, 0.99);
        assert_eq!(bw.verdict, Verdict::Silent);
        let bw = bandwidth(&[], 44_100, 0.99);
        assert_eq!(bw.verdict, Verdict::Silent);
        // Below -90 dBFS counts as silence.
        let quiet: Vec<f32> = noise(44_100, 2).iter().map(|x| x * 1e-5).collect();
        assert_eq!(bandwidth(&quiet, 44_100, 0.99).verdict, Verdict::Silent);
    }

    /// Blackman-windowed sinc low-pass, `taps` odd, unity DC gain.
    fn lowpass(x: &[f32], cutoff_hz: f64, fs: f64, taps: usize) -> Vec<f32> {
        let m = (taps - 1) as f64;
        let fc = cutoff_hz / fs;
        let mut h: Vec<f64> = (0..taps)
            .map(|n| {
                let t = n as f64 - m / 2.0;
                let sinc = if t == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
                };
                let a = 2.0 * std::f64::consts::PI * n as f64 / m;
                sinc * (0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos())
            })
            .collect();
        let sum: f64 = h.iter().sum();
        h.iter_mut().for_each(|v| *v /= sum);
        (0..x.len())
            .map(|i| {
                h.iter()
                    .enumerate()
                    .filter_map(|(j, hj)| {
                        (i + j)
                            .checked_sub(taps / 2)
                            .and_then(|k| x.get(k))
                            .map(|&v| hj * f64::from(v))
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    }

    #[test]
    fn single_tone_above_the_band_does_not_decide_the_rolloff() {
        // Noise low-passed at 2 kHz plus a strong 15 kHz tone: the median filter ignores
        // the tone's few bins, so the roll-off stays near 2 kHz.
        let mut x = lowpass(&noise(44_100, 3), 2_000.0, 44_100.0, 511);
        for (i, v) in x.iter_mut().enumerate() {
            *v += 0.005 * (2.0 * std::f32::consts::PI * 15_000.0 * i as f32 / 44_100.0).sin();
        }
        let bw = bandwidth(&x, 44_100, 0.99);
        assert!((1_900.0..2_600.0).contains(&bw.rolloff_50db_hz), "{bw:?}");
        assert_eq!(bw.verdict, Verdict::NarrowBand);
        // Without smoothing the tone's bins would have set the roll-off at 15 kHz.
        let mut acc = BandwidthAccumulator::new(44_100);
        acc.push(&x);
        let raw = acc.long_term_spectrum().unwrap_or_default();
        let df = 44_100.0 / BW_FFT as f64;
        assert!(rolloff_bin(&raw, ROLLOFF_DB) as f64 * df > 14_900.0);
    }

    #[test]
    fn streaming_bandwidth_equals_whole_for_any_split() {
        let x = noise(30_000, 4);
        let whole = bandwidth(&x, 16_000, 0.95);
        for block in [1, 100, 1024, 2048, 5000] {
            let mut acc = BandwidthAccumulator::new(16_000);
            for c in x.chunks(block) {
                acc.push(c);
            }
            assert_eq!(acc.finish(0.95), whole, "block {block}");
        }
    }

    #[test]
    fn short_signal_is_zero_padded_and_undetermined() {
        let bw = bandwidth(&noise(1000, 5), 44_100, 0.99);
        assert_eq!(bw.active_frames, 1);
        assert_eq!(bw.verdict, Verdict::Undetermined);
        // At 8 kHz nothing above 4 kHz can exist: narrow-band however short.
        assert_eq!(
            bandwidth(&noise(1000, 5), 8_000, 0.99).verdict,
            Verdict::NarrowBand
        );
    }

    #[test]
    fn median_and_energy_helpers() {
        assert_eq!(
            median_smooth(&[1.0, 9.0, 1.0, 1.0, 5.0], 3),
            vec![1.0, 1.0, 1.0, 1.0, 5.0]
        );
        assert_eq!(smooth_width(21.5), 13);
        assert_eq!(smooth_width(1000.0), 3);
        assert_eq!(energy_bin(&[5.0, 1.0, 1.0, 1.0, 1.0], 0.5), 2);
        assert_eq!(energy_bin(&[5.0, 1.0, 1.0, 1.0, 1.0], 1.0), 4);
        assert_eq!(rolloff_bin(&[0.0, 1.0, 1e-4, 1e-6, 0.0], 50.0), 2);
    }
}
