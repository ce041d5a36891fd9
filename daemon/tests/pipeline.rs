//! The callbacks' state without an audio server: no allocation, NaN/denormal input, overload
//! (dry fallback counted, no glitch storm) and `--bypass-on-overload`. Mock models (pure Rust)
//! stand in for ONNX Runtime; the worker thread is real, so the overload tests pace the
//! callbacks at real time.

#[path = "../../core/tests/alloc_counter/mod.rs"]
mod alloc_counter;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use widen_core::config::MelConfig;
use widen_core::engine::mock::{Faulty, MockGenerator, MockVocoder};
use widen_core::engine::{Context, Engine, EngineConfig, RealtimeEngine};
use widen_daemon::pipeline::{self, InputSide, OutputSide, PipelineConfig};
use widen_daemon::Counters;

const RATE: u32 = 48_000;

fn config() -> EngineConfig {
    EngineConfig {
        generator_context: Context { left: 4, right: 4 },
        vocoder_context: Context { left: 3, right: 5 },
        chunk_frames: 1,
        input_rate: RATE,
        output_rate: RATE,
        ..EngineConfig::default()
    }
}

/// An engine on mock models; `slow` makes every generator run sleep that long.
fn engine(max_block: usize, slow: Option<Duration>) -> Engine {
    let mel = MelConfig::default();
    let mut gen = Faulty::new(MockGenerator::new(mel.n_mels, 50, 3));
    if let Some(d) = slow {
        gen.delay = d;
        gen.slow_every = 1;
    }
    let voc = MockVocoder::new(&mel, 2, 1.0).unwrap();
    Engine::new(config(), Box::new(gen), Some(Box::new(voc)), max_block).unwrap()
}

fn pipeline(
    block: usize,
    slow: Option<Duration>,
    clock_sync: bool,
    bypass: bool,
) -> (InputSide, OutputSide, Arc<Counters>) {
    let rt = RealtimeEngine::new(engine(block, slow)).unwrap();
    let counters = Arc::new(Counters::default());
    let cfg = PipelineConfig {
        in_channels: 2,
        out_channels: 2,
        in_rate: RATE,
        out_rate: RATE,
        max_out_block: block,
        prefill: if clock_sync { 3 * block } else { block },
        clock_sync,
        bypass_on_overload: bypass,
    };
    let (i, o) = pipeline::build(cfg, rt, Arc::clone(&counters)).unwrap();
    (i, o, counters)
}

/// Stereo interleaved sine, frames `start..start + n`.
fn sine(start: usize, n: usize) -> Vec<f32> {
    (start..start + n)
        .flat_map(|k| {
            let v = 0.5 * (2.0 * std::f32::consts::PI * 300.0 * k as f32 / RATE as f32).sin();
            [v, v]
        })
        .collect()
}

#[test]
fn callbacks_do_not_allocate() {
    for (sync, bypass) in [(false, false), (true, false), (false, true)] {
        let block = 256;
        let (mut input, mut output, _) = pipeline(block, None, sync, bypass);
        let blocks: Vec<Vec<f32>> = (0..50).map(|b| sine(b * block, block)).collect();
        let mut out = vec![0.0f32; 2 * block];
        // Warm up (first calls touch lazily initialised thread-locals in std).
        input.process(&blocks[0]);
        output.process(&mut out);
        let before = alloc_counter::allocations();
        for k in 0..2000 {
            input.process(&blocks[k % blocks.len()]);
            // Odd sizes on the output side too.
            let n = [256usize, 128, 384, 256][k % 4];
            output.process(&mut out[..2 * n.min(block)]);
        }
        let n = alloc_counter::allocations() - before;
        assert_eq!(
            n, 0,
            "sync {sync}, bypass {bypass}: {n} allocations in 4000 callbacks"
        );
    }
}

#[test]
fn nan_inf_and_denormal_input_is_replaced_and_counted() {
    let block = 256;
    let (mut input, mut output, counters) = pipeline(block, None, false, false);
    let mut out = vec![0.0f32; 2 * block];
    let mut bad = 0u64;
    for b in 0..200 {
        let mut x = sine(b * block, block);
        if b % 3 == 0 {
            x[5] = f32::NAN;
            x[17] = f32::INFINITY;
            x[40] = -f32::INFINITY;
            x[99] = 1e-38; // denormal
            bad += 4;
        }
        input.process(&x);
        std::thread::sleep(Duration::from_micros(500));
        output.process(&mut out);
        assert!(
            out.iter().all(|v| v.is_finite()),
            "non-finite output in block {b}"
        );
        assert!(
            out.iter().all(|v| v.abs() <= 2.0),
            "output blew up in block {b}"
        );
    }
    assert_eq!(counters.sanitized_samples.load(Ordering::Relaxed), bad);
}

