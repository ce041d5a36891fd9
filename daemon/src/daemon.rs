//! The foreground daemon: opens the streams, reports status, recovers from lost devices.
//!
//! A *session* is one pair of running streams with its engine. When a session dies (server
//! stopped, device unplugged, no callbacks for [`WATCHDOG`]), the daemon logs it, waits with
//! exponential backoff ([`BACKOFF_FIRST`] doubling to [`BACKOFF_MAX`]) and starts a new one,
//! forever: only the first start may fail the command (nonexistent device, no server). The
//! model sessions are loaded once; each new session only builds a fresh engine around them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use widen_core::config::{engine::RT_CROSSFADE, live};
use widen_core::engine::{Engine, EngineError, RealtimeEngine, RealtimeMonitor, RealtimeOptions};

use crate::devices::{self, Direction, HostChoice};
use crate::pipeline::{self, PipelineConfig};
use crate::stats::{Counters, CpuMeter, StatusReport};
use crate::virtual_mic::VirtualMic;

/// A session with no output callback for this long is treated as lost.
pub const WATCHDOG: Duration = Duration::from_millis(1000);
/// Grace period for the first callback of a new session.
pub const STARTUP_GRACE: Duration = Duration::from_millis(3000);
/// First wait before reopening a lost session.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts (short enough to resume within 2 s of a server's return).
pub const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How often the control loop wakes up.
const TICK: Duration = Duration::from_millis(20);
/// Callback size assumed for the ring when the backend does not say (`BufferSize::Default`).
const UNKNOWN_BUFFER: u32 = 1024;
/// Buffer requested (ms) when `--buffer` is not given on hosts other than JACK (whose period is
/// the server's): PulseAudio's default buffers are seconds long and arrive in bursts.
pub const DEFAULT_BUFFER_MS: u32 = 10;

/// Which embedded model set runs (for reports; the factory builds the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Small STFT, causal models, one frame per model call.
    #[default]
    LowLatency,
    /// The seed's quality set (about 0.6 s of lookahead).
    Quality,
}

/// Errors of `widen live`. Each says what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The host is not compiled in or not present.
    #[error("audio host `{host}` is not available in this build (expected one of: {available})")]
    HostUnavailable {
        /// Requested host.
        host: String,
        /// Hosts cpal offers here.
        available: String,
    },
    /// The host could not be opened.
    #[error("could not open audio host `{host}`: {reason}")]
    HostOpen {
        /// Host.
        host: String,
        /// Backend message.
        reason: String,
    },
    /// No audio server/devices at all.
    #[error("no {direction} device on host `{host}` (expected a running audio server{hint})")]
    NoDefaultDevice {
        /// `input`/`output`.
        direction: &'static str,
        /// Host name.
        host: String,
        /// Extra hint (filled by the daemon for JACK).
        #[doc(hidden)]
        hint: String,
    },
    /// `--input`/`--output` names no device.
    #[error("no {direction} device named \"{name}\" on host `{host}`; available {direction} devices: {available}")]
    DeviceNotFound {
        /// `input`/`output`.
        direction: &'static str,
        /// The name given.
        name: String,
        /// Host name.
        host: String,
        /// What exists.
        available: String,
    },
    /// A backend call failed.
    #[error("audio backend: could not {what}: {reason}")]
    Backend {
        /// What was attempted.
        what: String,
        /// Backend message.
        reason: String,
    },
    /// The device offers no f32 configuration.
    #[error("{direction} device \"{device}\": expected a 32-bit float stream format, found only: {found}")]
    NoFloatFormat {
        /// `input`/`output`.
        direction: &'static str,
        /// Device name.
        device: String,
        /// Formats it offers.
        found: String,
    },
    /// The input is the virtual microphone itself (it became the default source).
    #[error("the input device \"{device}\" is widen's own virtual microphone (expected a real capture device: pass --input, see --list-devices)")]
    FeedbackInput {
        /// The device id.
        device: String,
    },
    /// Building the engine failed.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The clock-sync resampler refused the rates.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// Setting up or removing the virtual microphone failed.
    #[error("virtual microphone: `{step}`: {reason}")]
    VirtualMic {
        /// The command that failed.
        step: String,
        /// Why.
        reason: String,
    },
}

