//! `widen enhance` (alias `infer`, the seed's name): narrow-band files in, wide-band files out,
//! through the streaming engine (DESIGN.md, "Signal path").
//!
//! Models are loaded once per run; files are processed one after the other, each channel by its
//! own engine (all engines share the two model sessions). Per file: an optional analysis pass
//! (automatic cutoff and bandwidth verdict), then reader -> engines -> writer in blocks of
//! [`BLOCK_FRAMES`], so memory stays bounded on hour-long files. Griffin-Lim is the exception:
//! it needs the whole signal in memory.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use clap::builder::TypedValueParser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use widen_core::analysis::{Bandwidth, BandwidthAccumulator, Verdict, DEFAULT_ENERGY_FRACTION};
use widen_core::config::enhance::{
    BLOCK_FRAMES, CHUNK_FRAMES, MIN_AUTO_CUTOFF_HZ, MIN_CHUNK_FRAMES, MIN_OUTPUT_RATE,
    PARALLEL_MIN_SECONDS, PASS_THROUGH_CUTOFF_HZ,
};
use widen_core::config::MAX_EVAL_LAG;
use widen_core::dsp::{GriffinLimConfig, StreamResampler};
use widen_core::engine::{
    enhance_offline, translate_offline, Engine, EngineConfig, EngineError, OfflineStream,
    ParallelStream, SegmentPlan, Synthesis,
};
use widen_core::io::{
    mix_to_mono, AudioError, AudioInfo, AudioReader, AudioWriter, Container, SampleFormat,
    WriteSpec, AUDIO_EXTENSIONS,
};
use widen_core::metrics::Scores;
use widen_core::model::{ModelSet, Synthesis as DefaultSynthesis, Variant};
use widen_core::runtime::Device;

use crate::batch::{expand_inputs, format_duration, Input};
use crate::models::{one_line, Models};
use widen_core::runtime::SharedModel;

use crate::scoring::{self, Index, Mean};

/// Enhance narrow-band speech: restore the missing high band (the seed's `infer`).
///
/// Inputs are files and/or folders (searched recursively for .wav/.flac/.ogg/.mp3; files named
/// `*_widen.*` inside folders are skipped, they are widen's own outputs). Each input becomes
/// `<stem>_widen.wav` next to it, or below the -o folder (keeping the path relative to an input
/// folder); with one input file, `-o out.wav` (or .flac) names the output itself. An input is
/// never overwritten.
///
/// Any input rate (8, 11.025, 16, 22.05, 44.1, 48 kHz, ...) and channel count; each channel is
/// enhanced separately. The output has the input's duration and runs at --output-rate (default:
/// the input rate, at least 22.05 kHz). Without --model, the embedded default model set is used
/// (--mode picks quality or low-latency); its sidecar (widen.json) gives the default vocoder,
/// amount and cutoff.
///
/// With --cutoff auto (the default) each file is analysed first (a second pass over the file):
/// the splice point is where its content ends, and a file that is already wide-band (content
/// above 7 kHz) is passed through, only resampled, with a note; --force enhances it anyway.
/// NaN/Inf input samples are replaced by 0 with a warning. Memory stays bounded on long files,
/// except with --vocoder griffin-lim, which holds the whole file in memory.
#[derive(Debug, clap::Args)]
#[command(visible_alias = "infer")]
pub struct Args {
    /// Input files or folders.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Output folder, or output file (.wav/.flac) when there is one input file.
    #[arg(short, long, value_name = "FILE|DIR")]
    output: Option<PathBuf>,
    /// Process at most N files (in sorted order).
    #[arg(long, value_name = "N")]
    max_files: Option<usize>,
    /// High-band synthesis [default: the model set's; phase-copy for the shipped sets until a trained vocoder ships]. vocos: the vocoder model;
    /// phase-copy: magnitude from the predicted mel, phase copied from the low band;
    /// griffin-lim: Griffin-Lim phase (whole file in memory).
    #[arg(long, value_enum)]
    vocoder: Option<VocoderArg>,
    /// Griffin-Lim iterations (with --vocoder griffin-lim).
    #[arg(long, value_name = "N", default_value_t = GriffinLimConfig::default().iterations,
          value_parser = clap::value_parser!(u32).range(1..=10_000).map(|v| v as usize))]
    griffin_iters: usize,
    /// Model folder (widen.json + generator.onnx + vocoder.onnx) instead of the embedded default.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Which embedded model set: quality (offline use) or low-latency.
    #[arg(long, value_enum, default_value_t = ModeArg::Quality, conflicts_with = "model")]
    mode: ModeArg,
    /// Where inference runs (cuda needs a build with the `cuda` feature and the GPU runtime).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// CPU threads. Files are processed one at a time; a file of 10 s or more is cut into
    /// segments that this many engines enhance in parallel (same output as one engine),
    /// shorter ones get one engine whose model calls use the threads.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256).map(|v| v as usize))]
    threads: usize,
    /// Output sample rate in Hz [default: max(input rate, 22050)].
    #[arg(long, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(8_000..=192_000))]
    output_rate: Option<u32>,
    /// Splice point: `auto` (detected per file) or a frequency in Hz; input content below it is
    /// kept exactly, the band above it is generated.
    #[arg(long, value_name = "auto|HZ", default_value = "auto", value_parser = parse_cutoff)]
    cutoff: CutoffArg,
    /// Gain on the generated band (0 = none, 1 = as predicted) [default: the model set's].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    amount: Option<f32>,
    /// Output the pure synthesis (every bin generated, no splice with the input): the seed's
    /// output, for comparison only.
    #[arg(long)]
    no_splice: bool,
    /// model: the model set (the point of widen). translate: a simple DSP bandwidth extension
    /// for comparison (the band below the cutoff copied upwards with a -6 dB/octave tilt, no
    /// model; whole file in memory; uses the model set's STFT settings).
    #[arg(long, value_enum, default_value_t = MethodArg::Model)]
    method: MethodArg,
    /// Folder of wide-band references: score each output against the reference with the same
    /// stem (STOI, PESQ-WB, LSD, LSD-HF, SNR; constant lag removed) and print the mean.
    #[arg(long, value_name = "DIR")]
    hr_dir: Option<PathBuf>,
    /// Output sample format.
    #[arg(long, value_enum, default_value_t = FormatArg::I16)]
    format: FormatArg,
    /// Enhance files that are already wide-band instead of passing them through.
    #[arg(long)]
    force: bool,
    /// Print one JSON report on stdout instead of a line per file.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum VocoderArg {
    #[value(alias = "vocoder")]
    Vocos,
    PhaseCopy,
    GriffinLim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    Model,
    Translate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Quality,
    LowLatency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    I16,
    I24,
    F32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CutoffArg {
    Auto,
    Hz(f32),
}

