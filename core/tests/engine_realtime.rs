//! The real-time wrapper: exact equality with the engine when the worker keeps up (default and
//! short cross-fade), and a click-free dry fallback (counted) when it does not.

mod engine_common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_common::*;
use widen_core::engine::mock::{Faulty, MockGenerator, MockVocoder};
use widen_core::engine::{
    Engine, EngineConfig, RealtimeEngine, RealtimeMonitor, RealtimeOptions, StreamProcessor,
};

/// The engine's own streaming output for `x` in blocks of `block` (latency included).
fn engine_output(cfg: &EngineConfig, x: &[f32], block: usize) -> Vec<f32> {
    let mut e = engine(cfg.clone(), block);
    let mut y = vec![0.0f32; x.len()];
    for (i, o) in x.chunks(block).zip(y.chunks_mut(block)) {
        e.process_block(i, o).unwrap();
    }
    y
}

/// Waits (up to 20 s) until the worker has processed `pushed` input samples or `until()`
/// holds: the time a real audio period would give it, deterministically.
fn wait_for_worker(monitor: &RealtimeMonitor, pushed: u64, until: impl Fn() -> bool) {
    let start = Instant::now();
    while monitor.processed_samples() < pushed && !until() {
        assert!(start.elapsed() < Duration::from_secs(20), "worker stuck");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn slow_engine(cfg: &EngineConfig, block: usize, delay_ms: u64, every: u64, limit: u64) -> Engine {
    held_engine(cfg, block, delay_ms, every, limit, None).0
}

/// [`slow_engine`] whose slow runs also wait while `hold` is set; with the count of slow runs
/// begun.
fn held_engine(
    cfg: &EngineConfig,
    block: usize,
    delay_ms: u64,
    every: u64,
    limit: u64,
    hold: Option<Arc<AtomicBool>>,
) -> (Engine, Arc<AtomicU64>) {
    let mut g = Faulty::new(MockGenerator::new(cfg.mel.n_mels, SPLIT_BAND, 3));
    g.delay = Duration::from_millis(delay_ms);
    g.slow_every = every;
    g.slow_limit = limit;
    g.hold = hold;
    let started = Arc::clone(&g.slow_started);
    let v = MockVocoder::new(&cfg.mel, 2, 1.0).unwrap();
    let engine = Engine::new(cfg.clone(), Box::new(g), Some(Box::new(v)), block).unwrap();
    (engine, started)
}

#[test]
fn wrapper_equals_engine_when_the_worker_keeps_up() {
    // The default cross-fade, and a short one with a start hook (as `widen live` uses).
    for (rate, block, short_fade) in [
        (22_050u32, 256usize, None),
        (48_000, 480, None),
        (48_000, 128, Some(72usize)),
    ] {
        let cfg = small_config(rate);
        let started = Arc::new(AtomicBool::new(false));
        let mut rt = match short_fade {
            None => RealtimeEngine::new(engine(cfg.clone(), block)).unwrap(),
            Some(fade) => {
                let flag = Arc::clone(&started);
                let options = RealtimeOptions {
                    crossfade: fade,
                    extra_margin: block,
                    on_worker_start: Some(Box::new(move || flag.store(true, Ordering::SeqCst))),
                };
                RealtimeEngine::with_options(engine(cfg.clone(), block), options).unwrap()
            }
        };
        let monitor = rt.monitor();
        let margin = rt.latency_samples() - rt.engine_latency();
        let fade = short_fade.unwrap_or(widen_core::config::engine::RT_CROSSFADE);
        let extra = if short_fade.is_some() { block } else { 0 };
        assert_eq!(margin, block + fade + extra);
        assert_eq!(rt.margin(), margin);
        let mut x = speech(rate, 0.6);
        x.resize(x.len() + rt.latency_samples(), 0.0);
        let reference = engine_output(&cfg, &x, block);
        let mut y = vec![0.0f32; x.len()];
        let mut pushed = 0u64;
        for (i, o) in x.chunks(block).zip(y.chunks_mut(block)) {
            wait_for_worker(&monitor, pushed, || false);
            rt.process(i, o).unwrap();
            pushed += i.len() as u64;
        }
        assert_eq!(rt.stats().late_blocks, 0);
        assert!(y[..margin].iter().all(|&v| v == 0.0));
        let err = max_abs_diff(&y[margin..], &reference[..x.len() - margin]);
        assert_eq!(
            err, 0.0,
            "{rate} Hz: wrapper differs from the engine by {err}"
        );
        assert!(rms(&y) > 1e-2);
        assert!(rt.stats().frames > 0);
        assert_eq!(started.load(Ordering::SeqCst), short_fade.is_some());
    }
}

/// An audio server that runs a cycle late runs the next one at once. With the default margin
/// the block pushed by the late call is then due at the immediate next call, long before a slow
/// worker is done (late, dry); one extra block of margin makes it due a call later, and the
/// output stays exactly the engine's.
#[test]
fn one_extra_block_of_margin_absorbs_back_to_back_calls() {
    let (rate, block, fade) = (48_000u32, 128usize, 72usize);
    let cfg = EngineConfig {
        chunk_frames: 1,
        ..small_config(rate)
    };
    let x = speech(rate, 0.5);
    let reference = engine_output(&cfg, &x, block);
    for extra in [0, block] {
        // Every generator run (one per hop, every 4 to 5 blocks) takes 5 ms.
        let options = RealtimeOptions {
            crossfade: fade,
            extra_margin: extra,
            on_worker_start: None,
        };
        let mut rt =
            RealtimeEngine::with_options(slow_engine(&cfg, block, 5, 1, 0), options).unwrap();
        let monitor = rt.monitor();
        let margin = rt.margin();
        assert_eq!(margin, block + fade + extra);
        let mut y = vec![0.0f32; x.len()];
        let mut pushed = 0u64;
        for (k, (i, o)) in x.chunks(block).zip(y.chunks_mut(block)).enumerate() {
            // Calls in pairs: the first after the worker has caught up (a regular cycle), the
            // second at once (the catch-up cycle).
            if k % 2 == 0 {
                wait_for_worker(&monitor, pushed, || false);
            }
            rt.process(i, o).unwrap();
            pushed += i.len() as u64;
        }
        // Each slow block took the generator's 5 ms at least.
        assert!(monitor.worker_peak_block() >= Duration::from_millis(5));
        let late = rt.stats().late_blocks;
        if extra == 0 {
            assert!(late > 0, "no late block with the default margin");
        } else {
            assert_eq!(late, 0, "late with one extra block of margin");
            let err = max_abs_diff(&y[margin..], &reference[..x.len() - margin]);
            assert_eq!(err, 0.0, "wrapper differs from the engine by {err}");
        }
    }
}

#[test]
fn late_worker_falls_back_to_dry_without_clicks() {
    let (rate, block) = (22_050u32, 128usize);
    let cfg = small_config(rate);
    let fade = widen_core::config::engine::RT_CROSSFADE as f32;
    let mut rt = RealtimeEngine::new(slow_engine(&cfg, block, 40, 25, 0)).unwrap();
    let (lat, margin) = (
        rt.latency_samples(),
        rt.latency_samples() - rt.engine_latency(),
    );
    let one = speech(rate, 1.2);
    let mut x = Vec::new();
    for _ in 0..3 {
        x.extend_from_slice(&one);
    }
    x[5000] = f32::NAN;
    let clean: Vec<f32> = x
        .iter()
        .map(|v| if v.is_finite() { *v } else { 0.0 })
        .collect();
    let wet_engine = engine_output(&cfg, &clean, block);
    let mut y = vec![0.0f32; x.len()];
    for (i, o) in x.chunks(block).zip(y.chunks_mut(block)) {
        rt.process(i, o).unwrap();
        // About 3x real time: the worker easily keeps up, except in its 40 ms stalls.
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = rt.stats();
    eprintln!("{stats:?}");
    assert!(stats.late_blocks > 0, "no late block: {stats:?}");
    assert!(y.iter().all(|v| v.is_finite()));
    let wet = |i: usize| {
        if i >= margin {
            wet_engine[i - margin]
        } else {
            0.0
        }
    };
    let dry = |i: usize| if i >= lat { clean[i - lat] } else { 0.0 };
    let (mut exact_wet, mut mixed) = (0usize, 0usize);
    for i in 1..y.len() {
        let (w, d, w0, d0) = (wet(i), dry(i), wet(i - 1), dry(i - 1));
        // The output is always a cross-fade of the two aligned signals...
        let (lo, hi) = (w.min(d), w.max(d));
        assert!(
            y[i] >= lo - 1e-6 && y[i] <= hi + 1e-6,
            "sample {i}: {} outside [{lo}, {hi}]",
            y[i]
        );
        // ...whose gain moves by at most 1 / RT_CROSSFADE per sample.
        let allowed = (w - w0).abs().max((d - d0).abs()) + (w0 - d0).abs() / fade + 1e-5;
        let step = (y[i] - y[i - 1]).abs();
        assert!(
            step <= allowed,
            "sample {i}: step {step} > allowed {allowed}"
        );
        if y[i] == w {
            exact_wet += 1;
        } else if (w - d).abs() > 1e-4 {
            mixed += 1;
        }
    }
    eprintln!(
        "exactly wet: {exact_wet} of {}, dry or mixed: {mixed}",
        y.len()
    );
    // The wet signal comes back after each stall.
    assert!(exact_wet > y.len() / 4, "{exact_wet} of {}", y.len());
    assert!(mixed > 0);
}

#[test]
fn stalled_worker_overflow_resynchronises_and_reset_restarts() {
    // 8 kHz: the input queue (4 s) overflows while the worker is stalled once, held until
    // the test has pushed everything (however slowly this machine runs the test).
    let (rate, block) = (8_000u32, 160usize);
    let cfg = small_config(rate);
    let hold = Arc::new(AtomicBool::new(true));
    let (engine, stalled) = held_engine(&cfg, block, 0, 2, 1, Some(Arc::clone(&hold)));
    let mut rt = RealtimeEngine::new(engine).unwrap();
    let monitor = rt.monitor();
    let x = speech(rate, 1.0);
    let mut y = vec![0.0f32; block];
    let mut i = 0;
    let mut feed = |rt: &mut RealtimeEngine| {
        let j = (i + block).min(x.len());
        let n = j - i;
        rt.process(&x[i..j], &mut y[..n]).unwrap();
        assert!(y[..n].iter().all(|v| v.is_finite()));
        i = if j == x.len() { 0 } else { j };
        n as u64
    };
    // In step with the worker until its stall has begun...
    let mut pushed = 0u64;
    while stalled.load(Ordering::Acquire) == 0 {
        pushed += feed(&mut rt);
        wait_for_worker(&monitor, pushed, || stalled.load(Ordering::Acquire) > 0);
    }
    // ...then 5 s of audio as fast as possible: more than the queue holds.
    for _ in 0..5 * rate as usize / block {
        feed(&mut rt);
    }
    assert!(monitor.stats().overflows >= 1, "{:?}", monitor.stats());
    hold.store(false, Ordering::Release);
    // Wait for the worker to wake up and acknowledge the resynchronisation.
    let start = Instant::now();
    while monitor.worker_resets() < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "worker never reset"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // From the next call on the worker keeps up again: once the restarted engine is warm
    // (one latency), no block is late.
    let settle = rt.latency_samples() / block + 4;
    let mut pushed = 0u64;
    let mut late_after = 0;
    for k in 0..(settle + 50) {
        wait_for_worker(&monitor, pushed, || false);
        if k == settle {
            late_after = monitor.stats().late_blocks;
        }
        rt.process(&x[..block], &mut y).unwrap();
        pushed += block as u64;
    }
    assert_eq!(
        monitor.stats().late_blocks,
        late_after,
        "still late after resync"
    );
    // An explicit reset is harmless too.
    rt.reset();
    for _ in 0..20 {
        rt.process(&x[..block], &mut y).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(monitor.stats().worker_errors, 0);
}
