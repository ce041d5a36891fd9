//! widen_core::dsp against an independent reference (librosa/numpy fixtures made by
//! scripts/fixtures/dsp.py) and on real speech (ktuberling-data, see scripts/setup-tests.sh).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use widen_core::config::{MelConfig, MelScale};
use widen_core::dsp::{
    griffin_lim, resample, spectral_convergence, GriffinLimConfig, LogMel, MelFilterbank, Stft,
};

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// The fixture signal; must stay identical to `synthetic_signal()` in scripts/fixtures/dsp.py.
fn synthetic_signal() -> Vec<f32> {
    use std::f64::consts::PI;
    let mut state: u32 = 2024;
    (0..22050)
        .map(|i| {
            let t = i as f64 / 22050.0;
            let mut v = 0.3 * (2.0 * PI * 220.0 * t).sin();
            v += 0.2 * (2.0 * PI * 1234.5 * t).sin();
            v += 0.1 * (2.0 * PI * 5000.0 * t).sin();
            v += 0.2 * (2.0 * PI * (100.0 * t + 3950.0 * t * t)).sin();
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = (state >> 8) as f64 / 16_777_216.0;
            v += 0.05 * (2.0 * u - 1.0);
            v as f32
        })
        .collect()
}

#[derive(Deserialize)]
struct SparseRow {
    start: usize,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct MelFixture {
    sample_rate: u32,
    n_fft: usize,
    n_mels: usize,
    n_bins: usize,
    htk_no_norm: Vec<SparseRow>,
    slaney_area_norm: Vec<SparseRow>,
}

#[derive(Deserialize)]
struct SignalInfo {
    n: usize,
    sum: f64,
    sum_sq: f64,
    head: Vec<f64>,
}

#[derive(Deserialize)]
struct LogMelRef {
    n_mels: usize,
    n_frames: usize,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct StftFixture {
    signal: SignalInfo,
    n_fft: usize,
    hop: usize,
    win: usize,
    n_bins: usize,
    n_frames: usize,
    spot_frames: Vec<usize>,
    spot_re: Vec<Vec<f64>>,
    spot_im: Vec<Vec<f64>>,
    log_mel: LogMelRef,
}

fn dense(rows: &[SparseRow], n_bins: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() * n_bins];
    for (m, row) in rows.iter().enumerate() {
        for (j, v) in row.values.iter().enumerate() {
            out[m * n_bins + row.start + j] = *v;
        }
    }
    out
}

fn compare_filterbank(cfg: &MelConfig, rows: &[SparseRow], rel_tol: f64) {
    let fb = MelFilterbank::new(cfg).unwrap();
    let n_bins = fb.n_bins();
    let reference = dense(rows, n_bins);
    assert_eq!(fb.weights().len(), reference.len());
    let mut worst = (0.0f64, 0usize);
    for (i, (&w, &r)) in fb.weights().iter().zip(&reference).enumerate() {
        let err = (w as f64 - r).abs();
        assert!(
            err <= 1e-6 && err <= rel_tol * r.abs() + 1e-9,
            "{:?}/area_norm={}: weight [{}][{}] = {w}, librosa {r}",
            cfg.scale,
            cfg.area_norm,
            i / n_bins,
            i % n_bins
        );
        if err > worst.0 {
            worst = (err, i);
        }
    }
    eprintln!(
        "{:?}/area_norm={}: max |w - librosa| = {:.2e}",
        cfg.scale, cfg.area_norm, worst.0
    );
}

#[test]
fn mel_filters_match_librosa_htk_no_norm() {
    let fx: MelFixture = fixture("dsp_mel_filters.json");
    let cfg = MelConfig::default();
    assert_eq!(
        (fx.sample_rate, fx.n_fft, fx.n_mels, fx.n_bins),
        (cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.n_bins())
    );
    assert_eq!((cfg.scale, cfg.area_norm), (MelScale::Htk, false));
    compare_filterbank(&cfg, &fx.htk_no_norm, 1e-5);
}

#[test]
fn mel_filters_match_librosa_slaney_area_norm() {
    let fx: MelFixture = fixture("dsp_mel_filters.json");
    let cfg = MelConfig {
        scale: MelScale::Slaney,
        area_norm: true,
        ..MelConfig::default()
    };
    compare_filterbank(&cfg, &fx.slaney_area_norm, 1e-5);
}

#[test]
fn synthetic_signal_matches_python() {
    let fx: StftFixture = fixture("dsp_stft_logmel.json");
    let x = synthetic_signal();
    assert_eq!(x.len(), fx.signal.n);
    for (i, (&a, &b)) in x.iter().zip(&fx.signal.head).enumerate() {
        assert_eq!(a as f64, b, "sample {i}");
    }
    let sum: f64 = x.iter().map(|&v| v as f64).sum();
    let sum_sq: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
    assert!((sum - fx.signal.sum).abs() < 1e-9 * fx.signal.sum_sq);
    assert!((sum_sq - fx.signal.sum_sq).abs() < 1e-9 * fx.signal.sum_sq);
}

#[test]
fn stft_spot_frames_match_librosa() {
    let fx: StftFixture = fixture("dsp_stft_logmel.json");
    let stft = Stft::new(fx.n_fft, fx.hop, fx.win).unwrap();
    let spec = stft.forward(&synthetic_signal());
    assert_eq!((spec.n_bins, spec.n_frames), (fx.n_bins, fx.n_frames));
    let mut worst = 0.0f64;
    for (j, &t) in fx.spot_frames.iter().enumerate() {
        let frame = spec.frame(t).unwrap();
        // Tolerance relative to the frame's peak: f32 FFT rounding spreads over all bins.
        let peak = fx.spot_re[j]
            .iter()
            .zip(&fx.spot_im[j])
            .map(|(r, i)| r.hypot(*i))
            .fold(0.0, f64::max);
        for (k, c) in frame.iter().enumerate() {
            let (r, i) = (fx.spot_re[j][k], fx.spot_im[j][k]);
            let err = (c.re as f64 - r).hypot(c.im as f64 - i);
            worst = worst.max(err / peak);
            assert!(
                err <= 2e-6 * peak,
                "frame {t} bin {k}: {c} vs librosa {r}{i:+}i (peak {peak})"
            );
        }
    }
    eprintln!("STFT: max |X - librosa| / frame peak = {worst:.2e}");
}

#[test]
fn log_mel_matches_librosa() {
    let fx: StftFixture = fixture("dsp_stft_logmel.json");
    let lm = LogMel::new(MelConfig::default()).unwrap();
    let mel = lm.compute(&synthetic_signal());
    assert_eq!(
        (mel.n_mels, mel.n_frames),
        (fx.log_mel.n_mels, fx.log_mel.n_frames)
    );
    let mut worst = (0.0f64, 0usize);
    for (i, (&a, &b)) in mel.data.iter().zip(&fx.log_mel.data).enumerate() {
        let err = (a as f64 - b).abs();
        if err > worst.0 {
            worst = (err, i);
        }
    }
    let (m, t) = (worst.1 / mel.n_frames, worst.1 % mel.n_frames);
    eprintln!("log-mel: max |diff| = {:.2e} at mel {m} frame {t}", worst.0);
    assert!(
        worst.0 <= 1e-4,
        "log-mel differs from librosa by {} at mel {m} frame {t}",
        worst.0
    );
}

/// Root of the real-speech test data: `$WIDEN_TESTDATA` or `<workspace>/.cache/testdata`.
fn testdata() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata"));
    assert!(
        dir.join("ktuberling/fr").is_dir(),
        "real-speech test data missing at {}: run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        dir.display()
    );
    dir
}

