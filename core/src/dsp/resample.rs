//! Sample-rate conversion with rubato's windowed-sinc resampler.
//!
//! [`StreamResampler`] is the one implementation; [`resample`] is "stream everything, flush,
//! drop the latency", so offline and streaming output agree by construction.

use rubato::{
    calculate_cutoff, Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::polyphase::{gcd, Polyphase};
use super::DspError;

/// Lowest sample rate accepted by the resamplers (Hz).
pub const MIN_RATE_HZ: u32 = 1_000;
/// Highest sample rate accepted by the resamplers (Hz).
pub const MAX_RATE_HZ: u32 = 768_000;

/// Sinc length (input samples) of [`ResamplerProfile::Quality`] when upsampling; downsampling
/// scales it with the ratio so the anti-alias transition band stays as narrow, measured at the
/// output rate.
const BASE_SINC_LEN: usize = 256;
/// Sinc length of [`ResamplerProfile::LowLatency`] when upsampling (scaled like
/// [`BASE_SINC_LEN`] when downsampling): a quarter of the filter, a quarter of the lookahead.
const LOW_LATENCY_SINC_LEN: usize = 64;
/// Cap on the sinc length for strong downsampling (keeps the tables at a few MB). Beyond 8x
/// downsampling the filter is therefore shorter than ideal: its pass band droops (about 1 %
/// at a fifth of the output Nyquist for 768 kHz -> 1 kHz).
const MAX_SINC_LEN: usize = 2048;
/// Sub-sample resolution of the tabulated sincs (rubato's "high quality" setting) where the
/// rate ratio has no small exact form; see [`table_for`].
const OVERSAMPLING: usize = 256;
/// Largest exact phase count `to / gcd(from, to)` tabulated for [`ResamplerProfile::Quality`]
/// (8 -> 22.05 kHz needs 441, 48 -> 22.05 kHz 147, 22.05 -> 48 kHz 320): each output sample
/// then falls exactly on a table phase, so one dot product replaces rubato's two interpolated
/// ones (half the work) and the result is the ideal polyphase filter rather than an
/// approximation of it. The table is `phases * sinc_len` floats (at most a few MB).
const MAX_EXACT_PHASES: usize = 1024;
/// Largest `max_block` accepted by [`StreamResampler::new`] (bounds its buffers).
pub const MAX_BLOCK: usize = 1 << 20;
/// Input chunk used by [`resample`]: large enough to amortise rubato's per-chunk bookkeeping.
const OFFLINE_CHUNK: usize = 4096;
/// Largest input slice handed to the exact-phase resampler in one call (it takes any size
/// without waiting for a chunk; larger slices are split, so this bounds its buffer).
pub const EXACT_MAX_CALL: usize = 4096;

/// The anti-alias filter of a [`StreamResampler`]: a trade-off between lookahead (latency) and
/// the width of the transition band.
///
/// The designs, relative to the lower of the two Nyquist frequencies (numpy,
/// `scripts/fixtures/resampler_profiles.py`; `core/tests/resampler_profiles.rs` checks the
/// resampler against it), for 48 kHz -> 22.05 kHz / 22.05 kHz -> 48 kHz:
///
/// | profile | flat (0.01 dB) up to | -6 dB at | rejection from 1.14 on | lookahead |
/// |---|---|---|---|---|
/// | `Quality` | 0.94 / 0.91 | 0.98 / 0.95 | 204 / 211 dB | 5.96 / 5.99 ms |
/// | `LowLatency` | 0.88 / 0.83 | 0.96 / 0.91 | 83 / 90 dB | 1.63 / 1.63 ms |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResamplerProfile {
    /// 256-tap (per input sample when upsampling) squared Blackman-Harris sinc: the offline
    /// and default choice.
    #[default]
    Quality,
    /// 64-tap Blackman sinc for live use: a quarter of the lookahead; flat to 9.1 kHz at
    /// 22.05 kHz, and its 83 dB of alias rejection is beyond what 16-bit audio resolves.
    LowLatency,
}

impl ResamplerProfile {
    /// Sinc length when upsampling.
    fn base_sinc_len(self) -> usize {
        match self {
            Self::Quality => BASE_SINC_LEN,
            Self::LowLatency => LOW_LATENCY_SINC_LEN,
        }
    }

