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
//! - `bench`  the DSP bench and the pipeline bench (1 thread on CPU 0, 2 threads on CPUs 0-1, via
//!   `taskset` where it exists), merged into `target/bench/pipeline.json`, then the plugin's
//!   audio-thread bench (`plugin/benches/process.rs`, `target/bench/plugin.json`); `--quick` is a smoke run
//!   (5 s of input, no DSP bench). See `core/benches/pipeline.rs`.
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

/// The DSP bench (criterion), then the pipeline bench with 1 intra-op thread on CPU 0 and with
/// 2 threads on CPUs 0-1, merged into `<target>/bench/pipeline.json` with one markdown report.
/// `--quick`: the pipeline bench's smoke mode (5 s input, 200 hops) and no DSP bench.
fn bench(args: &[String]) -> Result<()> {
    let mut quick = false;
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            other => {
                bail!("cargo xtask bench: unknown option `{other}`; expected --quick or nothing")
            }
        }
    }
    let pipeline = [
        "bench",
        "-p",
        "widen-core",
        "--features",
        "stage-timing",
        "--bench",
        "pipeline",
    ];
    // Build unpinned (compiling on one core is slow); the pinned runs below then only run.
    // The DSP bench gets the same features so that nothing is rebuilt (it does not use them).
    run(cargo().args(pipeline).args(["--bench", "dsp", "--no-run"]))?;
    if !quick {
        run(pinned_cargo("0")
            .args(&pipeline[..5])
            .args(["--bench", "dsp"]))?;
    }
    let out = target_dir().join("bench");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut parts = Vec::new();
    for (threads, cpu_list) in [(1usize, "0"), (2, "0,1")] {
        if threads > cpus {
            eprintln!("xtask: {cpus} CPU(s) available; skipping the {threads}-thread run");
            continue;
        }
        let part = out.join(format!("pipeline-{threads}t.json"));
        let mut c = pinned_cargo(cpu_list);
        c.args(pipeline)
            .args(["--", "--threads", &threads.to_string(), "--out"])
            .arg(&part);
        if quick {
            c.arg("--quick");
        }
        run(&mut c)?;
        parts.push(part);
    }
    let mut c = cargo();
    c.args(pipeline).args(["--", "--merge"]).args(&parts);
    c.arg("--out").arg(out.join("pipeline.json"));
    run(&mut c)?;
    // The plugin's audio-thread cost at 48 kHz / 128 (real-time paced, both quality modes).
    let mut c = cargo();
    c.args([
        "bench",
        "-p",
        "widen-plugin",
        "--bench",
        "process",
        "--",
        "--out",
    ])
    .arg(out.join("plugin.json"));
    if quick {
        c.args(["--seconds", "2"]);
    }
    run(&mut c)
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
        Some(other) => bail!("unknown xtask command `{other}`; expected one of: setup, setup-ort, setup-torch, gen-onnx-proto, gen-default-models, test, demo, bundle, bench, corpus, quality"
        ),
        None => bail!("usage: cargo xtask <setup|setup-ort|setup-torch|gen-onnx-proto|gen-default-models|test|demo|bundle [--profile P]|bench [--quick]|corpus [--sources a,b] [--out DIR] [--with-0ad] [--with-tortoise]|quality [--smoke] [--max-files N]>"),
    }
}
