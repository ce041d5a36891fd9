//! Speed of the whole enhancement pipeline with the embedded default model sets (issue 4,
//! "Performance"): offline throughput on 60 s of real 8 kHz speech -> 22.05 kHz, the time of
//! each stage, and the cost of one streaming hop.
//!
//! A plain `main` (criterion would need minutes for 60 s inputs): every figure is the median
//! (or a percentile) of repeated runs timed with `std::time::Instant`.
//!
//! ```text
//! taskset -c 0   cargo bench -p widen-core --features stage-timing --bench pipeline -- --threads 1
//! taskset -c 0,1 cargo bench -p widen-core --features stage-timing --bench pipeline -- --threads 2
//! cargo xtask bench [--quick]        # both of the above, plus the DSP bench, merged JSON
//! ```
//!
//! Issue 9 added, for `cargo xtask bench`'s report: `offline_enhance` (each set's default
//! synthesis at the chunk `widen enhance` uses), `scaling` (time against input length),
//! `floor` (sinc upsampling alone), `streaming_deployed` (48 kHz / 128 at the plugin's
//! and `widen live`'s chunk, with the p50/p99 of the blocks that ran a model call) and
//! `latency_impulse` (reported latency against the delay of a unit impulse).
//!
//! Options (after `--`): `--threads N[,M..]` ONNX Runtime intra-op threads (default 1),
//! `--input FILE` (an 8 kHz WAV to use instead of the ktuberling words),
//! `--quick` (or `WIDEN_BENCH_QUICK=1`: 5 s of input, 200 hops, one repeat, for smoke runs),
//! `--out FILE` (default `<target>/bench/pipeline.json`), `--merge A.json B.json ..` (no
//! measuring: concatenates the reports of earlier runs into `--out` and prints their tables). Without the `stage-timing` feature
//! the per-stage split is left out. Needs the ONNX Runtime library (`bash scripts/setup-ort.sh`)
//! and the real-speech test data (`scripts/setup-tests.sh`, or `WIDEN_TESTDATA`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use widen_core::config::enhance::PARALLEL_MIN_SECONDS;
use widen_core::config::{NARROW_BAND_RATE, SAMPLE_RATE};
use widen_core::dsp::resample;
use widen_core::engine::{
    engine_config_for, process_offline, Engine, EngineConfig, ParallelStream, Stage, StageTimes,
    StreamProcessor, Synthesis,
};
use widen_core::model::{ModelSet, Variant};
use widen_core::runtime::{init_ort, Device, OrtModel, SessionOptions};

/// Languages of the ktuberling package recorded at 8 kHz, concatenated in this order.
const NARROW_LANGS: [&str; 7] = ["es", "fi", "it", "nds", "nl", "pt", "sv"];
/// Block size of the offline runs (what `enhance_offline` uses).
const OFFLINE_BLOCK: usize = 1 << 16;
/// Offline output rate.
const OUTPUT_RATE: u32 = SAMPLE_RATE;
/// Frames per model call of `widen enhance` on long files.
const OFFLINE_CHUNK: usize = widen_core::config::enhance::CHUNK_FRAMES;
/// Smallest chunk `widen enhance` uses (short files).
const MIN_OFFLINE_CHUNK: usize = widen_core::config::enhance::MIN_CHUNK_FRAMES;
/// Frames per model call of the plugin and `widen live`: low-latency, quality.
const LIVE_CHUNK: usize = widen_core::config::plugin::CHUNK_FRAMES;
const LIVE_QUALITY_CHUNK: usize = widen_core::config::plugin::QUALITY_CHUNK_FRAMES;

struct Settings {
    quick: bool,
    /// `--merge A.json B.json ..`: only merge earlier reports into `out` and print them.
    merge: Vec<PathBuf>,
    threads: Vec<usize>,
    out: PathBuf,
    /// Seconds of input for the offline runs.
    seconds: f64,
    /// Timed offline runs per configuration (the median is reported).
    repeats: usize,
    /// Timed streaming hops per configuration (after warm-up).
    hops: usize,
    /// Streaming blocks run before timing starts.
    warmup_blocks: usize,
    /// `--input FILE`: the 8 kHz bench input (else the ktuberling words).
    input: Option<PathBuf>,
    /// Input lengths (s) of the scaling runs.
    scaling: Vec<f64>,
}