/// Runs `secs` of stereo sine through a slow engine at real-time pace; returns the mono output
/// (left channel), the per-block bypass flags and the counters.
fn overload_run(bypass: bool, secs: f64) -> (Vec<f32>, Vec<bool>, Arc<Counters>, usize, u64) {
    let block = 1024;
    // Every model call sleeps 30 ms; one hop (128 samples at 22.05 kHz, 5.8 ms) per call.
    let (mut input, mut output, counters) =
        pipeline(block, Some(Duration::from_millis(30)), false, bypass);
    let latency = input.engine_latency() + block;
    let monitor = input.monitor();
    let period = Duration::from_secs_f64(block as f64 / RATE as f64);
    let n_blocks = (secs * RATE as f64 / block as f64) as usize;
    let mut y = Vec::new();
    let mut flags = Vec::new();
    let mut out = vec![0.0f32; 2 * block];
    let t0 = Instant::now();
    for b in 0..n_blocks {
        // Output first (it reads what the previous input callback queued), as on JACK.
        output.process(&mut out);
        y.extend(out.iter().step_by(2));
        flags.push(counters.bypassed.load(Ordering::Relaxed));
        input.process(&sine(b * block, block));
        let due = t0 + period * (b as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    (y, flags, counters, latency, monitor.stats().late_blocks)
}

/// Largest sample-to-sample step.
fn max_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn overload_falls_back_to_dry_counted_without_clicks() {
    let (y, _, counters, _, late) = overload_run(false, 2.0);
    assert!(late > 0, "a worker 5x slower than real time was never late");
    assert_eq!(counters.bypass_events.load(Ordering::Relaxed), 0);
    assert!(y.iter().all(|v| v.is_finite()));
    // Dry and wet cross-fade: no step much larger than the sine's own (2*pi*300/48000*0.5).
    let sine_step = 2.0 * std::f32::consts::PI * 300.0 / RATE as f32 * 0.5;
    let step = max_step(&y);
    assert!(
        step < 4.0 * sine_step,
        "step {step} vs the sine's {sine_step}"
    );
}

#[test]
fn bypass_on_overload_plays_the_exact_dry_signal_and_counts_it() {
    let (y, flags, counters, latency, _) = overload_run(true, 3.0);
    let block = 1024;
    // Entered early, held for BYPASS_FIRST_HOLD_S, retried (still slow: entered again, for
    // twice as long).
    let events = counters.bypass_events.load(Ordering::Relaxed);
    assert!((1..=2).contains(&events), "bypass entered {events} times");
    let start = flags.iter().position(|&f| f).unwrap();
    let held = flags[start..].iter().take_while(|&&f| f).count() * block;
    let hold = (widen_daemon::pipeline::BYPASS_FIRST_HOLD_S * RATE as f64) as usize;
    assert!(
        held >= hold && held <= hold + latency + 2 * block,
        "first bypass lasted {held} samples, hold {hold}"
    );
    // Blocks played while bypassing (and the one before, already queued dry) are the input
    // delayed by exactly the latency.
    let first = flags.iter().position(|&f| f).expect("bypass was entered");
    let x: Vec<f32> = sine(0, y.len()).into_iter().step_by(2).collect();
    let mut checked = 0;
    let bypassed = flags.iter().skip(first + 2).take_while(|&&f| f).count();
    let from = (first + 2) * block;
    for (n, &v) in y.iter().enumerate().skip(from).take(bypassed * block) {
        // Before the first input sample, the dry path is silence.
        let d = n.checked_sub(latency).map_or(0.0, |k| x[k]);
        assert!((v - d).abs() < 1e-6, "sample {n}: {v} vs dry {d}");
        checked += 1;
    }
    assert!(
        checked >= RATE as usize,
        "only {checked} bypassed samples checked"
    );
    let sine_step = 2.0 * std::f32::consts::PI * 300.0 / RATE as f32 * 0.5;
    assert!(max_step(&y) < 4.0 * sine_step);
}