fn parse_cutoff(s: &str) -> Result<CutoffArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(CutoffArg::Auto);
    }
    match s.parse::<f32>() {
        Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(CutoffArg::Hz(hz)),
        _ => Err(format!("expected `auto` or a frequency in Hz > 0, found `{s}`")),
    }
}

/// Everything decided once per run.
struct Settings {
    synthesis: Synthesis,
    /// `--method translate`: the DSP baseline instead of the models.
    translate: bool,
    amount: f32,
    cutoff: CutoffArg,
    splice: bool,
    force: bool,
    output_rate: Option<u32>,
    format: SampleFormat,
}

impl Settings {
    fn new(args: &Args, set: &ModelSet) -> Self {
        let sidecar = set.sidecar();
        let vocoder = args
            .vocoder
            .unwrap_or(match sidecar.default_synthesis {
                DefaultSynthesis::Vocoder => VocoderArg::Vocos,
                DefaultSynthesis::PhaseCopy => VocoderArg::PhaseCopy,
                DefaultSynthesis::GriffinLim => VocoderArg::GriffinLim,
            });
        let synthesis = match vocoder {
            VocoderArg::Vocos => Synthesis::Vocoder,
            VocoderArg::PhaseCopy => Synthesis::PhaseCopy,
            VocoderArg::GriffinLim => Synthesis::GriffinLim {
                iterations: args.griffin_iters,
            },
        };
        Self {
            synthesis,
            translate: args.method == MethodArg::Translate,
            amount: args.amount.unwrap_or(sidecar.default_amount),
            cutoff: args.cutoff,
            splice: !args.no_splice,
            force: args.force,
            output_rate: args.output_rate,
            format: match args.format {
                FormatArg::I16 => SampleFormat::I16,
                FormatArg::I24 => SampleFormat::I24,
                FormatArg::F32 => SampleFormat::F32,
            },
        }
    }

    /// The engine configuration for one file.
    fn engine_config(
        &self,
        set: &ModelSet,
        cutoff_hz: f32,
        input_rate: u32,
        output_rate: u32,
        chunk_frames: usize,
    ) -> EngineConfig {
        // Model-dependent fields from the sidecar (one place: the engine), then this run's choices.
        EngineConfig {
            chunk_frames,
            cutoff_hz,
            amount: self.amount,
            synthesis: self.synthesis,
            splice: self.splice,
            ..widen_core::engine::engine_config_for(set, input_rate, output_rate)
        }
    }
}

/// Checks the run's settings once, with a neutral rate, so that a bad --cutoff or --amount is
/// one error rather than one per file.
fn check_settings(settings: &Settings, models: &Models) -> Result<()> {
    let rate = models.set.sidecar().sample_rate;
    let cutoff = match settings.cutoff {
        CutoffArg::Hz(hz) => hz,
        CutoffArg::Auto => models.set.sidecar().cutoff_hz,
    };
    let mut cfg = settings.engine_config(&models.set, cutoff, rate, rate, MIN_CHUNK_FRAMES);
    // Griffin-Lim is offline only; its config checks are the same as phase copy's.
    if matches!(cfg.synthesis, Synthesis::GriffinLim { .. }) {
        cfg.synthesis = Synthesis::PhaseCopy;
    }
    Engine::new(
        cfg,
        Box::new(models.generator.clone()),
        Some(Box::new(models.vocoder.clone())),
        1,
    )
    .map(drop)
    .map_err(|e| anyhow!("settings do not fit the model set: {}", one_line(&e.to_string())))
}

