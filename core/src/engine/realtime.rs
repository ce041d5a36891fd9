//! [`RealtimeEngine`]: the engine on a worker thread, for audio callbacks.
//!
//! The audio thread pushes its input into a lock-free SPSC ring (rtrb) and pulls enhanced
//! output from another; the worker thread owns the [`Engine`] and runs it on whatever input
//! has arrived. The output ring starts with a margin of `max_block + fade` samples of
//! (virtual) silence, plus any [`extra_margin`](RealtimeOptions::extra_margin), so a worker
//! that finishes each block before the next call is always on time (with one more block of
//! margin: before the call after next, which absorbs a call that follows the previous one at
//! once, as audio servers do after a late cycle). When it is not, a dry copy of the input,
//! delayed by exactly the same latency, stands in: the wet/dry gain moves by at most `1 / fade` per sample and starts fading out
//! while `fade` wet samples are still queued, so lateness never clicks. `fade` is
//! [`RT_CROSSFADE`] unless the front end picks another ([`RealtimeOptions`]).
//! Wet samples that arrive for positions already played dry are discarded, so the enhanced
//! signal is always time-aligned. Each late block is counted.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use super::{Engine, EngineError, EngineStats, StreamProcessor};
use crate::config::engine::{RT_CROSSFADE, RT_QUEUE_SECONDS};
use crate::dsp::DelayLine;

/// How long the idle worker sleeps before looking for input again (it is also woken by
/// every audio block).
const WORKER_POLL: Duration = Duration::from_millis(1);

/// State shared by the audio side, the worker and monitors.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    reset_epoch: AtomicU64,
    ack_epoch: AtomicU64,
    amount: AtomicU32,
    late_blocks: AtomicU64,
    overflows: AtomicU64,
    worker_errors: AtomicU64,
    non_finite_samples: AtomicU64,
    frames: AtomicU64,
    dropped_frames: AtomicU64,
    limited_frames: AtomicU64,
    underruns: AtomicU64,
    /// Input samples the worker has processed and queued as output.
    processed: AtomicU64,
    /// The worker's longest block so far (ns, engine call to output queued).
    worker_peak_ns: AtomicU64,
}

impl Shared {
    fn stats(&self) -> EngineStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineStats {
            non_finite_samples: g(&self.non_finite_samples),
            frames: g(&self.frames),
            dropped_frames: g(&self.dropped_frames),
            limited_frames: g(&self.limited_frames),
            late_blocks: g(&self.late_blocks),
            overflows: g(&self.overflows),
            worker_errors: g(&self.worker_errors),
            underruns: g(&self.underruns),
        }
    }

    fn publish(&self, s: &EngineStats) {
        let p = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        p(&self.non_finite_samples, s.non_finite_samples);
        p(&self.frames, s.frames);
        p(&self.dropped_frames, s.dropped_frames);
        p(&self.limited_frames, s.limited_frames);
        p(&self.underruns, s.underruns);
    }
}

/// A cloneable, `Send` view of a [`RealtimeEngine`]'s counters for another thread (a UI).
#[derive(Clone)]
pub struct RealtimeMonitor {
    shared: Arc<Shared>,
}

impl RealtimeMonitor {
    /// The counters now.
    pub fn stats(&self) -> EngineStats {
        self.shared.stats()
    }

    /// Resets the worker has completed (explicit ones and resynchronisations after an input
    /// queue overflow).
    pub fn worker_resets(&self) -> u64 {
        self.shared.ack_epoch.load(Ordering::Acquire)
    }

    /// Input samples the worker has processed since the start (or its last reset): with the
    /// number of samples handed to `process`, this gives the worker's backlog.
    pub fn processed_samples(&self) -> u64 {
        self.shared.processed.load(Ordering::Acquire)
    }

