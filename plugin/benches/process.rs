//! Audio-thread cost of the plugin at 48 kHz with 128-sample blocks, in both quality modes.
//!
//! Runs the plugin's [`Processor`] (the code both front ends call) on real-time paced blocks of
//! synthetic speech-like input (a harmonic tone with a 4 kHz band limit and syllable-rate
//! envelope) for `--seconds` (default 10) per mode, and reports the `process` call's mean, p50,
//! p99 and max in µs, its share of the block period, the worker thread's CPU share of one core
//! (from `/proc/self/task/*/stat`), late blocks, the latency (reported, and measured with a
//! unit impulse), and the instance's resident memory (`VmRSS` growth from before the
//! instance is made to after the run; the process's `VmHWM` beside it). Writes
//! `<target>/bench/plugin.json` with `--out FILE`.
//!
//! `cargo bench -p widen-plugin --bench process [-- --seconds S --out FILE --mode quality|low-latency]`; also run by
//! `cargo xtask bench`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use widen_plugin::params::{ParamId, Params};
use widen_plugin::processor::{Processor, ProcessorConfig};

const RATE: f64 = 48_000.0;
const BLOCK: usize = 128;

/// CPU ticks (user + system) of every thread named `name` in this process.
fn thread_ticks(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            total += get(11) + get(12);
        }
    }
    total
}

/// `VmRSS` and `VmHWM` of this process in KiB (Linux; 0 elsewhere).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Delay of a unit impulse through `p` (paced blocks; the dry fallback has the same latency,
/// so a late worker does not change it): index of the largest output magnitude at or after the
/// impulse minus the impulse's. The impulse comes after one latency plus 0.25 s of silence, so
/// that the earlier signal has left the pipeline.
fn impulse_delay(p: &mut Processor, latency: usize) -> i64 {
    let at = latency + RATE as usize / 4;
    let n = (at + latency + RATE as usize / 2).div_ceil(BLOCK) * BLOCK;
    let mut x = vec![0.0f32; n];
    x[at] = 1.0;
    let mut y = vec![0.0f32; n];
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let start = Instant::now();
    for (k, (xb, yb)) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)).enumerate() {
        p.process(&[xb], &mut [yb], BLOCK);
        let due = start + period * (k as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let peak = y[at..]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i);
    peak as i64
}

fn signal(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE;
            let env = (0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin()).powi(2);
            let f0 = 140.0 + 30.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            let mut s = 0.0;
            let mut k = 1.0;
            while k * f0 < 3_800.0 {
                s += (2.0 * std::f64::consts::PI * k * f0 * t).sin() / k;
                k += 1.0;
            }
            (0.2 * env * s) as f32
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: f64 = arg("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let out = arg("--out");
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut results = Vec::new();
    // One mode per process gives each instance's memory without the other's freed pages.
    let modes: Vec<bool> = match arg("--mode").as_deref() {
        Some("quality") => vec![true],
        Some("low-latency") => vec![false],
        _ => vec![false, true],
    };
    for quality in modes {
        let (rss0, _) = rss_kib();
        let params = Arc::new(Params::default());
        params.set(ParamId::Quality, if quality { 1.0 } else { 0.0 });
        let mut p = Processor::new(
            ProcessorConfig {
                sample_rate: RATE,
                max_block: BLOCK,
                inputs: 1,
                outputs: 1,
            },
            params,
            Arc::new(AtomicBool::new(false)),
        );
        if let Some(why) = p.status() {
            eprintln!("plugin bench: cannot enhance ({why}); run `cargo xtask setup-ort`");
            std::process::exit(1);
        }
        let (rss1, _) = rss_kib();
        let blocks = (seconds * RATE / BLOCK as f64) as usize;
        let x = signal(blocks * BLOCK);
        let mut y = vec![0.0f32; BLOCK];
        let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
        // Warm-up: one second, paced.
        let warm = (RATE / BLOCK as f64) as usize;
        let start = Instant::now();
        for (k, b) in x.chunks(BLOCK).take(warm).enumerate() {
            p.process(&[b], &mut [&mut y], BLOCK);
            let due = start + period * (k as u32 + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let late0 = p.late_blocks();
        let ticks0 = thread_ticks("widen-engine");
        let mut times = Vec::with_capacity(blocks);
        let start = Instant::now();
        for (k, b) in x.chunks(BLOCK).enumerate() {
            let t = Instant::now();
            p.process(&[b], &mut [&mut y], BLOCK);
            times.push(t.elapsed().as_secs_f64() * 1e6);
            let due = start + period * (k as u32 + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let wall = start.elapsed().as_secs_f64();
        let worker = (thread_ticks("widen-engine") - ticks0) as f64 / ticks_per_s / wall;
        let late = p.late_blocks() - late0;
        let (rss2, hwm) = rss_kib();
        let lat = p.latency();
        let measured = impulse_delay(&mut p, lat);
        times.sort_by(f64::total_cmp);
        let pct = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let period_us = period.as_secs_f64() * 1e6;
        let mode = if quality { "quality" } else { "low-latency" };
        let latency_ms = p.latency() as f64 * 1e3 / RATE;
        println!(
            "| {mode} | {latency_ms:.1} ms ({} samples) | {mean:.1} | {:.1} | {:.1} | {:.1} | {:.2} % | {:.1} % | {late} |",
            p.latency(),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            100.0 * pct(0.99) / period_us,
            100.0 * worker,
        );
        results.push(serde_json::json!({
            "mode": mode,
            "rate": RATE,
            "block": BLOCK,
            "latency_samples": p.latency(),
            "latency_ms": latency_ms,
            "process_us": {"mean": mean, "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
            "p99_share_of_period": pct(0.99) / period_us,
            "worker_cpu_share": worker,
            "late_blocks": late,
            "blocks": blocks,
            "measured_latency_samples": measured,
            "measured_latency_ms": measured as f64 * 1e3 / RATE,
            "rss_before_kib": rss0,
            "rss_after_create_kib": rss1,
            "rss_after_run_kib": rss2,
            "instance_rss_kib": rss2.saturating_sub(rss0),
            "process_hwm_kib": hwm,
        }));
    }
    if let Some(path) = out {
        let doc = serde_json::json!({"plugin_process": results});
        if let Err(e) = std::fs::write(&path, doc.to_string()) {
            eprintln!("plugin bench: cannot write {path}: {e}");
        }
    }
}
