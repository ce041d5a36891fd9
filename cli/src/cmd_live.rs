//! `widen live`: the live daemon (daemon/ crate) in the foreground.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use widen_daemon::devices::{self, HostChoice};
use widen_daemon::{Event, LiveConfig, LiveModels, Mode};

/// Live enhancement: microphone (or any capture device) in, enhanced speech out, in real time.
///
/// Capture -> engine worker -> playback through lock-free ring buffers; input and output on
/// different devices (different clocks) are kept in sync by adaptive resampling. A status line
/// is refreshed once a second (latency, CPU, xruns, late blocks, input level); --stats-json
/// prints it as JSON lines on stdout instead. Stops cleanly on Ctrl-C / SIGTERM. When the
/// device or audio server goes away the daemon retries with backoff and resumes by itself.
///
/// --virtual-mic creates a PipeWire/PulseAudio source named "widen microphone" (a null sink
/// plus a remap source) and plays into it, so VoIP apps can record the enhanced voice; it is
/// removed on exit.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// List the host's devices and exit.
    #[arg(long)]
    list_devices: bool,
    /// Audio host (what cpal offers here).
    #[arg(long, value_enum, default_value_t = HostArg::Default)]
    host: HostArg,
    /// Capture device (name or id, as --list-devices shows) [default: the host's default].
    #[arg(long, value_name = "DEV")]
    input: Option<String>,
    /// Playback device [default: the host's default; the virtual mic's sink with --virtual-mic].
    #[arg(long, value_name = "DEV", conflicts_with = "virtual_mic")]
    output: Option<String>,
    /// Sample rate (Hz) to request; the device's default when it refuses (reported).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8_000..=192_000))]
    rate: Option<u32>,
    /// Fixed buffer size (frames) to request; the actual one is reported.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(16..=16_384))]
    buffer: Option<u32>,
    /// Model set: low-latency (live use) or quality (about 0.6 s more latency).
    #[arg(long, value_enum, default_value_t = ModeArg::LowLatency)]
    mode: ModeArg,
    /// Model folder (widen.json + ONNX files) instead of the embedded set.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Gain on the generated high band (0 = input only, 1 = as predicted) [default: the model set's].
    #[arg(long, value_name = "X")]
    mix: Option<f32>,
    /// When the engine keeps missing deadlines, play the dry signal for a while (2 s, doubling
    /// up to 30 s) instead of flickering between dry and enhanced.
    #[arg(long)]
    bypass_on_overload: bool,
    /// Create the "widen microphone" source (PipeWire/PulseAudio) and play into it.
    #[arg(long)]
    virtual_mic: bool,
    /// Print status (and events) as JSON lines on stdout.
    #[arg(long)]
    stats_json: bool,
    /// Extra scheduling margin for the engine worker (ms, rounded up to whole periods; adds
    /// latency, avoids late blocks on a busy machine).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    safety_ms: f64,
    /// Clock sync between input and output: auto (off on JACK and for one device), on, off.
    #[arg(long, value_enum, default_value_t = SyncArg::Auto)]
    clock_sync: SyncArg,
    /// Real-time (SCHED_FIFO) priority of the engine worker thread, 1-99; 0 = normal
    /// scheduling. The default, the lowest real-time priority, keeps other programs on a busy
    /// machine from delaying the worker past its deadline (late blocks) and stays below the
    /// audio server's threads. Needs the right to use real-time scheduling (root, or the
    /// `audio` group's rtprio limit); without it the worker runs normally (status:
    /// worker_realtime false).
    #[arg(long, value_name = "N", default_value_t = widen_core::config::live::WORKER_RT_PRIORITY,
          value_parser = clap::value_parser!(u8).range(0..=99))]
    worker_priority: u8,
    /// ONNX Runtime threads per model call.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// Stop after this many seconds (default: run until stopped).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HostArg {
    Default,
    Jack,
    Alsa,
    Pulse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    LowLatency,
    Quality,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SyncArg {
    Auto,
    On,
    Off,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn run(args: Args) -> Result<ExitCode> {
    let host = match args.host {
        HostArg::Default => HostChoice::Default,
        HostArg::Jack => HostChoice::Jack,
        HostArg::Alsa => HostChoice::Alsa,
        HostArg::Pulse => HostChoice::Pulse,
    };
    if args.list_devices {
        return list(host, args.stats_json);
    }
    if let Some(m) = args.mix {
        if !(m.is_finite() && m >= 0.0) {
            return Err(anyhow!("--mix: expected a finite gain >= 0, found {m}"));
        }
    }
    let mode = match args.mode {
        ModeArg::LowLatency => Mode::LowLatency,
        ModeArg::Quality => Mode::Quality,
    };
    let models = LiveModels::load(mode, args.model.as_deref(), args.threads)
        .map_err(|e| anyhow!(one_line(&e.to_string())))?;
    let cfg = LiveConfig {
        host,
        input: args.input.clone(),
        output: args.output.clone(),
        rate: args.rate,
        buffer: args.buffer,
        mode,
        mix: args.mix,
        bypass_on_overload: args.bypass_on_overload,
        virtual_mic: args.virtual_mic,
        safety_ms: args.safety_ms,
        worker_priority: (args.worker_priority > 0).then_some(args.worker_priority),
        clock_sync: match args.clock_sync {
            SyncArg::Auto => None,
            SyncArg::On => Some(true),
            SyncArg::Off => Some(false),
        },
        status_interval: Duration::from_secs(1),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| anyhow!("could not install the signal handler: {e}"))?;
    }
    if let Some(secs) = args.duration {
        let stop = Arc::clone(&stop);
        let until = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        std::thread::spawn(move || {
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop.store(true, Ordering::Release);
        });
    }
    let json = args.stats_json;
    let tty = std::io::stderr().is_terminal();
    let mut on_event = |ev: Event| {
        let mut out = std::io::stdout().lock();
        match ev {
            Event::Log(msg) => {
                if tty {
                    eprint!("\r\x1b[K");
                }
                eprintln!("widen live: {msg}");
                if json {
                    let _ = writeln!(out, "{}", serde_json::json!({"event": "log", "message": msg}));
                }
            }
            Event::Started(info) => {
                eprintln!(
                    "widen live: {} -> {} on {} at {} Hz, buffer {}/{} frames, latency {} frames ({:.1} ms){}",
                    info.input_device,
                    info.output_device,
                    info.host,
                    info.rate,
                    info.buffer_in,
                    info.buffer_out,
                    info.latency_frames,
                    1000.0 * info.latency_frames as f64 / info.rate as f64,
                    if info.clock_sync { ", clock sync on" } else { "" }
                );
                if json {
                    let mut v = serde_json::to_value(&info).unwrap_or_default();
                    v["event"] = "started".into();
                    let _ = writeln!(out, "{v}");
                }
            }
            Event::Status(r) => {
                if json {
                    let mut v = serde_json::to_value(&r).unwrap_or_default();
                    v["event"] = "status".into();
                    let _ = writeln!(out, "{v}");
                } else if tty {
                    eprint!("\r\x1b[K{}", r.line());
                } else {
                    eprintln!("{}", r.line());
                }
            }
        }
        let _ = out.flush();
    };
    let summary = widen_daemon::run(cfg, models.factory(), stop, &mut on_event)
        .map_err(|e| anyhow!(one_line(&e.to_string())))?;
    if tty && !json {
        eprintln!();
    }
    if json {
        let mut v = serde_json::to_value(&summary.last).unwrap_or_default();
        v["event"] = "stopped".into();
        v["sessions"] = summary.sessions.into();
        println!("{v}");
    }
    eprintln!("widen live: stopped ({})", summary.last.line());
    Ok(ExitCode::SUCCESS)
}

fn list(host: HostChoice, json: bool) -> Result<ExitCode> {
    let h = devices::open_host(host).map_err(|e| anyhow!(one_line(&e.to_string())))?;
    let list = devices::list_devices(&h).map_err(|e| anyhow!(one_line(&e.to_string())))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"host": h.id().name(), "hosts": devices::available_hosts(), "devices": list})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "host {} (available: {})",
        h.id().name(),
        devices::available_hosts().join(", ")
    );
    if list.is_empty() {
        println!("  no devices (is the audio server running?)");
    }
    for d in list {
        let dirs = match (d.input, d.output) {
            (true, true) => "in/out",
            (true, false) => "in",
            (false, true) => "out",
            _ => "-",
        };
        let def = match (d.default_input, d.default_output) {
            (true, true) => " [default in/out]",
            (true, false) => " [default in]",
            (false, true) => " [default out]",
            _ => "",
        };
        if d.id.is_empty() || d.id == d.name {
            println!("  {dirs:6} \"{}\"{def}", d.name);
        } else {
            println!("  {dirs:6} \"{}\" (id {}){def}", d.name, d.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
