//! `widen live` on a JACK server of its own (dummy backend: bit-exact, one clock): real
//! band-limited speech in through a harness client, the daemon's output recorded and compared
//! with the offline engine (low band sample for sample, generated band by energy: see
//! `LOW_BAND_TOLERANCE`), and the measured latency with the reported one.
//!
//! One test per file: each sets `JACK_DEFAULT_SERVER` for its process.

mod live_common;

use std::time::Duration;

use live_common::*;
use widen_core::engine::process_offline;
use widen_daemon::Mode;

/// Allowed |live - offline| (signal peak 0.5): the engine's own bound for streaming against
/// offline at any block size (core/tests/engine_stream.rs; the resamplers sum in a
/// block-dependent order). A shifted, dropped or dry sample is off by orders of magnitude more.
/// Largest difference allowed in the band below 3 kHz (the input's own band, spliced through).
///
/// The live output is not compared sample for sample over the whole band: the engine resamples
/// 48 kHz to its 22.05 kHz STFT grid, and where that grid falls relative to the speech depends on
/// when the daemon's stream began (a period of 40 960 input samples), while the offline reference
/// starts its grid at the speech's first sample. The generated band is therefore the same system
/// at a different frame phase: equal in energy, not in waveform. The low band is a fixed linear
/// path (splice below the cutoff, resampling) and must match; the high band's energy must match.
const LOW_BAND_TOLERANCE: f32 = 1e-3;
/// Largest high-band energy difference allowed between live and offline output (dB).
const HIGH_BAND_DB_TOLERANCE: f64 = 0.5;

/// What one mode's run measured.
struct Measured {
    reported: usize,
    lag: usize,
    /// Max |live - offline| below 3 kHz.
    low_diff: f32,
    /// High-band energy of live over offline output (dB).
    high_db: f64,
    late: u64,
    underruns: u64,
    /// Ring delay corrections after the start (a disturbed cycle), and re-centrings.
    realigns: u64,
    resyncs: u64,
    /// xruns the daemon counted, and those the server logged during the run.
    xruns: u64,
    server_xruns: u64,
}

/// Runs speech through the daemon in `mode` and compares it with the offline engine.
fn run_mode(mode: Mode, server: &str) -> Measured {
    let jack = JackServer::start(server, PERIOD);
    let speech = band_limited_speech(2.5);
    let models = models(mode);
    // Reference: the same engine offline, latency trimmed.
    let mut engine = models.engine(RATE, 1 << 14).unwrap();
    let offline = process_offline(&mut engine, &speech).unwrap();
    assert_eq!(offline.len(), speech.len());

    // A generous worker margin: on the shared test machine a late block (dry output) must not
    // become a false failure; exactness and latency hold for any margin.
    let before = jack.xruns();
    let daemon = Daemon::start(jack_config(mode, 100.0), models);
    let info = daemon.started(Duration::from_secs(20));
    assert_eq!(
        (info.rate, info.buffer_in, info.buffer_out),
        (RATE, PERIOD, PERIOD)
    );
    assert!(!info.clock_sync, "one JACK server is one clock");
    let reported = info.latency_frames;
    assert_eq!(reported, info.prefill + info.engine_latency);

    let mut h = Harness::new(speech.clone(), false);
    h.wire(Duration::from_secs(5));
    h.go();
    h.run_until(
        speech.len() + reported + 4 * PERIOD as usize,
        Duration::from_secs(60),
    );
    assert!(daemon.alive(), "daemon exited");
    let summary = daemon.finish();
    let after = jack.xruns();
    let server_xruns = after.driver + after.client - before.driver - before.client;
    let rec = std::mem::take(&mut h.recorded);
    drop(h);

    // Measured latency: the lag that best aligns the recording with the offline output.
    let seg = &offline[RATE as usize / 2..RATE as usize * 3 / 2];
    let lag = best_lag(&rec[RATE as usize / 2..], seg, 0, reported + 2000);
    let n = speech.len();
    assert!(rec.len() >= reported + n, "recorded {} samples", rec.len());
    let live = &rec[reported..reported + n];
    let (lo_live, hi_live) = split_bands(live);
    let (lo_off, hi_off) = split_bands(&offline[..n]);
    let lo_diff = lo_live
        .iter()
        .zip(&lo_off)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let e = |x: &[f32]| x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>();
    let hf_db = 10.0 * (e(&hi_live) / e(&hi_off).max(1e-30)).log10();
    let s = &summary.last;
    eprintln!(
        "{mode:?}: reported {reported} frames ({:.2} ms), measured {lag}, low band max diff {lo_diff:e}, high band {hf_db:+.3} dB, late {}, xruns {} (server: {server_xruns}), underruns {}, start alignment {} frames, realigns {}, resyncs {}, cpu {:.1}%",
        1000.0 * reported as f64 / RATE as f64,
        s.late_blocks,
        s.xruns,
        s.underruns,
        s.start_alignment_frames,
        s.realigns,
        s.resyncs,
        s.cpu_percent
    );
    Measured {
        reported,
        lag,
        low_diff: lo_diff,
        high_db: hf_db,
        late: s.late_blocks,
        underruns: s.underruns,
        realigns: s.realigns,
        resyncs: s.resyncs,
        xruns: s.xruns,
        server_xruns: server_xruns as u64,
    }
}