/// Mono PCM16 WAV as f32 in [-1, 1), with its rate.
fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample),
        (1, 16),
        "{}",
        path.display()
    );
    let x = reader
        .samples::<i16>()
        .map(|s| s.map(|v| v as f32 / 32768.0))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()));
    (x, spec.sample_rate)
}

/// The first `n` French clips at `rate`, in name order (deterministic).
fn speech_clips(rate: u32, n: usize) -> Vec<(String, Vec<f32>)> {
    let dir = testdata().join("ktuberling/fr");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let (x, sr) = read_wav(&p);
        if sr == rate {
            out.push((p.display().to_string(), x));
            if out.len() == n {
                break;
            }
        }
    }
    assert_eq!(
        out.len(),
        n,
        "expected {n} clips at {rate} Hz in {}",
        dir.display()
    );
    out
}

#[test]
fn istft_round_trip_on_real_speech() {
    let stft = Stft::new(1024, 256, 1024).unwrap();
    let mut clips = speech_clips(44100, 4);
    clips.extend(speech_clips(22050, 2));
    for (name, x) in &clips {
        // Several lengths, including ones that are not a multiple of the hop.
        for len in [x.len(), x.len() * 2 / 3 + 1, 5000, 777] {
            let x = &x[..len.min(x.len())];
            let y = stft.inverse(&stft.forward(x), x.len()).unwrap();
            let err = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err <= 1e-5, "{name} ({} samples): max error {err}", x.len());
        }
    }
}

#[test]
fn griffin_lim_converges_on_real_speech() {
    let stft = Stft::new(1024, 256, 1024).unwrap();
    let mut report = Vec::new();
    for (name, x44) in speech_clips(44100, 2) {
        let x = resample(&x44, 44100, 22050).unwrap();
        let spec = stft.forward(&x);
        let mag = spec.magnitude();
        let sc = |iterations: usize, momentum: f32| {
            let cfg = GriffinLimConfig {
                iterations,
                momentum,
                seed: Some(0),
            };
            let y = griffin_lim(&mag, spec.n_frames, &stft, x.len(), &cfg).unwrap();
            spectral_convergence(&mag, spec.n_frames, &stft, &y).unwrap()
        };
        let fast: Vec<f32> = [0, 4, 8, 16, 32].iter().map(|&n| sc(n, 0.99)).collect();
        for w in fast.windows(2) {
            assert!(
                w[1] < w[0],
                "{name}: spectral convergence not decreasing: {fast:?}"
            );
        }
        let plain = sc(32, 0.0);
        report.push(format!(
            "{name}: momentum 0.99 {fast:?}, momentum 0 after 32: {plain}"
        ));
        assert!(
            fast[4] < 0.15,
            "{name}: spectral convergence after 32 iterations {} (bound 0.15)",
            fast[4]
        );
        assert!(
            fast[4] < plain,
            "{name}: momentum 0.99 gave {} after 32 iterations, momentum 0 gave {plain}",
            fast[4]
        );
    }
    eprintln!("{}", report.join("\n"));
}
