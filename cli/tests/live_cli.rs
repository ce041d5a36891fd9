//! `widen live` from the command line on a private JACK server (dummy backend): device
//! listing, bad device names, no server, refused rate/buffer (fallback reported), SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{error_lines, widen_env};

/// `jackd -n NAME --no-realtime -S -t 5000 -d dummy -r 48000 -p 256`, stopped on drop.
struct Jack(Child, String);

impl Jack {
    fn start(tag: &str) -> Self {
        let name = format!("widen-cli-{tag}-{}", std::process::id());
        let child = Command::new("jackd")
            .args([
                "-n",
                &name,
                "--no-realtime",
                "-S",
                "-t",
                "5000",
                "-d",
                "dummy",
                "-r",
                "48000",
                "-p",
                "256",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jackd (Debian package jackd2; run scripts/setup-tests.sh)");
        let j = Jack(child, name);
        // Ready when `widen live --list-devices` sees its ports.
        let t0 = Instant::now();
        while !widen_env(["live", "--list-devices", "--host", "jack"], &j.env())
            .stdout
            .contains("JACK Input")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "jackd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        j
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("JACK_DEFAULT_SERVER", self.1.as_str())]
    }
}

impl Drop for Jack {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn list_devices_on_jack() {
    let j = Jack::start("list");
    let r = widen_env(["live", "--list-devices", "--host", "jack"], &j.env());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("host JACK"), "{}", r.stdout);
    assert!(r.stdout.contains("\"JACK Input\""), "{}", r.stdout);
    assert!(r.stdout.contains("\"JACK Output\""), "{}", r.stdout);
}

#[test]
fn nonexistent_device_lists_the_available_ones() {
    let j = Jack::start("baddev");
    let r = widen_env(
        [
            "live",
            "--host",
            "jack",
            "--input",
            "no such mic",
            "--duration",
            "1",
        ],
        &j.env(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = error_lines(&r.stderr);
    assert_eq!(e.len(), 1, "{}", r.stderr);
    assert!(
        e[0].contains("no input device named \"no such mic\"")
            && e[0].contains("available input devices: \"JACK Input\""),
        "{}",
        e[0]
    );
}

#[test]
fn no_audio_server_is_a_clear_error() {
    let r = widen_env(
        ["live", "--host", "jack", "--duration", "1"],
        &[("JACK_DEFAULT_SERVER", "widen-no-such-server")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = error_lines(&r.stderr);
    assert_eq!(e.len(), 1, "{}", r.stderr);
    assert!(
        e[0].contains("no input device on host `JACK` (expected a running audio server"),
        "{}",
        e[0]
    );
}

#[test]
fn refused_rate_and_buffer_fall_back_and_say_so() {
    let j = Jack::start("fallback");
    let r = widen_env(
        [
            "live",
            "--host",
            "jack",
            "--rate",
            "44100",
            "--buffer",
            "128",
            "--duration",
            "1.5",
            "--stats-json",
        ],
        &j.env(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "fallback: input device \"JACK Input\" does not run at 44100 Hz; using 48000 Hz"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("refuses a 128-frame buffer (allowed 256..=256); using 256"),
        "{}",
        r.stderr
    );
    let started: serde_json::Value = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "started")
        .expect("a started line");
    assert_eq!(started["rate"], 48_000);
    assert_eq!(started["buffer_in"], 256);
    assert!(started["fallbacks"].as_array().unwrap().len() >= 2);
}

#[test]
fn bad_mix_is_refused() {
    let r = widen_env(["live", "--mix", "NaN"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(error_lines(&r.stderr)[0].contains("--mix: expected a finite gain >= 0, found NaN"));
}

#[test]
fn sigterm_stops_cleanly_with_status_lines() {
    let j = Jack::start("sigterm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_widen"))
        .args(["live", "--host", "jack", "--buffer", "256", "--stats-json"])
        .envs(j.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Two status lines: once a second.
    let mut statuses = Vec::new();
    let t0 = Instant::now();
    while statuses.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(20).saturating_sub(t0.elapsed()))
            .expect("status lines");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "status" {
            statuses.push(v);
        }
    }
    for k in [
        "latency_ms",
        "end_to_end_ms",
        "cpu_percent",
        "xruns",
        "late_blocks",
        "input_dbfs",
    ] {
        assert!(statuses[1][k].is_number(), "{k} missing: {}", statuses[1]);
    }
    assert_eq!(statuses[1]["state"], "running");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("\"event\":\"stopped\"")),
        "no stopped line: {rest:?}"
    );
}