    /// The worker's slowest block since the start (from the engine call to its output being
    /// queued; waiting to be scheduled not included): set against the margin, how close the
    /// worker came to a late block.
    pub fn worker_peak_block(&self) -> Duration {
        Duration::from_nanos(self.shared.worker_peak_ns.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for RealtimeMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeMonitor")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Audio-side state of the wet stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Waiting for the worker to acknowledge reset epoch `.0`.
    Resetting(u64),
}

/// Settings of a [`RealtimeEngine`] beyond its engine ([`RealtimeEngine::with_options`]).
pub struct RealtimeOptions {
    /// Wet/dry cross-fade length (samples, at least 1). It is part of the latency
    /// (`max_block + crossfade`): a live front end whose wet and dry signals share the low band
    /// (they differ only in the generated band) can afford a short one.
    pub crossfade: usize,
    /// Margin (samples) on top of `max_block + crossfade`, also part of the latency. The worker
    /// delivers each call's block as a whole, so only whole blocks of it move the deadline: with
    /// `max_block` extra, a block must be ready by the call after next rather than the next
    /// one, so a call that comes right after the previous one (an audio server catching up
    /// after a late cycle) still finds it.
    pub extra_margin: usize,
    /// Runs first on the worker thread (e.g. to raise its scheduling priority).
    pub on_worker_start: Option<Box<dyn FnOnce() + Send>>,
}

impl Default for RealtimeOptions {
    /// [`RT_CROSSFADE`], no extra margin, nothing run on the worker.
    fn default() -> Self {
        Self {
            crossfade: RT_CROSSFADE,
            extra_margin: 0,
            on_worker_start: None,
        }
    }
}

impl std::fmt::Debug for RealtimeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeOptions")
            .field("crossfade", &self.crossfade)
            .field("extra_margin", &self.extra_margin)
            .field("on_worker_start", &self.on_worker_start.is_some())
            .finish()
    }
}

/// The engine behind lock-free queues with a dry fallback (see the module docs).
///
/// Use from the audio thread: [`process`](Self::process) (or the [`StreamProcessor`] methods)
/// never allocates, locks or blocks. The worker thread starts in [`new`](Self::new) and stops
/// when the wrapper is dropped.
pub struct RealtimeEngine {
    latency: usize,
    engine_latency: usize,
    max_block: usize,
    fade: usize,
    margin: usize,
    to_worker: Producer<f32>,
    from_worker: Consumer<f32>,
    dry: DelayLine,
    dry_buf: Vec<f32>,
    wet_buf: Vec<f32>,
    gain: f32,
    /// Positions already played without their wet sample; those samples are discarded on arrival.
    owed: u64,
    /// Wet samples of the initial margin still to play (silence not stored in the ring).
    virtual_left: usize,
    /// Samples output since the start.
    pos: u64,
    /// First position whose wet sample is meaningful (after a resynchronisation).
    wet_valid_from: u64,
    phase: Phase,
    epoch: u64,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    worker_thread: Thread,
}

impl std::fmt::Debug for RealtimeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeEngine")
            .field("latency", &self.latency)
            .field("engine_latency", &self.engine_latency)
            .field("max_block", &self.max_block)
            .field("stats", &self.shared.stats())
            .finish()
    }
}

impl RealtimeEngine {
    /// Moves `engine` onto a new worker thread. Needs equal input and output rates
    /// ([`EngineError::RateMismatch`]); blocks up to the engine's `max_block`. The wet/dry
    /// cross-fade is [`RT_CROSSFADE`] samples long.
    pub fn new(engine: Engine) -> Result<Self, EngineError> {
        Self::with_options(engine, RealtimeOptions::default())
    }

    /// [`new`](Self::new) with other [`RealtimeOptions`].
    pub fn with_options(engine: Engine, options: RealtimeOptions) -> Result<Self, EngineError> {
        let RealtimeOptions {
            crossfade: fade,
            extra_margin,
            on_worker_start,
        } = options;
        let cfg = engine.config();
        if cfg.input_rate != cfg.output_rate {
            return Err(EngineError::RateMismatch {
                input_rate: cfg.input_rate,
                output_rate: cfg.output_rate,
            });
        }
        let rate = cfg.input_rate as usize;
        let max_block = engine.max_block();
        let engine_latency = engine.latency_samples();
        let fade = fade.max(1);
        let margin = max_block + fade + extra_margin;
        let latency = engine_latency + margin;
        let queue = (engine_latency + 64 * max_block).max(RT_QUEUE_SECONDS as usize * rate);
        let (to_worker, worker_in) = RingBuffer::new(queue);
        let (worker_out, from_worker) = RingBuffer::new(queue + margin + max_block);
        let shared = Arc::new(Shared::default());
        shared
            .amount
            .store(engine.amount().to_bits(), Ordering::Relaxed);
        let worker_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("widen-engine".into())
            .spawn(move || {
                if let Some(f) = on_worker_start {
                    f();
                }
                worker(engine, worker_in, worker_out, worker_shared)
            })
            .map_err(EngineError::WorkerSpawn)?;
        let worker_thread = handle.thread().clone();
        Ok(Self {
            latency,
            engine_latency,
            max_block,
            fade,
            margin,
            to_worker,
            from_worker,
            dry: DelayLine::new(latency),
            dry_buf: vec![0.0; max_block],
            wet_buf: vec![0.0; max_block],
            gain: 1.0,
            owed: 0,
            virtual_left: margin,
            pos: 0,
            wet_valid_from: 0,
            phase: Phase::Running,
            epoch: 0,
            shared,
            worker: Some(handle),
            worker_thread,
        })
    }

