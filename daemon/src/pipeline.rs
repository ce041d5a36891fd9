//! The two audio callbacks' state, free of cpal so tests can drive them directly.
//!
//! ```text
//! input callback:  interleaved capture -> mono (sanitised) -> RealtimeEngine (worker thread)
//!                  -> ring (rtrb, lock-free)
//! output callback: ring -> [adaptive resampler when the clocks differ] -> every output channel
//! ```
//!
//! The ring starts with `prefill` samples of silence, so the output side always has a block to
//! read; with one shared clock the delay through it is exactly `prefill`. An output callback
//! that finds the ring short plays silence for the missing samples and remembers them
//! ("owed"): they are dropped when they arrive, so the latency never grows. Nothing here
//! allocates, locks or blocks after construction.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};
use widen_core::config::engine::RT_CROSSFADE;
use widen_core::dsp::DelayLine;
use widen_core::engine::{RealtimeEngine, RealtimeMonitor, StreamProcessor};

use crate::stats::Counters;
use crate::sync::{AdaptiveResampler, SyncError};

/// Values below this magnitude are flushed to zero at the input: denormals make the DSP slow
/// and carry nothing audible (the callbacks cannot set the CPU's flush-to-zero mode without
/// `unsafe`).
pub const DENORMAL_FLOOR: f32 = 1e-30;

/// Late blocks within one [`OVERLOAD_WINDOW_S`] that count as overload for
/// `--bypass-on-overload`.
pub const OVERLOAD_LATE_BLOCKS: u64 = 3;
/// Window (s) in which [`OVERLOAD_LATE_BLOCKS`] late blocks trigger bypass.
pub const OVERLOAD_WINDOW_S: f64 = 1.0;
/// First bypass hold (s); doubles on each overload after a retry, up to [`BYPASS_MAX_HOLD_S`].
pub const BYPASS_FIRST_HOLD_S: f64 = 2.0;
/// Longest bypass hold (s).
pub const BYPASS_MAX_HOLD_S: f64 = 30.0;

/// Where the bypass logic stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BypassState {
    /// The engine's output plays; `window_start`/`window_late` count late blocks.
    Engine,
    /// The daemon's dry path plays; the engine is not fed until `until` (input samples).
    Bypass { until: u64 },
    /// Engine restarted: dry plays while the engine refills, then a cross-fade back from
    /// sample `fade_from` on.
    Rejoin { fade_from: u64 },
}

/// `--bypass-on-overload`: when the worker keeps missing its deadline, stop feeding it and play
/// the dry signal (same latency) for a hold time, then retry with a cross-fade.
struct Bypass {
    dry: DelayLine,
    state: BypassState,
    window_start: u64,
    window_late: u64,
    late_seen: u64,
    hold: u64,
    first_hold: u64,
    max_hold: u64,
    window: u64,
    latency: u64,
    gain: f32,
}

/// The input callback's state.
pub struct InputSide {
    channels: usize,
    rt: RealtimeEngine,
    monitor: RealtimeMonitor,
    mono: Vec<f32>,
    wet: Vec<f32>,
    ring: Producer<f32>,
    clock: std::time::Instant,
    bypass: Option<Bypass>,
    /// Input samples handled since the start.
    pos: u64,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for InputSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSide")
            .field("channels", &self.channels)
            .field("pos", &self.pos)
            .finish()
    }
}

/// The output callback's state.
pub struct OutputSide {
    channels: usize,
    ring: Consumer<f32>,
    sync: Option<AdaptiveResampler>,
    mono: Vec<f32>,
    owed: usize,
    rate: u32,
    in_rate: u32,
    max_in_block: usize,
    clock: std::time::Instant,
    resync_above: usize,
    target: usize,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for OutputSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSide")
            .field("channels", &self.channels)
            .field("sync", &self.sync)
            .finish()
    }
}

/// How the pipeline is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineConfig {
    /// Capture channels (mixed to mono).
    pub in_channels: usize,
    /// Playback channels (each gets the mono result).
    pub out_channels: usize,
    /// Capture rate (the engine's rate).
    pub in_rate: u32,
    /// Playback rate.
    pub out_rate: u32,
    /// Largest output callback (frames); sizes the mono scratch buffer.
    pub max_out_block: usize,
    /// Ring prefill (input-rate samples): the delay through the ring.
    pub prefill: usize,
    /// Resample between the clocks (`true` for separate devices; `false` when they share one
    /// clock, which keeps the path bit-exact).
    pub clock_sync: bool,
    /// Enables `--bypass-on-overload`.
    pub bypass_on_overload: bool,
}

