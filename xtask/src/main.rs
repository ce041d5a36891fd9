//! `cargo xtask <command>`: project automation that needs no extra tools beyond Rust and Python.
//!
//! - `setup`  installs what tests and demos need into `.cache/` (idempotent; see `scripts/setup-tests.sh`),
//!   including the ONNX Runtime library.
//! - `setup-ort` only the ONNX Runtime library into `.cache/onnxruntime/` (see `scripts/setup-ort.sh`).
//! - `gen-default-models` rewrites the untrained placeholder model sets in `models/default/`
//!   (deterministic: the same bytes every run; see [`xtask::default_models`]). widen-core embeds
//!   those files, so they must exist to build this command: restore them with
//!   `git checkout models/default` if they are gone.
//! - `gen-onnx-proto` regenerates `onnx/src/proto.rs` from `onnx/proto/onnx.proto` (rarely needed).
//! - `test`   `setup`, then `cargo test --workspace` (the README's test command; `.ci/run` calls it too).
//! - `demo`   `setup`, then runs the `widen` file tools on real recorded speech.
//! - `bundle` builds `widen-plugin` (release; `--profile P` to choose) into
//!   `target/bundle/widen.clap` and `target/bundle/widen.vst3/` with ONNX Runtime beside the
//!   binary (see [`xtask::bundle`]).
//! - `bench`  the benchmark of issue 9 (widen against the seed's PyTorch pipeline, widen's
//!   architectures in PyTorch and plain resampling; streaming cost, latency, memory, scaling),
//!   writing `docs/BENCHMARKS.md`, `docs/benchmarks.json` and `docs/bench/*.png`; `--smoke` is a
//!   seconds-long run of the same chain into `target/bench/report/`. See `fn bench` below.
//! - `soak`   the `widen live` soak of issue 8 (`tests/tests/live_soak.rs`, release build):
//!   10 minutes of speech through the daemon on a real-time JACK dummy server at a 256-frame
//!   period, failing on any late block, underrun or xrun a client caused; prints its figures.
//!   `--secs N` for another length. `.ci/run` runs it.
//! - `corpus` builds the training corpus `data/corpus/{train,eval}` from the registry packages in
//!   `xtask/corpus/sources.tsv` (needs `apt-get`, `dpkg-deb`, `tar`, `unzip`; see [`xtask::corpus`]).
//!   `--sources a,b` restricts, `--out DIR` moves the output, `--with-0ad` / `--with-tortoise` add
//!   the optional sources.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    // xtask lives in <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    // widen-train (tch) builds against the libtorch that scripts/setup-torch.sh installs.
    let torch = root().join(".cache/torch211/torch");
    if std::env::var_os("LIBTORCH").is_none() && torch.join("lib").is_dir() {
        c.env("LIBTORCH", torch);
    }
    c
}

fn setup() -> Result<()> {
    run(Command::new("bash").arg(root().join("scripts/setup-tests.sh")))
}

fn setup_torch() -> Result<()> {
    run(Command::new("bash").arg(root().join("scripts/setup-torch.sh")))
}

fn setup_ort() -> Result<()> {
    run(Command::new("bash").arg(root().join("scripts/setup-ort.sh")))
}

fn gen_onnx_proto() -> Result<()> {
    // The generator's deps (protox, prost-build) sit behind a feature so normal builds skip them.
    run(cargo().args([
        "run",
        "-p",
        "widen-onnx",
        "--features",
        "gen",
        "--bin",
        "gen-onnx-proto",
    ]))
}