    /// Latency of the wrapped engine alone (the wrapper adds [`margin`](Self::margin)).
    pub fn engine_latency(&self) -> usize {
        self.engine_latency
    }

    /// The wrapper's scheduling margin: `max_block`, the cross-fade length and the
    /// [`extra_margin`](RealtimeOptions::extra_margin).
    pub fn margin(&self) -> usize {
        self.margin
    }

    /// Counters: the engine's (as last published by the worker) plus the wrapper's.
    pub fn stats(&self) -> EngineStats {
        self.shared.stats()
    }

    /// A handle for reading the counters from another thread.
    pub fn monitor(&self) -> RealtimeMonitor {
        RealtimeMonitor {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Sets the gain on the generated band (takes effect on the worker's next block).
    pub fn set_amount(&self, amount: f32) {
        self.shared
            .amount
            .store(amount.to_bits(), Ordering::Relaxed);
    }

    /// Audio-thread processing: `output` is `input` delayed by `latency_samples()`, enhanced
    /// when the worker delivered in time, dry otherwise (cross-faded).
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        let n = input.len();
        if output.len() != n {
            return Err(EngineError::BlockLengthMismatch {
                input: n,
                output: output.len(),
            });
        }
        if n > self.max_block {
            return Err(EngineError::BlockTooLarge {
                max: self.max_block,
                found: n,
            });
        }
        for (d, &x) in self.dry_buf[..n].iter_mut().zip(input) {
            *d = self.dry.tick(if x.is_finite() { x } else { 0.0 });
        }

        if let Phase::Resetting(e) = self.phase {
            if self.shared.ack_epoch.load(Ordering::Acquire) == e {
                // Everything queued now predates the worker's reset.
                let stale = self.from_worker.slots();
                if let Ok(chunk) = self.from_worker.read_chunk(stale) {
                    chunk.commit_all();
                }
                self.phase = Phase::Running;
                self.owed = 0;
                self.virtual_left = self.margin;
                self.wet_valid_from = self.pos + self.latency as u64;
            }
        }

        let (mut avail, mut ahead_total) = (0, 0);
        if self.phase == Phase::Running {
            if self.to_worker.push_entire_slice(input).is_err() {
                // The worker has been stalled for seconds: start over.
                self.shared.overflows.fetch_add(1, Ordering::Relaxed);
                self.request_reset();
            } else {
                self.worker_thread.unpark();
                (avail, ahead_total) = self.collect_wet(n);
            }
        }

        let late =
            self.phase == Phase::Running && avail < n && self.pos + n as u64 > self.wet_valid_from;
        if late {
            self.shared.late_blocks.fetch_add(1, Ordering::Relaxed);
        }
        let step = 1.0 / self.fade as f32;
        for (j, ((y, &d), &w)) in output
            .iter_mut()
            .zip(&self.dry_buf[..n])
            .zip(&self.wet_buf[..n])
            .enumerate()
        {
            let p = self.pos + j as u64;
            // Wet samples left from here on bound the gain so it reaches 0 before they run out.
            let ahead = ahead_total.saturating_sub(j) as f32 * step;
            let g = if p < self.wet_valid_from {
                0.0
            } else {
                (self.gain + step).min(1.0).min(ahead)
            };
            self.gain = g;
            *y = if g >= 1.0 {
                w
            } else if g <= 0.0 {
                d
            } else {
                g * w + (1.0 - g) * d
            };
        }
        self.pos += n as u64;
        Ok(())
    }

    /// Fills `wet_buf[..n]` with the wet samples for the next `n` positions that exist
    /// (the rest are owed). Returns `(wet samples for this block, wet samples available from
    /// the block's start on, this block's included)`.
    fn collect_wet(&mut self, n: usize) -> (usize, usize) {
        // Drop wet samples of positions that were already played dry.
        if self.owed > 0 {
            let k = (self.owed as usize).min(self.from_worker.slots());
            if let Ok(chunk) = self.from_worker.read_chunk(k) {
                chunk.commit_all();
            }
            self.owed -= k as u64;
            if self.owed > 0 {
                self.owed += n as u64;
                return (0, 0);
            }
        }
        let queued = self.from_worker.slots();
        let ahead = self.virtual_left + queued;
        let v = self.virtual_left.min(n);
        self.wet_buf[..v].fill(0.0);
        self.virtual_left -= v;
        let r = queued.min(n - v);
        if self
            .from_worker
            .pop_entire_slice(&mut self.wet_buf[v..v + r])
            .is_err()
        {
            // Cannot happen (`r` is at most the slots available); treat as nothing there.
            self.owed += (n - v) as u64;
            return (v, v);
        }
        self.owed += (n - v - r) as u64;
        (v + r, ahead)
    }

    /// Asks the worker to reset its engine; the wet stream restarts once it has.
    fn request_reset(&mut self) {
        self.epoch += 1;
        self.shared.reset_epoch.store(self.epoch, Ordering::Release);
        self.phase = Phase::Resetting(self.epoch);
        self.worker_thread.unpark();
    }
}

impl StreamProcessor for RealtimeEngine {
    /// Engine latency plus the scheduling [`margin`](RealtimeEngine::margin).
    fn latency_samples(&self) -> usize {
        self.latency
    }

    fn max_block(&self) -> usize {
        self.max_block
    }

    /// Clears the dry path and asks the worker to reset; until it has (normally well within a
    /// block), and for one latency after, the output is the dry path (silence at first).
    fn reset(&mut self) {
        self.dry.clear();
        self.gain = 0.0;
        self.request_reset();
    }

    fn process_block(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        self.process(input, output)
    }
}

impl Drop for RealtimeEngine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.worker_thread.unpark();
        if let Some(h) = self.worker.take() {
            // A panicked worker has nothing left to clean up.
            let _ = h.join();
        }
    }
}