impl LiveError {
    /// Whether retrying can help (a server may come back; a misspelt name will not).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            LiveError::HostUnavailable { .. }
                | LiveError::DeviceNotFound { .. }
                | LiveError::NoFloatFormat { .. }
                | LiveError::Engine(_)
                | LiveError::Sync(_)
        )
    }
}

/// Builds an engine for a session: `(rate, max_block)` -> engine with equal input and output
/// rates. Called again after every recovery, so it should reuse loaded models.
pub type EngineFactory = Box<dyn FnMut(u32, usize) -> Result<Engine, EngineError> + Send>;

/// Everything `widen live` decides on the command line.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Audio host.
    pub host: HostChoice,
    /// Capture device (display name or id); `None`: the default.
    pub input: Option<String>,
    /// Playback device; `None`: the default (or the virtual mic's sink).
    pub output: Option<String>,
    /// Requested rate (Hz); `None`: the input device's default.
    pub rate: Option<u32>,
    /// Requested buffer (frames); `None`: the backend's default.
    pub buffer: Option<u32>,
    /// Model set (for reports and the worker's cross-fade margin; the factory builds the engine).
    pub mode: Mode,
    /// Gain on the generated band; `None`: the engine's (the sidecar default).
    pub mix: Option<f32>,
    /// Play dry for a while when the worker keeps missing deadlines.
    pub bypass_on_overload: bool,
    /// Create "widen microphone" and play into it.
    pub virtual_mic: bool,
    /// Extra scheduling margin for the worker (ms), rounded up to whole blocks and added to the
    /// real-time engine's margin (latency).
    pub safety_ms: f64,
    /// Clock sync: `None` decides (off on JACK and for one device, on otherwise).
    pub clock_sync: Option<bool>,
    /// Status period.
    pub status_interval: Duration,
    /// SCHED_FIFO priority for the engine worker thread (`None`: normal scheduling). Refused
    /// where the process may not use real-time scheduling; the status says which it got.
    pub worker_priority: Option<u8>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            host: HostChoice::Default,
            input: None,
            output: None,
            rate: None,
            buffer: None,
            mode: Mode::LowLatency,
            mix: None,
            bypass_on_overload: false,
            virtual_mic: false,
            safety_ms: 0.0,
            clock_sync: None,
            status_interval: Duration::from_secs(1),
            worker_priority: Some(live::WORKER_RT_PRIORITY),
        }
    }
}

/// What the daemon tells its front end.
#[derive(Debug, Clone)]
pub enum Event {
    /// A one-off message (session started, device lost, fallback taken, ...).
    Log(String),
    /// The periodic status.
    Status(StatusReport),
    /// A session is running with these parameters.
    Started(SessionInfo),
}

/// What a running session negotiated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionInfo {
    /// Host name.
    pub host: String,
    /// Capture device.
    pub input_device: String,
    /// Playback device.
    pub output_device: String,
    /// Capture (= engine) rate.
    pub rate: u32,
    /// Playback rate.
    pub output_rate: u32,
    /// Capture channels.
    pub input_channels: u16,
    /// Playback channels.
    pub output_channels: u16,
    /// Capture buffer (frames; 0 when the backend chooses).
    pub buffer_in: u32,
    /// Playback buffer (frames; 0 when the backend chooses).
    pub buffer_out: u32,
    /// Whether clock sync (adaptive resampling) runs.
    pub clock_sync: bool,
    /// Ring prefill (frames).
    pub prefill: usize,
    /// Real-time engine latency (frames), wrapper margin included.
    pub engine_latency: usize,
    /// The real-time wrapper's margin (frames; part of `engine_latency`): how far ahead of its
    /// deadline the engine worker runs.
    pub worker_margin: usize,
    /// `prefill + engine_latency` (frames at `rate`): input callback to output callback.
    pub latency_frames: usize,
    /// Fallbacks taken (rate or buffer the device refused).
    pub fallbacks: Vec<String>,
}

