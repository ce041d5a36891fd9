//! Counters shared by the audio callbacks, the control loop and the status line.
//!
//! Everything is an atomic written with `Relaxed` stores: the callbacks never lock, and a
//! status line a few microseconds stale is fine.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Live counters (cumulative since the daemon started unless said otherwise).
#[derive(Debug, Default)]
pub struct Counters {
    /// Xruns the audio server reported (cpal `ErrorKind::Xrun`).
    pub xruns: AtomicU64,
    /// Output callbacks that found the ring short (the missing samples played as silence).
    pub underruns: AtomicU64,
    /// Input blocks dropped because the ring to the output side was full.
    pub overflows: AtomicU64,
    /// Times the output found the ring far above its target (a stall) and dropped back to it.
    pub resyncs: AtomicU64,
    /// Times the one-clock alignment found the ring delay off the reported latency by whole
    /// input blocks, persistently, and corrected it (pipeline module docs). The start-up
    /// alignment is not counted.
    pub realigns: AtomicU64,
    /// Samples the one-clock alignment dropped (positive) or held back as silence (negative)
    /// at the start of the session, to begin at the reported latency (per session).
    pub start_alignment: AtomicI64,
    /// Times the daemon switched to bypass (dry) because the engine worker was late.
    pub bypass_events: AtomicU64,
    /// Whether the output is in bypass right now.
    pub bypassed: AtomicBool,
    /// Input samples that were NaN/Inf (replaced by 0) or denormal (flushed to 0).
    pub sanitized_samples: AtomicU64,
    /// Input frames captured (per session; reset on restart).
    pub input_frames: AtomicU64,
    /// Output frames played (per session; reset on restart).
    pub output_frames: AtomicU64,
    /// Output callbacks (the control loop's watchdog looks at it).
    pub output_callbacks: AtomicU64,
    /// Input callbacks (watchdog).
    pub input_callbacks: AtomicU64,
    /// Peak |x| of the input since the status line last read it (f32 bits).
    pub input_peak: AtomicU32,
    /// Ring fill seen by the last output callback, in input-rate samples.
    pub ring_fill: AtomicU64,
    /// When the input side last pushed into the ring (ns since the session's pipeline was
    /// built; the output side's clock sync uses it).
    pub last_push_ns: AtomicU64,
    /// Current clock-sync correction in parts per million (f32 bits; 0 without sync).
    pub drift_ppm: AtomicU32,
    /// Device latency before the input callback (µs), as the backend reports it.
    pub input_device_us: AtomicU64,
    /// Device latency after the output callback (µs), as the backend reports it.
    pub output_device_us: AtomicU64,
    /// Stream restarts after a lost device or server.
    pub restarts: AtomicU64,
    /// Time without running streams since start, summed over all gaps (ms).
    pub gap_ms: AtomicU64,
    /// The engine worker's scheduling: 0 not known yet, 1 real-time, 2 normal (real-time
    /// refused or not asked for).
    pub worker_realtime: std::sync::atomic::AtomicU8,
}

