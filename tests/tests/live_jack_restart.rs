//! The JACK server goes away mid-run and comes back: the daemon logs it, keeps running,
//! reconnects by itself within 2 s and counts the gap.

mod live_common;

use std::time::{Duration, Instant};

use live_common::*;
use widen_daemon::Mode;

#[test]
fn jackd_killed_and_restarted_audio_resumes_within_2_s() {
    let name = format!("widen-test-restart-{}", std::process::id());
    let mut jack = JackServer::start(&name, PERIOD);
    let speech = band_limited_speech(1.0);
    let daemon = Daemon::start(
        jack_config(Mode::LowLatency, 50.0),
        models(Mode::LowLatency),
    );
    let info = daemon.started(Duration::from_secs(20));

    let mut h = Harness::new(speech.clone(), true);
    h.wire(Duration::from_secs(5));
    h.go();
    h.run_until(info.latency_frames + RATE as usize, Duration::from_secs(20));
    let before = h.recorded.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(before > 0.05, "no audio before the restart (peak {before})");

    // The server dies (SIGTERM) with the daemon's clients connected.
    jack.stop();
    drop(h);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        daemon.alive(),
        "the daemon exited when the server went away"
    );

    jack = JackServer::start(&name, PERIOD);
    let back = Instant::now();
    let mut h = Harness::new(speech, true);
    h.wire(Duration::from_secs(5));
    h.go();
    // Resumed: the daemon's enhanced output reaches the harness again.
    let resumed = loop {
        h.drain();
        if h.recorded.iter().any(|v| v.abs() > 0.05) {
            break back.elapsed();
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no audio 10 s after the server came back"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // The first audible sample left the daemon one latency after it went in; the daemon was
    // back when its ports appeared, which `wire` waited for.
    let latency = Duration::from_secs_f64(info.latency_frames as f64 / RATE as f64);
    let reconnect = resumed.saturating_sub(latency);
    eprintln!(
        "audio back {:.0} ms after the server (daemon reconnect + {:.0} ms latency)",
        resumed.as_secs_f64() * 1e3,
        latency.as_secs_f64() * 1e3
    );
    assert!(
        reconnect < Duration::from_secs(2),
        "resumed {reconnect:?} after the server came back"
    );
    assert!(daemon.alive());
    let summary = daemon.finish();
    drop(h);
    drop(jack);
    eprintln!(
        "restarts {}, gap {} ms, sessions {}",
        summary.last.restarts, summary.last.gap_ms, summary.sessions
    );
    assert!(summary.last.restarts >= 1, "restart not counted");
    assert!(summary.last.gap_ms > 0, "gap not counted");
}
