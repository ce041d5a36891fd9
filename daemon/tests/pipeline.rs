//! The callbacks' state without an audio server: no allocation, NaN/denormal input, overload
//! (dry fallback counted, no glitch storm), `--bypass-on-overload`, and the one-clock alignment
//! of the ring's delay on a simulated JACK server (streams starting in different cycles, a
//! skipped cycle, jitter). Mock models (pure Rust) stand in for ONNX Runtime; the worker thread
//! is real, so the overload tests pace the callbacks at real time, and the alignment tests wait
//! for the worker after every block (so that its output does not depend on timing).

#[path = "../../core/tests/alloc_counter/mod.rs"]
mod alloc_counter;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use widen_core::config::MelConfig;
use widen_core::engine::mock::{Faulty, MockGenerator, MockVocoder};
use widen_core::engine::{Context, Engine, EngineConfig, RealtimeEngine, RealtimeMonitor};
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
        // Callback times as on JACK (they drive the alignment without clock sync).
        let t = |k: usize| {
            let cs = 1_000_000_000_000 + (k * block) as i64 * 1_000_000_000 / RATE as i64;
            (Some(cs + 20_000), Some(cs + 10_000))
        };
        // Warm up (first calls touch lazily initialised thread-locals in std).
        input.process(&blocks[0], t(0).0);
        output.process(&mut out, t(0).1);
        let before = alloc_counter::allocations();
        for k in 1..2000 {
            // Some callbacks without timestamps.
            let (ti, to) = if k % 7 == 0 { (None, None) } else { t(k) };
            input.process(&blocks[k % blocks.len()], ti);
            // Odd sizes on the output side too.
            let n = [256usize, 128, 384, 256][k % 4];
            output.process(&mut out[..2 * n.min(block)], to);
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
        input.process(&x, None);
        std::thread::sleep(Duration::from_micros(500));
        output.process(&mut out, None);
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
        output.process(&mut out, None);
        y.extend(out.iter().step_by(2));
        flags.push(counters.bypassed.load(Ordering::Relaxed));
        input.process(&sine(b * block, block), None);
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

// ---------------------------------------------------------------------------------------------
// One-clock alignment on a simulated JACK server.

/// Period of the simulated server (frames).
const PERIOD: usize = 256;
/// The server clock's time at cycle 0 (ns).
const T0: i64 = 1_000_000_000_000;

/// How a simulated session runs. Cycles are counted from the input's first one (cycle 0).
#[derive(Clone, Copy, Default)]
struct Scenario {
    /// The output stream's first cycle (negative: it starts before the input).
    out_start: i64,
    /// Within a cycle the input callback runs first (default: the output first, as in the
    /// JACK test, where the harness runs between them).
    input_first: bool,
    /// The output callback does not run in this cycle (a disturbed cycle).
    skip_output: Option<i64>,
    /// The input callback does not run in cycles `from..to` (a starved client).
    skip_input: Option<(i64, i64)>,
    /// From this cycle on the server's cycles start this much later (ns): a stalled server.
    stall: Option<(i64, i64)>,
    /// Cycles `from..to` take `factor` times their nominal time (an overloaded dummy server).
    slow: Option<(i64, i64, f64)>,
    /// Scheduling jitter: callbacks run 0..40 % of a period after the cycle start, one in
    /// seven up to 90 % (seeded), and every 50 cycles one side's callbacks run 80 % of a period
    /// late for 6 cycles in a row (a starved thread).
    jitter: Option<u64>,
}

/// The mono input stream (identical on both channels), frames `start..start + n`.
fn speechlike(start: usize, n: usize) -> Vec<f32> {
    (start..start + n)
        .map(|k| {
            let t = k as f32 / RATE as f32;
            0.3 * (2.0 * std::f32::consts::PI * 310.0 * t).sin()
                + 0.2 * (2.0 * std::f32::consts::PI * 1234.0 * t + 1.0).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 2890.0 * t).sin()
        })
        .collect()
}

/// Waits until `monitor`'s worker has processed `n` input samples.
fn wait_worker(monitor: &RealtimeMonitor, n: u64) {
    let t0 = Instant::now();
    while monitor.processed_samples() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "worker stuck at {} of {n}",
            monitor.processed_samples()
        );
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Tiny deterministic generator for the jitter.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a simulated session played.
struct SimRun {
    /// Mono output per cycle, from the first cycle of either stream (silence where the output
    /// did not run).
    played: Vec<Vec<f32>>,
    /// What the output should be in each of those cycles: the input stream's engine output,
    /// delayed by exactly the prefill (one period) from the cycle it came in.
    expected: Vec<Vec<f32>>,
    /// The first cycle's number.
    first: i64,
    counters: Arc<Counters>,
}