fn demo() -> Result<()> {
    setup()?;
    run(cargo().args(["build", "--release", "-p", "widen"]))?;
    run(Command::new("bash").arg(root().join("scripts/demo.sh")))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `cargo <args>` pinned to `cpus` with `taskset` where it exists (unpinned otherwise).
fn pinned_cargo(cpus: &str) -> Command {
    if Path::new("/usr/bin/taskset").exists() {
        let mut c = Command::new("taskset");
        c.args(["-c", cpus])
            .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(root());
        c
    } else {
        eprintln!("xtask: taskset not found; benchmarks run unpinned");
        cargo()
    }
}

/// A command pinned to `cpus` with `taskset` where it exists (unpinned otherwise).
fn pinned(cpus: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    if Path::new("/usr/bin/taskset").exists() {
        let mut c = Command::new("taskset");
        c.args(["-c", cpus]).arg(program);
        c.current_dir(root());
        c
    } else {
        let mut c = Command::new(program);
        c.current_dir(root());
        c
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let o = cmd.output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// `cargo xtask bench [--smoke] [--with-quality] [--no-torch] [--no-live] [--reuse]`: the benchmark of
/// issue 9. Everything runs on the same machine, in the same run, on the same input (real
/// speech at 8 kHz, `xtask::bench::speech`):
///
/// 1. the DSP bench (criterion, CPU 0; not in the smoke run);
/// 2. the pipeline bench (`core/benches/pipeline.rs`) with 1 ONNX Runtime thread on CPU 0 and
///    2 threads on CPUs 0-1: offline speed, chunk sweep, scaling with input length, the
///    rubato floor, streaming per block and per model call, latency by impulse;
/// 3. the PyTorch pipelines (`scripts/bench_torch.py`, environment `scripts/setup-bench.sh`),
///    pinned the same way;
/// 4. `widen enhance` as a whole command on inputs of 1 s to 1 h: wall time and peak RSS;
/// 5. the plugin's audio thread (`plugin/benches/process.rs`), one process per mode;
/// 6. `widen live` on a JACK dummy server (`scripts/bench-live.sh`; skipped with a note
///    without jackd, and in the smoke run);
/// 7. the quality table from `docs/quality.json`/`docs/QUALITY.md` (`--with-quality` re-runs
///    `cargo xtask quality`).
///
/// `--reuse` keeps the parts an earlier run left in `<target>/bench/` (`pipeline-Nt.json`,
/// `torch-Nt.json`, `enhance.json`, `plugin-*.json`, `live.md`) and measures only the missing
/// ones: delete the parts a busy machine disturbed and re-run those alone.
///
/// The full run writes `docs/BENCHMARKS.md`, `docs/benchmarks.json` and `docs/bench/*.png`;
/// `--smoke` (`--quick`) runs everything short (seconds once built) and writes the same files
/// under `<target>/bench/report/` so that CI checks the whole chain without touching docs/.
fn bench(args: &[String]) -> Result<()> {
    let (mut smoke, mut with_quality, mut torch, mut live) = (false, false, true, true);
    let mut reuse = false;
    for a in args {
        match a.as_str() {
            "--smoke" | "--quick" => smoke = true,
            "--with-quality" => with_quality = true,
            "--no-torch" => torch = false,
            "--no-live" => live = false,
            "--reuse" => reuse = true,
            other => bail!(
                "cargo xtask bench: unknown option `{other}`; expected --smoke, --with-quality, --no-torch, --no-live or --reuse"
            ),
        }
    }
    setup_ort()?;
    let load_before = read_trim("/proc/loadavg");
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    // Python for the PyTorch pipelines and the plots.
    let setup = Command::new("bash")
        .arg(root().join("scripts/setup-bench.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run scripts/setup-bench.sh")?;
    if !setup.status.success() {
        bail!("scripts/setup-bench.sh failed ({})", setup.status);
    }
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_string();

    // Inputs (never committed): the speech, and the lengths of the whole-command runs.
    let secs = if smoke { 4.0 } else { 60.0 };
    let (source, speech) = xtask::bench::speech(&root(), secs)?;
    let input = out.join(format!("input/speech-{secs}s.wav"));
    xtask::bench::write_len(&input, &speech, secs)?;
    let lengths: &[f64] = if smoke {
        &[1.0, 2.0]
    } else {
        &[1.0, 10.0, 60.0, 600.0, 3600.0]
    };
    for &l in lengths {
        xtask::bench::write_len(&out.join(format!("input/len-{l}s.wav")), &speech, l)?;
    }

    // Build unpinned (compiling on one core is slow); the pinned runs below then only run.
    let pipeline = [
        "bench",
        "-p",
        "widen-core",
        "--features",
        "stage-timing",
        "--bench",
        "pipeline",
    ];
    run(cargo().args(["build", "--release", "-p", "widen"]))?;
    run(cargo().args(pipeline).args(["--bench", "dsp", "--no-run"]))?;
    run(cargo().args([
        "bench",
        "-p",
        "widen-plugin",
        "--bench",
        "process",
        "--no-run",
    ]))?;
    // A part kept from an earlier run (`--reuse`); the report names them.
    let reused = std::cell::RefCell::new(Vec::<String>::new());
    let kept = |part: &Path| {
        let k = reuse && part.exists();
        if k {
            eprintln!("xtask: reusing {}", part.display());
            let name = part.file_name().map_or_else(
                || part.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            reused.borrow_mut().push(name);
        }
        k
    };
    if !smoke && !reuse {
        run(pinned_cargo("0")
            .args(&pipeline[..5])
            .args(["--bench", "dsp"]))?;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let thread_runs: Vec<(usize, &str)> = [(1usize, "0"), (2, "0,1")]
        .into_iter()
        .filter(|&(t, _)| {
            let ok = t <= cpus;
            if !ok {
                eprintln!("xtask: {cpus} CPU(s) available; skipping the {t}-thread runs");
            }
            ok
        })
        .collect();

    // 2. Pipeline bench.
    let mut parts = Vec::new();
    for &(threads, cpu_list) in &thread_runs {
        let part = out.join(format!("pipeline-{threads}t.json"));
        if kept(&part) {
            parts.push(part);
            continue;
        }
        let mut c = pinned_cargo(cpu_list);
        c.args(pipeline)
            .args(["--", "--threads", &threads.to_string(), "--input"])
            .arg(&input)
            .arg("--out")
            .arg(&part);
        if smoke {
            c.arg("--quick");
        }
        run(&mut c)?;
        parts.push(part);
    }
    let mut c = cargo();
    c.args(pipeline).args(["--", "--merge"]).args(&parts);
    c.arg("--out").arg(out.join("pipeline.json"));
    run(&mut c)?;

    // 3. PyTorch.
    let mut torch_runs = Vec::new();
    let mut torch_version = serde_json::Value::Null;
    if torch {
        for &(threads, cpu_list) in &thread_runs {
            let part = out.join(format!("torch-{threads}t.json"));
            if kept(&part) {
                if let Some(v) = xtask::bench::read_part(&part)? {
                    torch_version = v["torch"].clone();
                    torch_runs.extend(v["runs"].as_array().cloned().unwrap_or_default());
                }
                continue;
            }
            let mut c = pinned(cpu_list, &python);
            c.arg(root().join("scripts/bench_torch.py"))
                .arg("--input")
                .arg(&input)
                .args(["--threads", &threads.to_string(), "--out"])
                .arg(&part);
            if smoke {
                c.args(["--seconds", "2", "--repeats", "1", "--seed-repeats", "1"]);
            }
            run(&mut c)?;
            if let Some(v) = xtask::bench::read_part(&part)? {
                torch_version = v["torch"].clone();
                torch_runs.extend(v["runs"].as_array().cloned().unwrap_or_default());
            }
        }
    }

    // 4. Whole command: wall time and peak RSS.
    let widen = target_dir().join("release/widen");
    let time_v = Path::new("/usr/bin/time").exists();
    if !time_v {
        eprintln!("xtask: /usr/bin/time not found; peak RSS of widen enhance not measured");
    }
    let enhance = |file: &Path, extra: &[&str], secs: f64| -> Result<serde_json::Value> {
        let y = out.join("output.wav");
        let _ = std::fs::remove_file(&y);
        let mut c = if time_v {
            let mut c = pinned("0", "/usr/bin/time");
            c.arg("-v").arg(&widen);
            c
        } else {
            pinned("0", &widen)
        };
        c.arg("enhance")
            .arg(file)
            .arg("-o")
            .arg(&y)
            .args(["--threads", "1"])
            .args(extra);
        eprintln!("xtask: running {c:?}");
        let t0 = std::time::Instant::now();
        let o = c.output().with_context(|| format!("cannot start {c:?}"))?;
        let wall = t0.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&y);
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            bail!("{c:?} failed ({}): {}", o.status, err.trim());
        }
        let rss = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse::<f64>().ok());
        Ok(serde_json::json!({
            "seconds": secs, "wall_seconds": wall, "x_real_time": secs / wall, "peak_rss_kib": rss,
        }))
    };
    let mut enh = Vec::new();
    let enh_part = out.join("enhance.json");
    if kept(&enh_part) {
        enh = serde_json::from_str(&std::fs::read_to_string(&enh_part)?)?;
    }
    for mode in ["quality", "low-latency"] {
        for &l in lengths {
            if !enh.is_empty() && enh.len() == 2 * lengths.len() {
                break;
            }
            let mut v = enhance(
                &out.join(format!("input/len-{l}s.wav")),
                &["--mode", mode],
                l,
            )?;
            v["mode"] = mode.into();
            enh.push(v);
        }
    }
    // The DSP bandwidth extension, where this build has it (`--method translate`).
    let dsp_baseline = match enhance(&input, &["--method", "translate"], secs) {
        Ok(v) => v,
        Err(e) => serde_json::Value::String(if e.to_string().contains("unexpected argument") {
            "not measured: this build's `widen enhance` has no `--method translate`".to_string()
        } else {
            format!("not measured: {e}")
        }),
    };
    std::fs::write(
        out.join("enhance.json"),
        serde_json::to_string_pretty(&enh)?,
    )?;

    // 5. Plugin, one process per mode.
    let mut plugin = Vec::new();
    for mode in ["low-latency", "quality"] {
        let part = out.join(format!("plugin-{mode}.json"));
        if kept(&part) {
            if let Some(v) = xtask::bench::read_part(&part)? {
                plugin.extend(v["plugin_process"].as_array().cloned().unwrap_or_default());
            }
            continue;
        }
        let mut c = cargo();
        c.args(["bench", "-p", "widen-plugin", "--bench", "process", "--"])
            .args(["--mode", mode, "--out"])
            .arg(&part);
        if smoke {
            c.args(["--seconds", "2"]);
        }
        run(&mut c)?;
        if let Some(v) = xtask::bench::read_part(&part)? {
            plugin.extend(v["plugin_process"].as_array().cloned().unwrap_or_default());
        }
    }

    // 6. Daemon on JACK dummy.
    let mut live_rows = Vec::new();
    let live_note = if smoke {
        "not run in the smoke run (`cargo xtask bench` runs scripts/bench-live.sh 15)".to_string()
    } else if !live {
        "skipped (--no-live)".to_string()
    } else if kept(&out.join("live.md")) {
        let text = std::fs::read_to_string(out.join("live.md"))?;
        live_rows = text
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| mode"))
            .map(|l| serde_json::Value::String(l.to_string()))
            .collect();
        "scripts/bench-live.sh 15 (kept from an earlier run, `--reuse`)".to_string()
    } else if output_of(Command::new("sh").args(["-c", "command -v jackd"])).is_none() {
        "not measured: jackd is not installed (run scripts/setup-live.sh, then cargo xtask bench)"
            .to_string()
    } else {
        let o = Command::new("bash")
            .arg(root().join("scripts/bench-live.sh"))
            .arg("15")
            .current_dir(root())
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot run scripts/bench-live.sh")?;
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        std::fs::write(out.join("live.md"), &text)?;
        live_rows = text
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| mode"))
            .map(|l| serde_json::Value::String(l.to_string()))
            .collect();
        if o.status.success() {
            "scripts/bench-live.sh 15".to_string()
        } else {
            format!("scripts/bench-live.sh failed ({})", o.status)
        }
    };

    // 7. Quality.
    if with_quality {
        run(cargo().args(["run", "--quiet", "-p", "xtask", "--", "quality"]))?;
    }
    let quality_md = std::fs::read_to_string(root().join("docs/QUALITY.md")).ok();
    let quality = xtask::bench::read_part(&root().join("docs/quality.json"))?;

    let pipe = xtask::bench::read_part(&out.join("pipeline.json"))?.unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mut report = serde_json::json!({
        "bench": "widen issue 9",
        "meta": {
            "smoke": smoke,
            "reused": reused.borrow().clone(),
            "date": output_of(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            "commit": output_of(Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(root())),
            "cpu": cpu,
            "cpus": cpus,
            "load_before": load_before,
            "load_after": read_trim("/proc/loadavg"),
            "note": "A shared VM: other jobs run beside the bench.",
            "input_seconds": secs,
            "input_source": source,
        },
        "pipeline": pipe,
        "torch": {"torch": torch_version, "runs": torch_runs},
        "memory": {"enhance": enh},
        "dsp_baseline": dsp_baseline,
        "plugin": plugin,
        "live": live_rows,
        "live_note": live_note,
        "quality": quality,
    });
    report["headline"] = xtask::bench::headline(&report);
    let (docs, png_dir) = if smoke {
        (out.join("report"), out.join("report/bench"))
    } else {
        (root().join("docs"), root().join("docs/bench"))
    };
    std::fs::create_dir_all(&png_dir)?;
    let json_path = docs.join("benchmarks.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    std::fs::write(
        docs.join("BENCHMARKS.md"),
        xtask::bench::markdown(&report, quality_md.as_deref()),
    )?;
    run(Command::new(&python)
        .arg(root().join("scripts/bench_plot.py"))
        .arg(&json_path)
        .arg(&png_dir))?;
    for p in [
        "BENCHMARKS.md",
        "benchmarks.json",
        "bench/speed.png",
        "bench/scaling.png",
    ] {
        if !docs.join(p).is_file() {
            bail!(
                "cargo xtask bench: {} was not written",
                docs.join(p).display()
            );
        }
    }
    eprintln!("xtask: wrote {}", docs.join("BENCHMARKS.md").display());
    Ok(())
}

/// `cargo xtask bundle [--profile P]`.
fn bundle(args: &[String]) -> Result<()> {
    let mut profile = "release".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--profile" => match it.next() {
                Some(p) => profile = p.clone(),
                None => bail!("--profile expects a cargo profile name, found nothing"),
            },
            other => bail!("unknown bundle option `{other}`; expected --profile P"),
        }
    }
    setup_ort()?;
    let ort = root().join(".cache/onnxruntime/libonnxruntime.so");
    let ort = std::fs::canonicalize(&ort).unwrap_or(ort);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    xtask::bundle::build(&root(), &target_dir(), &profile, &cargo, &ort).map(|_| ())
}

/// Builds the release `widen`, then regenerates docs/QUALITY.md and docs/quality.json
/// (`--smoke`: four test words, written below target/quality-smoke/).
fn quality(args: &[String]) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "widen"]))?;
    let widen = target_dir().join("release/widen");
    xtask::quality::run(&root(), &widen, &target_dir(), args)
}

