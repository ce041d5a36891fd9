//! Offline enhancement on several cores: the signal cut into segments that separate engines
//! process at the same time.
//!
//! One engine is a sequential stream, so a single file used only one core (ONNX Runtime's own
//! threads speed up the model calls, which are a third to a half of the work). Here each
//! segment runs on its own [`Engine`] (its own model sessions, one thread each) with enough
//! real input before and after it that the part kept is what one long stream computes:
//!
//! - Each segment's engine starts on a grid on which the input resampler's phase, the STFT
//!   frames and the output resampler's phase all restart as they do at the stream's first
//!   sample ([`SegmentPlan::grid`], 5.12 s at 8 kHz for the quality set), so it sees the same
//!   frames as the long stream; the segment itself begins [`SegmentPlan::pre`] samples after
//!   that grid point (cuts at `k * grid + pre`), so the pre-roll costs no more than it must.
//! - The pre-roll covers every model's left context and the filters' history; the input fed
//!   past the segment's end covers the right context and lookahead. Zeros beyond what a
//!   segment is fed never reach the samples it keeps.
//!
//! What remains different is where the model calls are cut (`chunk_frames` counts from each
//! engine's start): a model whose sidecar context is shorter than its receptive field sees a
//! slightly different truncation. With the shipped models the output is within 2e-6 of full
//! scale of one stream's (`core/tests/engine_parallel.rs` allows 1e-5; a 16-bit step is 3e-5).
//!
//! Memory stays bounded: [`ParallelStream`] holds one window of `engines x segment` input
//! samples plus the pre-roll.

use super::{Engine, EngineConfig, EngineError, OfflineStream, StageTimes, Synthesis};

/// Target segment length (seconds of input); rounded up to the grid.
pub const SEGMENT_SECONDS: f64 = 30.0;
/// Grids longer than this (seconds of input) are not used: rate pairs without a small common
/// period process as one stream.
const MAX_GRID_SECONDS: f64 = 60.0;
/// Frames of margin on either side beyond the models' contexts.
const MARGIN_FRAMES: usize = 2;
/// Input-rate samples of margin for the resamplers' filters (the longest one, 768 kHz -> 1 kHz,
/// is 2048 taps at the input rate).
const FILTER_MARGIN: usize = 2048;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

/// Where a configuration's signal may be cut (input samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Period on which the resamplers' phases and the STFT frames restart.
    pub grid: usize,
    /// Input before a segment that its engine is fed first; segments after the first begin at
    /// `k * grid + pre`, so that their engines start on the grid.
    pub pre: usize,
    /// Input after a segment that its engine is fed too.
    pub post: usize,
}

impl SegmentPlan {
    /// The plan for `config`, or `None` where it cannot be cut: Griffin-Lim (not a stream)
    /// or a rate pair whose common period is longer than a minute.
    pub fn new(config: &EngineConfig) -> Option<Self> {
        if matches!(config.synthesis, Synthesis::GriffinLim { .. }) {
            return None;
        }
        let m = &config.mel;
        let (input, core, output) = (
            config.input_rate as u64,
            m.sample_rate as u64,
            config.output_rate as u64,
        );
        let (hop, n_fft) = (m.hop as u64, m.n_fft as u64);
        if input == 0 || core == 0 || output == 0 || hop == 0 {
            return None;
        }
        // n input samples are n * core / input core samples: whole (n a multiple of `a`), a
        // multiple of the hop and of the output resampler's period `core / gcd(core, output)`.
        let a = input / gcd(input, core);
        let b = core / gcd(input, core);
        let period = lcm(hop, core / gcd(core, output));
        let k = period / gcd(b, period);
        // ... and whole at the output rate.
        // Cuts keep the output index whole: multiples of `unit` input samples.
        let unit = input / gcd(input, output);
        let grid = lcm(k * a, unit);
        if grid as f64 > MAX_GRID_SECONDS * input as f64 {
            return None;
        }
        let vocoder = config.synthesis == Synthesis::Vocoder;
        let ctx = |g: usize, v: usize| -> u64 {
            (g + if vocoder { v } else { 0 } + MARGIN_FRAMES) as u64 * hop + n_fft
        };
        let to_input = |core_samples: u64| core_samples * input / core + 1 + FILTER_MARGIN as u64;
        let left = to_input(ctx(
            config.generator_context.left,
            config.vocoder_context.left,
        ));
        let right = to_input(ctx(
            config.generator_context.right,
            config.vocoder_context.right,
        ));
        Some(Self {
            grid: grid as usize,
            pre: (left.div_ceil(unit) * unit) as usize,
            post: right as usize,
        })
    }

