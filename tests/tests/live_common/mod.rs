//! Helpers of the `live_*` tests: a private JACK server (dummy backend), a harness JACK client
//! that plays a signal into the daemon and records what comes back, real band-limited speech,
//! and the daemon running in-process (the same `widen_daemon::run` the `widen live` command
//! calls).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use widen_daemon::daemon::{Event, Summary};
use widen_daemon::{HostChoice, LiveConfig, LiveModels, Mode, SessionInfo};

pub const RATE: u32 = 48_000;
pub const PERIOD: u32 = 256;

/// The real-speech test data: `$WIDEN_TESTDATA`, else `<workspace root>/.cache/testdata`.
/// Missing data fails the test (never a silent skip).
pub fn testdata_dir() -> PathBuf {
    let dir = match std::env::var_os("WIDEN_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent")
            .join(".cache")
            .join("testdata"),
    };
    assert!(
        dir.join("ktuberling").is_dir(),
        "test data not found at {} (set WIDEN_TESTDATA or run scripts/setup-tests.sh)",
        dir.display()
    );
    dir
}

/// About `secs` seconds of real French speech (ktuberling words), band-limited like a phone
/// line (each word resampled to 8 kHz, then the whole up to 48 kHz), peak 0.5.
pub fn band_limited_speech(secs: f64) -> Vec<f32> {
    let dir = testdata_dir().join("ktuberling").join("fr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    let mut narrow = Vec::new();
    for f in files {
        let a = widen_core::io::read(&f).unwrap();
        let mut mono = Vec::new();
        widen_core::io::mix_to_mono(&a.samples, a.channels, &mut mono);
        narrow.extend(widen_core::dsp::resample(&mono, a.sample_rate, 8_000).unwrap());
        narrow.extend(std::iter::repeat_n(0.0, 800));
        if narrow.len() as f64 >= secs * 8_000.0 {
            break;
        }
    }
    let mut x = widen_core::dsp::resample(&narrow, 8_000, RATE).unwrap();
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for v in &mut x {
        *v *= 0.5 / peak;
    }
    x
}

/// A JACK server of its own (dummy backend, no real-time scheduling), stopped on drop. Its
/// messages go to a log file ([`JackServer::xruns`] reads it).
pub struct JackServer {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// The server's own account of its xruns (from its log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerXruns {
    /// The dummy driver woke up after its cycle's deadline ("JackTimedDriver::Process XRun"):
    /// the server thread itself was late.
    pub driver: usize,
    /// A client had not finished its cycle in time ("... was not finished").
    pub client: usize,
}

impl JackServer {
    /// Starts `jackd -n NAME --no-realtime -S -t 5000 -d dummy -r 48000 -p PERIOD` and waits
    /// until it accepts clients. Synchronous mode (`-S`) with a long client timeout: on a busy
    /// machine the dummy driver's cycles run late (counted as xruns), but every client still
    /// runs every cycle, so the data path stays bit-exact (in the default asynchronous mode a
    /// late cycle can skip clients and corrupt the comparison).
    /// `WIDEN_JACK_RT=1` runs the server with real-time scheduling instead (`-R -P 70`; needs
    /// the right to use SCHED_FIFO, e.g. root or the `audio` group), as a live setup would.
    pub fn start(name: &str, period: u32) -> Self {
        let rt = std::env::var_os("WIDEN_JACK_RT").is_some_and(|v| v == "1");
        Self::start_sched(name, period, rt)
    }

    /// [`start`](Self::start) with (`rt`) or without real-time scheduling.
    pub fn start_sched(name: &str, period: u32, rt: bool) -> Self {
        let sched: &[&str] = if rt {
            &["-R", "-P", "70"]
        } else {
            &["--no-realtime"]
        };
        Self::start_with(name, period, &[sched, &["-S", "-t", "5000"]].concat())
    }

    fn start_with(name: &str, period: u32, flags: &[&str]) -> Self {
        let log = std::env::temp_dir().join(format!("{name}.jackd.log"));
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("create the server log {}: {e}", log.display()));
        let child = Command::new("jackd")
            .args(["-n", name])
            .args(flags)
            .args(["-d", "dummy", "-r"])
            .arg(RATE.to_string())
            .arg("-p")
            .arg(period.to_string())
            .stdout(
                log_file
                    .try_clone()
                    .unwrap_or_else(|e| panic!("server log {}: {e}", log.display())),
            )
            .stderr(log_file)
            .spawn()
            .expect("start jackd (Debian package jackd2; run scripts/setup-tests.sh)");
        let s = JackServer {
            name: name.to_string(),
            child: Some(child),
            log,
        };
        let t0 = Instant::now();
        loop {
            let opts = jack::ClientOptions::NO_START_SERVER | jack::ClientOptions::USE_EXACT_NAME;
            std::env::set_var("JACK_DEFAULT_SERVER", name);
            if jack::Client::new("probe", opts).is_ok() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "jackd {name} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether the server runs with real-time scheduling (it says so when it starts).
    pub fn is_realtime(&self) -> bool {
        self.log().contains("starting in realtime mode")
    }

    /// The xruns the server has logged so far.
    pub fn xruns(&self) -> ServerXruns {
        let log = self.log();
        ServerXruns {
            driver: log.matches("JackTimedDriver::Process XRun").count(),
            client: log.matches("was not finished").count(),
        }
    }

    /// Stops the server with SIGTERM (as a user or a service manager would) and waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let t0 = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if t0.elapsed() > Duration::from_secs(5) {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for JackServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The harness's JACK process callback.
type ProcessFn = Box<dyn FnMut(&jack::Client, &jack::ProcessScope) -> jack::Control + Send>;

struct HarnessState {
    go: AtomicBool,
    played: AtomicUsize,
}

/// A JACK client that plays `signal` into the daemon's input and records its output, from the
/// same cycle on: recorded sample `n` came out of the daemon while input sample `n` went in.
pub struct Harness {
    client: Option<jack::AsyncClient<(), jack::contrib::ClosureProcessHandler<(), ProcessFn>>>,
    state: Arc<HarnessState>,
    rec: rtrb::Consumer<f32>,
    pub recorded: Vec<f32>,
    len: usize,
}

impl Harness {
    /// Registers `harness` with one input and one output port; plays `signal` (once, or in a
    /// loop) after [`go`](Self::go).
    pub fn new(signal: Vec<f32>, looped: bool) -> Self {
        let opts = jack::ClientOptions::NO_START_SERVER;
        let (client, _) = jack::Client::new("harness", opts).expect("harness client");
        let out = client
            .register_port("out", jack::AudioOut::default())
            .unwrap();
        let inp = client
            .register_port("in", jack::AudioIn::default())
            .unwrap();
        let state = Arc::new(HarnessState {
            go: AtomicBool::new(false),
            played: AtomicUsize::new(0),
        });
        let (mut tx, rx) = rtrb::RingBuffer::new(RATE as usize * 30);
        let st = Arc::clone(&state);
        let len = signal.len();
        let (mut out, inp) = (out, inp);
        let mut pos = 0usize;
        let cb: ProcessFn = Box::new(move |_c, ps| {
            let o = out.as_mut_slice(ps);
            if !st.go.load(Ordering::Acquire) {
                o.fill(0.0);
                return jack::Control::Continue;
            }
            for y in o.iter_mut() {
                *y = if pos < len {
                    signal[pos]
                } else if looped {
                    signal[pos % len]
                } else {
                    0.0
                };
                pos += 1;
            }
            st.played.store(pos, Ordering::Release);
            let i = inp.as_slice(ps);
            let _ = tx.push_entire_slice(i);
            jack::Control::Continue
        });
        let client = client
            .activate_async((), jack::contrib::ClosureProcessHandler::new(cb))
            .expect("activate harness");
        Harness {
            client: Some(client),
            state,
            rec: rx,
            recorded: Vec::new(),
            len,
        }
    }

    fn client(&self) -> &jack::Client {
        self.client.as_ref().unwrap().as_client()
    }

    /// Connects harness:out -> the daemon's input ports and the daemon's output ports ->
    /// harness:in, and unplugs the daemon from the dummy system ports. Waits up to `timeout`
    /// for the daemon's ports to appear; a port that goes away while being wired (the daemon
    /// still opening its streams) makes it list and wire again.
    pub fn wire(&self, timeout: Duration) {
        let c = self.client();
        let t0 = Instant::now();
        loop {
            let ins = c.ports(Some("cpal_client_.*_in:"), None, jack::PortFlags::IS_INPUT);
            let outs = c.ports(
                Some("cpal_client_.*_out:"),
                None,
                jack::PortFlags::IS_OUTPUT,
            );
            if !ins.is_empty() && !outs.is_empty() {
                match self.try_wire(&ins, &outs) {
                    Ok(()) => return,
                    Err(e) => eprintln!("harness: wiring failed ({e}), trying again"),
                }
            }
            assert!(
                t0.elapsed() < timeout,
                "the daemon's JACK ports did not appear"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_wire(&self, ins: &[String], outs: &[String]) -> Result<(), jack::Error> {
        let c = self.client();
        // A retry finds the connections the failed try made.
        let connect = |a: &str, b: &str| match c.connect_ports_by_name(a, b) {
            Ok(()) | Err(jack::Error::PortAlreadyConnected(..)) => Ok(()),
            Err(e) => Err(e),
        };
        for p in ins {
            for sys in c.ports(Some("system:capture"), None, jack::PortFlags::IS_OUTPUT) {
                let _ = c.disconnect_ports_by_name(&sys, p);
            }
            connect("harness:out", p)?;
        }
        for p in outs {
            for sys in c.ports(Some("system:playback"), None, jack::PortFlags::IS_INPUT) {
                let _ = c.disconnect_ports_by_name(p, &sys);
            }
            connect(p, "harness:in")?;
        }
        Ok(())
    }

    /// Starts playing and recording.
    pub fn go(&self) {
        self.state.go.store(true, Ordering::Release);
    }

    /// Samples played so far.
    pub fn played(&self) -> usize {
        self.state.played.load(Ordering::Acquire)
    }

    /// Moves what was recorded so far into `recorded`.
    pub fn drain(&mut self) {
        let n = self.rec.slots();
        if let Ok(chunk) = self.rec.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            self.recorded.extend_from_slice(a);
            self.recorded.extend_from_slice(b);
            chunk.commit_all();
        }
    }

    /// Drops what was recorded so far; returns its peak |x|.
    pub fn discard(&mut self) -> f32 {
        let n = self.rec.slots();
        let mut peak = 0.0f32;
        if let Ok(chunk) = self.rec.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            peak = a.iter().chain(b).fold(0.0f32, |m, v| m.max(v.abs()));
            chunk.commit_all();
        }
        peak
    }

    /// Plays until `n` samples have gone out (draining the recording), or panics after `timeout`.
    pub fn run_until(&mut self, n: usize, timeout: Duration) {
        let t0 = Instant::now();
        while self.played() < n {
            assert!(
                t0.elapsed() < timeout,
                "harness stalled at {} of {n} samples",
                self.played()
            );
            self.drain();
            std::thread::sleep(Duration::from_millis(10));
        }
        self.drain();
    }

    /// Signal length.
    pub fn signal_len(&self) -> usize {
        self.len
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            // A dead server cannot deactivate; nothing else to do.
            let _ = c.deactivate();
        }
    }
}

/// The daemon running in-process on its own thread.
pub struct Daemon {
    pub stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Summary, widen_daemon::LiveError>>>,
    pub events: mpsc::Receiver<Event>,
}

impl Daemon {
    /// Loads the embedded models of `mode` and starts `run(cfg)`.
    pub fn start(cfg: LiveConfig, models: LiveModels) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let s = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut on = |e: Event| {
                if let Event::Log(m) = &e {
                    eprintln!("daemon: {m}");
                }
                let _ = tx.send(e);
            };
            widen_daemon::run(cfg, models.factory(), s, &mut on)
        });
        Daemon {
            stop,
            handle: Some(handle),
            events: rx,
        }
    }

    /// Waits for the next `Started` event.
    pub fn started(&self, timeout: Duration) -> SessionInfo {
        let t0 = Instant::now();
        loop {
            let left = timeout.saturating_sub(t0.elapsed());
            match self.events.recv_timeout(left) {
                Ok(Event::Started(i)) => return i,
                Ok(_) => {}
                Err(e) => panic!("daemon did not start within {timeout:?}: {e}"),
            }
        }
    }

    /// Whether the daemon thread is still running.
    pub fn alive(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops it and returns its summary.
    pub fn finish(mut self) -> Summary {
        self.stop.store(true, Ordering::Release);
        let h = self.handle.take().unwrap();
        h.join()
            .expect("daemon thread panicked")
            .expect("daemon failed")
    }

    /// The status reports received so far.
    pub fn statuses(&self) -> Vec<widen_daemon::StatusReport> {
        self.events
            .try_iter()
            .filter_map(|e| match e {
                Event::Status(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The low-latency models (ONNX Runtime, 1 thread).
pub fn models(mode: Mode) -> LiveModels {
    LiveModels::load(mode, None, 1)
        .expect("load models (run scripts/setup-tests.sh for ONNX Runtime)")
}

/// A JACK daemon config at the test period.
pub fn jack_config(mode: Mode, safety_ms: f64) -> LiveConfig {
    LiveConfig {
        host: HostChoice::Jack,
        buffer: Some(PERIOD),
        mode,
        safety_ms,
        ..LiveConfig::default()
    }
}

/// The lag (within `lo..=hi`) maximising the correlation of `rec[lag..]` with `reference`.
pub fn best_lag(rec: &[f32], reference: &[f32], lo: usize, hi: usize) -> usize {
    let n = reference.len().min(rec.len().saturating_sub(hi));
    let mut best = (f64::MIN, lo);
    for lag in lo..=hi {
        let c: f64 = (0..n)
            .map(|i| rec[lag + i] as f64 * reference[i] as f64)
            .sum();
        if c > best.0 {
            best = (c, lag);
        }
    }
    best.1
}