/// `cargo xtask soak [--secs N]`: the ignored soak test, alone, in a release build (the test
/// profile's debug-level engine would need more CPU than the soak is meant to measure).
fn soak(args: &[String]) -> Result<()> {
    let mut secs = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => match it.next().map(|v| (v, v.parse::<f64>())) {
                Some((v, Ok(x))) if x > 0.0 => secs = Some(v.clone()),
                Some((v, _)) => {
                    bail!("soak --secs: expected a positive number of seconds, found `{v}`")
                }
                None => bail!("soak --secs: expected a number of seconds, found nothing"),
            },
            other => bail!("soak: unknown argument `{other}`; expected --secs N"),
        }
    }
    setup()?;
    let mut c = cargo();
    c.args([
        "test",
        "--release",
        "-p",
        "widen-tests",
        "--test",
        "live_soak",
        "--",
    ])
    .args(["--ignored", "--nocapture", "--test-threads", "1"]);
    if let Some(s) = secs {
        c.env("WIDEN_SOAK_SECS", s);
    }
    run(&mut c)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => {
            setup()?;
            // The plugin host tests load the shipped bundles.
            bundle(&[])?;
            run(cargo().args(["test", "--workspace"]).args(&args[1..]))
        }
        Some("setup-ort") => setup_ort(),
        Some("setup-torch") => setup_torch(),
        Some("gen-onnx-proto") => gen_onnx_proto(),
        Some("gen-default-models") => xtask::default_models::write_all(&root()),
        Some("demo") => demo(),
        Some("bench") => bench(&args[1..]),
        Some("bundle") => bundle(&args[1..]),
        Some("corpus") => xtask::corpus::run(&root(), &args[1..]),
        Some("quality") => quality(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some(other) => bail!("unknown xtask command `{other}`; expected one of: setup, setup-ort, setup-torch, gen-onnx-proto, gen-default-models, test, demo, bundle, bench, corpus, quality, soak"
        ),
        None => bail!("usage: cargo xtask <setup|setup-ort|setup-torch|gen-onnx-proto|gen-default-models|test|demo|bundle [--profile P]|bench [--smoke] [--with-quality] [--no-torch] [--no-live]|corpus [--sources a,b] [--out DIR] [--with-0ad] [--with-tortoise]|quality [--smoke] [--max-files N]|soak [--secs N]>"),
    }
}