impl Settings {
    fn from_args() -> Self {
        let mut quick = std::env::var("WIDEN_BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut threads = vec![1];
        let mut out = None;
        let mut merge = Vec::new();
        let mut input = None;
        let mut args = std::env::args().skip(1).peekable();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--merge" => {
                    while let Some(p) = args.next_if(|p| !p.starts_with("--")) {
                        merge.push(PathBuf::from(p));
                    }
                }
                "--quick" => quick = true,
                "--threads" => {
                    let v = args.next().unwrap_or_default();
                    threads = v
                        .split(',')
                        .map(|t| match t.trim().parse::<usize>() {
                            Ok(n) if n >= 1 => n,
                            _ => panic!("--threads expects N[,M..] with N >= 1, found `{v}`"),
                        })
                        .collect();
                }
                "--out" => out = args.next().map(PathBuf::from),
                "--input" => input = args.next().map(PathBuf::from),
                // cargo bench passes --bench to every bench binary; filters are not supported.
                _ => {}
            }
        }
        let out = out.unwrap_or_else(|| target_dir().join("bench/pipeline.json"));
        Self {
            quick,
            merge,
            threads,
            out,
            seconds: if quick { 5.0 } else { 60.0 },
            repeats: if quick { 1 } else { 5 },
            hops: if quick { 200 } else { 2000 },
            warmup_blocks: if quick { 20 } else { 200 },
            input,
            scaling: if quick {
                vec![1.0, 2.0]
            } else {
                vec![1.0, 10.0, 60.0, 600.0]
            },
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `seconds` of real narrow-band speech: the 8 kHz ktuberling words, concatenated (repeated
/// if needed), as 8 kHz samples.
fn narrow_speech(seconds: f64) -> (Vec<f32>, usize) {
    let data = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache/testdata"))
        .join("ktuberling");
    let mut files = Vec::new();
    for lang in NARROW_LANGS {
        let dir = data.join(lang);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "real-speech test data missing at {}: {e}; run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
                dir.display()
            )
        });
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut clips = Vec::new();
    for f in &files {
        let audio = widen_core::io::read(f).unwrap_or_else(|e| panic!("{e}"));
        if audio.sample_rate == NARROW_BAND_RATE {
            clips.push(audio.to_mono());
        }
    }
    assert!(
        !clips.is_empty(),
        "no 8 kHz clips under {}: run scripts/setup-tests.sh",
        data.display()
    );
    let n = (seconds * NARROW_BAND_RATE as f64).round() as usize;
    let mut x = Vec::with_capacity(n);
    'fill: loop {
        for c in &clips {
            let take = (n - x.len()).min(c.len());
            x.extend_from_slice(&c[..take]);
            if x.len() == n {
                break 'fill;
            }
        }
    }
    (x, clips.len())
}

/// `seconds` of the 8 kHz mono WAV `path` (repeated if shorter).
fn file_speech(path: &Path, seconds: f64) -> Vec<f32> {
    let audio = widen_core::io::read(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        audio.sample_rate,
        NARROW_BAND_RATE,
        "{}: expected an {NARROW_BAND_RATE} Hz bench input, found {} Hz",
        path.display(),
        audio.sample_rate
    );
    repeat_to(
        &audio.to_mono(),
        (seconds * NARROW_BAND_RATE as f64).round() as usize,
    )
}

/// `x` repeated (or cut) to `n` samples.
fn repeat_to(x: &[f32], n: usize) -> Vec<f32> {
    assert!(!x.is_empty(), "empty bench input");
    x.iter().copied().cycle().take(n).collect()
}

