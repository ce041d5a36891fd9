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
//! - `bench`  `cargo bench -p widen-core` pinned to one core where `taskset` exists.

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
    c
}

fn setup() -> Result<()> {
    run(Command::new("bash").arg(root().join("scripts/setup-tests.sh")))
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

fn bench(extra: &[String]) -> Result<()> {
    let mut c = if Path::new("/usr/bin/taskset").exists() {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "cargo"]);
        c.current_dir(root());
        c
    } else {
        cargo()
    };
    c.args(["bench", "-p", "widen-core"]).args(extra);
    run(&mut c)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => {
            setup()?;
            run(cargo().args(["test", "--workspace"]).args(&args[1..]))
        }
        Some("setup-ort") => setup_ort(),
        Some("gen-onnx-proto") => gen_onnx_proto(),
        Some("gen-default-models") => xtask::default_models::write_all(&root()),
        Some("demo") => demo(),
        Some("bench") => bench(&args[1..]),
        Some(other) => bail!("unknown xtask command `{other}`; expected one of: setup, setup-ort, gen-onnx-proto, gen-default-models, test, demo, bench"
        ),
        None => bail!("usage: cargo xtask <setup|setup-ort|gen-onnx-proto|gen-default-models|test|demo|bench>"),
    }
}
