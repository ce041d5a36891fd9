//! Soak: the daemon on a JACK dummy server (synchronous, as the other live tests) at a 256-frame
//! period for 10 minutes (`WIDEN_SOAK_SECS` for another length), real speech looping through
//! it, with the default worker margin (`WIDEN_SOAK_SAFETY_MS` adds some).
//!
//! Passes with zero late blocks, zero underruns and no xrun caused by a client: the server's
//! log tells a client that had not finished its cycle from its own dummy driver waking up late
//! (a server with no clients at all does that a few times a minute on a busy VM); the latter
//! are printed and fail the soak only with `WIDEN_SOAK_STRICT=1`.
//!
//! The server runs with real-time scheduling (`jackd -R -P 70`), as a live setup would:
//! without it, on a busy machine, the dummy driver's own thread wakes up late and the server
//! counts xruns that no client caused (`WIDEN_JACK_RT=0` runs it that way, to see them). The
//! report separates the server's account of its xruns (driver late / client late, from its
//! log) from what the daemon counted, and says whether the engine worker got real-time
//! scheduling (`widen live --worker-priority`).
//!
//! Ignored by default (it takes the full duration): `cargo test -p widen-tests --release
//! --test live_soak -- --ignored --nocapture`.

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
    let rt = std::env::var_os("WIDEN_JACK_RT").is_none_or(|v| v != "0");
    let jack = JackServer::start_sched(&name, PERIOD, rt);
    let before = jack.xruns();
    let daemon = Daemon::start(
        jack_config(Mode::LowLatency, safety),
        models(Mode::LowLatency),
    );
    let info = daemon.started(Duration::from_secs(20));
    let mut h = Harness::new(band_limited_speech(5.0), true);
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
    let after = jack.xruns();
    let s = &summary.last;
    cpu.sort_by(f64::total_cmp);
    let med = cpu.get(cpu.len() / 2).copied().unwrap_or(0.0);
    let max = cpu.last().copied().unwrap_or(0.0);
    eprintln!(
        "soak {secs:.0} s at {PERIOD} frames (safety {safety} ms; server real-time: {}, engine worker real-time: {worker_rt}; load average {load_start} at the start, {load_end} at the end): {played} samples played, latency {} frames ({:.1} ms), xruns {} (server log: driver late {}, client late {}), late blocks {}, underruns {}, overflows {}, restarts {}, cpu median {med:.1}% max {max:.1}%, output peak {peak:.3}",
        jack.is_realtime(),
        info.latency_frames,
        1000.0 * info.latency_frames as f64 / RATE as f64,
        s.xruns,
        after.driver - before.driver,
        after.client - before.client,
        s.late_blocks,
        s.underruns,
        s.overflows,
        s.restarts
    );
    assert!(peak > 0.05, "no audio came out");
    assert_eq!(s.restarts, 0);
    assert_eq!(s.late_blocks, 0, "late blocks");
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