fn models(set: &ModelSet, threads: usize) -> (OrtModel, OrtModel, Duration) {
    let t0 = Instant::now();
    let opts = SessionOptions {
        device: Device::Cpu,
        intra_op_threads: threads,
    };
    let (g, v) = set.instantiate(&opts).unwrap_or_else(|e| panic!("{e}"));
    (g, v, t0.elapsed())
}

fn engine(set: &ModelSet, cfg: EngineConfig, threads: usize, max_block: usize) -> Engine {
    let (g, v, _) = models(set, threads);
    Engine::new(cfg, Box::new(g), Some(Box::new(v)), max_block).unwrap_or_else(|e| panic!("{e}"))
}

fn synthesis_name(s: Synthesis) -> &'static str {
    match s {
        Synthesis::Vocoder => "vocoder",
        Synthesis::PhaseCopy => "phase-copy",
        Synthesis::GriffinLim { .. } => "griffin-lim",
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted `v`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Offline: `process_offline` on the whole input, `repeats` timed runs after one warm-up run.
/// The offline runner: one engine with `threads` ONNX Runtime threads, or (what `widen
/// enhance --threads N` runs on files of 10 s or more) N single-threaded engines on parallel
/// segments.
enum Runner {
    One(Box<Engine>),
    Segments(Box<ParallelStream>),
}

impl Runner {
    fn run(&mut self, x: &[f32]) -> Vec<f32> {
        match self {
            Runner::One(e) => process_offline(e, x).unwrap_or_else(|e| panic!("{e}")),
            Runner::Segments(s) => {
                let mut y = Vec::new();
                s.push(x, &mut y).unwrap_or_else(|e| panic!("{e}"));
                s.finish(&mut y).unwrap_or_else(|e| panic!("{e}"));
                y
            }
        }
    }

    fn clear_stage_times(&mut self) {
        match self {
            Runner::One(e) => e.clear_stage_times(),
            Runner::Segments(s) => s.clear_stage_times(),
        }
    }

    fn stage_times(&self) -> StageTimes {
        match self {
            Runner::One(e) => e.stage_times(),
            Runner::Segments(s) => s.stage_times(),
        }
    }
}

/// Offline enhancement of `x`, timed (median of `repeats` after a warm-up). `segments`: with
/// more than one thread, parallel segments as `widen enhance` runs them (stage times are then
/// CPU time summed over the engines).
fn offline(
    repeats: usize,
    set: &ModelSet,
    x: &[f32],
    threads: usize,
    synthesis: Synthesis,
    chunk: Option<usize>,
    segments: bool,
) -> Value {
    let mut cfg = engine_config_for(set, NARROW_BAND_RATE, OUTPUT_RATE);
    cfg.synthesis = synthesis;
    if let Some(c) = chunk {
        cfg.chunk_frames = c;
    }
    let chunk = cfg.chunk_frames;
    let parallel =
        segments && threads > 1 && x.len() as f64 >= PARALLEL_MIN_SECONDS * NARROW_BAND_RATE as f64;
    let t0 = Instant::now();
    let mut runner = if parallel {
        let engines = (0..threads)
            .map(|_| {
                let (g, v, _) = models(set, 1);
                Engine::new(cfg.clone(), Box::new(g), Some(Box::new(v)), OFFLINE_BLOCK)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        Runner::Segments(Box::new(
            ParallelStream::new(engines).unwrap_or_else(|e| panic!("{e}")),
        ))
    } else {
        let (g, v, _) = models(set, threads);
        Runner::One(Box::new(
            Engine::new(cfg, Box::new(g), Some(Box::new(v)), OFFLINE_BLOCK)
                .unwrap_or_else(|e| panic!("{e}")),
        ))
    };
    let load = t0.elapsed();
    let audio_s = x.len() as f64 / NARROW_BAND_RATE as f64;
    // Warm-up on the first seconds (both segments' engines when parallel): ORT's first runs
    // of each shape are slow.
    let warm = &x[..x.len().min(24 * NARROW_BAND_RATE as usize)];
    runner.run(warm);
    let mut runs: Vec<(f64, StageTimes)> = Vec::new();
    for _ in 0..repeats {
        runner.clear_stage_times();
        let t0 = Instant::now();
        let y = runner.run(x);
        let wall = t0.elapsed().as_secs_f64();
        assert!(y.iter().all(|v| v.is_finite()), "non-finite output");
        std::hint::black_box(&y);
        runs.push((wall, runner.stage_times()));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, times) = runs[runs.len() / 2];
    let per60 = 60.0 / audio_s;
    let mut stages = serde_json::Map::new();
    if StageTimes::ENABLED {
        for st in Stage::ALL {
            let t = times.get(st).as_secs_f64();
            stages.insert(
                st.name().into(),
                json!({ "ms_per_60s": t * 1e3 * per60, "share": t / wall }),
            );
        }
        let other = (wall - times.total().as_secs_f64()).max(0.0);
        stages.insert(
            "other".into(),
            json!({ "ms_per_60s": other * 1e3 * per60, "share": other / wall }),
        );
    }
    json!({
        "variant": set.sidecar().variant.as_str(),
        "synthesis": synthesis_name(synthesis),
        "threads": threads,
        "cpus": allowed_cpus(),
        "chunk_frames": chunk,
        "parallel_segments": parallel,
        "input_rate": NARROW_BAND_RATE,
        "output_rate": OUTPUT_RATE,
        "audio_seconds": audio_s,
        "repeats": repeats,
        "median_seconds": wall,
        "all_seconds": runs.iter().map(|r| r.0).collect::<Vec<_>>(),
        "ms_per_60s": wall * 1e3 * per60,
        "x_real_time": audio_s / wall,
        "model_load_ms": ms(load),
        "stages": stages,
    })
}

/// Streaming: `process_block` with `block`-sample blocks at `rate`, chunk_frames 1 (every
/// hop runs both models), timed per block after a warm-up.
fn streaming(
    s: &Settings,
    set: &ModelSet,
    narrow: &[f32],
    threads: usize,
    synthesis: Synthesis,
    (rate, block): (u32, usize),
    chunk: usize,
) -> Value {
    let mut cfg = engine_config_for(set, rate, rate);
    cfg.synthesis = synthesis;
    cfg.chunk_frames = chunk;
    let hop = cfg.mel.hop;
    let mut e = engine(set, cfg, threads, block);
    let latency = e.latency_samples();
    let x = resample(narrow, NARROW_BAND_RATE, rate).unwrap_or_else(|e| panic!("{e}"));
    // Enough blocks for `s.hops` model hops (a 48 kHz block of 128 is less than one hop).
    let core_per_block = block as f64 * SAMPLE_RATE as f64 / rate as f64;
    let blocks = (s.hops as f64 * hop as f64 / core_per_block).ceil() as usize;
    // Blocks that ran a model call (the engine's frame count moved): their times are the
    // per-call cost the real-time worker must fit in its margin.
    let mut call_us = Vec::new();
    let mut y = vec![0.0f32; block];
    let mut pos = 0;
    let mut next = |e: &mut Engine, y: &mut [f32]| {
        if pos + block > x.len() {
            pos = 0;
        }
        e.process_block(&x[pos..pos + block], y)
            .unwrap_or_else(|e| panic!("{e}"));
        pos += block;
    };
    for _ in 0..s.warmup_blocks {
        next(&mut e, &mut y);
    }
    let frames0 = e.stats().frames;
    e.clear_stage_times();
    let mut us = Vec::with_capacity(blocks);
    let t_all = Instant::now();
    // A model call shows as generator time (stage-timing feature) or, without the timers,
    // as new frames (exact for chunk 1).
    let progress = |e: &Engine| {
        if StageTimes::ENABLED {
            e.stage_times().get(Stage::Generator).as_nanos() as u64
        } else {
            e.stats().frames
        }
    };
    for _ in 0..blocks {
        let p0 = progress(&e);
        let t0 = Instant::now();
        next(&mut e, &mut y);
        let t = t0.elapsed().as_secs_f64() * 1e6;
        us.push(t);
        if progress(&e) != p0 {
            call_us.push(t);
        }
    }
    call_us.sort_by(f64::total_cmp);
    let calls = if call_us.is_empty() {
        json!(null)
    } else {
        json!({
            "count": call_us.len(),
            "p50": percentile(&call_us, 50.0),
            "p99": percentile(&call_us, 99.0),
            "max": call_us[call_us.len() - 1],
        })
    };
    let total = t_all.elapsed().as_secs_f64();
    let hops_run = e.stats().frames - frames0;
    assert_eq!(e.stats().underruns, 0, "streaming underrun");
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    us.sort_by(f64::total_cmp);
    let period_us = block as f64 / rate as f64 * 1e6;
    let times = e.stage_times();
    let mut stages = serde_json::Map::new();
    if StageTimes::ENABLED {
        for st in Stage::ALL {
            let t = times.get(st).as_secs_f64();
            stages.insert(
                st.name().into(),
                json!({ "us_per_hop": t * 1e6 / hops_run.max(1) as f64, "share": t / total }),
            );
        }
        let other = (total - times.total().as_secs_f64()).max(0.0);
        stages.insert(
            "other".into(),
            json!({ "us_per_hop": other * 1e6 / hops_run.max(1) as f64, "share": other / total }),
        );
    }
    json!({
        "variant": set.sidecar().variant.as_str(),
        "synthesis": synthesis_name(synthesis),
        "threads": threads,
        "cpus": allowed_cpus(),
        "rate": rate,
        "block": block,
        "hop_22k": hop,
        "chunk_frames": chunk,
        "call_us": calls,
        "latency_samples": latency,
        "latency_ms": latency as f64 / rate as f64 * 1e3,
        "blocks": blocks,
        "hops": hops_run,
        "block_us": {
            "p50": percentile(&us, 50.0),
            "p99": percentile(&us, 99.0),
            "max": us[us.len() - 1],
            "mean": mean,
        },
        "mean_us_per_hop": total * 1e6 / hops_run.max(1) as f64,
        "block_period_us": period_us,
        "mean_load": mean / period_us,
        "stages": stages,
    })
}

/// The floor: sinc resampling 8 kHz -> 22.05 kHz alone (what `dsp::resample` runs: the
/// quality filter, exact-phase polyphase),
/// median of `repeats` runs on the whole input.
fn floor(repeats: usize, x: &[f32]) -> Value {
    let audio_s = x.len() as f64 / NARROW_BAND_RATE as f64;
    let _ = resample(
        &x[..x.len().min(NARROW_BAND_RATE as usize)],
        NARROW_BAND_RATE,
        OUTPUT_RATE,
    );
    let mut runs = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        let y = resample(x, NARROW_BAND_RATE, OUTPUT_RATE).unwrap_or_else(|e| panic!("{e}"));
        runs.push(t0.elapsed().as_secs_f64());
        std::hint::black_box(&y);
    }
    runs.sort_by(f64::total_cmp);
    let wall = runs[runs.len() / 2];
    json!({
        "what": "sinc resampling 8 kHz -> 22.05 kHz (widen_core::dsp::resample, quality filter)",
        "cpus": allowed_cpus(),
        "audio_seconds": audio_s,
        "median_seconds": wall,
        "all_seconds": runs,
        "x_real_time": audio_s / wall,
    })
}

/// Algorithmic latency by impulse: the engine at `rate` in and out, `chunk` frames per call,
/// fed silence with one unit impulse; the output's largest magnitude marks the delay (the
/// impulse passes through the band splice's low band; the generated band adds energy above
/// the cutoff only). Compared with the `latency_samples()` the engine reports.
fn latency_impulse(set: &ModelSet, rate: u32, block: usize, chunk: usize) -> Value {
    let mut cfg = engine_config_for(set, rate, rate);
    cfg.chunk_frames = chunk;
    let mut e = engine(set, cfg, 1, block);
    let reported = e.latency_samples();
    let at = rate as usize / 2;
    let n = at + reported + 2 * rate as usize;
    let mut x = vec![0.0f32; n.div_ceil(block) * block];
    x[at] = 1.0;
    let mut y = vec![0.0f32; x.len()];
    for (xi, yi) in x.chunks(block).zip(y.chunks_mut(block)) {
        e.process_block(xi, yi).unwrap_or_else(|e| panic!("{e}"));
    }
    let peak = y
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i);
    let measured = peak as i64 - at as i64;
    json!({
        "variant": set.sidecar().variant.as_str(),
        "rate": rate,
        "block": block,
        "chunk_frames": chunk,
        "reported_samples": reported,
        "measured_samples": measured,
        "reported_ms": reported as f64 * 1e3 / rate as f64,
        "measured_ms": measured as f64 * 1e3 / rate as f64,
    })
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// `| a | b | ..` cells of each stage of `v["stages"]` (value key `key`).
fn stage_cells(v: &Value, key: &str) -> String {
    let cells: Vec<String> = Stage::ALL
        .iter()
        .map(|s| s.name())
        .chain(["other"])
        .map(|n| {
            let st = &v["stages"][n];
            format!("{:.1} ({:.1}%)", f(st, key), 100.0 * f(st, "share"))
        })
        .collect();
    cells.join(" | ")
}

/// Header and separator of a table with `lead` columns, then one per stage, then "total".
fn stage_header(lead: &[&str]) -> String {
    let names: Vec<&str> = lead
        .iter()
        .copied()
        .chain(Stage::ALL.iter().map(|s| s.name()))
        .chain(["other", "total"])
        .collect();
    format!("| {} |\n|{}", names.join(" | "), "---|".repeat(names.len()))
}

fn print_tables(offline: &[Value], chunks: &[Value], stream: &[Value]) {
    println!("\n### Offline: {} s of 8 kHz speech -> 22.05 kHz (process_offline, blocks of {OFFLINE_BLOCK})\n",
        offline.first().map_or(0.0, |v| f(v, "audio_seconds")));
    println!("| set | synthesis | threads | chunk | ms per 60 s (median) | x real time | model load ms |");
    println!("|---|---|---|---|---|---|---|");
    for v in offline.iter().chain(chunks) {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.0} |",
            v["variant"].as_str().unwrap_or("?"),
            v["synthesis"].as_str().unwrap_or("?"),
            v["threads"],
            v["chunk_frames"],
            f(v, "ms_per_60s"),
            f(v, "x_real_time"),
            f(v, "model_load_ms")
        );
    }
    let timed = offline.iter().all(|v| v["stages"].get("other").is_some());
    if timed && !offline.is_empty() {
        println!("\n### Per stage, offline: ms per 60 s of input (share of the wall time)\n");
        println!("{}", stage_header(&["set", "synthesis", "threads"]));
        for v in offline {
            println!(
                "| {} | {} | {} | {} | {:.1} |",
                v["variant"].as_str().unwrap_or("?"),
                v["synthesis"].as_str().unwrap_or("?"),
                v["threads"],
                stage_cells(v, "ms_per_60s"),
                f(v, "ms_per_60s")
            );
        }
    } else {
        println!("\n(per-stage split skipped: build with `--features stage-timing`)");
    }
    println!("\n### Streaming: process_block, chunk_frames 1 (every hop runs the models)\n");
    println!("| set | synthesis | threads | rate | block | hops | block p50 µs | p99 µs | max µs | mean µs | mean µs per hop | block period µs | latency ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for v in stream {
        let b = &v["block_us"];
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
            v["variant"].as_str().unwrap_or("?"),
            v["synthesis"].as_str().unwrap_or("?"),
            v["threads"],
            v["rate"],
            v["block"],
            v["hops"],
            f(b, "p50"),
            f(b, "p99"),
            f(b, "max"),
            f(b, "mean"),
            f(v, "mean_us_per_hop"),
            f(v, "block_period_us"),
            f(v, "latency_ms")
        );
    }
    if timed && !stream.is_empty() {
        println!("\n### Per stage, streaming: µs per hop (share of the wall time)\n");
        println!("{}", stage_header(&["set", "synthesis", "threads", "rate"]));
        for v in stream {
            println!(
                "| {} | {} | {} | {} | {} | {:.0} |",
                v["variant"].as_str().unwrap_or("?"),
                v["synthesis"].as_str().unwrap_or("?"),
                v["threads"],
                v["rate"],
                stage_cells(v, "us_per_hop"),
                f(v, "mean_us_per_hop")
            );
        }
    }
}

