//! `widen live --virtual-mic` on a headless PipeWire of its own (pipewire + wireplumber +
//! pipewire-pulse under dbus-run-session, private XDG_RUNTIME_DIR): "widen microphone" appears
//! in `pactl list sources`, a recording from it carries the enhanced signal while band-limited
//! speech plays into the daemon's input, and it disappears after SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::testdata_dir;
use widen_core::analysis::BandwidthAccumulator;
use widen_core::io::{write, Audio, SampleFormat};

const RATE: u32 = 48_000;
/// Gain on the generated band (`--mix`): see the daemon's arguments below.
const MIX: f32 = 1e5;

/// A private PipeWire session; torn down on drop.
struct PipeWire {
    runtime: tempfile::TempDir,
    session: Child,
}

impl PipeWire {
    fn start() -> Self {
        let runtime = tempfile::tempdir().unwrap();
        let dir = runtime.path();
        let mut perms = std::fs::metadata(dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(dir, perms).unwrap();
        // The shell stops its children on SIGTERM; dbus-run-session then exits with it.
        let script = format!(
            "echo $$ > {pid}; pipewire & a=$!; sleep 0.3; wireplumber & b=$!; pipewire-pulse & c=$!; \
             trap 'kill $c $b $a; wait; exit 0' TERM; wait",
            pid = dir.join("session.pid").display()
        );
        let session = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", &script])
            .env("XDG_RUNTIME_DIR", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-run-session (Debian packages dbus, pipewire, wireplumber, pipewire-pulse; run scripts/setup-tests.sh)");
        let pw = PipeWire { runtime, session };
        let t0 = Instant::now();
        while !pw.pactl(&["info"]).0 {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "pipewire-pulse did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pw
    }

    fn dir(&self) -> &Path {
        self.runtime.path()
    }

    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.env("XDG_RUNTIME_DIR", self.dir());
        c.env_remove("PULSE_SERVER");
        c
    }

    /// (success, stdout) of `pactl ARGS`.
    fn pactl(&self, args: &[&str]) -> (bool, String) {
        match self.cmd("pactl").args(args).output() {
            Ok(o) => (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            ),
            Err(_) => (false, String::new()),
        }
    }
}

impl Drop for PipeWire {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir().join("session.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
        let t0 = Instant::now();
        while self.session.try_wait().ok().flatten().is_none()
            && t0.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.session.kill();
        let _ = self.session.wait();
    }
}

/// Real French speech, each word resampled to 8 kHz (band-limited), the whole at 48 kHz.
fn band_limited_speech(secs: f64) -> Vec<f32> {
    let dir = testdata_dir().join("ktuberling").join("fr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    let mut narrow = Vec::new();
    for f in files.iter().cycle() {
        let a = widen_core::io::read(f).unwrap();
        let mut mono = Vec::new();
        widen_core::io::mix_to_mono(&a.samples, a.channels, &mut mono);
        narrow.extend(widen_core::dsp::resample(&mono, a.sample_rate, 8_000).unwrap());
        if narrow.len() as f64 >= secs * 8_000.0 {
            break;
        }
    }
    let mut x = widen_core::dsp::resample(&narrow, 8_000, RATE).unwrap();
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    x.iter_mut().for_each(|v| *v *= 0.5 / peak);
    x
}

/// Share of the long-term power above `hz`.
fn high_band_share(x: &[f32], hz: f64) -> f64 {
    let mut acc = BandwidthAccumulator::new(RATE);
    acc.push(x);
    let spec = acc.long_term_spectrum().expect("signal has energy");
    let bin_hz = RATE as f64 / (2 * (spec.len() - 1)) as f64;
    let total: f64 = spec.iter().sum();
    let high: f64 = spec
        .iter()
        .enumerate()
        .filter(|(k, _)| *k as f64 * bin_hz >= hz)
        .map(|(_, p)| p)
        .sum();
    high / total
}

#[test]
fn virtual_mic_appears_carries_the_enhanced_signal_and_is_removed_after_sigterm() {
    let pw = PipeWire::start();
    let tmp = tempfile::tempdir().unwrap();
    // The daemon's input: the monitor of a null sink the test plays speech into.
    let (ok, _) = pw.pactl(&[
        "load-module",
        "module-null-sink",
        "sink_name=test_in",
        "channels=1",
        "rate=48000",
    ]);
    assert!(ok, "could not create the test input sink");
    let speech = band_limited_speech(4.0);
    let wav = tmp.path().join("speech.wav");
    write(
        &wav,
        &Audio {
            sample_rate: RATE,
            channels: 1,
            samples: speech.clone(),
        },
        SampleFormat::F32,
    )
    .unwrap();

    let mut daemon = pw
        .cmd(env!("CARGO_BIN_EXE_widen"))
        .args([
            "live",
            "--host",
            "pulse",
            "--input",
            "test_in.monitor",
            "--virtual-mic",
            "--stats-json",
            // The test machine is shared: a late worker would play dry (no high band).
            "--safety-ms",
            "150",
            // The untrained placeholder models generate about 1e-12 of the power above 4.5 kHz,
            // below what a glitch adds; scaled by 1e5 their band is measurable.
            "--mix",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(daemon.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t0 = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30).saturating_sub(t0.elapsed()))
            .unwrap_or_else(|_| {
                let _ = daemon.kill();
                let mut err = String::new();
                let _ = daemon.stderr.take().unwrap().read_to_string(&mut err);
                panic!("daemon did not start: {err}")
            });
        if line.contains("\"event\":\"started\"") {
            break;
        }
    }
    let sources = pw.pactl(&["list", "sources"]).1;
    assert!(
        sources.contains("Description: widen microphone"),
        "no \"widen microphone\" in pactl list sources:\n{sources}"
    );

    // Record from the virtual mic while the speech plays into the daemon's input.
    let mut rec = pw
        .cmd("parec")
        .args([
            "-d",
            "widen_microphone",
            "--format=float32le",
            "--rate=48000",
            "--channels=1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rec_out = rec.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = rec_out.read_to_end(&mut bytes);
        bytes
    });
    let played = pw
        .cmd("paplay")
        .args(["-d", "test_in"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(played.success());
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &rec.id().to_string()])
        .status();
    let _ = rec.wait();
    let bytes = reader.join().unwrap();
    let recorded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    // SIGTERM: clean exit, the source is gone.
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait().unwrap();
    let mut err = String::new();
    let _ = daemon.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "daemon exit {status}: {err}");
    let sources = pw.pactl(&["list", "sources"]).1;
    assert!(
        !sources.contains("widen microphone"),
        "\"widen microphone\" still there after exit:\n{sources}"
    );
    let modules = pw.pactl(&["list", "short", "modules"]).1;
    assert!(
        !modules.contains("widen_out"),
        "modules left behind:\n{modules}"
    );

    let peak = recorded.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("daemon stderr:\n{err}");
    assert!(recorded.len() > RATE as usize * 2, "recording too short");
    assert!(
        peak > 0.05,
        "the virtual mic carried no speech (peak {peak})"
    );
    let hb_in = high_band_share(&speech, 4_500.0);
    // What the same engine gives offline for the same input.
    let models = widen_daemon::LiveModels::load(widen_daemon::Mode::LowLatency, None, 1).unwrap();
    let mut engine = models.engine(RATE, 1 << 14).unwrap();
    engine.set_amount(MIX);
    let offline = widen_core::engine::process_offline(&mut engine, &speech).unwrap();
    let hb_offline = high_band_share(&offline, 4_500.0);
    eprintln!("offline engine: share above 4.5 kHz {hb_offline:.2e}");
    let hb_out = high_band_share(&recorded, 4_500.0);
    eprintln!(
        "recorded {} samples, peak {peak:.3}; share of power above 4.5 kHz: input {hb_in:.2e}, virtual mic {hb_out:.2e}",
        recorded.len()
    );
    // The input has nothing above 4.5 kHz (resampler leakage only); the virtual mic carries the
    // engine's generated band, as much of it as the offline engine makes from the same input:
    // at least a third of it (the glitch-only level of the live stream, seen with the band
    // unscaled, is 30 times lower), at most 5 times (stream-start underruns add up to about 2x).
    assert!(
        hb_out > 1e3 * hb_in,
        "no generated high band: {hb_out:e} of the power above 4.5 kHz vs the input's {hb_in:e}"
    );
    assert!(
        hb_out > hb_offline / 3.0 && hb_out < hb_offline * 5.0,
        "high band {hb_out:e} vs the offline engine's {hb_offline:e}"
    );
}
