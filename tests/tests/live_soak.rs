//! Soak: the daemon on a JACK dummy server (synchronous, as the other live tests) at a 256-frame
//! period for 10 minutes (`WIDEN_SOAK_SECS` for another length), real speech looping through
//! it, with the default worker margin (`WIDEN_SOAK_SAFETY_MS` adds some). Passes with zero
//! xruns, zero late blocks and zero underruns.
//!
//! Ignored by default (it takes the full duration): `cargo test -p widen-tests --release
//! --test live_soak -- --ignored --nocapture`.

mod live_common;

use std::time::{Duration, Instant};

use live_common::*;
use widen_daemon::Mode;

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
    let _jack = JackServer::start(&name, PERIOD);
    let daemon = Daemon::start(
        jack_config(Mode::LowLatency, safety),
        models(Mode::LowLatency),
    );
    let info = daemon.started(Duration::from_secs(20));
    let mut h = Harness::new(band_limited_speech(5.0), true);
    h.wire(Duration::from_secs(5));
    h.go();
    let t0 = Instant::now();
    let mut peak = 0.0f32;
    let mut cpu = Vec::new();
    while t0.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(h.discard());
        cpu.extend(daemon.statuses().iter().map(|s| s.cpu_percent));
        assert!(daemon.alive());
    }
    let played = h.played();
    let summary = daemon.finish();
    let s = &summary.last;
    cpu.sort_by(f64::total_cmp);
    let med = cpu.get(cpu.len() / 2).copied().unwrap_or(0.0);
    let max = cpu.last().copied().unwrap_or(0.0);
    eprintln!(
        "soak {secs:.0} s at {PERIOD} frames (safety {safety} ms): {played} samples played, latency {} frames ({:.1} ms), xruns {}, late blocks {}, underruns {}, overflows {}, restarts {}, cpu median {med:.1}% max {max:.1}%, output peak {peak:.3}",
        info.latency_frames,
        1000.0 * info.latency_frames as f64 / RATE as f64,
        s.xruns,
        s.late_blocks,
        s.underruns,
        s.overflows,
        s.restarts
    );
    assert!(peak > 0.05, "no audio came out");
    assert_eq!(s.restarts, 0);
    assert_eq!(s.xruns, 0, "xruns");
    assert_eq!(s.late_blocks, 0, "late blocks");
    assert_eq!(s.underruns, 0, "underruns");
}