    /// The first cut at or after `x` (input samples; cuts are `k * grid + pre`).
    fn cut_at_or_after(&self, x: usize) -> usize {
        x.saturating_sub(self.pre).div_ceil(self.grid) * self.grid + self.pre
    }

    /// Segment length: [`SEGMENT_SECONDS`] rounded up to the grid.
    pub fn segment(&self, input_rate: u32) -> usize {
        let target = (SEGMENT_SECONDS * input_rate as f64) as usize;
        target.div_ceil(self.grid).max(1) * self.grid
    }
}

/// [`OfflineStream`] over several engines: the signal is cut into segments (see the module
/// docs) that the engines process in parallel, one thread each. The output is what one engine
/// gives for the whole signal (within the bound stated in the module docs), in bounded memory.
///
/// With one engine, or a configuration [`SegmentPlan::new`] cannot cut, it is one stream on
/// the first engine. The engines must share one configuration.
pub struct ParallelStream {
    mode: Mode,
}

/// How a [`ParallelStream`] runs.
enum Mode {
    /// One stream on one engine (one engine given, or a configuration that cannot be cut).
    Single(Box<OfflineStream>),
    /// Segments on several engines.
    Segments(Segments),
}

/// The segmenting state of a [`ParallelStream`].
struct Segments {
    engines: Vec<Engine>,
    plan: SegmentPlan,
    segment: usize,
    /// Input from absolute sample `buf_start` on.
    buf: Vec<f32>,
    buf_start: usize,
    /// Input before this absolute sample has been turned into output.
    done: usize,
}

impl std::fmt::Debug for ParallelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ParallelStream");
        match &self.mode {
            Mode::Single(_) => d.field("engines", &1),
            Mode::Segments(g) => d
                .field("engines", &g.engines.len())
                .field("plan", &g.plan)
                .field("segment", &g.segment)
                .field("done", &g.done),
        };
        d.finish()
    }
}

impl ParallelStream {
    /// A stream over `engines` (at least one; all with the same configuration).
    pub fn new(mut engines: Vec<Engine>) -> Result<Self, EngineError> {
        if engines.is_empty() {
            return Err(EngineError::InvalidConfig {
                field: "engines",
                expected: "at least one engine".into(),
                found: "none".into(),
            });
        }
        let cfg = engines[0].config().clone();
        if engines.iter().any(|e| *e.config() != cfg) {
            return Err(EngineError::InvalidConfig {
                field: "engines",
                expected: "engines with one configuration".into(),
                found: "engines with different configurations".into(),
            });
        }
        let mode = match SegmentPlan::new(&cfg).filter(|_| engines.len() > 1) {
            Some(plan) => Mode::Segments(Segments {
                segment: plan.segment(cfg.input_rate),
                engines,
                plan,
                buf: Vec::new(),
                buf_start: 0,
                done: 0,
            }),
            None => Mode::Single(Box::new(OfflineStream::new(engines.remove(0)))),
        };
        Ok(Self { mode })
    }

    /// Cuts segments of about `seconds` of input instead of [`SEGMENT_SECONDS`] (rounded up to
    /// the grid; shorter segments cost more pre-roll, longer ones more memory).
    pub fn with_segment_seconds(mut self, seconds: f64) -> Self {
        if let Mode::Segments(g) = &mut self.mode {
            let rate = g.engines[0].config().input_rate as f64;
            let target = (seconds.max(0.0) * rate) as usize;
            g.segment = target.div_ceil(g.plan.grid).max(1) * g.plan.grid;
        }
        self
    }

    /// The engines' [`StageTimes`] summed (CPU time across the parallel engines).
    pub fn stage_times(&self) -> StageTimes {
        match &self.mode {
            Mode::Single(s) => s.engine().stage_times(),
            Mode::Segments(g) => g
                .engines
                .iter()
                .fold(StageTimes::default(), |acc, e| acc.plus(&e.stage_times())),
        }
    }