/// CPUs this process may run on (what `taskset` allowed), from /proc (Linux only).
fn allowed_cpus() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|s| s.trim().to_string())
}

/// Concatenates the result lists of earlier reports (e.g. the 1- and 2-thread runs, each
/// pinned differently) into one report.
fn merge(s: &Settings) {
    let mut merged = json!({
        "bench": "pipeline",
        "merged_from": s.merge.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "offline": [], "offline_chunk_sweep": [], "streaming": [], "threads": [],
        "offline_enhance": [], "scaling": [], "floor": [], "streaming_deployed": [],
        "latency_impulse": [],
    });
    for p in &s.merge {
        let text = std::fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
        let part: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a pipeline report: {e}", p.display()));
        for key in [
            "offline",
            "offline_chunk_sweep",
            "streaming",
            "threads",
            "offline_enhance",
            "scaling",
            "floor",
            "streaming_deployed",
            "latency_impulse",
        ] {
            if let (Some(dst), Some(src)) = (merged[key].as_array_mut(), part[key].as_array()) {
                dst.extend(src.iter().cloned());
            }
        }
        for key in ["quick", "stage_timing", "onnxruntime", "input"] {
            merged[key] = part[key].clone();
        }
    }
    let list = |k: &str| merged[k].as_array().cloned().unwrap_or_default();
    print_tables(
        &list("offline"),
        &list("offline_chunk_sweep"),
        &list("streaming"),
    );
    write_report(&s.out, &merged);
}

