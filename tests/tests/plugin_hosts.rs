//! A Debian DAW's plugin scanner accepts the CLAP bundle: `qtractor_plugin_scan` (from the
//! `qtractor` package, installed by `scripts/setup-plugin.sh`) loads `target/bundle/widen.clap`
//! the way Qtractor does when it scans plugins, and reports its ports and parameters.
//! (Debian's build of the scanner has no VST3 support; pedalboard covers VST3.)

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
