//! Soak: the daemon on a JACK dummy server (synchronous, as the other live tests) at a 256-frame
//! period for 10 minutes (`WIDEN_SOAK_SECS` for another length), real speech looping through
//! it, with the default worker margin (`WIDEN_SOAK_SAFETY_MS` adds some).
//!
//! Passes with zero late blocks, zero underruns, no restart and no xrun caused by a client: the
//! server's log tells a client that had not finished its cycle from its own dummy driver waking
//! up late (in synchronous mode that includes a cycle that a stalled client finished late but
//! within the server's timeout). Before the daemon starts, the server runs with only the idle
//! harness client for `WIDEN_SOAK_CONTROL_SECS` (default 60): its rate of driver xruns is
//! printed beside the soak's. Driver xruns fail the soak only with `WIDEN_SOAK_STRICT=1`: the
//! daemon's audio is judged by late blocks and underruns.
//!
//! The server runs with real-time scheduling (`jackd -R -P 70`), as a live setup would:
//! without it, on a busy machine, the dummy driver's own thread wakes up late and the server
//! counts xruns that no client caused (`WIDEN_JACK_RT=0` runs it that way, to see them). The
//! report separates the server's account of its xruns (driver late / client late, from its
//! log) from what the daemon counted, says whether the engine worker got real-time scheduling
//! (`widen live --worker-priority`) and gives the worker's slowest block against its margin.
//!
//! Ignored by default (it takes the full duration); CI runs it with `cargo xtask soak` (release
//! build), or: `cargo test -p widen-tests --release --test live_soak -- --ignored --nocapture`.

mod live_common;

use std::time::{Duration, Instant};

use live_common::*;
use widen_daemon::Mode;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[test]
#[ignore = "takes 10 minutes; run explicitly"]
fn soak_10_minutes_at_256_frames_without_xruns_or_late_blocks() {
    let secs: f64 = std::env::var("WIDEN_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600.0);
    let name = format!("widen-soak-{}", std::process::id());
    let safety: f64 = std::env::var("WIDEN_SOAK_SAFETY_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let control_secs: f64 = std::env::var("WIDEN_SOAK_CONTROL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let rt = std::env::var_os("WIDEN_JACK_RT").is_none_or(|v| v != "0");
    let jack = JackServer::start_sched(&name, PERIOD, rt);
    // The control: the server with the harness client (idle, playing silence) but no daemon.
    let mut h = Harness::new(band_limited_speech(5.0), true);
    let load_control = load_average();
    let c0 = jack.xruns();
    std::thread::sleep(Duration::from_secs_f64(control_secs));
    let before = jack.xruns();
    let control = before.driver - c0.driver;
    let daemon = Daemon::start(
        jack_config(Mode::LowLatency, safety),
        models(Mode::LowLatency),
    );
    let info = daemon.started(Duration::from_secs(20));
    h.wire(Duration::from_secs(5));
    h.go();
    let load_start = load_average();
    let t0 = Instant::now();
    let mut peak = 0.0f32;
    let mut cpu = Vec::new();
    let mut worker_rt = false;
    while t0.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(h.discard());
        for s in daemon.statuses() {
            cpu.push(s.cpu_percent);
            worker_rt = s.worker_realtime;
        }
        assert!(daemon.alive());
    }
    let played = h.played();
    let load_end = load_average();
    let summary = daemon.finish();
    // The server writes its log line of an xrun after notifying the clients: let the last one
    // land (later ones only raise the server's count).
    std::thread::sleep(Duration::from_millis(500));
    let after = jack.xruns();
    let s = &summary.last;
    cpu.sort_by(f64::total_cmp);
    let med = cpu.get(cpu.len() / 2).copied().unwrap_or(0.0);
    let max = cpu.last().copied().unwrap_or(0.0);
    let per_min = |n: usize, secs: f64| n as f64 * 60.0 / secs.max(1e-9);
    let driver_n = after.driver - before.driver;
    let margin = info.worker_margin;
    eprintln!(
        "soak {secs:.0} s at {PERIOD} frames (safety {safety} ms; server real-time: {}, engine worker real-time: {worker_rt}; load average {load_start} at the start, {load_end} at the end): {played} samples played, latency {} frames ({:.1} ms; worker margin {margin} frames = {:.1} ms), late blocks {}, underruns {}, overflows {}, realigns {} (start {} frames), restarts {}, xruns {} (server log: driver late {driver_n} = {:.1}/min, client late {}; the server with only the idle harness before: driver late {control} in {control_secs:.0} s = {:.1}/min, load average {load_control}), worker's slowest block {:.1} ms, cpu median {med:.1}% max {max:.1}%, output peak {peak:.3}",
        jack.is_realtime(),
        info.latency_frames,
        1000.0 * info.latency_frames as f64 / RATE as f64,
        1000.0 * margin as f64 / RATE as f64,
        s.late_blocks,
        s.underruns,
        s.overflows,
        s.realigns,
        s.start_alignment_frames,
        s.restarts,
        s.xruns,
        per_min(driver_n, secs),
        after.client - before.client,
        per_min(control, control_secs),
        s.worker_peak_ms,
    );
    assert!(peak > 0.05, "no audio came out");
    assert_eq!(s.restarts, 0);
    // The issue asks for none; WIDEN_SOAK_MAX_LATE tolerates a few on a machine known to stall.
    let max_late: u64 = std::env::var("WIDEN_SOAK_MAX_LATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        s.late_blocks <= max_late,
        "{} late blocks (allowed {max_late})",
        s.late_blocks
    );
    assert_eq!(s.underruns, 0, "underruns");
    // No client (the daemon's, the harness's) ever ran late; xruns the server logged as its own
    // driver thread waking up late are reported above but not the daemon's. On a machine where
    // the driver keeps its deadlines, or with WIDEN_SOAK_STRICT=1, every xrun fails the soak.
    let client = after.client - before.client;
    assert_eq!(
        client, 0,
        "xruns of clients that had not finished their cycle"
    );
    let strict = std::env::var_os("WIDEN_SOAK_STRICT").is_some_and(|v| v == "1");
    let driver = (after.driver - before.driver) as u64;
    assert!(
        s.xruns <= driver && !(strict && s.xruns > 0),
        "xruns: the daemon counted {}, the server logged {driver} of its own",
        s.xruns
    );
}
