//! Debian DAWs' plugin scanners accept the bundles (both installed by
//! `scripts/setup-plugin.sh`): `qtractor_plugin_scan` (package `qtractor`) loads
//! `target/bundle/widen.clap` the way Qtractor does when it scans plugins and reports its ports
//! and parameters (Debian's build has no VST3 support); Ardour 7's `ardour-vst3-scanner`
//! (package `ardour`) indexes `target/bundle/widen.vst3`.

mod plugin_common;

use std::io::Write;
use std::process::{Command, Stdio};

use plugin_common::*;
use widen_plugin::params::{Kind, PARAMS};

fn scanner() -> std::path::PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/qtractor/qtractor_plugin_scan",
        "/usr/lib/qtractor/qtractor_plugin_scan",
    ];
    candidates
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("qtractor_plugin_scan not found in {candidates:?}: run scripts/setup-plugin.sh")
        })
}

#[test]
fn qtractor_plugin_scan_accepts_the_clap_bundle() {
    let clap = bundle_dir().join("widen.clap");
    let mut child = Command::new(scanner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The scanner reads "TYPE:path" lines on stdin and answers one line per plugin.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("CLAP:{}\n", clap.display()).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CLAP|"))
        .unwrap_or_else(|| panic!("no CLAP line from the scanner: {stdout:?}"));
    // CLAP|name|audio ins:outs|midi ins:outs|control ins:outs|flags|file|index|id
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(f[1], "widen", "{line}");
    assert_eq!(f[2], "2:2", "stereo by default: {line}");
    assert_eq!(f[3], "0:0", "{line}");
    let outs = PARAMS.iter().filter(|p| p.kind == Kind::ReadOnly).count();
    let ins = PARAMS.len() - outs;
    assert_eq!(f[4], format!("{ins}:{outs}"), "parameters: {line}");
    assert_eq!(f[6], clap.display().to_string());
}

#[test]
fn ardour_vst3_scanner_accepts_the_vst3_bundle() {
    let scanner = [
        "/usr/lib/ardour7/ardour-vst3-scanner",
        "/usr/lib/ardour8/ardour-vst3-scanner",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
    .unwrap_or_else(|| panic!("ardour-vst3-scanner not found: run scripts/setup-plugin.sh"));
    let lib_dir = scanner.parent().unwrap().to_path_buf();
    // Its cache goes to $HOME/.cache/ardour*/vst: keep it in a temporary home.
    let home = tempfile::tempdir().unwrap();
    let bundle = bundle_dir().join("widen.vst3");
    let out = Command::new(&scanner)
        .args(["-f", "-v"])
        .arg(&bundle)
        .env("LD_LIBRARY_PATH", &lib_dir)
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Found Plugin: widen"), "{text}");
    assert!(
        text.contains(r#"n_inputs="2" n_outputs="2""#),
        "stereo main buses expected: {text}"
    );
    assert!(text.contains(r#"category="Fx|Restoration""#), "{text}");
    assert!(
        text.contains(&format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}