/// What the issue asks of one run: no underrun or late block, the daemon's xruns the server's,
/// the measured latency the reported one, the low band the offline engine's, the high band's
/// energy the offline engine's.
fn check(mode: Mode, m: &Measured) -> Result<(), String> {
    let fail = |what: String| {
        Err(format!(
            "{mode:?}: {what} (realigns {}, resyncs {}, server xruns {})",
            m.realigns, m.resyncs, m.server_xruns
        ))
    };
    if m.underruns != 0 {
        return fail(format!("{} ring underruns", m.underruns));
    }
    // Both of the daemon's JACK clients are notified of every server xrun; it counts each once.
    if m.xruns > m.server_xruns {
        return fail(format!(
            "the daemon counted {} xruns, the server logged {}",
            m.xruns, m.server_xruns
        ));
    }
    if m.late != 0 {
        return fail(format!("the worker was late {} times (dry output)", m.late));
    }
    if m.lag != m.reported {
        return fail(format!(
            "measured latency {} frames, reported {}",
            m.lag, m.reported
        ));
    }
    if m.low_diff > LOW_BAND_TOLERANCE {
        return fail(format!(
            "live low band differs from the offline engine by {}",
            m.low_diff
        ));
    }
    if m.high_db.abs() > HIGH_BAND_DB_TOLERANCE {
        return fail(format!(
            "live high band energy differs from the offline engine by {:+.2} dB",
            m.high_db
        ));
    }
    Ok(())
}

#[test]
fn live_output_matches_offline_engine_after_reported_latency() {
    for (mode, server) in [
        (
            Mode::LowLatency,
            format!("widen-test-ll-{}", std::process::id()),
        ),
        (
            Mode::Quality,
            format!("widen-test-q-{}", std::process::id()),
        ),
    ] {
        // The daemon's two JACK clients may begin in different server cycles, and the dummy
        // server of this shared VM wakes up late now and then: the daemon aligns its ring's
        // delay by the cycle times (pipeline module docs), so the latency must be exact in every
        // run. A stalled machine can still cost a run a few blocks (a cycle the input client
        // missed: underruns until the realignment; a late worker: dry blocks; a cycle the
        // harness client missed: its speech is not what the daemon got, seen once as a low-band
        // difference of 1.6e-3 with 2 server xruns): such a run, with the server's own xruns
        // logged during it and the latency exact, is repeated once.
        let mut m = run_mode(mode, &server);
        if let Err(e) = check(mode, &m) {
            if !(m.server_xruns > 0 && m.lag == m.reported) {
                panic!("{e}");
            }
            eprintln!("{e}; the server logged xruns of its own during the run: once more");
            m = run_mode(mode, &server);
            if let Err(e) = check(mode, &m) {
                panic!("{e} (second run)");
            }
        }
    }
}

/// Splits `x` (at `RATE`) into the band below 3 kHz (8th-order Butterworth) and the rest.
fn split_bands(x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    use widen_core::dsp::filters::{design, LowpassKind, LowpassSpec};
    let spec = LowpassSpec {
        kind: LowpassKind::Butterworth { order: 8 },
        cutoff_hz: 3_000.0,
    };
    let mut lp = design(spec, RATE).expect("filter");
    let mut low = x.to_vec();
    lp.process(&mut low);
    let high = x.iter().zip(&low).map(|(a, b)| a - b).collect();
    (low, high)
}