    fn window(self) -> WindowFunction {
        match self {
            Self::Quality => WindowFunction::BlackmanHarris2,
            Self::LowLatency => WindowFunction::Blackman,
        }
    }
}

fn check_rate(which: &'static str, hz: u32) -> Result<(), DspError> {
    if (MIN_RATE_HZ..=MAX_RATE_HZ).contains(&hz) {
        Ok(())
    } else {
        Err(DspError::InvalidRate {
            which,
            min: MIN_RATE_HZ,
            max: MAX_RATE_HZ,
            found: hz,
        })
    }
}

/// `round(n * to / from)` in exact integer arithmetic (halves round up).
fn scaled_len(n: u64, from_hz: u32, to_hz: u32) -> u64 {
    let num = n as u128 * to_hz as u128;
    let den = from_hz as u128;
    ((2 * num + den) / (2 * den)) as u64
}

/// Resamples a whole mono signal from `from_hz` to `to_hz`.
///
/// The output has `round(x.len() * to_hz / from_hz)` samples and is time-aligned with the input:
/// an event at `t` seconds in `x` is at `t` seconds in the output (within one output sample),
/// because rubato's filter delay is removed. Equal rates return a copy of `x`.
///
/// Errors when a rate is outside [`MIN_RATE_HZ`]`..=`[`MAX_RATE_HZ`].
pub fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, DspError> {
    resample_with(x, from_hz, to_hz, ResamplerProfile::Quality)
}

/// [`resample`] with the filter of `profile`.
pub fn resample_with(
    x: &[f32],
    from_hz: u32,
    to_hz: u32,
    profile: ResamplerProfile,
) -> Result<Vec<f32>, DspError> {
    let mut rs = StreamResampler::with_profile(from_hz, to_hz, OFFLINE_CHUNK, profile)?;
    let total = rs.latency_out_samples() + scaled_len(x.len() as u64, from_hz, to_hz) as usize;
    let mut raw = Vec::with_capacity(total);
    rs.process(x, &mut raw)?;
    rs.flush(&mut raw)?;
    // The stream's first `latency` samples precede input time zero.
    raw.drain(..rs.latency_out_samples().min(raw.len()));
    Ok(raw)
}

/// Block-by-block resampler with bounded memory.
///
/// Feed input with [`process`](Self::process) in blocks of any size; it appends whatever
/// output is ready. The output stream is delayed by [`latency_out_samples`](Self::latency_out_samples)
/// samples: dropping that many leading samples gives exactly the output of [`resample`].
/// [`flush`](Self::flush) ends the stream: it emits the tail so that the total output is
/// `latency + round(n_in * to / from)` samples, then resets for a new stream.
///
/// Input is processed in internal chunks of `max_block` samples, so calling `process` with
/// exactly `max_block` samples yields output without extra buffering delay; smaller blocks
/// are accumulated, larger ones are split.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal (pass-through).
    inner: Option<Inner>,
    chunk: usize,
    /// Input waiting to fill one chunk (never longer than `chunk`).
    pending: Vec<f32>,
    /// rubato's output buffer for one chunk.
    chunk_out: Vec<Vec<f32>>,
    /// Zero-filled chunk used by `flush`.
    zeros: Vec<f32>,
    in_total: u64,
    out_total: u64,
    latency: usize,
    /// Sinc length actually used (0 when the rates are equal).
    sinc_len: usize,
    /// Every output falls on a table phase (no interpolation; see [`table_for`]).
    exact_phases: bool,
    /// Zeros fed before the first input so that the delay is a whole number of samples.
    preroll: usize,
    /// Pre-roll zeros still to feed (fed lazily so that only `process`/`flush` emit output).
    preroll_left: usize,
}

/// The filter engine behind a [`StreamResampler`].
enum Inner {
    /// rubato, interpolating in an [`OVERSAMPLING`]-phase table.
    Rubato(Box<SincFixedIn<f32>>),
    /// Exact phases ([`table_for`]): the same filter as rubato would run, phase-major.
    Exact(Box<Polyphase>),
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("chunk", &self.chunk)
            .field("latency", &self.latency)
            .field("preroll", &self.preroll)
            .field("in_total", &self.in_total)
            .field("out_total", &self.out_total)
            .finish()
    }
}