/// Builds the two sides around `rt`. Fails only when the resampler refuses the rates.
pub fn build(
    cfg: PipelineConfig,
    rt: RealtimeEngine,
    counters: Arc<Counters>,
) -> Result<(InputSide, OutputSide), SyncError> {
    let max_in = rt.max_block();
    let in_rate = cfg.in_rate as usize;
    // Room for the prefill, a second of slack and the largest blocks on both sides.
    let capacity = cfg.prefill + in_rate + 4 * (max_in + cfg.max_out_block);
    let (mut tx, rx) = RingBuffer::new(capacity);
    for _ in 0..cfg.prefill {
        // Cannot fail: the ring holds more than the prefill.
        let _ = tx.push(0.0);
    }
    let latency = rt.latency_samples() as u64;
    let clock = std::time::Instant::now();
    let bypass = cfg.bypass_on_overload.then(|| {
        let s = |secs: f64| (secs * in_rate as f64) as u64;
        Bypass {
            dry: DelayLine::new(latency as usize),
            state: BypassState::Engine,
            window_start: 0,
            window_late: 0,
            late_seen: 0,
            hold: s(BYPASS_FIRST_HOLD_S),
            first_hold: s(BYPASS_FIRST_HOLD_S),
            max_hold: s(BYPASS_MAX_HOLD_S),
            window: s(OVERLOAD_WINDOW_S),
            latency,
            gain: 1.0,
        }
    });
    let sync = if cfg.clock_sync {
        Some(AdaptiveResampler::new(
            cfg.in_rate,
            cfg.out_rate,
            cfg.prefill,
        )?)
    } else {
        None
    };
    let input = InputSide {
        channels: cfg.in_channels.max(1),
        monitor: rt.monitor(),
        rt,
        mono: vec![0.0; max_in],
        wet: vec![0.0; max_in],
        ring: tx,
        clock,
        bypass,
        pos: 0,
        counters: Arc::clone(&counters),
    };
    let output = OutputSide {
        channels: cfg.out_channels.max(1),
        ring: rx,
        sync,
        mono: vec![0.0; cfg.max_out_block.max(1)],
        owed: 0,
        rate: cfg.out_rate,
        in_rate: cfg.in_rate,
        max_in_block: max_in,
        clock,
        // A ring this far above target (a stall, a server hiccup) is re-centred at once.
        resync_above: cfg.prefill + (in_rate / 10).max(4 * max_in),
        target: cfg.prefill,
        counters,
    };
    Ok((input, output))
}

impl InputSide {
    /// The engine's latency (samples at the input rate), wrapper margin included.
    pub fn engine_latency(&self) -> usize {
        self.rt.latency_samples()
    }

    /// The real-time wrapper's margin (samples at the input rate; part of
    /// [`engine_latency`](Self::engine_latency)).
    pub fn worker_margin(&self) -> usize {
        self.rt.margin()
    }

    /// Counters of the real-time engine.
    pub fn monitor(&self) -> RealtimeMonitor {
        self.monitor.clone()
    }

    /// Sets the gain on the generated band.
    pub fn set_amount(&self, amount: f32) {
        self.rt.set_amount(amount);
    }

    /// The input callback: `data` is interleaved with `channels` channels.
    pub fn process(&mut self, data: &[f32]) {
        let ch = self.channels;
        let frames = data.len() / ch;
        Counters::bump(&self.counters.input_callbacks);
        self.counters
            .input_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
        let max = self.mono.len();
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(max);
            let (peak, bad) = downmix(&data[start * ch..(start + n) * ch], ch, &mut self.mono[..n]);
            self.counters.note_peak(peak);
            if bad > 0 {
                self.counters
                    .sanitized_samples
                    .fetch_add(bad, Ordering::Relaxed);
            }
            self.run_block(n);
            if self.ring.push_entire_slice(&self.wet[..n]).is_err() {
                // The output side has stopped reading (device gone): drop, never block.
                Counters::bump(&self.counters.overflows);
            }
            self.counters
                .last_push_ns
                .store(self.clock.elapsed().as_nanos() as u64, Ordering::Relaxed);
            start += n;
        }
    }

    /// Runs `mono[..n]` through the engine (or the bypass path) into `wet[..n]`.
    fn run_block(&mut self, n: usize) {
        let Some(b) = self.bypass.as_mut() else {
            if self
                .rt
                .process(&self.mono[..n], &mut self.wet[..n])
                .is_err()
            {
                // Cannot happen (blocks are at most max_block); play silence rather than panic.
                self.wet[..n].fill(0.0);
            }
            self.pos += n as u64;
            return;
        };
        let pos = self.pos;
        self.pos += n as u64;
        match b.state {
            BypassState::Engine => {
                let _ = self.rt.process(&self.mono[..n], &mut self.wet[..n]);
                for &x in &self.mono[..n] {
                    b.dry.tick(x);
                }
                let late = self.monitor.stats().late_blocks;
                let new_late = late.saturating_sub(b.late_seen);
                b.late_seen = late;
                if pos >= b.window_start + b.window {
                    b.window_start = pos;
                    b.window_late = 0;
                }
                b.window_late += new_late;
                if b.window_late >= OVERLOAD_LATE_BLOCKS {
                    b.state = BypassState::Bypass {
                        until: self.pos + b.hold,
                    };
                    b.hold = (b.hold * 2).min(b.max_hold);
                    self.counters.bypassed.store(true, Ordering::Relaxed);
                    Counters::bump(&self.counters.bypass_events);
                }
            }
            BypassState::Bypass { until } => {
                for (w, &x) in self.wet[..n].iter_mut().zip(&self.mono[..n]) {
                    *w = b.dry.tick(x);
                }
                if self.pos >= until {
                    // Restart the worker; its output is trusted again one latency later.
                    self.rt.reset();
                    b.state = BypassState::Rejoin {
                        fade_from: self.pos + b.latency,
                    };
                    b.gain = 0.0;
                }
            }
            BypassState::Rejoin { fade_from } => {
                let _ = self.rt.process(&self.mono[..n], &mut self.wet[..n]);
                let step = 1.0 / RT_CROSSFADE as f32;
                for (j, (w, &x)) in self.wet[..n].iter_mut().zip(&self.mono[..n]).enumerate() {
                    let d = b.dry.tick(x);
                    if pos + j as u64 >= fade_from {
                        b.gain = (b.gain + step).min(1.0);
                    }
                    *w = b.gain * *w + (1.0 - b.gain) * d;
                }
                if b.gain >= 1.0 {
                    b.state = BypassState::Engine;
                    b.late_seen = self.monitor.stats().late_blocks;
                    b.window_start = self.pos;
                    b.window_late = 0;
                    self.counters.bypassed.store(false, Ordering::Relaxed);
                }
            }
        }
        if matches!(b.state, BypassState::Engine) && b.hold > b.first_hold {
            // A long stretch without overload earns the short hold back.
            if self.pos >= b.window_start + 30 * b.window {
                b.hold = b.first_hold;
            }
        }
    }
}