    /// Zeroes the engines' [`StageTimes`].
    pub fn clear_stage_times(&mut self) {
        match &mut self.mode {
            Mode::Single(s) => s.engine_mut().clear_stage_times(),
            Mode::Segments(g) => g.engines.iter_mut().for_each(|e| e.clear_stage_times()),
        }
    }

    /// Whether the signal is processed in parallel segments.
    pub fn is_parallel(&self) -> bool {
        matches!(self.mode, Mode::Segments(_))
    }

    /// Feeds `input` and appends the output that is ready to `out`; returns how many samples
    /// were appended.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, EngineError> {
        match &mut self.mode {
            Mode::Single(s) => s.push(input, out),
            Mode::Segments(g) => g.push(input, out),
        }
    }

    /// Ends the stream: appends the rest, so that the output totals
    /// `round(n_in * output_rate / input_rate)` samples, and starts a new stream.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<usize, EngineError> {
        match &mut self.mode {
            Mode::Single(s) => s.finish(out),
            Mode::Segments(g) => g.finish(out),
        }
    }
}

impl Segments {
    fn rates(&self) -> (u64, u64) {
        let c = self.engines[0].config();
        (c.input_rate as u64, c.output_rate as u64)
    }

    fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, EngineError> {
        let start = out.len();
        self.buf.extend_from_slice(input);
        let plan = self.plan;
        // Segments of `segment` samples, the first window's first one from 0 (no pre-roll,
        // so `pre` longer), every later cut a `k * grid + pre` point.
        loop {
            let first = plan.cut_at_or_after(self.done + self.segment);
            let cuts: Vec<usize> = std::iter::once(self.done)
                .chain((0..self.engines.len()).map(|i| first + i * self.segment))
                .collect();
            if self.buf_start + self.buf.len() < cuts[cuts.len() - 1] + plan.post {
                break;
            }
            self.run(&cuts, false, out)?;
        }
        Ok(out.len() - start)
    }

    fn finish(&mut self, out: &mut Vec<f32>) -> Result<usize, EngineError> {
        let start = out.len();
        let end = self.buf_start + self.buf.len();
        let plan = self.plan;
        // The rest in up to one segment per engine, none shorter than the grid or twice the
        // pre-roll (that would cost more than it saves), cut at `k * grid + pre`.
        let rest = end - self.done;
        let min_len = (2 * plan.pre).max(plan.grid);
        let n = (rest / min_len).clamp(1, self.engines.len());
        let mut cuts = vec![self.done];
        for i in 1..n {
            let c = plan.cut_at_or_after(self.done + i * rest / n);
            if c > cuts[cuts.len() - 1] && c < end {
                cuts.push(c);
            }
        }
        cuts.push(end);
        self.run(&cuts, true, out)?;
        self.buf.clear();
        self.buf_start = 0;
        self.done = 0;
        Ok(out.len() - start)
    }

    /// Processes the segments between consecutive `cuts` (absolute input samples: `done`,
    /// then `k * grid + pre` points, with `last` the end of the signal) in parallel and appends
    /// their output in order.
    fn run(&mut self, cuts: &[usize], last: bool, out: &mut Vec<f32>) -> Result<(), EngineError> {
        let plan = self.plan;
        let (r_in, r_out) = self.rates();
        let to_out = |n: usize| (n as u64 * r_out / r_in) as usize;
        let end = self.buf_start + self.buf.len();
        let n_seg = cuts.len() - 1;
        let (buf, buf_start) = (&self.buf, self.buf_start);
        let results: Vec<Result<Vec<f32>, EngineError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self.engines[..n_seg]
                .iter_mut()
                .enumerate()
                .map(|(i, engine)| {
                    let (a, b) = (cuts[i], cuts[i + 1]);
                    let final_seg = last && i + 1 == n_seg;
                    // On the grid: `a` is 0 or a `k * grid + pre` cut.
                    let from = a.saturating_sub(plan.pre).max(buf_start);
                    let to = if final_seg {
                        end
                    } else {
                        (b + plan.post).min(end)
                    };
                    let x = &buf[from - buf_start..to - buf_start];
                    scope.spawn(move || -> Result<Vec<f32>, EngineError> {
                        let mut stream = OfflineStream::new(engine);
                        if !final_seg {
                            // Only the output up to the cut is kept.
                            stream.limit_output(to_out(b - from) as u64);
                        }
                        let mut y = Vec::new();
                        stream.push(x, &mut y)?;
                        stream.finish(&mut y)?;
                        let skip = to_out(a - from);
                        let keep = if final_seg {
                            y.len().saturating_sub(skip)
                        } else {
                            to_out(b - a)
                        };
                        y.drain(..skip.min(y.len()));
                        y.truncate(keep);
                        Ok(y)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(r) => r,
                    Err(_) => Err(EngineError::InvalidConfig {
                        field: "segment worker",
                        expected: "a worker that returns".into(),
                        found: "a worker that panicked".into(),
                    }),
                })
                .collect()
        });
        for r in results {
            out.extend_from_slice(&r?);
        }
        self.done = cuts[n_seg];
        // Keep the pre-roll of the next window.
        let keep_from = self.done.saturating_sub(plan.pre).max(self.buf_start);
        self.buf.drain(..keep_from - self.buf_start);
        self.buf_start = keep_from;
        Ok(())
    }
}