impl StreamResampler {
    /// Creates a resampler from `from_hz` to `to_hz` whose internal chunk is `max_block` input
    /// samples (`max_block >= 1`), with the [`ResamplerProfile::Quality`] filter. Errors on
    /// rates outside [`MIN_RATE_HZ`]`..=`[`MAX_RATE_HZ`] or a zero `max_block`.
    pub fn new(from_hz: u32, to_hz: u32, max_block: usize) -> Result<Self, DspError> {
        Self::with_profile(from_hz, to_hz, max_block, ResamplerProfile::Quality)
    }

    /// [`new`](Self::new) with the filter of `profile`.
    pub fn with_profile(
        from_hz: u32,
        to_hz: u32,
        max_block: usize,
        profile: ResamplerProfile,
    ) -> Result<Self, DspError> {
        check_rate("input", from_hz)?;
        check_rate("output", to_hz)?;
        if max_block == 0 || max_block > MAX_BLOCK {
            return Err(super::invalid(
                "max_block",
                format!("a block size in 1..={MAX_BLOCK} samples"),
                max_block,
            ));
        }
        let ratio = to_hz as f64 / from_hz as f64;
        let sinc_len = if from_hz == to_hz {
            0
        } else {
            sinc_len_for(ratio, profile.base_sinc_len())
        };
        let (interpolation, oversampling) = table_for(from_hz, to_hz, profile);
        let exact_phases = matches!(interpolation, SincInterpolationType::Nearest);
        let (inner, preroll, latency) = if from_hz == to_hz {
            (None, 0, 0)
        } else {
            let params = SincInterpolationParameters {
                sinc_len,
                f_cutoff: calculate_cutoff(sinc_len, profile.window()),
                interpolation,
                oversampling_factor: oversampling,
                window: profile.window(),
            };
            let inner = if exact_phases {
                Inner::Exact(Box::new(Polyphase::new(
                    from_hz,
                    to_hz,
                    sinc_len,
                    params.f_cutoff,
                    params.window,
                    max_block.max(EXACT_MAX_CALL),
                )))
            } else {
                let rs = SincFixedIn::<f32>::new(ratio, 1.0, params, max_block, 1).map_err(
                    |source| DspError::ResamplerConstruction {
                        from_hz,
                        to_hz,
                        source,
                    },
                )?;
                Inner::Rubato(Box::new(rs))
            };
            let (preroll, latency) = preroll_for(ratio, oversampling);
            (Some(inner), preroll, latency)
        };
        let chunk_out = match &inner {
            Some(Inner::Rubato(rs)) => rs.output_buffer_allocate(true),
            _ => vec![Vec::new()],
        };
        let zeros = if inner.is_some() {
            vec![0.0; max_block]
        } else {
            Vec::new()
        };
        Ok(Self {
            from_hz,
            to_hz,
            inner,
            chunk: max_block,
            pending: Vec::with_capacity(max_block),
            chunk_out,
            zeros,
            in_total: 0,
            out_total: 0,
            latency,
            sinc_len,
            exact_phases,
            preroll,
            preroll_left: preroll,
        })
    }

    /// Input rate (Hz).
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output rate (Hz).
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Number of leading output samples that precede input time zero: the filter delay plus a
    /// short zero pre-roll chosen so that the total is a whole number of output samples
    /// (the remaining fraction is below 0.01 samples for the common rate pairs). Dropping
    /// them aligns the stream with the input. Constant for the life of the resampler.
    pub fn latency_out_samples(&self) -> usize {
        self.latency
    }

    /// How many input samples past a point in time the filter must have seen before the
    /// output for that time can be emitted (half the sinc plus rubato's margin), on top of
    /// the buffering of up to one internal chunk. After `n` input samples have gone through
    /// whole chunks, at least `latency_out_samples() + (n - lookahead) * to / from - 1`
    /// samples have been emitted. A real-time wrapper needs this much delay; 0 when the
    /// rates are equal.
    pub fn lookahead_in_samples(&self) -> usize {
        if self.inner.is_none() {
            return 0;
        }
        let ratio = self.to_hz as f64 / self.from_hz as f64;
        if self.exact_phases {
            // Emits each output as soon as its last input sample arrives.
            return self.sinc_len / 2 + 1;
        }
        self.sinc_len / 2 + 3 + (1.0 / ratio).ceil() as usize
    }