/// Shared between the stream error callbacks and the control loop.
#[derive(Default)]
struct Health {
    lost: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Health {
    fn fail(&self, why: String) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(why);
        }
        self.lost.store(true, Ordering::Release);
    }
}

struct Session {
    _input: cpal::Stream,
    _output: cpal::Stream,
    info: SessionInfo,
    health: Arc<Health>,
    monitor: RealtimeMonitor,
    started: Instant,
    sync_delay: Arc<std::sync::atomic::AtomicU64>,
}

/// A config range of `dev` in `dir` with f32 samples, preferring `rate` when given.
fn pick_config(
    dev: &cpal::Device,
    dir: Direction,
    rate: Option<u32>,
    fallbacks: &mut Vec<String>,
) -> Result<cpal::SupportedStreamConfig, LiveError> {
    let dname = dev.to_string();
    let dstr = match dir {
        Direction::Input => "input",
        Direction::Output => "output",
    };
    let backend = |e: cpal::Error| LiveError::Backend {
        what: format!("query the {dstr} configurations of \"{dname}\""),
        reason: e.to_string(),
    };
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match dir {
        Direction::Input => dev.supported_input_configs().map_err(backend)?.collect(),
        Direction::Output => dev.supported_output_configs().map_err(backend)?.collect(),
    };
    let default = match dir {
        Direction::Input => dev.default_input_config(),
        Direction::Output => dev.default_output_config(),
    }
    .ok();
    let floats: Vec<&cpal::SupportedStreamConfigRange> = ranges
        .iter()
        .filter(|r| r.sample_format() == cpal::SampleFormat::F32)
        .collect();
    if floats.is_empty() {
        let found: Vec<String> = ranges
            .iter()
            .map(|r| r.sample_format().to_string())
            .collect();
        return Err(LiveError::NoFloatFormat {
            direction: dstr,
            device: dname,
            found: found.join(", "),
        });
    }
    let want = rate.or(default.as_ref().map(|d| d.sample_rate()));
    if let Some(w) = want {
        if let Some(r) = floats.iter().find(|r| r.contains_rate(w)) {
            return Ok((**r).with_sample_rate(w));
        }
    }
    let fallback = default
        .filter(|d| d.sample_format() == cpal::SampleFormat::F32)
        .unwrap_or_else(|| floats[0].with_max_sample_rate());
    if let Some(w) = rate {
        fallbacks.push(format!(
            "{dstr} device \"{dname}\" does not run at {w} Hz; using {} Hz",
            fallback.sample_rate()
        ));
    }
    Ok(fallback)
}

/// The buffer to request: the wish if the device's range allows it, else the nearest allowed.
fn pick_buffer(
    cfg: &cpal::SupportedStreamConfig,
    want: Option<u32>,
    what: &str,
    fallbacks: &mut Vec<String>,
) -> cpal::BufferSize {
    let Some(w) = want else {
        // A device that allows one size (JACK: the server's period) gets it asked for, so the
        // ring and worker margin are sized for the real callbacks, not UNKNOWN_BUFFER.
        return match *cfg.buffer_size() {
            cpal::SupportedBufferSize::Range { min, max } if min == max && min > 0 => {
                cpal::BufferSize::Fixed(min)
            }
            _ => cpal::BufferSize::Default,
        };
    };
    match *cfg.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } if !(min..=max).contains(&w) => {
            let b = w.clamp(min, max);
            fallbacks.push(format!(
                "{what} refuses a {w}-frame buffer (allowed {min}..={max}); using {b}"
            ));
            cpal::BufferSize::Fixed(b)
        }
        _ => cpal::BufferSize::Fixed(w),
    }
}

