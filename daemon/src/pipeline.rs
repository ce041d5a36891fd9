//! The two audio callbacks' state, free of cpal so tests can drive them directly.
//!
//! ```text
//! input callback:  interleaved capture -> mono (sanitised) -> RealtimeEngine (worker thread)
//!                  -> ring (rtrb, lock-free)
//! output callback: ring -> [adaptive resampler when the clocks differ] -> every output channel
//! ```
//!
//! The ring starts with `prefill` samples of silence, so the output side always has a block to
//! read. An output callback that finds the ring short plays silence for the missing samples and
//! remembers them ("owed"): they are dropped when they arrive, so the latency never grows.
//!
//! ## One shared clock: alignment by measurement
//!
//! With one clock (JACK, one device) the delay through the ring must be exactly `prefill`, the
//! figure the daemon reports (input callback to output callback). Counting samples alone cannot
//! promise that: the input and output streams start separately (on JACK, two clients that may
//! begin in different server cycles), and a disturbed cycle can leave a block more or less in
//! the ring for good. So the callbacks measure it from their timestamps (`callback_ns`: cpal's
//! `StreamInstant` of the callback; on JACK the server's cycle start plus the time since, one
//! clock for both streams):
//!
//! - The input publishes, with each callback, its time and the ring index of its first sample
//!   (a seqlock of atomics: the output skips a measurement rather than wait).
//! - The output places that time on its own frame axis, between the times and frame counts of
//!   its last [`ALIGN_HISTORY`] callbacks: so many frames before the output's current callback
//!   that ring sample came in. Interpolating between its own callbacks follows the clock's real
//!   pace (a busy dummy JACK server may run a cycle in twice its nominal time; a stalled
//!   server's gap falls within one interval), and converts no long stretch of time at the
//!   nominal rate. That distance, plus the ring samples between that one and the one about to
//!   play, minus `prefill`, is the delay error.
//! - Start: the output plays silence and reads nothing until the input has begun (nothing is
//!   owed before) and it has [`ALIGN_START`] measurements; their median sets the read position,
//!   rounded to whole input blocks (samples dropped when late, silence held when early).
//!   Later: an error of at least [`ALIGN_THRESHOLD`] of a block, the same whole number of input
//!   blocks for [`ALIGN_CALLBACKS`] consecutive output callbacks (a late callback, a stall, a
//!   starved thread are not), is corrected once the same way and counted
//!   ([`Counters::realigns`]).
//!
//! A callback's time includes its scheduling delay within the cycle: the input callback running
//! later in the cycle than the output by most of a period, persistently, would read as a block
//! early. The capture and playback timestamps, free of that, are not used: they carry the device
//! latencies (reported apart, in `end_to_end_ms`), which on JACK are the ports' latencies and
//! change as ports are connected (seen at a session's start: 0, then a period, then 0 again on
//! the daemon's input). Without timestamps (`None`) the sides run as before: the output reads
//! from its first callback on. The clock-sync path (two clocks) does not use any of this: its
//! resampler steers the ring's fill. Nothing here allocates, locks or blocks after
//! construction.

use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
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

/// Output callbacks whose times and frame counts place the input's callback on the output's
/// frame axis.
pub const ALIGN_HISTORY: usize = 8;
/// Measurements whose median sets the read position at the start.
pub const ALIGN_START: usize = 3;
/// Consecutive output callbacks that must find the ring delay off by the same whole number of
/// input blocks before it is corrected.
pub const ALIGN_CALLBACKS: u32 = 16;
/// Smallest delay error corrected, as a share of the larger of the input block and the output
/// callback. Above one half, so that a delay which sits about half a block off (possible only
/// where the two streams' blocks are not one server's cycles) is not flipped to and fro.
pub const ALIGN_THRESHOLD: f64 = 0.625;
/// Largest delay error (s) believed; a larger one means timestamps that are not one clock.
const ALIGN_MAX_ERROR_S: f64 = 60.0;

/// The input's latest callback time and ring index, for the output (a seqlock: one writer; a
/// reader that finds a write in progress gets nothing rather than waiting).
#[derive(Debug, Default)]
struct Published {
    /// Odd while a write is in progress; 0 before the first.
    seq: AtomicU64,
    time: AtomicI64,
    index: AtomicU64,
}

impl Published {
    fn publish(&self, time: i64, index: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.time.store(time, Ordering::Relaxed);
        self.index.store(index, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Option<(i64, u64)> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 == 0 || s1 % 2 == 1 {
            return None;
        }
        let time = self.time.load(Ordering::Relaxed);
        let index = self.index.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == s1).then_some((time, index))
    }