    /// Upper bound on the samples one [`process`](Self::process) call with `input_len` samples
    /// appends; reserve this in `out` to keep the call allocation-free.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        match &self.inner {
            None => input_len,
            Some(Inner::Rubato(rs)) => {
                (self.pending.len() + self.preroll_left + input_len) / self.chunk
                    * rs.output_frames_max()
            }
            // No chunk to fill: everything whose input is complete comes out.
            Some(Inner::Exact(p)) => {
                p.max_output(self.pending.len() + self.preroll_left + input_len)
            }
        }
    }

    /// Resamples `input` and appends the output that is ready to `out`; returns how many
    /// samples were appended.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, DspError> {
        self.in_total += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.out_total += input.len() as u64;
            return Ok(input.len());
        }
        let start_len = out.len();
        self.feed_preroll(out)?;
        self.feed(input, out)?;
        Ok(out.len() - start_len)
    }

    /// Feeds any pending pre-roll zeros.
    fn feed_preroll(&mut self, out: &mut Vec<f32>) -> Result<(), DspError> {
        while self.preroll_left > 0 {
            let n = self.preroll_left.min(self.zeros.len());
            self.preroll_left -= n;
            let zeros = std::mem::take(&mut self.zeros);
            let res = self.feed(&zeros[..n], out);
            self.zeros = zeros;
            res?;
        }
        Ok(())
    }

    /// Whether outputs come out as soon as the filter has seen their input, whatever the
    /// block size (the exact-phase filter), rather than once per internal chunk: then large
    /// blocks cost less (the filter runs phase by phase) and add no delay.
    pub fn emits_immediately(&self) -> bool {
        matches!(self.inner, Some(Inner::Exact(_)))
    }

    /// Chunks `input` through rubato, or hands it straight to the exact-phase filter (not
    /// counted in `in_total`).
    fn feed(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), DspError> {
        if self.emits_immediately() && self.pending.is_empty() {
            for piece in input.chunks(EXACT_MAX_CALL) {
                self.run_chunk(Some(piece), out)?;
            }
            return Ok(());
        }
        let mut rest = input;
        while !rest.is_empty() {
            if self.pending.is_empty() && rest.len() >= self.chunk {
                // Whole chunk available: hand it to rubato without copying.
                let (head, tail) = rest.split_at(self.chunk);
                self.run_chunk(Some(head), out)?;
                rest = tail;
            } else {
                let take = (self.chunk - self.pending.len()).min(rest.len());
                self.pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.pending.len() == self.chunk {
                    self.run_chunk(None, out)?;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: appends the remaining output so that everything emitted since the
    /// last reset totals `latency_out_samples() + round(n_in * to / from)` samples, then
    /// resets. Returns how many samples were appended.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<usize, DspError> {
        let target = self.latency as u64 + scaled_len(self.in_total, self.from_hz, self.to_hz);
        let start_len = out.len();
        if self.inner.is_some() {
            self.feed_preroll(out)?;
            // Each zero chunk moves rubato's read position by `chunk` input samples; the tail
            // needs at most the filter length plus the latency, so this bound is generous.
            let ratio = self.to_hz as f64 / self.from_hz as f64;
            let needed_in =
                (target.saturating_sub(self.out_total)) as f64 / ratio + 2.0 * MAX_SINC_LEN as f64;
            let max_iters = (needed_in / self.chunk as f64).ceil() as usize + 4;
            let mut iters = 0;
            while self.out_total < target {
                if iters == max_iters {
                    return Err(DspError::ShapeMismatch {
                        what: "resampler flush output samples",
                        expected: target as usize,
                        found: self.out_total as usize,
                    });
                }
                iters += 1;
                let fill = self.chunk - self.pending.len();
                self.pending.extend_from_slice(&self.zeros[..fill]);
                let keep = (target - self.out_total) as usize;
                self.run_chunk_limited(None, out, keep)?;
            }
        }
        // The pass-through case already emitted everything in `process`.
        let appended = out.len() - start_len;
        self.reset();
        Ok(appended)
    }

    /// Forgets all input; the next sample starts a new stream.
    pub fn reset(&mut self) {
        match self.inner.as_mut() {
            Some(Inner::Rubato(rs)) => rs.reset(),
            Some(Inner::Exact(p)) => p.reset(),
            None => {}
        }
        self.pending.clear();
        self.in_total = 0;
        self.out_total = 0;
        self.preroll_left = self.preroll;
    }

    fn run_chunk(&mut self, input: Option<&[f32]>, out: &mut Vec<f32>) -> Result<(), DspError> {
        self.run_chunk_limited(input, out, usize::MAX)
    }

    /// Runs one chunk (`input`, or `pending` when `None`) and appends at most `keep` samples.
    fn run_chunk_limited(
        &mut self,
        input: Option<&[f32]>,
        out: &mut Vec<f32>,
        keep: usize,
    ) -> Result<(), DspError> {
        let Some(rs) = self.inner.as_mut() else {
            return Ok(());
        };
        let data: &[f32] = match input {
            Some(block) => block,
            None => &self.pending,
        };
        let n = match rs {
            Inner::Rubato(rs) => {
                let (_, produced) = rs.process_into_buffer(&[data], &mut self.chunk_out, None)?;
                let n = produced.min(keep);
                out.extend_from_slice(&self.chunk_out[0][..n]);
                n
            }
            Inner::Exact(p) => {
                let base = out.len();
                let produced = p.process(data, out);
                let n = produced.min(keep);
                out.truncate(base + n);
                n
            }
        };
        self.pending.clear();
        self.out_total += n as u64;
        Ok(())
    }
}

fn sinc_len_for(ratio: f64, base: usize) -> usize {
    if ratio >= 1.0 {
        base
    } else {
        let scaled = (base as f64 / ratio).ceil() as usize;
        // rubato rounds up to a multiple of 8 itself; do it here so the latency formula sees
        // the length actually used.
        (scaled.min(MAX_SINC_LEN)).div_ceil(8) * 8
    }
}

/// Tolerance (output samples) for the fractional part of the delay left after pre-roll.
const ALIGN_TOLERANCE: f64 = 0.003;
/// Longest zero pre-roll (input samples) searched for a whole-sample delay.
const MAX_PREROLL: usize = 2048;

/// Delay of rubato's `SincFixedIn` in output samples (may be negative: output early).
///
/// rubato starts its read position at `-sinc_len / 2`, which cancels the filter's group delay,
/// and its tabulated sinc `s` peaks `(1 + s) / oversampling` of an input sample late. Output
/// `n` therefore sits at input time `(n + 1) / ratio - 1 + 1 / oversampling`. (Its
/// `output_delay()` reports `sinc_len * ratio / 2` instead, which does not match the
/// output; the `delay_formula_matches_rubato` test measures the real value.)
fn rubato_delay(ratio: f64, oversampling: usize) -> f64 {
    ratio - 1.0 - ratio / oversampling as f64
}

/// rubato's interpolation and table resolution for a rate pair: exact phases
/// ([`MAX_EXACT_PHASES`]) for the offline [`ResamplerProfile::Quality`] filter, where the
/// ratio allows; otherwise linear interpolation in a [`OVERSAMPLING`]-phase table.
/// [`ResamplerProfile::LowLatency`] keeps the interpolated table: its 64-tap filter is cheap
/// either way, and the live tests compare its output against the offline engine's.
fn table_for(
    from_hz: u32,
    to_hz: u32,
    profile: ResamplerProfile,
) -> (SincInterpolationType, usize) {
    let phases = (to_hz / gcd(from_hz, to_hz)) as usize;
    if profile == ResamplerProfile::Quality && phases <= MAX_EXACT_PHASES {
        (SincInterpolationType::Nearest, phases)
    } else {
        (SincInterpolationType::Linear, OVERSAMPLING)
    }
}

/// Picks the zero pre-roll `k` (input samples) that makes `delay + k * ratio` closest to a
/// whole, non-negative number of output samples; returns `(k, latency)`.
/// The smallest `k` within [`ALIGN_TOLERANCE`] wins, so the added latency stays small.
fn preroll_for(ratio: f64, oversampling: usize) -> (usize, usize) {
    let delay = rubato_delay(ratio, oversampling);
    let mut best = (0usize, 0usize, f64::INFINITY);
    for k in 0..=MAX_PREROLL {
        let total = delay + k as f64 * ratio;
        if total < -0.5 {
            continue;
        }
        let whole = total.round();
        let err = (total - whole).abs();
        if err < best.2 {
            best = (k, whole as usize, err);
        }
        if err <= ALIGN_TOLERANCE {
            break;
        }
    }
    (best.0, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Every rate pair the project meets, both ways around 22.05 kHz.
    fn rate_pairs() -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        for &r in &[8000u32, 11025, 16000, 44100, 48000] {
            v.push((r, 22050));
            v.push((22050, r));
        }
        v
    }

    fn sine(f: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|j| (2.0 * PI * f * j as f64 / rate as f64).sin() as f32)
            .collect()
    }

    /// Least-squares fit `y[k] ~ a sin(wk) + b cos(wk)` over the middle half of `y`, where
    /// `w = 2 pi f / rate`. Returns `(delay in samples, amplitude, rms of the fit residual)`.
    fn fit_sine(y: &[f32], f: f64, rate: u32) -> (f64, f64, f64) {
        let w = 2.0 * PI * f / rate as f64;
        let range = y.len() / 4..3 * y.len() / 4;
        let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for k in range.clone() {
            let (s, c) = (w * k as f64).sin_cos();
            let v = y[k] as f64;
            ss += s * s;
            sc += s * c;
            cc += c * c;
            ys += v * s;
            yc += v * c;
        }
        let det = ss * cc - sc * sc;
        let a = (ys * cc - yc * sc) / det;
        let b = (yc * ss - ys * sc) / det;
        let mut res = 0.0;
        for k in range.clone() {
            let (s, c) = (w * k as f64).sin_cos();
            res += (y[k] as f64 - a * s - b * c).powi(2);
        }
        // y = A sin(w (k - d)) = A cos(wd) sin(wk) - A sin(wd) cos(wk)
        let d = (-b).atan2(a) / w;
        (d, a.hypot(b), (res / range.len() as f64).sqrt())
    }

    fn sine_delay(y: &[f32], f: f64, rate: u32) -> f64 {
        fit_sine(y, f, rate).0
    }

    #[test]
    fn delay_formula_matches_rubato() {
        // Measures the raw (uncompensated) stream without pre-roll against `rubato_delay`.
        for (from, to) in rate_pairs() {
            let ratio = to as f64 / from as f64;
            let mut rs = StreamResampler::new(from, to, 4096).unwrap();
            rs.preroll = 0;
            rs.preroll_left = 0;
            let mut raw = Vec::new();
            rs.process(&sine(50.0, from, from as usize), &mut raw)
                .unwrap();
            rs.flush(&mut raw).unwrap();
            let d = sine_delay(&raw, 50.0, to);
            let expected = rubato_delay(ratio, table_for(from, to, ResamplerProfile::Quality).1);
            assert!(
                (d - expected).abs() < 0.005,
                "{from}->{to}: expected delay {expected:.4}, measured {d:.4}"
            );
        }
    }

    #[test]
    fn output_is_time_aligned_sine_phase() {
        for (from, to) in rate_pairs() {
            for f in [50.0, 440.0, 1500.0] {
                let y = resample(&sine(f, from, from as usize), from, to).unwrap();
                let d = sine_delay(&y, f, to);
                assert!(
                    d.abs() < 0.01,
                    "{from}->{to} at {f} Hz: residual delay {d:.4} samples"
                );
            }
        }
    }

    #[test]
    fn impulse_stays_at_same_time() {
        for (from, to) in rate_pairs() {
            // An impulse at t = 0.3 s (and one near the start, where pre-roll matters).
            for &t in &[0.3f64, 0.01] {
                let n = from as usize / 2;
                let j0 = (t * from as f64).round() as usize;
                let mut x = vec![0.0f32; n];
                x[j0] = 1.0;
                let y = resample(&x, from, to).unwrap();
                let (imax, _) =
                    y.iter().enumerate().fold(
                        (0, f32::MIN),
                        |a, (i, &v)| {
                            if v > a.1 {
                                (i, v)
                            } else {
                                a
                            }
                        },
                    );
                let expected = j0 as f64 * to as f64 / from as f64;
                assert!(
                    (imax as f64 - expected).abs() <= 1.0,
                    "{from}->{to}: impulse at input {j0} expected near output {expected:.2}, peak at {imax}"
                );
            }
        }
    }

    #[test]
    fn output_length_is_rounded_ratio() {
        for (from, to) in rate_pairs() {
            for &n in &[0usize, 1, 2, 3, 5, 160, 441, 1001, 8000] {
                let y = resample(&vec![0.1; n], from, to).unwrap();
                let expected = ((n as f64) * to as f64 / from as f64).round() as usize;
                assert_eq!(y.len(), expected, "{from}->{to} with {n} input samples");
            }
        }
    }

    #[test]
    fn extreme_ratios_work_and_stay_aligned() {
        // Beyond 8x downsampling the sinc length is capped, so the pass band droops a little.
        for (from, to, amp_tol) in [
            (1000u32, 768_000u32, 1e-3),
            (768_000, 1000, 2e-2),
            (44100, 48000, 1e-3),
        ] {
            let x = sine(100.0, from, from as usize);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(y.len(), to as usize);
            let (d, amp, _) = fit_sine(&y, 100.0, to);
            assert!(d.abs() < 0.01, "{from}->{to}: residual delay {d:.4}");
            assert!((amp - 1.0).abs() < amp_tol, "{from}->{to}: amplitude {amp}");
            // Small blocks through the streaming path give the same samples.
            let mut rs = StreamResampler::new(from, to, 7).unwrap();
            let mut out = Vec::new();
            for piece in x.chunks(5) {
                rs.process(piece, &mut out).unwrap();
            }
            rs.flush(&mut out).unwrap();
            let lat = rs.latency_out_samples();
            assert_eq!(out.len(), lat + y.len());
            let err = out[lat..]
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err <= 1e-6, "{from}->{to}: stream differs by {err}");
        }
    }

    #[test]
    fn lookahead_bounds_the_output_lag() {
        for (from, to) in rate_pairs() {
            let ratio = to as f64 / from as f64;
            let mut rs = StreamResampler::new(from, to, 1).unwrap();
            let (lat, look) = (rs.latency_out_samples(), rs.lookahead_in_samples());
            let mut out = Vec::new();
            let mut lag_max = f64::MIN;
            for n in 1..=4000usize {
                rs.process(&[0.5], &mut out).unwrap();
                let promised = lat as f64 + (n as f64 - look as f64) * ratio - 1.0;
                assert!(
                    out.len() as f64 >= promised.floor(),
                    "{from}->{to}: after {n} inputs {} outputs, promised {promised:.1}",
                    out.len()
                );
                // How far the emitted count trails `latency + n * ratio`, in input samples.
                lag_max = lag_max.max((lat as f64 + n as f64 * ratio - out.len() as f64) / ratio);
            }
            // The bound is tight to a few samples.
            assert!(
                lag_max > look as f64 - 4.0,
                "{from}->{to}: lag {lag_max:.1} vs lookahead {look}"
            );
        }
    }

    #[test]
    fn equal_rates_are_identity() {
        let x = sine(300.0, 22050, 1000);
        assert_eq!(resample(&x, 22050, 22050).unwrap(), x);
        let mut rs = StreamResampler::new(8000, 8000, 64).unwrap();
        assert_eq!(rs.latency_out_samples(), 0);
        let mut out = Vec::new();
        rs.process(&x[..10], &mut out).unwrap();
        rs.process(&x[10..], &mut out).unwrap();
        rs.flush(&mut out).unwrap();
        assert_eq!(out, x);
    }

    #[test]
    fn bad_rates_and_blocks_are_rejected() {
        for (from, to) in [(0, 22050), (22050, 0), (999, 22050), (22050, 768_001)] {
            let err = resample(&[0.0; 4], from, to).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("expected") && msg.contains("found"), "{msg}");
        }
        assert!(resample(&[0.0; 4], 1000, 768_000).is_ok());
        assert!(StreamResampler::new(8000, 22050, 0).is_err());
        assert!(StreamResampler::new(8000, 22050, MAX_BLOCK + 1).is_err());
    }

    #[test]
    fn streaming_matches_offline_for_any_block_size() {
        let from = 8000;
        let x: Vec<f32> = sine(700.0, from, 12_345)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + (i % 97) as f32 / 97.0) * 0.5)
            .collect();
        for (from, to) in [(8000u32, 22050u32), (22050, 16000), (44100, 22050)] {
            let offline = resample(&x, from, to).unwrap();
            for &max_block in &[4096usize, 7] {
                for &block in &[1usize, 7, 256, 4096] {
                    let mut rs = StreamResampler::new(from, to, max_block).unwrap();
                    let mut out = Vec::new();
                    for piece in x.chunks(block) {
                        rs.process(piece, &mut out).unwrap();
                    }
                    rs.flush(&mut out).unwrap();
                    let lat = rs.latency_out_samples();
                    assert_eq!(out.len(), lat + offline.len());
                    let max_err = out[lat..]
                        .iter()
                        .zip(&offline)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        max_err <= 1e-6,
                        "{from}->{to} max_block {max_block} block {block}: max error {max_err}"
                    );
                }
            }
        }
    }

    #[test]
    fn flush_resets_for_a_new_stream() {
        let x = sine(300.0, 16000, 3000);
        let mut rs = StreamResampler::new(16000, 22050, 256).unwrap();
        let mut first = Vec::new();
        rs.process(&x, &mut first).unwrap();
        rs.flush(&mut first).unwrap();
        let mut second = Vec::new();
        rs.process(&x, &mut second).unwrap();
        rs.flush(&mut second).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn long_stream_keeps_memory_bounded() {
        // Two minutes of 8 kHz input in 20 ms blocks: internal buffers never grow, output
        // keeps pace with input.
        let block = vec![0.25f32; 160];
        let mut rs = StreamResampler::new(8000, 22050, 160).unwrap();
        let caps = (rs.pending.capacity(), rs.chunk_out[0].capacity());
        let mut out = Vec::with_capacity(rs.max_output_len(block.len()) + 1024);
        let mut total = 0usize;
        for _ in 0..(120 * 8000 / 160) {
            out.clear();
            let bound = rs.max_output_len(block.len());
            total += rs.process(&block, &mut out).unwrap();
            assert!(out.len() <= bound, "{} > {bound}", out.len());
            assert!(out.len() <= rs.max_output_len(block.len()));
        }
        assert_eq!(caps, (rs.pending.capacity(), rs.chunk_out[0].capacity()));
        let expected = 120 * 22050;
        assert!(
            total.abs_diff(expected) < 2048,
            "expected about {expected} output samples, found {total}"
        );
    }

    #[test]
    fn passband_is_accurate_and_aliases_are_rejected() {
        for (from, to) in rate_pairs() {
            // Tones well inside both pass bands keep their amplitude and shape.
            let top = from.min(to) as f64 * 0.4;
            for f in [100.0, 1000.0, top] {
                let y = resample(&sine(f, from, from as usize), from, to).unwrap();
                let (_, amp, res) = fit_sine(&y, f, to);
                assert!(
                    (amp - 1.0).abs() < 1e-4,
                    "{from}->{to} at {f} Hz: amplitude {amp}"
                );
                let snr_db = 20.0 * (std::f64::consts::FRAC_1_SQRT_2 / res).log10();
                assert!(snr_db > 100.0, "{from}->{to} at {f} Hz: SNR {snr_db:.1} dB");
            }
        }
        // 6 kHz at 22.05 k is above the 4 kHz Nyquist of 8 k: it must vanish.
        let y = resample(&sine(6000.0, 22050, 22050), 22050, 8000).unwrap();
        let mid = y.len() / 4..3 * y.len() / 4;
        let p: f64 = mid.clone().map(|i| (y[i] as f64).powi(2)).sum::<f64>() / mid.len() as f64;
        let alias_db = 10.0 * (p / 0.5).log10();
        assert!(alias_db < -100.0, "alias level {alias_db:.1} dB");
    }
}