/// Opens `host` and fails with a JACK hint when it has no devices (no server).
fn open_devices(
    cfg: &LiveConfig,
    output_override: Option<&str>,
) -> Result<(cpal::Host, cpal::Device, cpal::Device), LiveError> {
    let host = devices::open_host(cfg.host)?;
    let hint = |e: LiveError| match e {
        LiveError::NoDefaultDevice {
            direction, host, ..
        } => LiveError::NoDefaultDevice {
            direction,
            hint: if host.eq_ignore_ascii_case("jack") {
                " (jackd/PipeWire-JACK; JACK_DEFAULT_SERVER picks the server)".into()
            } else {
                String::new()
            },
            host,
        },
        e => e,
    };
    let input =
        devices::find_device(&host, cfg.input.as_deref(), Direction::Input).map_err(hint)?;
    let out_name = output_override.or(cfg.output.as_deref());
    let output = devices::find_device(&host, out_name, Direction::Output).map_err(hint)?;
    Ok((host, input, output))
}

fn buffer_frames(b: cpal::BufferSize) -> u32 {
    match b {
        cpal::BufferSize::Fixed(n) => n,
        cpal::BufferSize::Default => 0,
    }
}

/// A callback's time for the pipeline's one-clock alignment (ns on the stream clock; JACK:
/// the server's cycle start plus the time since).
fn callback_ns(callback: cpal::StreamInstant) -> Option<i64> {
    i64::try_from(callback.as_nanos()).ok()
}

fn build_input(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    mut side: pipeline::InputSide,
    counters: Arc<Counters>,
    health: Arc<Health>,
    count_xruns: bool,
) -> Result<cpal::Stream, cpal::Error> {
    let c = Arc::clone(&counters);
    dev.build_input_stream::<f32, _, _>(
        config,
        move |data, info| {
            let ts = info.timestamp();
            side.process(data, callback_ns(ts.callback));
            let lat = ts.callback.duration_since(ts.capture);
            c.input_device_us
                .store(lat.as_micros() as u64, Ordering::Relaxed);
        },
        move |e| on_stream_error(e, &counters, &health, "input", count_xruns),
        None,
    )
}

fn build_output(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    mut side: pipeline::OutputSide,
    counters: Arc<Counters>,
    health: Arc<Health>,
    sync_delay: Arc<std::sync::atomic::AtomicU64>,
) -> Result<cpal::Stream, cpal::Error> {
    let c = Arc::clone(&counters);
    dev.build_output_stream::<f32, _, _>(
        config,
        move |data, info| {
            let ts = info.timestamp();
            side.process(data, callback_ns(ts.callback));
            sync_delay.store(side.resampler_delay().to_bits(), Ordering::Relaxed);
            let lat = ts.playback.duration_since(ts.callback);
            c.output_device_us
                .store(lat.as_micros() as u64, Ordering::Relaxed);
        },
        move |e| on_stream_error(e, &counters, &health, "output", true),
        None,
    )
}

/// `count_xruns: false` ignores the stream's xrun reports: a JACK server notifies every client
/// of each xrun, so with two clients (input and output stream) only one may count them.
fn on_stream_error(
    e: cpal::Error,
    counters: &Counters,
    health: &Health,
    side: &str,
    count_xruns: bool,
) {
    match e.kind() {
        cpal::ErrorKind::Xrun if count_xruns => Counters::bump(&counters.xruns),
        cpal::ErrorKind::Xrun => {}
        // Warnings that leave the stream running.
        cpal::ErrorKind::RealtimeDenied | cpal::ErrorKind::DeviceChanged => {}
        _ => health.fail(format!("{side} stream: {e}")),
    }
}

/// What the engine worker runs first: asks for real-time scheduling at `priority` (when given)
/// and records in `counters` whether it got it.
fn worker_start(priority: Option<u8>, counters: Arc<Counters>) -> Box<dyn FnOnce() + Send> {
    Box::new(move || {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy,
            ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        };
        let ok = priority.is_some_and(|p| {
            ThreadPriorityValue::try_from(p).is_ok_and(|v| {
                set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Crossplatform(v),
                    ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
                )
                .is_ok()
            })
        });
        counters
            .worker_realtime
            .store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    })
}