/// Runs `cycles` server cycles (counted from the input's first) of `sc`.
fn simulate(sc: Scenario, cycles: i64) -> SimRun {
    let (mut input, mut output, counters) = pipeline(PERIOD, None, false, false);
    let monitor = input.monitor();
    // The reference: the same engine fed the same blocks, outside the pipeline.
    let mut reference = RealtimeEngine::new(engine(PERIOD, None)).unwrap();
    let ref_monitor = reference.monitor();
    let mut engine_out = Vec::new();
    let mut y = vec![0.0f32; PERIOD];
    for b in 0..cycles as usize {
        let x = speechlike(b * PERIOD, PERIOD);
        wait_worker(&ref_monitor, (b * PERIOD) as u64);
        reference.process(&x, &mut y).unwrap();
        engine_out.extend_from_slice(&y);
    }
    assert_eq!(ref_monitor.stats().late_blocks, 0);

    let mut rng = Lcg(sc.jitter.unwrap_or(0));
    let period_ns = PERIOD as f64 * 1e9 / RATE as f64;
    let fs = |rng: &mut Lcg, c: i64, input: bool| match sc.jitter {
        None => 0,
        Some(_) if c.rem_euclid(50) >= 44 && (c.div_euclid(50) % 2 == 0) == input => {
            (0.8 * period_ns) as i64
        }
        Some(_) => {
            let spike = rng.next() < 1.0 / 7.0;
            (rng.next() * if spike { 0.9 } else { 0.4 } * period_ns) as i64
        }
    };
    let first = sc.out_start.min(0);
    // JACK's cycle times are whole microseconds.
    let mut starts = Vec::new();
    let mut t = T0 as f64 + first as f64 * period_ns;
    for c in first..cycles {
        let stall = sc.stall.filter(|&(from, _)| c >= from).map_or(0, |s| s.1);
        starts.push((t / 1000.0).round() as i64 * 1000 + stall);
        let factor = match sc.slow {
            Some((from, to, f)) if (from..to).contains(&c) => f,
            _ => 1.0,
        };
        t += period_ns * factor;
    }
    let cycle_start = |c: i64| starts[(c - first) as usize];
    let mut played = Vec::new();
    let mut expected = Vec::new();
    let mut out = vec![0.0f32; 2 * PERIOD];
    let mut pushed = 0usize;
    let mut came_in: Option<usize> = None;
    for c in first..cycles {
        let cs = cycle_start(c);
        // The input block (of the input's own count) that comes in in this cycle, if it runs.
        let block = pushed / PERIOD;
        let mut run_output = |output: &mut OutputSide, rng: &mut Lcg| {
            if c < sc.out_start || sc.skip_output == Some(c) {
                return vec![0.0; PERIOD];
            }
            output.process(&mut out, Some(cs + fs(rng, c, false)));
            out.iter().step_by(2).copied().collect()
        };
        let mut run_input = |input: &mut InputSide, rng: &mut Lcg| {
            let x: Vec<f32> = speechlike(pushed, PERIOD)
                .into_iter()
                .flat_map(|v| [v, v])
                .collect();
            input.process(&x, Some(cs + fs(rng, c, true)));
            pushed += PERIOD;
            wait_worker(&monitor, pushed as u64);
        };
        let input_runs = c >= 0 && !sc.skip_input.is_some_and(|(a, b)| (a..b).contains(&c));
        let y = if sc.input_first && input_runs {
            run_input(&mut input, &mut rng);
            run_output(&mut output, &mut rng)
        } else {
            let y = run_output(&mut output, &mut rng);
            if input_runs {
                run_input(&mut input, &mut rng);
            }
            y
        };
        played.push(y);
        // Played in cycle c: the block that came in in cycle c - 1 (silence before the input,
        // or after a cycle it missed).
        let expect = match came_in {
            Some(b) if c >= sc.out_start && sc.skip_output != Some(c) => {
                engine_out[b * PERIOD..(b + 1) * PERIOD].to_vec()
            }
            _ => vec![0.0; PERIOD],
        };
        expected.push(expect);
        came_in = input_runs.then_some(block);
    }
    assert_eq!(monitor.stats().late_blocks, 0, "the worker was late");
    SimRun {
        played,
        expected,
        first,
        counters,
    }
}

impl SimRun {
    /// Cycles (numbered from the input's first) whose output differs from the expected one.
    fn wrong_cycles(&self) -> Vec<i64> {
        self.played
            .iter()
            .zip(&self.expected)
            .enumerate()
            .filter(|(_, (p, e))| p != e)
            .map(|(i, _)| self.first + i as i64)
            .collect()
    }