fn write_report(out: &Path, report: &Value) {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    let text = serde_json::to_string_pretty(report).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out, text + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    eprintln!("wrote {}", out.display());
}

fn main() {
    let s = Settings::from_args();
    if !s.merge.is_empty() {
        merge(&s);
        return;
    }
    let lib = init_ort().unwrap_or_else(|e| panic!("{e}"));
    let (x, n_clips) = match &s.input {
        Some(p) => (file_speech(p, s.seconds), 0),
        None => narrow_speech(s.seconds),
    };
    eprintln!(
        "pipeline bench: {} s of speech from {n_clips} clips, ONNX Runtime {}, cpus {}, threads {:?}{}",
        s.seconds,
        lib.display(),
        allowed_cpus().unwrap_or_else(|| "?".into()),
        s.threads,
        if s.quick { ", quick" } else { "" }
    );
    let sets: Vec<ModelSet> = [Variant::Quality, Variant::LowLatency]
        .into_iter()
        .map(|v| ModelSet::embedded(v).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let syntheses = [Synthesis::Vocoder, Synthesis::PhaseCopy];

    let mut off = Vec::new();
    let mut chunks = Vec::new();
    let mut stream = Vec::new();
    for &threads in &s.threads {
        for set in &sets {
            for &syn in &syntheses {
                let v = offline(s.repeats, set, &x, threads, syn, None, false);
                eprintln!(
                    "offline {} {} {threads}t: {:.1}x real time",
                    v["variant"],
                    v["synthesis"],
                    f(&v, "x_real_time")
                );
                off.push(v);
            }
        }
        // How the chunk size trades model calls against context recomputation.
        let chunk_list: &[usize] = if s.quick {
            &[64]
        } else {
            &[16, 64, 128, 256, 512, 1024]
        };
        for &c in chunk_list {
            let syn = engine_config_for(&sets[0], NARROW_BAND_RATE, OUTPUT_RATE).synthesis;
            chunks.push(offline(
                s.repeats,
                &sets[0],
                &x,
                threads,
                syn,
                Some(c),
                false,
            ));
        }
        let stream_x = &x[..x.len().min(20 * NARROW_BAND_RATE as usize)];
        for set in &sets {
            for &syn in &syntheses {
                for (rate, block) in [(SAMPLE_RATE, 256usize), (48_000, 128)] {
                    let v = streaming(&s, set, stream_x, threads, syn, (rate, block), 1);
                    eprintln!(
                        "streaming {} {} {threads}t {rate} Hz/{block}: mean {:.0} µs per hop",
                        v["variant"],
                        v["synthesis"],
                        f(&v, "mean_us_per_hop")
                    );
                    stream.push(v);
                }
            }
        }
    }
    print_tables(&off, &chunks, &stream);

    // What `widen enhance` runs: each set's default synthesis at the offline chunk size.
    let mut deployed_off = Vec::new();
    let mut scaling = Vec::new();
    let mut floors = Vec::new();
    let mut deployed_stream = Vec::new();
    for &threads in &s.threads {
        for set in &sets {
            let syn = engine_config_for(set, NARROW_BAND_RATE, OUTPUT_RATE).synthesis;
            let v = offline(s.repeats, set, &x, threads, syn, Some(OFFLINE_CHUNK), true);
            eprintln!(
                "offline (enhance) {} {threads}t: {:.1}x real time",
                v["variant"],
                f(&v, "x_real_time")
            );
            deployed_off.push(v);
            // Cost against input length (the 60 s input repeated or cut).
            for &len in &s.scaling {
                let xl = repeat_to(&x, (len * NARROW_BAND_RATE as f64) as usize);
                let reps = if len > 100.0 { 1 } else { s.repeats };
                // The chunk `widen enhance` picks for this length (cli/src/cmd_enhance.rs
                // `chunk_frames`): short files get smaller chunks, so less padding.
                let hop = set.mel_config().hop as f64;
                let chunk = ((len * SAMPLE_RATE as f64 / hop).ceil() as usize + 1)
                    .clamp(MIN_OFFLINE_CHUNK, OFFLINE_CHUNK);
                let mut v = offline(reps, set, &xl, threads, syn, Some(chunk), true);
                v["length_seconds"] = json!(len);
                v["stages"] = json!({});
                scaling.push(v);
            }
            // Streaming at the chunk the plugin and `widen live` use, 48 kHz / 128.
            let chunk = match set.sidecar().variant {
                Variant::Quality => LIVE_QUALITY_CHUNK,
                Variant::LowLatency => LIVE_CHUNK,
            };
            let stream_x = &x[..x.len().min(20 * NARROW_BAND_RATE as usize)];
            let mut v = streaming(&s, set, stream_x, threads, syn, (48_000, 128), chunk);
            v["stages"] = json!({});
            deployed_stream.push(v);
        }
        floors.push(json!({"threads": threads, "floor": floor(s.repeats, &x)}));
    }
    // Latency does not depend on threads: measured once, in the 1-thread run.
    let mut latency = Vec::new();
    for set in sets.iter().filter(|_| s.threads.contains(&1)) {
        let chunk = match set.sidecar().variant {
            Variant::Quality => LIVE_QUALITY_CHUNK,
            Variant::LowLatency => LIVE_CHUNK,
        };
        for (rate, block) in [(SAMPLE_RATE, 256usize), (48_000, 128)] {
            latency.push(latency_impulse(set, rate, block, chunk));
        }
    }

    let report = json!({
        "bench": "pipeline",
        "quick": s.quick,
        "threads": s.threads,
        "cpus_allowed": allowed_cpus(),
        "stage_timing": StageTimes::ENABLED,
        "onnxruntime": lib.display().to_string(),
        "input": {
            "source": "ktuberling 8 kHz words (es fi it nds nl pt sv), concatenated",
            "clips": n_clips,
            "seconds": s.seconds,
        },
        "offline": off,
        "offline_chunk_sweep": chunks,
        "streaming": stream,
        "offline_enhance": deployed_off,
        "scaling": scaling,
        "floor": floors,
        "streaming_deployed": deployed_stream,
        "latency_impulse": latency,
    });
    write_report(&s.out, &report);
}