/// An input that failed before processing, with its one-line message.
type Failure = (PathBuf, String);

/// One input file and where its output goes.
struct Job {
    input: PathBuf,
    /// The input folder `input` was found in (none for a file given by name): `--hr-dir`
    /// matches references by the path relative to it.
    root: Option<PathBuf>,
    output: Result<PathBuf, String>,
}

fn has_audio_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `x_widen.wav` and friends: our own outputs, skipped when walking folders.
fn is_own_output(p: &Path) -> bool {
    p.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with(OUTPUT_SUFFIX))
}

const OUTPUT_SUFFIX: &str = "_widen";

/// Expands the inputs and chooses every output path (errors per file, except for an `-o FILE`
/// with several inputs, which is a usage error for the whole run).
fn plan(args: &Args) -> Result<(Vec<Job>, Vec<Failure>)> {
    let mut files: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    let mut failed = Vec::new();
    for arg in &args.inputs {
        let root = arg.is_dir().then(|| arg.clone());
        for input in expand_inputs(std::slice::from_ref(arg)) {
            match input {
                Input::File(p) if root.is_some() && is_own_output(&p) => {}
                Input::File(p) => files.push((p, root.clone())),
                Input::Failed(p, msg) => failed.push((p, msg)),
            }
        }
        if root.is_some() && !files.iter().any(|(_, r)| r.as_ref() == Some(arg)) {
            // A folder holding only our own outputs: say so rather than nothing.
            if !failed.iter().any(|(p, _)| p == arg) {
                failed.push((
                    arg.clone(),
                    format!(
                        "{}: no audio files to enhance (only *{OUTPUT_SUFFIX}.* outputs)",
                        arg.display()
                    ),
                ));
            }
        }
    }
    if let Some(n) = args.max_files {
        files.truncate(n);
    }
    let single_file_out = match &args.output {
        Some(o) if !o.is_dir() && has_audio_extension(o) => {
            if args.inputs.iter().any(|a| a.is_dir()) {
                bail!(
                    "-o {} names a file, but the inputs include a folder; give an output folder",
                    o.display()
                );
            }
            if files.len() + failed.len() != 1 {
                bail!(
                    "-o {} names a file, but {} input files were given; give an output folder",
                    o.display(),
                    files.len() + failed.len()
                );
            }
            Some(o.clone())
        }
        _ => None,
    };
    // Canonical paths of every input: an output may never be one of them.
    let inputs: HashSet<PathBuf> = files
        .iter()
        .filter_map(|(p, _)| std::fs::canonicalize(p).ok())
        .collect();
    let mut taken = HashSet::new();
    let jobs = files
        .into_iter()
        .map(|(input, root)| {
            let output = match &single_file_out {
                Some(o) => o.clone(),
                None => default_output(&input, root.as_deref(), args.output.as_deref()),
            };
            let output = check_output(&input, output, &inputs, &mut taken);
            Job {
                input,
                root,
                output,
            }
        })
        .collect();
    Ok((jobs, failed))
}

/// `<dir>/<relative folders>/<stem>_widen.wav`; `dir` is `-o` or the input's own folder.
fn default_output(input: &Path, root: Option<&Path>, out_dir: Option<&Path>) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!("{stem}{OUTPUT_SUFFIX}.wav");
    match out_dir {
        None => input.with_file_name(name),
        Some(dir) => {
            let rel_dir = root
                .and_then(|r| input.strip_prefix(r).ok())
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            dir.join(rel_dir).join(name)
        }
    }
}