/// Worker margin (samples) beyond the real-time engine's own block and cross-fade, in whole
/// blocks (the worker delivers whole blocks, so parts of one would only add latency): the
/// catch-up block (a cycle right after a late one), at long periods more blocks up to
/// [`live::LONG_PERIOD_MARGIN_MS`] in all, and `safety` samples (`--safety-ms`) rounded up to
/// blocks.
pub fn worker_extra_margin(max_block: usize, rate: u32, safety: usize) -> usize {
    let max_block = max_block.max(1);
    let samples = |ms: f64| (ms * f64::from(rate) / 1000.0).round() as usize;
    let mut blocks = 1 + live::WORKER_CATCH_UP_BLOCKS;
    if max_block >= samples(live::LONG_PERIOD_MS) {
        blocks = blocks.max(samples(live::LONG_PERIOD_MARGIN_MS).div_ceil(max_block));
    }
    (blocks - 1 + safety.div_ceil(max_block)) * max_block
}

fn start_session(
    cfg: &LiveConfig,
    output_override: Option<&str>,
    factory: &mut EngineFactory,
    counters: &Arc<Counters>,
) -> Result<Session, LiveError> {
    let (host, in_dev, out_dev) = open_devices(cfg, output_override)?;
    let mut fallbacks = Vec::new();
    let in_sup = pick_config(&in_dev, Direction::Input, cfg.rate, &mut fallbacks)?;
    let rate = in_sup.sample_rate();
    // Output at the capture rate when the device can (no nominal rate conversion).
    let mut out_fb = Vec::new();
    let out_sup = pick_config(&out_dev, Direction::Output, Some(rate), &mut out_fb)?;
    let out_rate = out_sup.sample_rate();
    if out_rate != rate {
        fallbacks.push(format!(
            "output device \"{out_dev}\" does not run at {rate} Hz; converting to {out_rate} Hz"
        ));
    }
    let is_jack = host.id().name().eq_ignore_ascii_case("jack");
    let want_buffer = match cfg.buffer {
        Some(b) => Some(b),
        None if is_jack => None,
        None => Some(rate * DEFAULT_BUFFER_MS / 1000),
    };
    let in_buf = pick_buffer(
        &in_sup,
        want_buffer,
        &format!("input device \"{in_dev}\""),
        &mut fallbacks,
    );
    let out_buf = pick_buffer(
        &out_sup,
        want_buffer,
        &format!("output device \"{out_dev}\""),
        &mut fallbacks,
    );
    let same_device = in_dev.id().ok() == out_dev.id().ok();
    let clock_sync = out_rate != rate || cfg.clock_sync.unwrap_or(!(is_jack || same_device));

    let known = |b: cpal::BufferSize| match b {
        cpal::BufferSize::Fixed(n) => n,
        cpal::BufferSize::Default => UNKNOWN_BUFFER,
    };
    let (bin, bout) = (known(in_buf) as usize, known(out_buf) as usize);
    let bout_in_rate = (bout as u64 * rate as u64).div_ceil(out_rate as u64) as usize;
    let prefill = if clock_sync {
        // Both blocks plus 2 ms of scheduling jitter between two unrelated callbacks.
        bin + bout_in_rate + rate as usize / 500
    } else {
        bin.max(bout_in_rate)
    };
    let safety = (cfg.safety_ms.max(0.0) * rate as f64 / 1000.0).round() as usize;
    let max_block = bin.max(1);
    let extra_margin = worker_extra_margin(max_block, rate, safety);
    let engine = factory(rate, max_block)?;
    let rt = RealtimeEngine::with_options(
        engine,
        RealtimeOptions {
            crossfade: match cfg.mode {
                Mode::LowLatency => (live::RT_CROSSFADE_MS * rate as f64 / 1000.0).round() as usize,
                // Its 8-frame model calls need the default fade's extra margin (late blocks
                // otherwise), and a few ms are nothing next to its half second of latency.
                Mode::Quality => RT_CROSSFADE,
            },
            extra_margin,
            on_worker_start: Some(worker_start(cfg.worker_priority, Arc::clone(counters))),
        },
    )?;
    if let Some(m) = cfg.mix {
        rt.set_amount(m);
    }
    let monitor = rt.monitor();
    let pcfg = PipelineConfig {
        in_channels: in_sup.channels() as usize,
        out_channels: out_sup.channels() as usize,
        in_rate: rate,
        out_rate,
        max_out_block: bout.max(4096),
        prefill,
        clock_sync,
        bypass_on_overload: cfg.bypass_on_overload,
    };
    counters.start_alignment.store(0, Ordering::Relaxed);
    let (input, output) = pipeline::build(pcfg, rt, Arc::clone(counters))?;
    let engine_latency = input.engine_latency();
    let worker_margin = input.worker_margin();
    let health = Arc::new(Health::default());
    let sync_delay = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let mk_in = |buf| cpal::StreamConfig {
        channels: in_sup.channels(),
        sample_rate: rate,
        buffer_size: buf,
    };
    let mk_out = |buf| cpal::StreamConfig {
        channels: out_sup.channels(),
        sample_rate: out_rate,
        buffer_size: buf,
    };
    let backend = |what: &str, e: cpal::Error| LiveError::Backend {
        what: what.into(),
        reason: e.to_string(),
    };
    // Output first, so that its first callback finds the prefilled ring. (With one clock the
    // order does not decide the latency: the output's callbacks align the ring's delay to the
    // prefill by their timestamps, whichever stream's callbacks begin first.)
    let out_stream = match build_output(
        &out_dev,
        mk_out(out_buf),
        output,
        Arc::clone(counters),
        Arc::clone(&health),
        Arc::clone(&sync_delay),
    ) {
        Ok(s) => s,
        Err(e) => {
            return Err(backend(
                &format!(
                    "open output \"{out_dev}\" ({out_rate} Hz, buffer {})",
                    buffer_frames(out_buf)
                ),
                e,
            ))
        }
    };
    let in_stream = build_input(
        &in_dev,
        mk_in(in_buf),
        input,
        Arc::clone(counters),
        Arc::clone(&health),
        // JACK: the output client already counts the server's xruns.
        !is_jack,
    )
    .map_err(|e| {
        backend(
            &format!(
                "open input \"{in_dev}\" ({rate} Hz, buffer {})",
                buffer_frames(in_buf)
            ),
            e,
        )
    })?;
    out_stream
        .play()
        .map_err(|e| backend("start the output stream", e))?;
    in_stream
        .play()
        .map_err(|e| backend("start the input stream", e))?;
    let info = SessionInfo {
        host: host.id().name().to_string(),
        input_device: in_dev.to_string(),
        output_device: out_dev.to_string(),
        rate,
        output_rate: out_rate,
        input_channels: in_sup.channels(),
        output_channels: out_sup.channels(),
        buffer_in: buffer_frames(in_buf),
        buffer_out: buffer_frames(out_buf),
        clock_sync,
        prefill,
        engine_latency,
        worker_margin,
        latency_frames: prefill + engine_latency,
        fallbacks,
    };
    Ok(Session {
        _input: in_stream,
        _output: out_stream,
        info,
        health,
        monitor,
        started: Instant::now(),
        sync_delay,
    })
}

