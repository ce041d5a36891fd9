//! Pieces of `cargo xtask bench` that need no child processes: the bench inputs (real speech
//! at 8 kHz, written under `target/bench/input/`, never committed) and the report
//! (`docs/BENCHMARKS.md`, `docs/benchmarks.json`) assembled from the parts the benches wrote.
//! The orchestration (which bench runs where, pinned how) is in `main.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use widen_core::config::NARROW_BAND_RATE;
use widen_core::io::{Audio, SampleFormat};

/// Files found below `dir` (recursively) whose extension is in `exts`, sorted.
fn files_below(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Where the bench speech comes from, and the speech: `seconds` of 8 kHz mono, the clips of
/// `data/corpus/eval` (sorted by path) band-limited to 8 kHz and concatenated, or the 8 kHz
/// ktuberling words of the test data when the corpus is absent.
pub fn speech(root: &Path, seconds: f64) -> Result<(String, Vec<f32>)> {
    let n = (seconds * NARROW_BAND_RATE as f64).round() as usize;
    let corpus = root.join("data/corpus/eval");
    let testdata = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cache/testdata"))
        .join("ktuberling");
    let (source, files) = {
        let c = files_below(&corpus, &["flac", "wav"]);
        if c.is_empty() {
            let mut t = Vec::new();
            for lang in ["es", "fi", "it", "nds", "nl", "pt", "sv"] {
                t.extend(files_below(&testdata.join(lang), &["wav"]));
            }
            (
                format!("the 8 kHz ktuberling words ({})", testdata.display()),
                t,
            )
        } else {
            (
                "the clips of data/corpus/eval (unseen speakers and languages), sorted by path, band-limited to 8 kHz and concatenated".to_string(),
                c,
            )
        }
    };
    if files.is_empty() {
        bail!(
            "no bench speech: neither {} (cargo xtask corpus) nor {} (scripts/setup-tests.sh) holds audio",
            corpus.display(),
            testdata.display()
        );
    }
    let mut x = Vec::with_capacity(n);
    for f in &files {
        let a = widen_core::io::read(f).with_context(|| format!("reading {}", f.display()))?;
        let mono = a.to_mono();
        let mono = widen_core::dsp::resample(&mono, a.sample_rate, NARROW_BAND_RATE)
            .with_context(|| format!("resampling {}", f.display()))?;
        x.extend_from_slice(&mono);
        if x.len() >= n {
            break;
        }
    }
    if x.is_empty() {
        bail!("the bench speech files hold no samples");
    }
    // Short sources repeat.
    let x: Vec<f32> = x.iter().copied().cycle().take(n).collect();
    Ok((source, x))
}

/// Writes `x` repeated/cut to `seconds` as an 8 kHz 16-bit WAV at `path` (kept if it exists
/// with the right length).
pub fn write_len(path: &Path, x: &[f32], seconds: f64) -> Result<()> {
    let n = (seconds * NARROW_BAND_RATE as f64).round() as usize;
    if let Ok(info) = widen_core::io::probe(path) {
        if info.frames == Some(n as u64) && info.sample_rate == NARROW_BAND_RATE {
            return Ok(());
        }
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let audio = Audio {
        sample_rate: NARROW_BAND_RATE,
        channels: 1,
        samples: x.iter().copied().cycle().take(n).collect(),
    };
    widen_core::io::write(path, &audio, SampleFormat::I16)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads a JSON part (None when the file is absent).
pub fn read_part(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            Ok(Some(serde_json::from_str(&t).with_context(|| {
                format!("{}: not JSON", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// The widen offline figure (`offline_enhance` of the pipeline bench) for a set and thread count.
fn widen_offline<'a>(pipe: &'a Value, set: &str, threads: u64) -> Option<&'a Value> {
    pipe["offline_enhance"]
        .as_array()?
        .iter()
        .find(|v| v["variant"] == set && v["threads"] == threads)
}

fn torch_run<'a>(
    torch: &'a Value,
    pipeline: &str,
    set: Option<&str>,
    threads: u64,
) -> Option<&'a Value> {
    torch["runs"].as_array()?.iter().find(|v| {
        v["pipeline"] == pipeline && set.is_none_or(|st| v["set"] == st) && v["threads"] == threads
    })
}

fn fmt_x(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// Headline ratios and target checks from the merged report `r`.
pub fn headline(r: &Value) -> Value {
    let pipe = &r["pipeline"];
    let torch = &r["torch"];
    let mut rows = Vec::new();
    for set in ["quality", "low-latency"] {
        for threads in [1u64, 2] {
            let Some(w) = widen_offline(pipe, set, threads) else {
                continue;
            };
            let wx = num(&w["x_real_time"]);
            let seed = torch_run(torch, "seed", None, threads).map(|v| num(&v["x_real_time"]));
            let arch =
                torch_run(torch, "widen-arch", Some(set), threads).map(|v| num(&v["x_real_time"]));
            let arch_default = torch_run(torch, "widen-arch-default-resample", Some(set), threads)
                .map(|v| num(&v["x_real_time"]));
            let floor = arr(&pipe["floor"])
                .into_iter()
                .find(|f| f["threads"] == threads)
                .map(|f| num(&f["floor"]["x_real_time"]));
            rows.push(json!({
                "set": set,
                "threads": threads,
                "widen_x_real_time": wx,
                "seed_x_real_time": seed,
                "widen_arch_torch_x_real_time": arch,
                "floor_x_real_time": floor,
                "vs_seed": seed.map(|s| wx / s),
                "vs_widen_arch_torch": arch.map(|a| wx / a),
                "widen_arch_default_resample_x_real_time": arch_default,
                "vs_widen_arch_default_resample": arch_default.map(|a| wx / a),
                "share_of_floor_speed": floor.map(|f| wx / f),
            }));
        }
    }
    let q1 = rows
        .iter()
        .find(|v| v["set"] == "quality" && v["threads"] == 1);
    let low1 = rows
        .iter()
        .find(|v| v["set"] == "low-latency" && v["threads"] == 1);
    let min_of = |key: &str| -> Option<f64> {
        let v: Vec<f64> = rows.iter().filter_map(|r| r[key].as_f64()).collect();
        (!v.is_empty()).then(|| v.iter().copied().fold(f64::INFINITY, f64::min))
    };
    // Streaming at 1 thread, the slower set: p99 of the blocks that ran a model call, and that
    // divided by the frames (hops) each call produces.
    let deployed: Vec<Value> = arr(&pipe["streaming_deployed"])
        .into_iter()
        .filter(|v| v["threads"] == 1)
        .collect();
    let worst = |per_hop: bool| {
        deployed
            .iter()
            .filter_map(|v| {
                let c = v["call_us"]["p99"].as_f64()?;
                let chunk = v["chunk_frames"].as_f64().unwrap_or(1.0).max(1.0);
                Some(if per_hop { c / chunk } else { c })
            })
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let (hop_p99, call_p99) = (worst(true), worst(false));
    let mem: Vec<Value> = arr(&r["memory"]["enhance"]);
    let flat = {
        let peak = |mode: &str, pick: fn(f64, f64) -> bool| {
            mem.iter()
                .filter(|m| m["mode"] == mode && m["peak_rss_kib"].is_number())
                .fold(None, |acc: Option<(f64, f64)>, m| {
                    let (len, kib) = (num(&m["seconds"]), num(&m["peak_rss_kib"]));
                    match acc {
                        Some((l, k)) if !pick(len, l) => Some((l, k)),
                        _ => Some((len, kib)),
                    }
                })
        };
        let shortest = peak("quality", |a, b| a < b);
        let longest = peak("quality", |a, b| a > b);
        match (shortest, longest) {
            (Some((l0, k0)), Some((l1, k1))) if l1 > l0 => Some(json!({
                "shortest_seconds": l0, "shortest_kib": k0,
                "longest_seconds": l1, "longest_kib": k1,
                "ratio": k1 / k0,
            })),
            _ => None,
        }
    };
    let targets = json!({
        "vs_seed_at_least_10x": min_of("vs_seed").map(|v| json!({"value": v, "met": v >= 10.0})),
        "vs_widen_arch_torch_at_least_1_5x": min_of("vs_widen_arch_torch").map(|v| json!({"value": v, "met": v >= 1.5})),
        "one_core_at_least_50x_real_time": q1.zip(low1).map(|(q, l)| {
            let v = num(&q["widen_x_real_time"]).min(num(&l["widen_x_real_time"]));
            json!({"value": v, "met": v >= 50.0})
        }),
        "streaming_hop_p99_under_2ms": hop_p99.map(|v| json!({"value_us": v, "met": v < 2000.0})),
        "streaming_call_p99_under_2ms": call_p99.map(|v| json!({"value_us": v, "met": v < 2000.0})),
        "memory_flat_in_length": flat.map(|f| {
            let ok = num(&f["ratio"]) <= 1.25;
            let mut f = f;
            f["met"] = json!(ok);
            f
        }),
    });
    json!({ "rows": rows, "targets": targets })
}

/// The first markdown table in `md` (its contiguous `|` lines).
fn first_table(md: &str) -> Option<String> {
    let lines: Vec<&str> = md.lines().collect();
    let start = lines.iter().position(|l| l.trim_start().starts_with('|'))?;
    let end = lines[start..]
        .iter()
        .position(|l| !l.trim_start().starts_with('|'))
        .map_or(lines.len(), |e| start + e);
    Some(lines[start..end].join("\n"))
}

/// `docs/BENCHMARKS.md` from the merged report.
pub fn markdown(r: &Value, quality_md: Option<&str>) -> String {
    let mut m = String::new();
    let h = &r["headline"];
    let pipe = &r["pipeline"];
    let torch = &r["torch"];
    let meta = &r["meta"];
    let reused: Vec<&str> = meta["reused"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let kind = if meta["smoke"] == true {
        "**smoke run: short input, few repeats; figures are not meaningful**".to_string()
    } else if reused.is_empty() {
        "full run".to_string()
    } else {
        format!(
            "full run with `--reuse`: {} kept from an earlier run",
            reused.join(", ")
        )
    };
    let _ = writeln!(
        m,
        "# Benchmarks\n\nGenerated by `cargo xtask bench` ({kind}) on {} (commit {}). Do not edit by hand: re-run it.\n",
        s(&meta["date"]),
        s(&meta["commit"]),
    );
    let _ = writeln!(
        m,
        "Machine: {} ({} CPUs), load average before / after: {} / {}. {}\n\nInput: {:.0} s of real speech: {}. Every system runs on the same file in the same run; widen on ONNX Runtime ({}), PyTorch {} on CPU. One thread runs pinned to CPU 0 (`taskset -c 0`), two threads to CPUs 0-1. The machine is shared and noisy: read the **ratios**, measured minutes apart on the same machine, rather than the absolute times.\n",
        s(&meta["cpu"]),
        meta["cpus"],
        s(&meta["load_before"]),
        s(&meta["load_after"]),
        s(&meta["note"]),
        num(&meta["input_seconds"]),
        s(&meta["input_source"]),
        s(&pipe["onnxruntime"]).rsplit('/').next().unwrap_or("?"),
        s(&torch["torch"]),
    );

    // Headline.
    let _ = writeln!(m, "## Headline\n");
    let _ = writeln!(m, "Offline enhancement of the input, 8 kHz -> 22.05 kHz, x real time (higher is faster); widen = the engine `widen enhance` runs (each set's default synthesis, phase copy; {} frames per model call; with two threads, two single-threaded engines on parallel segments of the input, as `widen enhance --threads 2` cuts files of 10 s or more), timed in process like the PyTorch pipelines (model loading and file I/O excluded; the whole command is in [Whole command](#whole-command-widen-enhance)).\n", widen_core::config::enhance::CHUNK_FRAMES);
    let _ = writeln!(m, "| widen set | threads | widen | (a) seed pipeline, PyTorch | widen / (a) | (b) widen's architectures, PyTorch | widen / (b) | (b') as (b), torchaudio's default resampler | widen / (b') | sinc upsampling alone, widen's quality filter (floor) |");
    let _ = writeln!(m, "|---|---|---|---|---|---|---|---|---|---|");
    for row in arr(&h["rows"]) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | **{}** | {} | **{}** | {} | {} | {} |",
            s(&row["set"]),
            row["threads"],
            fmt_x(num(&row["widen_x_real_time"])),
            fmt_x(num(&row["seed_x_real_time"])),
            fmt_x(num(&row["vs_seed"])),
            fmt_x(num(&row["widen_arch_torch_x_real_time"])),
            fmt_x(num(&row["vs_widen_arch_torch"])),
            fmt_x(num(&row["widen_arch_default_resample_x_real_time"])),
            fmt_x(num(&row["vs_widen_arch_default_resample"])),
            fmt_x(num(&row["floor_x_real_time"])),
        );
    }
    let t = &h["targets"];
    let _ = writeln!(m, "\nTargets of issue 9:\n");
    let _ = writeln!(m, "| target | measured | verdict |\n|---|---|---|");
    let tv = |k: &str| t[k]["met"].as_bool();
    let _ = writeln!(m, "| widen offline at least 10x faster than the seed's pipeline (a) | {} (smallest ratio over sets and threads) | {} |", fmt_x(num(&t["vs_seed_at_least_10x"]["value"])), verdict(tv("vs_seed_at_least_10x")));
    let _ = writeln!(
        m,
        "| at least 1.5x faster than widen's architectures in PyTorch, same work (b) | {} (smallest over sets and threads) | {} |",
        fmt_x(num(&t["vs_widen_arch_torch_at_least_1_5x"]["value"])),
        verdict(tv("vs_widen_arch_torch_at_least_1_5x"))
    );
    let _ = writeln!(
        m,
        "| at least 50x real time on one core | {} (slower set) | {} |",
        fmt_x(num(&t["one_core_at_least_50x_real_time"]["value"])),
        verdict(tv("one_core_at_least_50x_real_time"))
    );
    let _ = writeln!(m, "| streaming hop p99 under 2 ms: p99 of the blocks that run a model call divided by the hops that call produces (48 kHz / 128, 1 thread, the worse set) | {:.0} µs | {} |", num(&t["streaming_hop_p99_under_2ms"]["value_us"]), verdict(tv("streaming_hop_p99_under_2ms")));
    // A stricter reading than the issue's, shown for context: a quality model call covers 8
    // hops, and what it must fit is the real-time wrapper's margin (a block or more), not 2 ms.
    let call_verdict = match tv("streaming_call_p99_under_2ms") {
        Some(true) => "under 2 ms (context, not a target)",
        Some(false) => "over 2 ms (context, not a target)",
        None => "not measured",
    };
    let _ = writeln!(m, "| for context, not a target: the same per model call (quality: 8 hops per call in the plugin and `widen live`; a call must fit the real-time wrapper's margin, at least one block, not one hop) | {:.0} µs | {call_verdict} |", num(&t["streaming_call_p99_under_2ms"]["value_us"]));
    let f = &t["memory_flat_in_length"];
    let _ = writeln!(m, "| memory flat in input length (peak RSS of `widen enhance`, longest / shortest input within 1.25x) | {:.0} s: {:.1} MiB, {:.0} s: {:.1} MiB ({:.2}x) | {} |\n", num(&f["shortest_seconds"]), num(&f["shortest_kib"]) / 1024.0, num(&f["longest_seconds"]), num(&f["longest_kib"]) / 1024.0, num(&f["ratio"]), verdict(tv("memory_flat_in_length")));

    // Speed detail.
    let _ = writeln!(m, "## Speed: offline, all systems\n");
    let _ = writeln!(
        m,
        "![x real time per system and thread count](bench/speed.png)\n"
    );
    let _ = writeln!(m, "| system | threads | seconds for the input (median) | x real time | runs | parameters |\n|---|---|---|---|---|---|");
    for v in arr(&pipe["offline_enhance"]) {
        let _ = writeln!(
            m,
            "| widen {} (ONNX Runtime, phase copy, chunk {}{}) | {} | {:.3} | {} | {} | |",
            s(&v["variant"]),
            v["chunk_frames"],
            if v["parallel_segments"] == true {
                ", one engine per thread on parallel segments"
            } else {
                ""
            },
            v["threads"],
            num(&v["median_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            v["repeats"]
        );
    }
    for v in arr(&pipe["offline"]) {
        let _ = writeln!(
            m,
            "| widen {} ({}, chunk {}) | {} | {:.3} | {} | {} | |",
            s(&v["variant"]),
            s(&v["synthesis"]),
            v["chunk_frames"],
            v["threads"],
            num(&v["median_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            v["repeats"]
        );
    }
    for v in arr(&torch["runs"]) {
        let name = if v["pipeline"] == "seed" {
            "(a) seed: SRResNet-16 + Vocos 22.05 kHz (PyTorch)".to_string()
        } else if v["pipeline"] == "widen-arch" {
            format!(
                "(b) widen {} architecture (PyTorch, widen's resampling filter)",
                s(&v["set"])
            )
        } else {
            format!(
                "(b') widen {} architecture (PyTorch, torchaudio's default resampler)",
                s(&v["set"])
            )
        };
        let _ = writeln!(
            m,
            "| {} | {} | {:.3} | {} | {} | {:.2} M |",
            name,
            v["threads"],
            num(&v["median_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            arr(&v["all_seconds"]).len(),
            num(&v["parameters"]) / 1e6
        );
    }
    for f in arr(&pipe["floor"]) {
        let v = &f["floor"];
        let _ = writeln!(
            m,
            "| sinc upsampling 8 -> 22.05 kHz alone (widen's quality filter) | {} (single-threaded code) | {:.3} | {} | {} | |",
            f["threads"],
            num(&v["median_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            arr(&v["all_seconds"]).len()
        );
    }
    if let Some(d) = r["dsp_baseline"].as_object() {
        let _ = writeln!(m, "| DSP bandwidth extension (`widen enhance --method translate`, whole command) | 1 | {:.3} | {} | 1 | |", num(&d["wall_seconds"].clone()), fmt_x(num(&d["x_real_time"].clone())));
    } else {
        let _ = writeln!(
            m,
            "\nDSP bandwidth extension: {}",
            r["dsp_baseline"].as_str().unwrap_or("not measured")
        );
    }
    let stages = [
        "input_resample",
        "analysis",
        "generator",
        "vocoder",
        "synthesis",
        "output_resample",
        "other",
    ];
    if arr(&pipe["offline_enhance"])
        .iter()
        .any(|v| v["stages"]["generator"].is_object())
    {
        let _ = writeln!(m, "\nWhere widen's offline time goes (ms per 60 s of input, share of the wall time; `stage-timing` timers; with two threads the stages are CPU time summed over the parallel engines, so shares can exceed 100 %):\n");
        let _ = writeln!(
            m,
            "| set | threads | {} |\n|---|---|{}",
            stages.join(" | "),
            "---|".repeat(stages.len())
        );
        for v in arr(&pipe["offline_enhance"]) {
            let cells: Vec<String> = stages
                .iter()
                .map(|st| {
                    let c = &v["stages"][*st];
                    format!(
                        "{:.0} ({:.0} %)",
                        num(&c["ms_per_60s"]),
                        100.0 * num(&c["share"])
                    )
                })
                .collect();
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                s(&v["variant"]),
                v["threads"],
                cells.join(" | ")
            );
        }
    }
    let _ = writeln!(m, "\nPyTorch pipelines (scripts/bench_torch.py, random weights, one whole-file call each after a warm-up): (a) the seed's pipeline at the seed's sizes: sinc resampling (torchaudio), Vocos mel features, a 16-block 64-channel SRResNet on the log-mel image, full-size Vocos (dim 512, intermediate 1536, 8 layers, ISTFT 1024/256); (b) widen's own generator sizes (quality 128 channels, 8 blocks; low-latency 64 channels, 6 blocks) with the same phase-copy synthesis and band splice, whole file at once (no chunks, no context recomputation), resampling the input with a filter of widen's length and roll-off (torchaudio `lowpass_filter_width=128, rolloff=0.947`, Kaiser: the same work); (b') the same with torchaudio's default resampling filter (6 zero crossings a side: a far shorter filter whose transition band lets images of 3.6-4 kHz through), for reference.\n");

    // Whole command.
    let _ = writeln!(m, "### Whole command: `widen enhance`\n");
    let _ = writeln!(m, "`widen enhance FILE --mode M --threads 1` pinned to CPU 0 (release build; model loading, decoding, analysis pass and writing included), with its peak resident memory (`/usr/bin/time -v`):\n");
    let _ = writeln!(
        m,
        "| mode | input | wall s | x real time | peak RSS MiB |\n|---|---|---|---|---|"
    );
    for v in arr(&r["memory"]["enhance"]) {
        let _ = writeln!(
            m,
            "| {} | {} s | {:.2} | {} | {:.1} |",
            s(&v["mode"]),
            v["seconds"],
            num(&v["wall_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            num(&v["peak_rss_kib"]) / 1024.0
        );
    }
    let _ = writeln!(
        m,
        "\n![time and memory against input length](bench/scaling.png)\n"
    );

    // Scaling.
    let _ = writeln!(m, "## Scaling: time against input length and threads\n");
    let _ = writeln!(m, "The engine (`process_offline`, each set's default synthesis, the chunk `widen enhance` picks for the length: up to {} frames) on the input repeated or cut to each length; cost per second of audio should not grow with length (short inputs pay the fixed cost of the models' context and the last chunk's padding).\n", widen_core::config::enhance::CHUNK_FRAMES);
    let _ = writeln!(m, "| set | threads | input s | chunk | seconds | x real time | ms per s of audio |\n|---|---|---|---|---|---|---|");
    for v in arr(&pipe["scaling"]) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {:.3} | {} | {:.2} |",
            s(&v["variant"]),
            v["threads"],
            v["length_seconds"],
            v["chunk_frames"],
            num(&v["median_seconds"]),
            fmt_x(num(&v["x_real_time"])),
            1e3 * num(&v["median_seconds"]) / num(&v["length_seconds"])
        );
    }
    let _ = writeln!(m, "\nThe chunk size trades model calls against context recomputation (quality set, phase copy, `offline_chunk_sweep` in the JSON):\n");
    let _ = writeln!(m, "| chunk frames | threads | x real time |\n|---|---|---|");
    for v in arr(&pipe["offline_chunk_sweep"]) {
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            v["chunk_frames"],
            v["threads"],
            fmt_x(num(&v["x_real_time"]))
        );
    }

    // Streaming.
    let _ = writeln!(m, "\n## Streaming cost\n");
    let _ = writeln!(m, "Engine `process_block` at 48 kHz with 128-sample blocks (period 2 667 µs) and the chunk the plugin and `widen live` use (low-latency 1 frame, quality 8 frames per model call): all blocks, the blocks that ran a model call, and the mean per 22.05 kHz hop.\n");
    let _ = writeln!(m, "| set | threads | chunk | block p50 µs | block p99 µs | model-call blocks | call p50 µs | call p99 µs | call max µs | mean µs per hop |\n|---|---|---|---|---|---|---|---|---|---|");
    for v in arr(&pipe["streaming_deployed"]) {
        let b = &v["block_us"];
        let c = &v["call_us"];
        let _ = writeln!(
            m,
            "| {} | {} | {} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            s(&v["variant"]),
            v["threads"],
            v["chunk_frames"],
            num(&b["p50"]),
            num(&b["p99"]),
            c["count"],
            num(&c["p50"]),
            num(&c["p99"]),
            num(&c["max"]),
            num(&v["mean_us_per_hop"])
        );
    }
    let _ = writeln!(m, "\nEvery hop running both models (chunk 1, `streaming` in the JSON), block and per-hop cost:\n");
    let _ = writeln!(m, "| set | synthesis | threads | rate / block | block p50 µs | p99 µs | mean µs per hop |\n|---|---|---|---|---|---|---|");
    for v in arr(&pipe["streaming"]) {
        let b = &v["block_us"];
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} / {} | {:.0} | {:.0} | {:.0} |",
            s(&v["variant"]),
            s(&v["synthesis"]),
            v["threads"],
            v["rate"],
            v["block"],
            num(&b["p50"]),
            num(&b["p99"]),
            num(&v["mean_us_per_hop"])
        );
    }
    let _ = writeln!(m, "\nPlugin audio thread (`Processor::process`, 48 kHz / 128, real-time paced; inference on its worker thread):\n");
    let _ = writeln!(m, "| mode | process p50 µs | p99 µs | max µs | p99 share of the period | worker CPU (one core) | late blocks |\n|---|---|---|---|---|---|---|");
    for v in arr(&r["plugin"]) {
        let p = &v["process_us"];
        let _ = writeln!(
            m,
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} % | {:.1} % | {} of {} |",
            s(&v["mode"]),
            num(&p["p50"]),
            num(&p["p99"]),
            num(&p["max"]),
            100.0 * num(&v["p99_share_of_period"]),
            100.0 * num(&v["worker_cpu_share"]),
            v["late_blocks"],
            v["blocks"]
        );
    }
    let _ = writeln!(
        m,
        "\nDaemon (`widen live` on a JACK dummy server at 48 kHz, `scripts/bench-live.sh`):\n"
    );
    match r["live"].as_array() {
        Some(rows) if !rows.is_empty() => {
            let _ = writeln!(m, "| mode | period | daemon latency | end to end | CPU (one core) median / max | late blocks | xruns |\n|---|---|---|---|---|---|---|");
            for row in rows {
                let _ = writeln!(m, "{}", s(row));
            }
        }
        _ => {
            let _ = writeln!(m, "{}", r["live_note"].as_str().unwrap_or("not measured"));
        }
    }

    // Latency.
    let _ = writeln!(m, "\n## Latency\n");
    let _ = writeln!(m, "Algorithmic latency, reported and measured with a unit impulse (the position of the output's largest magnitude minus the impulse's):\n");
    let _ = writeln!(
        m,
        "| what | mode | rate / block | chunk | reported | measured |\n|---|---|---|---|---|---|"
    );
    for v in arr(&pipe["latency_impulse"]) {
        let _ = writeln!(
            m,
            "| engine | {} | {} / {} | {} | {} samples = {:.1} ms | {} samples = {:.1} ms |",
            s(&v["variant"]),
            v["rate"],
            v["block"],
            v["chunk_frames"],
            v["reported_samples"],
            num(&v["reported_ms"]),
            v["measured_samples"],
            num(&v["measured_ms"])
        );
    }
    for v in arr(&r["plugin"]) {
        let _ = writeln!(
            m,
            "| plugin | {} | 48000 / 128 | | {} samples = {:.1} ms | {} samples = {:.1} ms |",
            s(&v["mode"]),
            v["latency_samples"],
            num(&v["latency_ms"]),
            v["measured_latency_samples"],
            num(&v["measured_latency_ms"])
        );
    }
    let _ = writeln!(m, "\nAt 48 kHz the peak of the band-limited impulse, resampled 48 -> 22.05 -> 48 kHz, may fall a sample or two off the reported delay (fractional delay); the tests check the reported latency exactly on real signals (`tests/tests/plugin_*.rs`).");
    let _ = writeln!(m, "\nThe daemon's latency is in the daemon table above (its exactness against the measured delay is `tests/tests/live_jack.rs`).\n");

    // Memory.
    let _ = writeln!(m, "## Memory\n");
    let _ = writeln!(m, "Peak RSS of `widen enhance` by input length: see [Whole command](#whole-command-widen-enhance) (bounded: the file streams through in blocks). Plugin instance (resident memory growth from before the instance is made to after 10 s of processing, one mode per process; the whole bench process's peak beside it):\n");
    let _ = writeln!(
        m,
        "| mode | instance RSS MiB | process peak MiB |\n|---|---|---|"
    );
    for v in arr(&r["plugin"]) {
        let _ = writeln!(
            m,
            "| {} | {:.1} | {:.1} |",
            s(&v["mode"]),
            num(&v["instance_rss_kib"]) / 1024.0,
            num(&v["process_hwm_kib"]) / 1024.0
        );
    }

    // Quality.
    let _ = writeln!(m, "\n## Quality\n");
    match quality_md.and_then(first_table) {
        Some(t) => {
            let _ = writeln!(m, "From [QUALITY.md](QUALITY.md) (`cargo xtask quality`; `cargo xtask bench --with-quality` re-runs it):\n\n{t}\n");
        }
        None => {
            let _ = writeln!(m, "No quality report yet: run `cargo xtask quality` (it writes docs/QUALITY.md and docs/quality.json), or `cargo xtask bench --with-quality`.\n");
        }
    }

    let _ = writeln!(m, "## Reproduce\n\n```sh\ncargo xtask bench               # everything above: docs/BENCHMARKS.md, docs/benchmarks.json, docs/bench/*.png\ncargo xtask bench --smoke       # seconds: short input, few repeats (CI)\ncargo xtask bench --with-quality  # also re-runs cargo xtask quality first\n```\n\nParts (in `target/bench/`): `pipeline.json` (core/benches/pipeline.rs), `torch.json` (scripts/bench_torch.py), `plugin-*.json` (plugin/benches/process.rs), `enhance.json` (whole-command runs), `live.md` (scripts/bench-live.sh); Python environment: scripts/setup-bench.sh.");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({
            "pipeline": {
                "offline_enhance": [
                    {"variant": "quality", "threads": 1, "x_real_time": 100.0},
                    {"variant": "low-latency", "threads": 1, "x_real_time": 150.0},
                ],
                "floor": [{"threads": 1, "floor": {"x_real_time": 250.0}}],
                "streaming_deployed": [
                    {"variant": "quality", "threads": 1, "chunk_frames": 8, "call_us": {"p99": 4000.0}},
                    {"variant": "low-latency", "threads": 1, "chunk_frames": 1, "call_us": {"p99": 700.0}},
                ],
            },
            "torch": {"runs": [
                {"pipeline": "seed", "set": "seed", "threads": 1, "x_real_time": 2.0},
                {"pipeline": "widen-arch", "set": "quality", "threads": 1, "x_real_time": 80.0},
                {"pipeline": "widen-arch", "set": "low-latency", "threads": 1, "x_real_time": 75.0},
            ]},
            "memory": {"enhance": [
                {"mode": "quality", "seconds": 1.0, "peak_rss_kib": 40000.0},
                {"mode": "quality", "seconds": 3600.0, "peak_rss_kib": 60000.0},
            ]},
        })
    }

    #[test]
    fn headline_ratios_and_verdicts() {
        let h = headline(&report());
        let rows = h["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["vs_seed"], 50.0);
        assert_eq!(rows[0]["vs_widen_arch_torch"], 1.25);
        assert_eq!(rows[1]["vs_widen_arch_torch"], 2.0);
        assert_eq!(rows[0]["share_of_floor_speed"], 0.4);
        let t = &h["targets"];
        assert_eq!(t["vs_seed_at_least_10x"]["value"], 50.0);
        assert_eq!(t["vs_seed_at_least_10x"]["met"], true);
        // The smaller of the two ratios decides.
        assert_eq!(t["vs_widen_arch_torch_at_least_1_5x"]["value"], 1.25);
        assert_eq!(t["vs_widen_arch_torch_at_least_1_5x"]["met"], false);
        assert_eq!(t["one_core_at_least_50x_real_time"]["value"], 100.0);
        // Per hop: 4000 µs / 8 hops = 500 µs (met); per call 4000 µs (missed).
        assert_eq!(t["streaming_hop_p99_under_2ms"]["value_us"], 700.0);
        assert_eq!(t["streaming_hop_p99_under_2ms"]["met"], true);
        assert_eq!(t["streaming_call_p99_under_2ms"]["value_us"], 4000.0);
        assert_eq!(t["streaming_call_p99_under_2ms"]["met"], false);
        // 60000 / 40000 = 1.5 > 1.25: not flat.
        assert_eq!(t["memory_flat_in_length"]["ratio"], 1.5);
        assert_eq!(t["memory_flat_in_length"]["met"], false);
    }

    #[test]
    fn markdown_names_missing_parts() {
        let mut r = report();
        r["headline"] = headline(&r);
        let md = markdown(&r, None);
        assert!(
            md.contains("| quality | 1 | 100x | 2.00x | **50.0x** | 80.0x | **1.25x** |"),
            "{md}"
        );
        assert!(md.contains("run `cargo xtask quality`"));
        let md = markdown(
            &report(),
            Some("# Q\n\ntext\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nmore"),
        );
        assert!(md.contains("| a | b |\n|---|---|\n| 1 | 2 |\n"));
        assert!(md.contains("(full run) on"), "{md}");
        let mut r = report();
        r["meta"]["reused"] = serde_json::json!(["pipeline-1t.json", "live.md"]);
        let md = markdown(&r, None);
        assert!(
            md.contains(
                "(full run with `--reuse`: pipeline-1t.json, live.md kept from an earlier run)"
            ),
            "{md}"
        );
    }

    #[test]
    fn first_table_stops_at_the_first_non_table_line() {
        assert_eq!(
            first_table("x\n| a |\n| b |\ny\n| c |").as_deref(),
            Some("| a |\n| b |")
        );
        assert_eq!(first_table("no table"), None);
    }
}