/// [`process_offline`](super::process_offline) on several engines at once (see the module
/// docs): the output for the whole `input`, time-aligned, `round(len * out / in)` samples.
pub fn process_offline_parallel(
    engines: Vec<Engine>,
    input: &[f32],
) -> Result<Vec<f32>, EngineError> {
    let mut s = ParallelStream::new(engines)?;
    let mut out = Vec::new();
    s.push(input, &mut out)?;
    s.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Context;

    fn cfg(input: u32, output: u32, hop: usize, n_fft: usize) -> EngineConfig {
        let mut c = EngineConfig::default();
        c.mel.hop = hop;
        c.mel.n_fft = n_fft;
        c.input_rate = input;
        c.output_rate = output;
        c.synthesis = Synthesis::PhaseCopy;
        c.generator_context = Context {
            left: 40,
            right: 40,
        };
        c
    }

    #[test]
    fn grid_restarts_every_phase() {
        // 8 kHz -> 22.05 kHz: 160 input samples are 441 core samples; 256 of those periods
        // make a whole number of 256-sample hops.
        let p = SegmentPlan::new(&cfg(8000, 22050, 256, 1024)).unwrap();
        assert_eq!(p.grid, 40960);
        assert_eq!(
            SegmentPlan::new(&cfg(8000, 22050, 128, 512)).unwrap().grid,
            20480
        );
        // 48 kHz in and out: the output resampler's period (147 core samples) counts too.
        let p48 = SegmentPlan::new(&cfg(48000, 48000, 256, 1024)).unwrap();
        assert_eq!(p48.grid, 81920);
        assert_eq!(
            SegmentPlan::new(&cfg(22050, 22050, 256, 1024))
                .unwrap()
                .grid,
            256
        );
        for p in [p, p48] {
            assert!(
                p.pre < p.grid,
                "the pre-roll is a fraction of the grid here"
            );
            let c = p.cut_at_or_after(3 * p.grid);
            assert_eq!((c - p.pre) % p.grid, 0);
            assert!(c >= 3 * p.grid && c < 4 * p.grid + p.pre);
        }
        let p = SegmentPlan::new(&cfg(8000, 22050, 256, 1024)).unwrap();
        // The pre-roll and post cover the context: (40 + 2) hops + n_fft core samples.
        assert!(p.pre * 22050 >= (42 * 256 + 1024) * 8000);
        assert!(p.post * 22050 >= (42 * 256 + 1024) * 8000);
        assert_eq!(p.grid * 22050 % (8000 * 256), 0);
        let gl = EngineConfig {
            synthesis: Synthesis::GriffinLim { iterations: 8 },
            ..cfg(8000, 22050, 256, 1024)
        };
        assert_eq!(SegmentPlan::new(&gl), None);
        assert!(SegmentPlan::new(&cfg(44100, 44100, 256, 1024)).is_some());
        // A rate pair with a long common period is one stream.
        assert_eq!(SegmentPlan::new(&cfg(44_099, 22050, 256, 1024)), None);
    }
}
