//! `widen vocoder-eval` (the seed's `vocoder_eval`): how well each synthesis rebuilds speech
//! from its true log-mel, the generator left out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::builder::TypedValueParser;
use serde::Serialize;
use widen_core::config::{MAX_EVAL_LAG, SAMPLE_RATE};
use widen_core::dsp::GriffinLimConfig;
use widen_core::engine::{enhance_offline, EngineConfig, Synthesis, TrueMel};
use widen_core::io::{quantize, write, Audio, SampleFormat};
use widen_core::metrics::Scores;
use widen_core::model::Variant;
use widen_core::runtime::Device;

use crate::batch::{self, Align};
use crate::models::{one_line, Models};
use crate::scoring::{self, Mean};

/// Score the synthesis alone: wide-band speech -> its log-mel -> synthesis -> audio, against
/// the original (the seed's `vocoder_eval`).
///
/// Every file of --hr-dir (searched recursively, any rate; scored at 22.05 kHz mono) is rebuilt
/// from its own log-mel by each synthesis the model set offers, in two forms:
///   pure     every bin synthesised (the seed's vocoder output);
///   spliced  the original below --cutoff, the synthesis above it, exactly as `widen enhance`
///            splices (what widen plays; phase copy exists only in this form).
/// Scores (LSD, LSD-HF, PESQ-WB, STOI, SNR) are of 16-bit output, like written files; the
/// speed column is the synthesis time per file (one thread per file).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of wide-band speech (22.05 kHz or higher).
    #[arg(long, value_name = "DIR")]
    hr_dir: PathBuf,
    /// Use at most N files (in sorted order).
    #[arg(long, value_name = "N")]
    max_files: Option<usize>,
    /// Also write each reconstruction as 16-bit WAV below --out (<system>/<relative path>.wav).
    #[arg(long)]
    save_recon: bool,
    /// Folder for --save-recon.
    #[arg(long, short, value_name = "DIR", default_value = "vocoder_eval")]
    out: PathBuf,
    /// Model folder (widen.json + generator.onnx + vocoder.onnx) instead of the embedded default.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Which embedded model set's vocoder and STFT settings.
    #[arg(long, value_enum, default_value_t = Mode::Quality, conflicts_with = "model")]
    mode: Mode,
    /// Splice point of the spliced rows (Hz): where narrow-band input ends.
    #[arg(long, value_name = "HZ", default_value_t = widen_core::config::model::DEFAULT_CUTOFF_HZ)]
    cutoff: f32,
    /// Griffin-Lim iterations.
    #[arg(long, value_name = "N", default_value_t = GriffinLimConfig::default().iterations,
          value_parser = clap::value_parser!(u32).range(1..=10_000).map(|v| v as usize))]
    griffin_iters: usize,
    /// Parallel files [default: all cores].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Print one JSON report on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Quality,
    LowLatency,
}

/// One reconstruction: a synthesis in one form.
#[derive(Debug, Clone, Copy)]
struct System {
    name: &'static str,
    synthesis: Synthesis,
    splice: bool,
}

fn systems(griffin_iters: usize) -> Vec<System> {
    let gl = Synthesis::GriffinLim {
        iterations: griffin_iters,
    };
    vec![
        System {
            name: "vocoder",
            synthesis: Synthesis::Vocoder,
            splice: false,
        },
        System {
            name: "griffin-lim",
            synthesis: gl,
            splice: false,
        },
        System {
            name: "vocoder+splice",
            synthesis: Synthesis::Vocoder,
            splice: true,
        },
        System {
            name: "griffin-lim+splice",
            synthesis: gl,
            splice: true,
        },
        System {
            name: "phase-copy+splice",
            synthesis: Synthesis::PhaseCopy,
            splice: true,
        },
    ]
}