fn dbfs(peak: f32) -> f64 {
    if peak > 0.0 {
        (20.0 * (peak as f64).log10()).max(-200.0)
    } else {
        -200.0
    }
}

fn report(t0: Instant, session: Option<&Session>, counters: &Counters, cpu: f64) -> StatusReport {
    let g = Counters::get;
    let mut r = StatusReport {
        uptime_s: t0.elapsed().as_secs_f64(),
        state: "reconnecting".into(),
        cpu_percent: cpu,
        input_dbfs: dbfs(counters.take_peak()),
        xruns: g(&counters.xruns),
        underruns: g(&counters.underruns),
        overflows: g(&counters.overflows),
        resyncs: g(&counters.resyncs),
        realigns: g(&counters.realigns),
        start_alignment_frames: counters.start_alignment.load(Ordering::Relaxed),
        bypass_events: g(&counters.bypass_events),
        sanitized_samples: g(&counters.sanitized_samples),
        drift_ppm: f32::from_bits(counters.drift_ppm.load(Ordering::Relaxed)) as f64,
        restarts: g(&counters.restarts),
        gap_ms: g(&counters.gap_ms),
        input_frames: g(&counters.input_frames),
        output_frames: g(&counters.output_frames),
        worker_realtime: counters.worker_realtime.load(Ordering::Relaxed) == 1,
        ..StatusReport::default()
    };
    if let Some(s) = session {
        let i = &s.info;
        let rt = s.monitor.stats();
        r.state = if counters.bypassed.load(Ordering::Relaxed) {
            "bypass".into()
        } else {
            "running".into()
        };
        r.rate = i.rate;
        r.buffer_in = i.buffer_in;
        r.buffer_out = i.buffer_out;
        r.late_blocks = rt.late_blocks;
        r.worker_peak_ms = s.monitor.worker_peak_block().as_secs_f64() * 1000.0;
        r.overflows += rt.overflows;
        let mut frames = i.latency_frames as f64;
        if i.clock_sync {
            // With two clocks the ring's actual fill and the resampler's delay are the latency.
            let fill = g(&counters.ring_fill) as f64;
            frames = i.engine_latency as f64
                + fill
                + f64::from_bits(s.sync_delay.load(Ordering::Relaxed));
        }
        r.latency_frames = frames.round() as u64;
        r.latency_ms = 1000.0 * frames / i.rate as f64;
        r.end_to_end_ms = r.latency_ms
            + (g(&counters.input_device_us) + g(&counters.output_device_us)) as f64 / 1000.0;
    }
    r
}