    fn count(&self, c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Cycles enough for the engine's output to carry signal for a good while (its first
/// `latency` samples are silence, where a misaligned block would not show).
fn sim_cycles() -> i64 {
    let (input, _, _) = pipeline(PERIOD, None, false, false);
    (input.engine_latency() / PERIOD) as i64 + 3 * i64::from(pipeline::ALIGN_CALLBACKS) + 60
}

/// Runs `sc` and asserts exact output in every cycle, no underrun and no correction after the
/// start.
fn assert_exact(what: &str, sc: Scenario) {
    let cycles = sim_cycles();
    let run = simulate(sc, cycles);
    // The engine output must carry signal, or the comparison proves nothing.
    let loud = run
        .expected
        .iter()
        .filter(|b| b.iter().any(|v| v.abs() > 1e-3))
        .count();
    assert!(loud > 40, "{what}: only {loud} cycles of signal");
    assert_eq!(run.wrong_cycles(), Vec::<i64>::new(), "{what}: cycles off");
    assert_eq!(run.count(&run.counters.underruns), 0, "{what}: underruns");
    assert_eq!(run.count(&run.counters.realigns), 0, "{what}: realigns");
}

#[test]
fn aligned_start_plays_exactly_one_prefill_late() {
    // Both streams begin in the same cycle, in either order within it.
    assert_exact("same cycle, output first", Scenario::default());
    assert_exact(
        "same cycle, input first",
        Scenario {
            input_first: true,
            ..Scenario::default()
        },
    );
}

#[test]
fn input_starting_one_or_two_periods_early_is_aligned() {
    for k in [1, 2] {
        for input_first in [false, true] {
            assert_exact(
                &format!("input {k} periods early (input first in a cycle: {input_first})"),
                Scenario {
                    out_start: k,
                    input_first,
                    ..Scenario::default()
                },
            );
        }
    }
}

#[test]
fn output_starting_early_waits_for_the_input() {
    for k in [1, 3] {
        for input_first in [false, true] {
            assert_exact(
                &format!("output {k} periods early (input first in a cycle: {input_first})"),
                Scenario {
                    out_start: -k,
                    input_first,
                    ..Scenario::default()
                },
            );
        }
    }
}

#[test]
fn steady_state_with_jitter_and_stalls_is_left_alone() {
    // Callbacks late by scheduling (up to 90 % of a period now and then, 80 % for 6 cycles in
    // a row), a server stalled for 3 ms or for 25 ms (almost 5 periods): no correction.
    for (seed, stall) in [(1, 3_000_000), (2, 3_000_000), (3, 25_000_000)] {
        assert_exact(
            &format!("jitter seed {seed}, stall {stall} ns"),
            Scenario {
                out_start: 1,
                jitter: Some(seed),
                stall: Some((40, stall)),
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn a_server_running_at_half_speed_is_left_alone() {
    // An overloaded dummy JACK server ran its cycles about 10.4 ms apart for 5.3 ms of audio:
    // the time between the callbacks is no measure of samples at the nominal rate. The same
    // from the first cycle on (start-up alignment), and for a stretch in the middle.
    for (from, seed) in [(-5, None), (30, None), (30, Some(4))] {
        assert_exact(
            &format!("slow from cycle {from}, jitter {seed:?}"),
            Scenario {
                out_start: 2,
                slow: Some((from, from + 150, 1.95)),
                jitter: seed,
                ..Scenario::default()
            },
        );
    }
}

#[test]
fn input_missing_cycles_is_corrected_once() {
    // The input client misses one cycle, or three (a starved client on an overloaded server):
    // the output underruns meanwhile and owes the blocks, and the owed accounting alone would
    // then drop every block as it arrives, for good. The alignment finds the read position
    // that many blocks ahead of the input and moves it back once.
    for missed in [1, 3] {
        let cycles = sim_cycles();
        let from = cycles - 2 * i64::from(pipeline::ALIGN_CALLBACKS) - 20;
        let run = simulate(
            Scenario {
                skip_input: Some((from, from + missed)),
                ..Scenario::default()
            },
            cycles,
        );
        let wrong = run.wrong_cycles();
        let last_wrong = from + missed + 1 + i64::from(pipeline::ALIGN_CALLBACKS);
        assert!(
            wrong.iter().all(|&c| (from..=last_wrong).contains(&c)),
            "missed {missed}: cycles off: {wrong:?} (from {from})"
        );
        assert!(!wrong.is_empty(), "the missed cycles changed nothing");
        assert_eq!(run.count(&run.counters.realigns), 1, "missed {missed}");
    }
}

#[test]
fn a_skipped_output_cycle_is_corrected_once() {
    // The output misses one cycle (a disturbed cycle): the ring holds a period more until the
    // alignment has seen it long enough, then drops it.
    let cycles = sim_cycles();
    let skip = cycles - 2 * i64::from(pipeline::ALIGN_CALLBACKS) - 20;
    let run = simulate(
        Scenario {
            skip_output: Some(skip),
            ..Scenario::default()
        },
        cycles,
    );
    let wrong = run.wrong_cycles();
    // The callback after the gap measures half a period (the input's callback falls within
    // the output's two-period interval), then ALIGN_CALLBACKS agree on one.
    let last_wrong = skip + 1 + i64::from(pipeline::ALIGN_CALLBACKS);
    assert!(
        wrong.iter().all(|&c| (skip..=last_wrong).contains(&c)),
        "cycles off: {wrong:?} (skipped {skip})"
    );
    assert!(!wrong.is_empty(), "the skipped cycle changed nothing");
    assert_eq!(run.count(&run.counters.realigns), 1);
    assert_eq!(run.count(&run.counters.underruns), 0);
}