/// Mixes interleaved `data` to mono in `out`, replacing NaN/Inf by 0 and flushing denormals.
/// Returns the peak |x| and the number of replaced samples.
fn downmix(data: &[f32], ch: usize, out: &mut [f32]) -> (f32, u64) {
    let mut peak = 0.0f32;
    let mut bad = 0u64;
    let scale = 1.0 / ch as f32;
    for (o, frame) in out.iter_mut().zip(data.chunks_exact(ch)) {
        let mut acc = 0.0f32;
        for &x in frame {
            if x.is_finite() && x.abs() >= DENORMAL_FLOOR {
                acc += x;
            } else if x != 0.0 {
                bad += 1;
            }
        }
        let y = acc * scale;
        peak = peak.max(y.abs());
        *o = y;
    }
    (peak, bad)
}

impl OutputSide {
    /// Ring samples queued now.
    pub fn fill(&self) -> usize {
        self.ring.slots()
    }

    /// The output callback: fills interleaved `data` (`channels` channels).
    pub fn process(&mut self, data: &mut [f32]) {
        let ch = self.channels;
        let frames = data.len() / ch;
        Counters::bump(&self.counters.output_callbacks);
        self.counters
            .output_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(self.mono.len());
            self.fill_mono(n);
            for (frame, &y) in data[start * ch..(start + n) * ch]
                .chunks_exact_mut(ch)
                .zip(&self.mono[..n])
            {
                frame.fill(y);
            }
            start += n;
        }
    }

    fn fill_mono(&mut self, n: usize) {
        // Samples owed from an earlier underrun are dropped as they arrive (constant latency).
        if self.owed > 0 {
            let k = self.owed.min(self.ring.slots());
            if let Ok(c) = self.ring.read_chunk(k) {
                c.commit_all();
            }
            self.owed -= k;
        }
        let fill = self.ring.slots();
        self.counters
            .ring_fill
            .store(fill as u64, Ordering::Relaxed);
        if fill > self.resync_above {
            // Far too much queued (the output stalled): drop back to the target at once.
            if let Ok(c) = self.ring.read_chunk(fill - self.target) {
                c.commit_all();
            }
            if let Some(s) = self.sync.as_mut() {
                s.reset();
            }
            Counters::bump(&self.counters.resyncs);
        }
        let ring = &mut self.ring;
        let got = match self.sync.as_mut() {
            None => {
                let k = ring.slots().min(n);
                if ring.pop_entire_slice(&mut self.mono[..k]).is_err() {
                    0
                } else {
                    k
                }
            }
            Some(s) => {
                let got = s.produce(&mut self.mono[..n], |buf| {
                    ring.pop_entire_slice(buf).is_ok()
                });
                // Phase-corrected fill: slots plus what the input clock has produced since its
                // last callback (see the sync module docs).
                let since_push = (self.clock.elapsed().as_nanos() as u64)
                    .saturating_sub(self.counters.last_push_ns.load(Ordering::Relaxed));
                let accrued =
                    (since_push as f64 * 1e-9 * self.in_rate as f64).min(self.max_in_block as f64);
                s.steer(ring.slots() as f64 + accrued, n as f64 / self.rate as f64);
                self.counters.drift_ppm.store(
                    (s.controller().correction_ppm() as f32).to_bits(),
                    Ordering::Relaxed,
                );
                got
            }
        };
        if got < n {
            self.mono[got..n].fill(0.0);
            Counters::bump(&self.counters.underruns);
            if self.sync.is_none() {
                self.owed += n - got;
            }
        }
    }

    /// Delay inside the clock-sync resampler (input samples; 0 without sync).
    pub fn resampler_delay(&self) -> f64 {
        self.sync.as_ref().map_or(0.0, |s| s.delay_in_samples())
    }
}