/// What the daemon did, returned on a clean shutdown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Final counters.
    pub last: StatusReport,
    /// Sessions started (1 + restarts).
    pub sessions: u64,
}

/// Runs until `stop` is set: starts a session, emits status every `status_interval`, restarts
/// lost sessions with backoff. Fails only if the first session cannot start (or the virtual
/// microphone cannot be created).
pub fn run(
    cfg: LiveConfig,
    mut factory: EngineFactory,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, LiveError> {
    let t0 = Instant::now();
    let counters = Arc::new(Counters::default());
    // Dropped last (after the streams): removes the virtual microphone on every exit path.
    let mut vmic = if cfg.virtual_mic {
        let m = VirtualMic::create()?;
        on_event(Event::Log(format!(
            "virtual microphone \"{}\" created (source {}, fed by sink {})",
            crate::virtual_mic::SOURCE_DESCRIPTION,
            crate::virtual_mic::SOURCE_NAME,
            m.sink()
        )));
        Some(m)
    } else {
        None
    };
    let out_override = cfg.virtual_mic.then_some(crate::virtual_mic::SINK_NAME);
    let mut session = Some(start_session(&cfg, out_override, &mut factory, &counters)?);
    let mut sessions = 1u64;
    if let Some(s) = &session {
        for f in &s.info.fallbacks {
            on_event(Event::Log(format!("fallback: {f}")));
        }
        on_event(Event::Started(s.info.clone()));
    }
    let mut cpu = CpuMeter::default();
    cpu.sample();
    let mut next_status = Instant::now() + cfg.status_interval;
    let mut last_out_cb = Counters::get(&counters.output_callbacks);
    let mut last_progress = Instant::now();
    let mut lost_at: Option<Instant> = None;
    let mut backoff = BACKOFF_FIRST;
    let mut next_try = Instant::now();
    let mut last_err = String::new();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        if let Some(s) = &session {
            let cb = Counters::get(&counters.output_callbacks);
            if cb != last_out_cb {
                last_out_cb = cb;
                last_progress = now;
                if let Some(t) = lost_at.take() {
                    let gap = now.duration_since(t).as_millis() as u64;
                    counters.gap_ms.fetch_add(gap, Ordering::Relaxed);
                    on_event(Event::Log(format!("audio resumed after {gap} ms")));
                }
            }
            let limit = if lost_at.is_some() || now.duration_since(s.started) < STARTUP_GRACE {
                STARTUP_GRACE
            } else {
                WATCHDOG
            };
            let reason = if s.health.lost.load(Ordering::Acquire) {
                s.health
                    .reason
                    .lock()
                    .ok()
                    .and_then(|r| r.clone())
                    .or(Some("stream error".into()))
            } else if now.duration_since(last_progress.max(s.started)) > limit {
                Some(format!("no audio callbacks for {} ms", limit.as_millis()))
            } else {
                None
            };
            if let Some(why) = reason {
                on_event(Event::Log(format!("session lost: {why}; reconnecting")));
                session = None;
                lost_at.get_or_insert(now);
                backoff = BACKOFF_FIRST;
                next_try = now + backoff;
            }
        } else if now >= next_try {
            let mut mic_ok = true;
            if cfg.virtual_mic && !vmic.as_ref().is_some_and(|m| m.is_present()) {
                // The server restarted without our modules: make them again.
                vmic = None;
                match VirtualMic::create() {
                    Ok(m) => {
                        on_event(Event::Log("virtual microphone re-created".into()));
                        vmic = Some(m);
                    }
                    Err(e) => {
                        mic_ok = false;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        next_try = now + backoff;
                        let msg = e.to_string();
                        if msg != last_err {
                            on_event(Event::Log(format!("{msg}; retrying")));
                            last_err = msg;
                        }
                    }
                }
            }
            let attempt = if mic_ok {
                start_session(&cfg, out_override, &mut factory, &counters)
            } else {
                Err(LiveError::Backend {
                    what: "reconnect".into(),
                    reason: "the virtual microphone is missing".into(),
                })
            };
            match attempt {
                Ok(s) => {
                    Counters::bump(&counters.restarts);
                    sessions += 1;
                    counters.input_frames.store(0, Ordering::Relaxed);
                    counters.output_frames.store(0, Ordering::Relaxed);
                    last_progress = now;
                    last_out_cb = Counters::get(&counters.output_callbacks);
                    last_err.clear();
                    on_event(Event::Log("session restarted".into()));
                    on_event(Event::Started(s.info.clone()));
                    session = Some(s);
                }
                Err(e) => {
                    let msg = e.to_string();
                    if msg != last_err {
                        on_event(Event::Log(format!(
                            "reconnect failed: {msg}; retrying (backoff up to {} ms)",
                            BACKOFF_MAX.as_millis()
                        )));
                        last_err = msg;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    next_try = now + backoff;
                }
            }
        }
        if now >= next_status {
            next_status += cfg.status_interval;
            if next_status < now {
                next_status = now + cfg.status_interval;
            }
            on_event(Event::Status(report(
                t0,
                session.as_ref(),
                &counters,
                cpu.sample(),
            )));
        }
    }
    let last = report(t0, session.as_ref(), &counters, cpu.sample());
    drop(session);
    drop(vmic);
    Ok(Summary { last, sessions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_margin_is_whole_blocks_with_catch_up_and_long_period_blocks() {
        // 128 frames at 48 kHz (2.7 ms) or 44.1 kHz: the catch-up block only.
        assert_eq!(worker_extra_margin(128, 48_000, 0), 128);
        assert_eq!(worker_extra_margin(128, 44_100, 0), 128);
        // From 4 ms periods on, 20 ms of margin in all (the engine's own block included).
        assert_eq!(worker_extra_margin(192, 48_000, 0), 4 * 192);
        assert_eq!(worker_extra_margin(256, 48_000, 0), 3 * 256);
        assert_eq!(worker_extra_margin(256, 44_100, 0), 3 * 256);
        // Long blocks: never less than the catch-up block.
        assert_eq!(worker_extra_margin(512, 48_000, 0), 512);
        assert_eq!(worker_extra_margin(2048, 48_000, 0), 2048);
        // --safety-ms rounds up to whole blocks: 10 ms at 256 frames is 2 blocks, 1 sample is 1.
        assert_eq!(worker_extra_margin(256, 48_000, 480), 5 * 256);
        assert_eq!(worker_extra_margin(128, 48_000, 1), 2 * 128);
    }
}