fn check_output(
    input: &Path,
    output: PathBuf,
    inputs: &HashSet<PathBuf>,
    taken: &mut HashSet<PathBuf>,
) -> Result<PathBuf, String> {
    if let Ok(canon) = std::fs::canonicalize(&output) {
        if inputs.contains(&canon) {
            return Err(format!(
                "{}: refusing to write the output over an input ({})",
                input.display(),
                output.display()
            ));
        }
    }
    if !taken.insert(output.clone()) {
        return Err(format!(
            "{}: output {} is already the output of another input",
            input.display(),
            output.display()
        ));
    }
    Ok(output)
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Action {
    Enhanced,
    PassedThrough,
}

#[derive(Debug, Serialize)]
struct FileScores {
    reference: PathBuf,
    /// Lag of the output behind the reference (samples at 22.05 kHz), removed before scoring.
    lag: isize,
    scores: Scores,
}

#[derive(Debug, Serialize)]
struct FileReport {
    input: PathBuf,
    output: PathBuf,
    action: Action,
    input_rate: u32,
    output_rate: u32,
    channels: usize,
    duration_s: f64,
    /// The splice point used (Hz); `None` when passed through.
    cutoff_hz: Option<f64>,
    /// Bandwidth verdict of the analysis pass (`None` with a fixed --cutoff).
    verdict: Option<Verdict>,
    /// `false` with --no-splice (every bin synthesised).
    splice: bool,
    non_finite_samples: u64,
    seconds: f64,
    realtime_factor: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<FileScores>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    files: usize,
    enhanced: usize,
    passed_through: usize,
    failed: usize,
    seconds: f64,
    audio_seconds: f64,
    realtime_factor: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonEntry<'a> {
    Ok(&'a FileReport),
    Failed { path: String, error: &'a str },
}

#[derive(Serialize)]
struct JsonReport<'a> {
    model: String,
    files: Vec<JsonEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_scores: Option<Mean>,
    summary: Summary,
}

/// Status lines go through the progress bar so they do not tear it.
struct Ui {
    bar: ProgressBar,
}

impl Ui {
    fn new(files: usize) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} files  {elapsed_precise}  {msg}")
        {
            bar.set_style(style);
        }
        Self { bar }
    }

    fn eprint(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    fn print(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (jobs, failed_inputs) = plan(&args)?;
    let models = Models::load(
        args.model.as_deref(),
        match args.mode {
            ModeArg::Quality => Variant::Quality,
            ModeArg::LowLatency => Variant::LowLatency,
        },
        match args.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        },
        args.threads,
    )?;
    let settings = Settings::new(&args, &models.set);
    if settings.translate && !settings.splice {
        bail!("--method translate always keeps the input band; it cannot be combined with --no-splice");
    }
    check_settings(&settings, &models)?;
    let references = match &args.hr_dir {
        Some(dir) if !dir.is_dir() => bail!("--hr-dir {}: not a folder", dir.display()),
        Some(dir) => Some(Index::new(dir)?),
        None => None,
    };

    let ui = Ui::new(jobs.len());
    let sidecar = models.set.sidecar();
    let model_desc = format!("{} ({})", sidecar.name, models.set.sidecar_label());
    if !args.json && settings.translate {
        ui.eprint("method: DSP spectral translation (no model; for comparison)");
    } else if !args.json {
        ui.eprint(&format!("model: {model_desc}"));
        if !sidecar.provenance.trained {
            ui.eprint(
                "note: this model set is an untrained placeholder: the generated high band is not \
                 yet meaningful (the low band passes through unchanged)",
            );
        }
    }

    let started = Instant::now();
    let mut outcomes: Vec<(PathBuf, Result<FileReport, String>)> = Vec::new();
    for (path, msg) in failed_inputs {
        ui.eprint(&format!("error: {msg}"));
        outcomes.push((path, Err(msg)));
    }
    for job in &jobs {
        ui.bar.set_message(file_name(&job.input));
        let result = job
            .output
            .clone()
            .and_then(|out| enhance_file(&job.input, &out, &models, &settings, &ui));
        let result = result.map(|mut report| {
            if let Some(ix) = &references {
                score_output(&mut report, job.root.as_deref(), ix);
            }
            report
        });
        match &result {
            Ok(r) => {
                if !args.json {
                    ui.print(&report_line(r));
                    if let Some(s) = &r.scores {
                        ui.print(&score_line(s));
                    }
                }
                if let Some(e) = &r.score_error {
                    ui.eprint(&format!("warning: {e}"));
                }
            }
            Err(msg) => ui.eprint(&format!("error: {msg}")),
        }
        outcomes.push((job.input.clone(), result));
        ui.bar.inc(1);
    }
    ui.bar.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    let ok: Vec<&FileReport> = outcomes.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    // `+ 0.0`: a float sum over no files is -0.0, which printed as "-0.0x real time".
    let audio_seconds: f64 = ok.iter().map(|r| r.duration_s).sum::<f64>() + 0.0;
    let passed = ok
        .iter()
        .filter(|r| r.action == Action::PassedThrough)
        .count();
    let failed = outcomes.len() - ok.len();
    let summary = Summary {
        files: outcomes.len(),
        enhanced: ok.len() - passed,
        passed_through: passed,
        failed,
        seconds,
        audio_seconds,
        realtime_factor: audio_seconds / seconds.max(1e-9),
    };
    let scored: Vec<&Scores> = ok
        .iter()
        .filter_map(|r| r.scores.as_ref().map(|s| &s.scores))
        .collect();
    let mean = (!scored.is_empty()).then(|| scoring::mean_of(scored.iter().copied()));
    if args.json {
        let report = JsonReport {
            model: model_desc,
            files: outcomes
                .iter()
                .map(|(p, r)| match r {
                    Ok(r) => JsonEntry::Ok(r),
                    Err(e) => JsonEntry::Failed {
                        path: p.display().to_string(),
                        error: e,
                    },
                })
                .collect(),
            mean_scores: mean,
            summary,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if let Some(m) = &mean {
            println!("{}", mean_line(m));
        }
        let speed = if audio_seconds > 0.0 {
            format!(", {:.1}x real time", summary.realtime_factor)
        } else {
            String::new()
        };
        eprintln!(
            "enhanced {} files ({} passed through, {} failed) in {}{speed}",
            summary.files,
            summary.passed_through,
            summary.failed,
            format_duration(seconds),
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn khz(hz: f64) -> String {
    format!("{:.2} kHz", hz / 1000.0)
}

fn report_line(r: &FileReport) -> String {
    let what = match (r.action, r.cutoff_hz) {
        (Action::PassedThrough, _) => "passed through".to_string(),
        (Action::Enhanced, _) if !r.splice => "pure synthesis, no splice".to_string(),
        (Action::Enhanced, Some(c)) => format!("enhanced above {}", khz(c)),
        (Action::Enhanced, None) => "enhanced".to_string(),
    };
    format!(
        "{} -> {}  ({what}; {} -> {}, {} ch, {} in {:.2} s, {:.1}x real time)",
        r.input.display(),
        r.output.display(),
        khz(f64::from(r.input_rate)),
        khz(f64::from(r.output_rate)),
        r.channels,
        format_duration(r.duration_s),
        r.seconds,
        r.realtime_factor
    )
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.prec$}"))
}

fn scores_text(stoi: Option<f64>, pesq: Option<f64>, lsd: f64, lsd_hf: f64, snr: f64) -> String {
    format!(
        "STOI {}  PESQ-WB {}  LSD {lsd:.3}  LSD-HF {lsd_hf:.3}  SNR {snr:.2} dB",
        fmt_opt(stoi, 3),
        fmt_opt(pesq, 2),
    )
}

fn score_line(s: &FileScores) -> String {
    let c = &s.scores;
    format!(
        "  vs {} (lag {}): {}",
        s.reference.display(),
        s.lag,
        scores_text(c.stoi, c.pesq_wb, c.lsd, c.lsd_hf, c.snr_db)
    )
}

fn mean_line(m: &Mean) -> String {
    format!(
        "mean of {} scored files: {}",
        m.files,
        scores_text(m.stoi, m.pesq_wb, m.lsd, m.lsd_hf, m.snr_db)
    )
}

/// Scores the written output against its reference: the one at the same path relative to
/// `--hr-dir` as the input's relative to its input folder `root`, else the only one with the
/// same stem (as `widen eval` matches). A missing reference or a scoring failure is a warning:
/// the output itself is fine.
fn score_output(report: &mut FileReport, root: Option<&Path>, references: &Index) {
    let key = scoring::rel_key(root.unwrap_or(Path::new("")), &report.input);
    let Some(reference) = references.find(&key) else {
        report.score_error = Some(format!(
            "{}: no reference named {}.* in {}; not scored",
            report.input.display(),
            key.display_name(),
            references.root.display()
        ));
        return;
    };
    let scored = scoring::load(&reference).and_then(|r| {
        let e = scoring::load(&report.output)?;
        scoring::score_pair(&r, &e, MAX_EVAL_LAG)
    });
    match scored {
        Ok((lag, scores)) => {
            report.scores = Some(FileScores {
                reference,
                lag,
                scores,
            })
        }
        Err(e) => {
            report.score_error = Some(one_line(&format!(
                "{}: cannot score against {}: {e:#}",
                report.output.display(),
                reference.display()
            )))
        }
    }
}

/// Reads the next block; a non-finite sample report at the end is the end (the reader has
/// already replaced them by 0), its count kept for the warning.
fn read_block(
    reader: &mut AudioReader,
    buf: &mut Vec<f32>,
    non_finite: &mut u64,
) -> Result<usize, AudioError> {
    match reader.read_frames(buf, BLOCK_FRAMES) {
        Err(AudioError::NonFinite { count, .. }) => {
            *non_finite = count;
            buf.clear();
            Ok(0)
        }
        other => other,
    }
}

/// How a file is treated, decided from the analysis pass (or the fixed cutoff).
struct Decision {
    action: Action,
    cutoff_hz: Option<f64>,
    verdict: Option<Verdict>,
    note: Option<String>,
}

fn decide(
    settings: &Settings,
    set: &ModelSet,
    input: &Path,
    input_rate: u32,
    bw: Option<&Bandwidth>,
) -> Decision {
    let sidecar = set.sidecar();
    let mel = set.mel_config();
    // Highest splice point the engine accepts: the cross-fade must end below Nyquist.
    let bin_hz = f64::from(mel.sample_rate) / mel.n_fft as f64;
    let max_cut = (mel.n_bins() - 1 - sidecar.crossover_bins) as f64 * bin_hz;
    let in_nyquist = f64::from(input_rate) / 2.0;
    let Some(bw) = bw else {
        let hz = match settings.cutoff {
            CutoffArg::Hz(hz) => f64::from(hz),
            CutoffArg::Auto => f64::from(sidecar.cutoff_hz),
        };
        return Decision {
            action: Action::Enhanced,
            cutoff_hz: Some(hz),
            verdict: None,
            note: None,
        };
    };
    let fallback = f64::from(sidecar.cutoff_hz).min(in_nyquist);
    if bw.verdict == Verdict::WideBand && bw.cutoff_hz > PASS_THROUGH_CUTOFF_HZ && !settings.force
    {
        return Decision {
            action: Action::PassedThrough,
            cutoff_hz: None,
            verdict: Some(bw.verdict),
            note: Some(format!(
                "note: {}: already wide-band (content up to {}): passed through, only resampled \
                 (--force enhances it anyway)",
                input.display(),
                khz(bw.cutoff_hz)
            )),
        };
    }
    let detected = match bw.verdict {
        Verdict::Silent => fallback,
        _ if bw.cutoff_hz <= 0.0 => fallback,
        _ => bw.cutoff_hz,
    };
    let cutoff = detected
        .min(in_nyquist)
        .clamp(MIN_AUTO_CUTOFF_HZ.min(max_cut), max_cut);
    Decision {
        action: Action::Enhanced,
        cutoff_hz: Some(cutoff),
        verdict: Some(bw.verdict),
        note: None,
    }
}

/// Analysis pass: the bandwidth of the mono mix, streamed.
fn analyse(path: &Path, non_finite: &mut u64) -> Result<Bandwidth, String> {
    let mut reader = AudioReader::open(path).map_err(|e| e.to_string())?;
    let channels = reader.info().channels;
    let mut acc = BandwidthAccumulator::new(reader.info().sample_rate);
    let (mut buf, mut mono) = (Vec::new(), Vec::new());
    while read_block(&mut reader, &mut buf, non_finite).map_err(|e| e.to_string())? > 0 {
        mono.clear();
        mix_to_mono(&buf, channels, &mut mono);
        acc.push(&mono);
    }
    Ok(acc.finish(DEFAULT_ENERGY_FRACTION))
}

/// A per-channel stream with its latency trimmed: the engine, engines on parallel segments,
/// or a plain resampler.
enum ChannelStream {
    Engine(Box<OfflineStream>),
    Parallel(Box<ParallelStream>),
    Resample {
        rs: Box<StreamResampler>,
        skip: usize,
    },
}

impl ChannelStream {
    fn push(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        match self {
            Self::Engine(s) => s.push(x, out).map(drop).map_err(|e| e.to_string()),
            Self::Parallel(s) => s.push(x, out).map(drop).map_err(|e| e.to_string()),
            Self::Resample { rs, skip } => {
                let start = out.len();
                rs.process(x, out).map_err(|e| e.to_string())?;
                trim(out, start, skip);
                Ok(())
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        match self {
            Self::Engine(s) => s.finish(out).map(drop).map_err(|e| e.to_string()),
            Self::Parallel(s) => s.finish(out).map(drop).map_err(|e| e.to_string()),
            Self::Resample { rs, skip } => {
                let start = out.len();
                rs.flush(out).map_err(|e| e.to_string())?;
                trim(out, start, skip);
                Ok(())
            }
        }
    }
}

/// Drops up to `skip` samples from `out[start..]` (the stream's leading latency).
fn trim(out: &mut Vec<f32>, start: usize, skip: &mut usize) {
    let n = (*skip).min(out.len() - start);
    out.drain(start..start + n);
    *skip -= n;
}

/// Smallest chunk that covers a short file (fewer wasted context frames), capped for long ones.
fn chunk_frames(info: &AudioInfo, hop: usize, core_rate: u32) -> usize {
    match info.frames {
        Some(n) => {
            let core_len = n as f64 * f64::from(core_rate) / f64::from(info.sample_rate);
            ((core_len / hop as f64).ceil() as usize + 1).clamp(MIN_CHUNK_FRAMES, CHUNK_FRAMES)
        }
        None => CHUNK_FRAMES,
    }
}

fn enhance_file(
    input: &Path,
    output: &Path,
    models: &Models,
    settings: &Settings,
    ui: &Ui,
) -> Result<FileReport, String> {
    let started = Instant::now();
    let info = AudioReader::open(input).map_err(|e| e.to_string())?.info().clone();
    let channels = info.channels;
    let input_rate = info.sample_rate;
    let output_rate = settings
        .output_rate
        .unwrap_or(input_rate.max(MIN_OUTPUT_RATE));
    let container = Container::from_path(output).map_err(|e| e.to_string())?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "{}: cannot create the output folder {}: {}",
                input.display(),
                dir.display(),
                short_io(&e)
            )
        })?;
    }
    let spec = WriteSpec {
        sample_rate: output_rate,
        channels,
        format: settings.format,
        container,
    };
    let griffin_lim = matches!(settings.synthesis, Synthesis::GriffinLim { .. });
    let mut non_finite = 0u64;
    let (frames, decision) = if griffin_lim || settings.translate {
        enhance_whole(input, output, spec, models, settings, &mut non_finite)?
    } else {
        let bw = match settings.cutoff {
            CutoffArg::Auto => Some(analyse(input, &mut non_finite)?),
            CutoffArg::Hz(_) => None,
        };
        let decision = decide(settings, &models.set, input, input_rate, bw.as_ref());
        if let Some(note) = &decision.note {
            ui.eprint(note);
        }
        let frames = enhance_streaming(
            input,
            output,
            spec,
            models,
            settings,
            &decision,
            &info,
            &mut non_finite,
            ui,
        )?;
        (frames, decision)
    };
    if non_finite > 0 {
        ui.eprint(&format!(
            "warning: {}: {non_finite} non-finite samples (NaN/Inf) replaced by 0",
            input.display()
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    let duration_s = frames as f64 / f64::from(input_rate);
    Ok(FileReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        action: decision.action,
        input_rate,
        output_rate,
        channels,
        duration_s,
        cutoff_hz: decision.cutoff_hz,
        verdict: decision.verdict,
        splice: settings.splice,
        non_finite_samples: non_finite,
        seconds,
        realtime_factor: duration_s / seconds.max(1e-9),
        scores: None,
        score_error: None,
    })
}

fn short_io(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Interleaves the channels' outputs (all the same length) and writes them.
fn write_planar(
    writer: &mut AudioWriter,
    planar: &[Vec<f32>],
    interleaved: &mut Vec<f32>,
) -> Result<(), String> {
    let n = planar.first().map_or(0, Vec::len);
    if let Some(bad) = planar.iter().find(|p| p.len() != n) {
        return Err(format!(
            "internal error: channel outputs differ in length ({n} and {})",
            bad.len()
        ));
    }
    interleaved.clear();
    interleaved.reserve(n * planar.len());
    for i in 0..n {
        interleaved.extend(planar.iter().map(|p| p[i]));
    }
    writer.write(interleaved).map_err(|e| e.to_string())
}

/// Reader -> one stream per channel -> writer, in blocks. Returns the input frames.
#[allow(clippy::too_many_arguments)]
fn enhance_streaming(
    input: &Path,
    output: &Path,
    spec: WriteSpec,
    models: &Models,
    settings: &Settings,
    decision: &Decision,
    info: &AudioInfo,
    non_finite: &mut u64,
    ui: &Ui,
) -> Result<u64, String> {
    let channels = info.channels;
    let mut streams = Vec::with_capacity(channels);
    for _ in 0..channels {
        streams.push(match (decision.action, decision.cutoff_hz) {
            (Action::Enhanced, Some(cutoff)) => {
                let mel = models.set.mel_config();
                let cfg = settings.engine_config(
                    &models.set,
                    cutoff as f32,
                    info.sample_rate,
                    spec.sample_rate,
                    chunk_frames(info, mel.hop, mel.sample_rate),
                );
                let engine_err =
                    |e: EngineError| format!("{}: {}", input.display(), one_line(&e.to_string()));
                let make = |g: &SharedModel, v: &SharedModel| {
                    let vocoder: Option<Box<dyn widen_core::engine::ModelRuntime>> =
                        (cfg.synthesis == Synthesis::Vocoder).then(|| Box::new(v.clone()) as _);
                    Engine::new(cfg.clone(), Box::new(g.clone()), vocoder, BLOCK_FRAMES)
                        .map_err(engine_err)
                };
                // Several CPU threads: segments of the file on parallel engines (the same
                // output), when the synthesis streams and the file is long enough that the
                // segments' pre-roll pays off; shorter files get one engine with all threads.
                let parallel = models.worker_count > 1
                    && SegmentPlan::new(&cfg).is_some()
                    && info.frames.is_none_or(|n| {
                        n as f64 >= PARALLEL_MIN_SECONDS * info.sample_rate as f64
                    });
                if parallel {
                    let engines = models
                        .workers()
                        .map_err(|e| format!("{}: {e}", input.display()))?
                        .iter()
                        .map(|(g, v)| make(g, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    ChannelStream::Parallel(Box::new(
                        ParallelStream::new(engines).map_err(engine_err)?,
                    ))
                } else {
                    let engine = make(&models.generator, &models.vocoder)?;
                    ChannelStream::Engine(Box::new(OfflineStream::new(engine)))
                }
            }
            _ => {
                let rs = StreamResampler::new(info.sample_rate, spec.sample_rate, BLOCK_FRAMES)
                    .map_err(|e| format!("{}: {e}", input.display()))?;
                let skip = rs.latency_out_samples();
                ChannelStream::Resample {
                    rs: Box::new(rs),
                    skip,
                }
            }
        });
    }
    let fail = |e: String| format!("{}: {e}", input.display());
    let mut reader = AudioReader::open(input).map_err(|e| e.to_string())?;
    let mut writer = AudioWriter::create(output, spec).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut planar_in = vec![Vec::new(); channels];
    let mut planar_out = vec![Vec::new(); channels];
    let mut interleaved = Vec::new();
    let mut count = 0u64;
    while read_block(&mut reader, &mut buf, &mut count).map_err(|e| e.to_string())? > 0 {
        for (c, x) in planar_in.iter_mut().enumerate() {
            x.clear();
            x.extend(buf.iter().skip(c).step_by(channels));
        }
        for ((s, x), y) in streams.iter_mut().zip(&planar_in).zip(&mut planar_out) {
            y.clear();
            s.push(x, y).map_err(fail)?;
        }
        write_planar(&mut writer, &planar_out, &mut interleaved)?;
        if let Some(total) = info.frames.filter(|&n| n > 0) {
            let pct = (reader.frames_read() * 100 / total).min(100);
            ui.bar.set_message(format!("{} {pct}%", file_name(input)));
        }
    }
    for (s, y) in streams.iter_mut().zip(&mut planar_out) {
        y.clear();
        s.finish(y).map_err(fail)?;
    }
    write_planar(&mut writer, &planar_out, &mut interleaved)?;
    writer.finish().map_err(|e| e.to_string())?;
    *non_finite = (*non_finite).max(count);
    Ok(reader.frames_read())
}

/// Griffin-Lim and the translation baseline: the whole file in memory, each channel through
/// [`enhance_offline`] or [`translate_offline`].
fn enhance_whole(
    input: &Path,
    output: &Path,
    spec: WriteSpec,
    models: &Models,
    settings: &Settings,
    non_finite: &mut u64,
) -> Result<(u64, Decision), String> {
    let mut reader = AudioReader::open(input).map_err(|e| e.to_string())?;
    let info = reader.info().clone();
    let channels = info.channels;
    let mut planar = vec![Vec::new(); channels];
    let mut buf = Vec::new();
    let mut acc = BandwidthAccumulator::new(info.sample_rate);
    let mut mono = Vec::new();
    while read_block(&mut reader, &mut buf, non_finite).map_err(|e| e.to_string())? > 0 {
        for (c, x) in planar.iter_mut().enumerate() {
            x.extend(buf.iter().skip(c).step_by(channels));
        }
        mono.clear();
        mix_to_mono(&buf, channels, &mut mono);
        acc.push(&mono);
    }
    let bw = (settings.cutoff == CutoffArg::Auto).then(|| acc.finish(DEFAULT_ENERGY_FRACTION));
    let decision = decide(settings, &models.set, input, info.sample_rate, bw.as_ref());
    let mut out = Vec::with_capacity(channels);
    for x in &planar {
        let y = match (decision.action, decision.cutoff_hz) {
            (Action::Enhanced, Some(cutoff)) => {
                let mel = models.set.mel_config();
                let cfg = settings.engine_config(
                    &models.set,
                    cutoff as f32,
                    info.sample_rate,
                    spec.sample_rate,
                    chunk_frames(&info, mel.hop, mel.sample_rate),
                );
                if settings.translate {
                    translate_offline(&cfg, x)
                } else {
                    enhance_offline(&cfg, Box::new(models.generator.clone()), None, x)
                }
                .map_err(|e| format!("{}: {}", input.display(), one_line(&e.to_string())))?
            }
            _ => widen_core::dsp::resample(x, info.sample_rate, spec.sample_rate)
                .map_err(|e| format!("{}: {e}", input.display()))?,
        };
        out.push(y);
    }
    let mut writer = AudioWriter::create(output, spec).map_err(|e| e.to_string())?;
    let mut interleaved = Vec::new();
    let n = out.first().map_or(0, Vec::len);
    for start in (0..n).step_by(BLOCK_FRAMES) {
        let end = (start + BLOCK_FRAMES).min(n);
        let block: Vec<Vec<f32>> = out.iter().map(|y| y[start..end].to_vec()).collect();
        write_planar(&mut writer, &block, &mut interleaved)?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok((reader.frames_read(), decision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_parses_auto_and_hertz() {
        assert_eq!(parse_cutoff("auto"), Ok(CutoffArg::Auto));
        assert_eq!(parse_cutoff("AUTO"), Ok(CutoffArg::Auto));
        assert_eq!(parse_cutoff("3800"), Ok(CutoffArg::Hz(3800.0)));
        assert!(parse_cutoff("-1").is_err());
        assert!(parse_cutoff("nan").is_err());
        assert!(parse_cutoff("x").is_err());
    }

    #[test]
    fn outputs_are_named_after_inputs() {
        let p = Path::new;
        assert_eq!(
            default_output(p("a/b/x.flac"), None, None),
            p("a/b/x_widen.wav")
        );
        assert_eq!(
            default_output(p("in/sub/x.wav"), Some(p("in")), Some(p("out"))),
            p("out/sub/x_widen.wav")
        );
        assert_eq!(
            default_output(p("x.wav"), None, Some(p("out"))),
            p("out/x_widen.wav")
        );
        assert!(is_own_output(p("d/x_widen.wav")));
        assert!(!is_own_output(p("d/widen.wav")));
    }

    #[test]
    fn messages_become_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