    fn started(&self) -> bool {
        self.seq.load(Ordering::Acquire) != 0
    }
}

/// The output side's part of the alignment.
#[derive(Debug)]
struct OutAlign {
    input: Arc<Published>,
    /// The last callbacks' (time ns, frames played before it), oldest first from `next`.
    history: [(i64, u64); ALIGN_HISTORY],
    len: usize,
    next: usize,
    /// Frames played so far (all callbacks).
    frames: u64,
    /// Whether the read position has been set (or the input began without timestamps).
    started: bool,
    /// Start-up measurements, each as the error minus the frames played before it (constant
    /// while the output waits).
    first: [f64; ALIGN_START],
    firsts: usize,
    /// The correction (samples) the last callbacks agreed on, and how many in a row.
    pending: i64,
    streak: u32,
}

impl OutAlign {
    /// Where the callback at `time` falls on the output's frame axis (frames played), from the
    /// history; outside it, at the history's own pace (`rate` frames per second while it spans
    /// no time).
    fn frame_at(&self, time: i64, rate: f64) -> f64 {
        let at = |k: usize| self.history[(self.next + ALIGN_HISTORY - 1 - k) % ALIGN_HISTORY];
        // Newest first.
        let (t0, p0) = at(0);
        let (tn, pn) = at(self.len.max(1) - 1);
        let per_ns = if t0 > tn && p0 > pn {
            (p0 - pn) as f64 / (t0 - tn) as f64
        } else {
            rate / 1e9
        };
        if time >= t0 {
            return p0 as f64 + (time - t0) as f64 * per_ns;
        }
        let mut newer = (t0, p0);
        for k in 1..self.len {
            let (t, p) = at(k);
            if time >= t {
                let (tn, pn) = newer;
                let frac = if tn > t {
                    (time - t) as f64 / (tn - t) as f64
                } else {
                    0.0
                };
                return p as f64 + frac * (pn - p) as f64;
            }
            newer = (t, p);
        }
        let (t, p) = newer;
        p as f64 - (t - time) as f64 * per_ns
    }
}

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
    /// Ring samples written since the start, the prefill included: the ring index of the next
    /// sample pushed.
    written: u64,
    align: Option<Arc<Published>>,
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
    /// Ring samples consumed (read or dropped) since the start, the prefill included.
    read: u64,
    /// Silence still to play before reading on (the ring delay was found short).
    hold: usize,
    align: Option<OutAlign>,
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
    /// clock, which keeps the path bit-exact and makes the callbacks align the ring's delay to
    /// `prefill` by their timestamps).
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
    // One clock, one rate: the delay through the ring is measured and kept at the prefill.
    let published = Arc::new(Published::default());
    let aligned = !cfg.clock_sync && cfg.in_rate == cfg.out_rate;
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
        written: cfg.prefill as u64,
        align: aligned.then(|| Arc::clone(&published)),
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
        read: 0,
        hold: 0,
        align: aligned.then_some(OutAlign {
            input: published,
            history: [(0, 0); ALIGN_HISTORY],
            len: 0,
            next: 0,
            frames: 0,
            started: false,
            first: [0.0; ALIGN_START],
            firsts: 0,
            pending: 0,
            streak: 0,
        }),
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

    /// The input callback: `data` is interleaved with `channels` channels; `callback_ns` is
    /// when the callback was called (ns on the streams' clock; `None` where the backend does
    /// not say: no alignment).
    pub fn process(&mut self, data: &[f32], callback_ns: Option<i64>) {
        let ch = self.channels;
        let frames = data.len() / ch;
        Counters::bump(&self.counters.input_callbacks);
        if let (Some(p), Some(t)) = (&self.align, callback_ns.filter(|&t| t > 0)) {
            p.publish(t, self.written);
        }
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
            } else {
                self.written += n as u64;
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

    /// The output callback: fills interleaved `data` (`channels` channels); `callback_ns` is
    /// when the callback was called (ns on the streams' clock; `None` where the backend does
    /// not say: no alignment).
    pub fn process(&mut self, data: &mut [f32], callback_ns: Option<i64>) {
        let ch = self.channels;
        let frames = data.len() / ch;
        Counters::bump(&self.counters.output_callbacks);
        self.counters
            .output_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
        if !self.align(frames, callback_ns) {
            // The input has not begun: silence, and nothing owed.
            data.fill(0.0);
            return;
        }
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

    /// One-clock alignment (module docs): measures the ring delay and corrects it. Returns
    /// `false` while the output waits for the input (silence, nothing read).
    fn align(&mut self, frames: usize, callback_ns: Option<i64>) -> bool {
        let Some(a) = self.align.as_mut() else {
            return true;
        };
        let pos = a.frames;
        a.frames += frames as u64;
        let Some(now) = callback_ns.filter(|&t| t > 0) else {
            // No timestamp: read on (from the start, as without alignment).
            a.started = true;
            return true;
        };
        a.history[a.next] = (now, pos);
        a.next = (a.next + 1) % ALIGN_HISTORY;
        a.len = (a.len + 1).min(ALIGN_HISTORY);
        let rate = f64::from(self.rate);
        // The input's latest callback came in `since` frames before this one; the ring sample
        // this callback plays first (after the silence still held, past the samples owed) is
        // `read + owed - hold`, and should play `target` frames after ring sample `index`.
        let input = a.input.read();
        let error = input
            .map(|(time, index)| {
                let since = pos as f64 - a.frame_at(time, rate);
                since + index as f64 + self.hold as f64
                    - (self.read + self.owed as u64) as f64
                    - self.target as f64
            })
            .filter(|e| e.abs() <= ALIGN_MAX_ERROR_S * rate);
        let quantum = self.max_in_block.max(1) as f64;
        let whole = |e: f64| (e / quantum).round() as i64 * quantum as i64;
        if !a.started {
            if let Some(e) = error {
                // Waiting reads nothing: the error minus the frames played stays put.
                a.first[a.firsts % ALIGN_START] = e - pos as f64;
                a.firsts += 1;
                if a.firsts < ALIGN_START {
                    return false;
                }
                let mut m = a.first;
                m.sort_by(f64::total_cmp);
                a.started = true;
                let c = whole(m[ALIGN_START / 2] + pos as f64);
                self.correct(c);
                self.counters.start_alignment.store(c, Ordering::Relaxed);
                return true;
            }
            if input.is_none() && (a.input.started() || self.ring.slots() <= self.target) {
                // The input has not begun (or was publishing just now): wait for it.
                return false;
            }
            // The input runs without timestamps, or with implausible ones: read on, unaligned.
            a.started = true;
            return true;
        }
        let Some(e) = error else {
            return true;
        };
        let c = whole(e);
        let threshold = ALIGN_THRESHOLD * quantum.max(frames as f64);
        if c == 0 || e.abs() < threshold {
            a.streak = 0;
            return true;
        }
        if c == a.pending {
            a.streak += 1;
        } else {
            a.pending = c;
            a.streak = 1;
        }
        if a.streak >= ALIGN_CALLBACKS {
            a.streak = 0;
            self.correct(c);
            Counters::bump(&self.counters.realigns);
        }
        true
    }

    /// Moves the read position by `c` samples: drops them when positive (or owes them), holds
    /// silence when negative (or forgives samples owed).
    fn correct(&mut self, c: i64) {
        let mut d = c.unsigned_abs() as usize;
        if c > 0 {
            let h = d.min(self.hold);
            self.hold -= h;
            d -= h;
            d -= self.discard(d);
            self.owed += d;
        } else {
            let o = d.min(self.owed);
            self.owed -= o;
            self.hold += d - o;
        }
    }

    /// Drops up to `k` queued samples (no more than the ring holds), counted as read (the
    /// alignment's ring index); returns how many.
    fn discard(&mut self, k: usize) -> usize {
        let k = k.min(self.ring.slots());
        match self.ring.read_chunk(k) {
            Ok(c) => {
                c.commit_all();
                self.read += k as u64;
                k
            }
            Err(_) => 0,
        }
    }

    fn fill_mono(&mut self, n: usize) {
        // Silence the alignment asked for comes first.
        let held = self.hold.min(n);
        self.mono[..held].fill(0.0);
        self.hold -= held;
        if held == n {
            return;
        }
        // Samples owed from an earlier underrun are dropped as they arrive (constant latency).
        if self.owed > 0 {
            self.owed -= self.discard(self.owed);
        }
        let fill = self.ring.slots();
        self.counters
            .ring_fill
            .store(fill as u64, Ordering::Relaxed);
        if fill > self.resync_above {
            // Far too much queued (the output stalled): drop back to the target at once.
            self.discard(fill - self.target);
            if let Some(s) = self.sync.as_mut() {
                s.reset();
            }
            Counters::bump(&self.counters.resyncs);
        }
        let ring = &mut self.ring;
        let got = match self.sync.as_mut() {
            None => {
                let k = ring.slots().min(n - held);
                if ring
                    .pop_entire_slice(&mut self.mono[held..held + k])
                    .is_err()
                {
                    held
                } else {
                    self.read += k as u64;
                    held + k
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
