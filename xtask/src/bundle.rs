//! `cargo xtask bundle`: the CLAP and VST3 bundles of `widen-plugin`.
//!
//! ```text
//! <target>/bundle/widen.clap                                   the plugin (a shared object)
//! <target>/bundle/libonnxruntime.so                            beside it
//! <target>/bundle/widen.vst3/Contents/x86_64-linux/widen.so    the same plugin
//! <target>/bundle/widen.vst3/Contents/x86_64-linux/libonnxruntime.so
//! ```
//!
//! The plugin finds ONNX Runtime beside its own binary (it reads its mapping in
//! `/proc/self/maps`), so each bundle carries its copy; the default models are embedded in
//! the binary. Users copy `widen.clap` and `libonnxruntime.so` to `~/.clap/`, and the
//! `widen.vst3` folder to `~/.vst3/`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the bundles were written.
#[derive(Debug, Clone)]
pub struct Bundles {
    /// `<target>/bundle/widen.clap`.
    pub clap: PathBuf,
    /// `<target>/bundle/widen.vst3`.
    pub vst3: PathBuf,
}

/// Output folder of the bundles below `target`.
pub fn bundle_dir(target: &Path) -> PathBuf {
    target.join("bundle")
}

/// Builds `widen-plugin` with cargo `profile` (`release` for shipping; `test` builds fast with
/// optimised dependencies) and writes the bundles. `ort_lib` is the ONNX Runtime library file.
pub fn build(
    root: &Path,
    target: &Path,
    profile: &str,
    cargo: &str,
    ort_lib: &Path,
) -> Result<Bundles> {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-p", "widen-plugin", "--lib", "--profile", profile]);
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().context("cannot start cargo")?;
    if !status.success() {
        bail!("building widen-plugin failed with {status}");
    }
    // Cargo puts the dev and test profiles in `debug/`, others in a folder of their name.
    let dir = match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        p => p,
    };
    let so = target.join(dir).join("libwiden_plugin.so");
    if !so.is_file() {
        bail!(
            "expected the plugin library at {}, found none",
            so.display()
        );
    }
    if !ort_lib.is_file() {
        bail!(
            "expected the ONNX Runtime library at {}, found none (run `cargo xtask setup-ort`)",
            ort_lib.display()
        );
    }
    let out = bundle_dir(target);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let clap = out.join("widen.clap");
    copy(&so, &clap)?;
    copy(ort_lib, &out.join("libonnxruntime.so"))?;
    let vst3 = out.join("widen.vst3");
    let bin = vst3.join("Contents").join("x86_64-linux");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    copy(&so, &bin.join("widen.so"))?;
    copy(ort_lib, &bin.join("libonnxruntime.so"))?;
    eprintln!(
        "xtask: bundles in {}: widen.clap (+ libonnxruntime.so), widen.vst3/",
        out.display()
    );
    Ok(Bundles { clap, vst3 })
}

/// Copies through a temporary name so that a host that has the old file loaded keeps its
/// mapping (overwriting a mapped shared object in place crashes the process using it).
fn copy(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("tmp-xtask");
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("renaming to {}", to.display()))?;
    Ok(())
}