/// The worker thread: runs the engine on whatever input is queued.
fn worker(
    mut engine: Engine,
    mut input: Consumer<f32>,
    mut output: Producer<f32>,
    shared: Arc<Shared>,
) {
    let max_block = engine.max_block();
    let mut inbuf = vec![0.0f32; max_block];
    let mut outbuf = vec![0.0f32; max_block];
    let mut epoch = 0u64;
    let mut failed = false;
    while !shared.stop.load(Ordering::Acquire) {
        let e = shared.reset_epoch.load(Ordering::Acquire);
        if e != epoch {
            let queued = input.slots();
            if let Ok(chunk) = input.read_chunk(queued) {
                chunk.commit_all();
            }
            engine.reset();
            shared.processed.store(0, Ordering::Release);
            epoch = e;
            failed = false;
            shared.ack_epoch.store(e, Ordering::Release);
            continue;
        }
        let n = if failed {
            0
        } else {
            input.slots().min(output.slots()).min(max_block)
        };
        if n == 0 {
            std::thread::park_timeout(WORKER_POLL);
            continue;
        }
        if input.pop_entire_slice(&mut inbuf[..n]).is_err() {
            continue;
        }
        engine.set_amount(f32::from_bits(shared.amount.load(Ordering::Relaxed)));
        let started = Instant::now();
        match engine.process_block(&inbuf[..n], &mut outbuf[..n]) {
            Ok(()) => {
                // Room was checked above and only this thread writes.
                let _ = output.push_entire_slice(&outbuf[..n]);
                shared
                    .worker_peak_ns
                    .fetch_max(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                shared.publish(&engine.stats());
                shared.processed.fetch_add(n as u64, Ordering::Release);
            }
            Err(_) => {
                // The audio side plays dry from now on; a reset (or an input overflow) retries.
                shared.worker_errors.fetch_add(1, Ordering::Relaxed);
                failed = true;
            }
        }
    }
}