impl Counters {
    /// Raises the input peak to `peak` if it is higher (lock-free max).
    pub fn note_peak(&self, peak: f32) {
        let mut cur = self.input_peak.load(Ordering::Relaxed);
        while peak > f32::from_bits(cur) {
            match self.input_peak.compare_exchange_weak(
                cur,
                peak.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
    }

    /// Reads and clears the input peak.
    pub fn take_peak(&self) -> f32 {
        f32::from_bits(self.input_peak.swap(0, Ordering::Relaxed))
    }

    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `c`.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One status report (the status line and each `--stats-json` line).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StatusReport {
    /// Seconds since the daemon started.
    pub uptime_s: f64,
    /// `"running"`, `"bypass"`, or `"reconnecting"`.
    pub state: String,
    /// Capture rate (Hz) of the running session (0 while reconnecting).
    pub rate: u32,
    /// Input and output buffer sizes (frames) of the running session.
    pub buffer_in: u32,
    /// Output buffer size (frames).
    pub buffer_out: u32,
    /// Delay from the input callback's samples to the output callback's samples (frames at
    /// `rate`): ring prefill + the real-time engine's latency. When input and output share a
    /// clock the output keeps the ring's delay at the prefill by the callbacks' timestamps
    /// (`realigns`).
    pub latency_frames: u64,
    /// `latency_frames` in milliseconds.
    pub latency_ms: f64,
    /// `latency_ms` plus the device latencies the backend reports on both sides.
    pub end_to_end_ms: f64,
    /// Process CPU time over the last interval, as a share of one core (%).
    pub cpu_percent: f64,
    /// Peak input level over the last interval (dBFS; -inf as -200).
    pub input_dbfs: f64,
    /// Server-reported xruns (JACK: each server xrun once, though both streams are notified).
    pub xruns: u64,
    /// Blocks the engine worker delivered late (dry stood in).
    pub late_blocks: u64,
    /// Output ring underruns.
    pub underruns: u64,
    /// Input ring overflows.
    pub overflows: u64,
    /// Output ring re-centred after a stall (far too much queued).
    pub resyncs: u64,
    /// Ring delay corrected back to the reported latency (one clock; see `Counters::realigns`).
    pub realigns: u64,
    /// What the one-clock alignment did at the session's start (frames dropped, or negative:
    /// held back as silence; see `Counters::start_alignment`).
    pub start_alignment_frames: i64,
    /// Times bypass was entered (`--bypass-on-overload`).
    pub bypass_events: u64,
    /// NaN/Inf/denormal input samples replaced.
    pub sanitized_samples: u64,
    /// Clock-sync correction (ppm).
    pub drift_ppm: f64,
    /// Restarts after a lost device or server.
    pub restarts: u64,
    /// Total time without audio (ms) across restarts.
    pub gap_ms: u64,
    /// Input frames processed in this session.
    pub input_frames: u64,
    /// Output frames played in this session.
    pub output_frames: u64,
    /// Whether the engine worker runs with real-time scheduling (`--worker-priority`).
    pub worker_realtime: bool,
    /// The engine worker's slowest block in this session (ms, from taking the block to queueing
    /// its output): against the worker margin, how close it came to a late block.
    pub worker_peak_ms: f64,
}

impl StatusReport {
    /// The human-readable one-line form.
    pub fn line(&self) -> String {
        format!(
            "widen live: {:<12} latency {:6.1} ms (end to end {:6.1} ms)  cpu {:5.1}%  in {:6.1} dBFS  xruns {}  late {}  underruns {}  realigns {}  bypass {}  restarts {}  drift {:+.0} ppm",
            self.state,
            self.latency_ms,
            self.end_to_end_ms,
            self.cpu_percent,
            self.input_dbfs,
            self.xruns,
            self.late_blocks,
            self.underruns,
            self.realigns,
            self.bypass_events,
            self.restarts,
            self.drift_ppm
        )
    }
}

/// Process CPU time (ns) summed over all threads, from `/proc/self/task/*/schedstat`
/// (first field: time on CPU). `None` where that is unavailable.
pub fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread that exits between listing and reading is skipped.
        if let Ok(s) = std::fs::read_to_string(entry.path().join("schedstat")) {
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Tracks CPU time between status lines.
#[derive(Debug, Default)]
pub struct CpuMeter {
    last: Option<(std::time::Instant, u64)>,
}

impl CpuMeter {
    /// CPU share of one core since the previous call (%; 0 on the first call).
    pub fn sample(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let Some(cpu) = process_cpu_ns() else {
            return 0.0;
        };
        let share = match self.last {
            Some((t, c)) => {
                let wall = now.duration_since(t).as_nanos() as f64;
                if wall > 0.0 {
                    100.0 * cpu.saturating_sub(c) as f64 / wall
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, cpu));
        share
    }
}