/// Scores and synthesis time of one file under one system.
#[derive(Debug, Serialize)]
struct Run {
    system: &'static str,
    scores: Scores,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct FileResult {
    file: PathBuf,
    duration_s: f64,
    runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
struct Row {
    system: &'static str,
    mean: Mean,
    /// Audio seconds per synthesis second.
    realtime_factor: f64,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    model: String,
    cutoff_hz: f32,
    griffin_iters: usize,
    rows: Vec<Row>,
    files: Vec<&'a FileResult>,
    failed: Vec<(PathBuf, &'a str)>,
}

/// `x` as a 16-bit file would hold it.
fn as_16_bit(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| quantize(v, 16) as f32 / 32_768.0).collect()
}

fn recon_path(out: &Path, system: &str, hr_dir: &Path, file: &Path) -> PathBuf {
    let rel = file.strip_prefix(hr_dir).unwrap_or(file);
    out.join(system).join(rel).with_extension("wav")
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !args.hr_dir.is_dir() {
        bail!("--hr-dir {}: not a folder", args.hr_dir.display());
    }
    if !(args.cutoff.is_finite() && args.cutoff > 0.0) {
        bail!("--cutoff: expected a frequency in Hz > 0, found {}", args.cutoff);
    }
    let mut files = batch::audio_files(&args.hr_dir)
        .map_err(|e| anyhow::anyhow!("--hr-dir {}: {e}", args.hr_dir.display()))?;
    if let Some(n) = args.max_files {
        files.truncate(n);
    }
    if files.is_empty() {
        bail!("--hr-dir {}: no audio files found", args.hr_dir.display());
    }
    let variant = match args.mode {
        Mode::Quality => Variant::Quality,
        Mode::LowLatency => Variant::LowLatency,
    };
    let models = Models::load(args.model.as_deref(), variant, Device::Cpu, 1)?;
    let base = widen_core::engine::engine_config_for(&models.set, SAMPLE_RATE, SAMPLE_RATE);
    let systems = systems(args.griffin_iters);
    let config = |s: &System| EngineConfig {
        cutoff_hz: args.cutoff,
        amount: 1.0,
        synthesis: s.synthesis,
        splice: s.splice,
        ..base.clone()
    };
    // One bad setting is one error, not one per file.
    for s in &systems {
        let mut cfg = config(s);
        if matches!(cfg.synthesis, Synthesis::GriffinLim { .. }) {
            cfg.synthesis = Synthesis::PhaseCopy;
        }
        widen_core::engine::Engine::new(
            cfg,
            Box::new(TrueMel::new(base.mel.n_mels)),
            Some(Box::new(models.vocoder.clone())),
            1,
        )
        .map_err(|e| anyhow::anyhow!("settings do not fit the model set: {}", one_line(&e.to_string())))?;
    }
    let sidecar = models.set.sidecar();
    let model = format!("{} ({})", sidecar.name, models.set.sidecar_label());
    if !args.json {
        eprintln!(
            "model: {model}{}; {} files; cutoff {} Hz; Griffin-Lim {} iterations",
            if sidecar.provenance.trained {
                ""
            } else {
                " (untrained placeholder: its vocoder rows are not meaningful)"
            },
            files.len(),
            args.cutoff,
            args.griffin_iters
        );
    }

    let work = |path: &Path| -> Result<FileResult, String> {
        let x = scoring::load(path).map_err(|e| format!("{}: {}", path.display(), one_line(&format!("{e:#}"))))?;
        if x.len() < base.mel.n_fft {
            return Err(format!(
                "{}: too short to score (expected at least {} samples at 22.05 kHz, found {})",
                path.display(),
                base.mel.n_fft,
                x.len()
            ));
        }
        let mut runs = Vec::with_capacity(systems.len());
        for s in &systems {
            let started = Instant::now();
            let y = enhance_offline(
                &config(s),
                Box::new(TrueMel::new(base.mel.n_mels)),
                Some(Box::new(models.vocoder.clone())),
                &x,
            )
            .map_err(|e| format!("{}: {}: {}", path.display(), s.name, one_line(&e.to_string())))?;
            let seconds = started.elapsed().as_secs_f64();
            let y = as_16_bit(&y);
            if args.save_recon {
                let p = recon_path(&args.out, s.name, &args.hr_dir, path);
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                let audio = Audio {
                    sample_rate: SAMPLE_RATE,
                    channels: 1,
                    samples: y.clone(),
                };
                write(&p, &audio, SampleFormat::I16)
                    .map_err(|e| format!("{}: {}", p.display(), one_line(&e.to_string())))?;
            }
            let (_, scores) = scoring::score_pair(&x, &y, MAX_EVAL_LAG)
                .map_err(|e| format!("{}: {}: {}", path.display(), s.name, one_line(&format!("{e:#}"))))?;
            runs.push(Run {
                system: s.name,
                scores,
                seconds,
            });
        }
        Ok(FileResult {
            file: path.to_path_buf(),
            duration_s: x.len() as f64 / f64::from(SAMPLE_RATE),
            runs,
        })
    };
    let inputs = files.into_iter().map(batch::Input::File).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()?;
    let outcomes = pool.install(|| batch::process(inputs, work));

    let ok: Vec<&FileResult> = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).collect();
    let failed: Vec<(PathBuf, &str)> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (o.path.clone(), e.as_str())))
        .collect();
    for (_, e) in &failed {
        eprintln!("error: {e}");
    }
    let audio: f64 = ok.iter().map(|f| f.duration_s).sum();
    let rows: Vec<Row> = systems
        .iter()
        .enumerate()
        .map(|(i, s)| Row {
            system: s.name,
            mean: scoring::mean_of(ok.iter().map(|f| &f.runs[i].scores)),
            realtime_factor: audio / ok.iter().map(|f| f.runs[i].seconds).sum::<f64>().max(1e-9),
        })
        .collect();
    if args.json {
        let report = Report {
            model,
            cutoff_hz: args.cutoff,
            griffin_iters: args.griffin_iters,
            rows,
            files: ok,
            failed,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&rows)?;
    }
    Ok(if outcomes.iter().any(|o| o.result.is_err()) || outcomes.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(rows: &[Row]) -> Result<()> {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    let mut table = vec![[
        "system", "files", "LSD", "LSD-HF", "PESQ-WB", "STOI", "SNR dB", "x real time",
    ]
    .iter()
    .map(|h| (h.to_string(), Align::Left))
    .collect::<Vec<_>>()];
    for r in rows {
        let m = &r.mean;
        table.push(vec![
            (r.system.to_string(), Align::Left),
            (m.files.to_string(), Align::Right),
            (format!("{:.3}", m.lsd), Align::Right),
            (format!("{:.3}", m.lsd_hf), Align::Right),
            (opt(m.pesq_wb, 3), Align::Right),
            (opt(m.stoi, 3), Align::Right),
            (format!("{:.2}", m.snr_db), Align::Right),
            (format!("{:.1}", r.realtime_factor), Align::Right),
        ]);
    }
    batch::ignore_broken_pipe(batch::write_table(&table).map_err(Into::into))
}
