//! `widen eval`: score estimates against wide-band references (the seed's `eval`).
//!
//! Files or directories; directories are matched by relative path without extension, falling back to
//! the bare file stem, and an estimate stem may carry a `_sr`, `_enhanced` or `_widen` suffix (the seed
//! names its outputs `<stem>_sr.wav`). Every signal is mixed to mono and resampled to 22.05 kHz first.
//! A constant lag up to `--max-lag` samples is detected by cross-correlation and removed before scoring,
//! and reported. With `--input`, the narrow-band input is sinc-upsampled (plain resampling) and scored
//! too, so each score has its baseline beside it.

use crate::scoring::{load, mean_of, rel_key, score_pair, Index, Mean};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use widen_core::config::MAX_EVAL_LAG;
use widen_core::metrics::Scores;

/// Score estimates against wide-band references: STOI, PESQ-WB, LSD, LSD-HF, SNR, MSE.
///
/// Files or folders (matched by relative path or stem; `<stem>_sr` estimates match `<stem>`).
/// A constant lag up to --max-lag samples is removed first and reported. With --input, the
/// sinc-upsampled narrow-band input is scored too and shown in brackets beside each score.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wide-band reference file or directory (the ground truth).
    #[arg(long, short = 'r', required_unless_present = "hr_dir")]
    reference: Option<PathBuf>,
    /// Estimate file or directory (what is being judged).
    #[arg(long, short = 'e', required_unless_present = "sr_file")]
    estimate: Option<PathBuf>,
    /// Narrow-band input file or directory: adds the sinc-upsampling baseline beside every score.
    #[arg(long, short = 'i')]
    input: Option<PathBuf>,
    /// Seed form: one estimate file, `<stem>_sr.wav` ...
    #[arg(long, conflicts_with = "estimate", requires = "hr_dir")]
    sr_file: Option<PathBuf>,
    /// ... matched to `<hr-dir>/<stem>.wav`.
    #[arg(long, conflicts_with = "reference")]
    hr_dir: Option<PathBuf>,
    /// Largest constant lag (samples at 22.05 kHz) searched for and removed.
    #[arg(long, default_value_t = MAX_EVAL_LAG)]
    max_lag: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Scores of one estimate, and of the sinc baseline when an input was given.
#[derive(Debug, Serialize)]
struct FileResult {
    name: String,
    reference: PathBuf,
    estimate: PathBuf,
    /// Lag of the estimate behind the reference, in samples at 22.05 kHz (removed before scoring).
    lag: isize,
    scores: Scores,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Baseline>,
}

#[derive(Debug, Serialize)]
struct Baseline {
    input: PathBuf,
    lag: isize,
    scores: Scores,
}

#[derive(Debug, Serialize)]
struct Report {
    files: Vec<FileResult>,
    mean: Mean,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_mean: Option<Mean>,
    failures: Vec<String>,
}

struct Job {
    name: String,
    reference: PathBuf,
    estimate: PathBuf,
    input: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (jobs, mut failures) = plan(&args)?;
    let results: Vec<Result<FileResult, String>> = jobs
        .par_iter()
        .map(|job| score(job, args.max_lag).map_err(|e| format!("{e:#}")))
        .collect();
    let mut files = Vec::new();
    for r in results {
        match r {
            Ok(f) => files.push(f),
            Err(e) => failures.push(e),
        }
    }
    let mean = mean_of(files.iter().map(|f| &f.scores));
    let baseline_mean = files
        .iter()
        .any(|f| f.baseline.is_some())
        .then(|| mean_of(files.iter().filter_map(|f| f.baseline.as_ref().map(|b| &b.scores))));
    for f in &failures {
        eprintln!("error: {f}");
    }
    let report = Report {
        files,
        mean,
        baseline_mean,
        failures: failures.clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    let total = report.files.len() + failures.len();
    if total > 1 {
        eprintln!("{total} files, {} failed", failures.len());
    }
    Ok(if failures.is_empty() && !report.files.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Pairs estimates with references (and inputs). Unmatched estimates count as failures.
fn plan(args: &Args) -> Result<(Vec<Job>, Vec<String>)> {
    let (estimate, reference) = match (&args.sr_file, &args.hr_dir) {
        (Some(sr), Some(hr)) => (sr.clone(), hr.clone()),
        _ => match (&args.estimate, &args.reference) {
            (Some(e), Some(r)) => (e.clone(), r.clone()),
            _ => bail!("give --reference and --estimate (or --sr-file and --hr-dir)"),
        },
    };
    for p in [&estimate, &reference].into_iter().chain(args.input.as_ref()) {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let estimates = if estimate.is_dir() {
        crate::batch::audio_files(&estimate)
            .with_context(|| format!("{}: cannot list", estimate.display()))?
    } else {
        vec![estimate.clone()]
    };
    if estimates.is_empty() {
        bail!("{}: no audio files found", estimate.display());
    }
    let ref_index = Index::new(&reference)?;
    let in_index = args.input.as_deref().map(Index::new).transpose()?;
    let mut jobs = Vec::new();
    let mut failures = Vec::new();
    for e in estimates {
        let key = rel_key(&estimate, &e);
        let Some(r) = ref_index.find(&key) else {
            failures.push(format!(
                "{}: no matching reference in {}",
                e.display(),
                reference.display()
            ));
            continue;
        };
        let input = match &in_index {
            None => None,
            Some(ix) => match ix.find(&key) {
                Some(i) => Some(i),
                None => {
                    failures.push(format!(
                        "{}: no matching input in {}",
                        e.display(),
                        ix.root.display()
                    ));
                    continue;
                }
            },
        };
        jobs.push(Job {
            name: key.display_name(),
            reference: r,
            estimate: e,
            input,
        });
    }
    Ok((jobs, failures))
}

fn score(job: &Job, max_lag: usize) -> Result<FileResult> {
    let reference = load(&job.reference)?;
    let estimate = load(&job.estimate)?;
    let (lag, scores) = score_pair(&reference, &estimate, max_lag)
        .with_context(|| format!("{}", job.estimate.display()))?;
    let baseline = match &job.input {
        None => None,
        Some(input) => {
            let sinc = load(input)?;
            let (lag, scores) = score_pair(&reference, &sinc, max_lag)
                .with_context(|| format!("{}", input.display()))?;
            Some(Baseline {
                input: input.clone(),
                lag,
                scores,
            })
        }
    };
    Ok(FileResult {
        name: job.name.clone(),
        reference: job.reference.clone(),
        estimate: job.estimate.clone(),
        lag,
        scores,
        baseline,
    })
}

fn cell(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.prec$}"))
}

fn row(name: &str, lag: Option<isize>, s: [Option<f64>; 6], b: Option<[Option<f64>; 6]>) -> String {
    let prec = [3, 2, 3, 3, 2, 6];
    let mut out = format!("{name:<28} {:>6}", lag.map_or("".into(), |l| l.to_string()));
    for i in 0..6 {
        let c = match &b {
            None => cell(s[i], prec[i]),
            Some(b) => format!("{} ({})", cell(s[i], prec[i]), cell(b[i], prec[i])),
        };
        out.push_str(&format!(" {c:>19}"));
    }
    out
}

fn cols(s: &Scores) -> [Option<f64>; 6] {
    [s.stoi, s.pesq_wb, Some(s.lsd), Some(s.lsd_hf), Some(s.snr_db), Some(s.mse)]
}

fn mean_cols(m: &Mean) -> [Option<f64>; 6] {
    [m.stoi, m.pesq_wb, Some(m.lsd), Some(m.lsd_hf), Some(m.snr_db), Some(m.mse)]
}

fn print_table(r: &Report) {
    if r.files.is_empty() {
        return;
    }
    let with_base = r.baseline_mean.is_some();
    let mut head = format!("{:<28} {:>6}", "file", "lag");
    for h in ["STOI", "PESQ-WB", "LSD", "LSD-HF", "SNR dB", "MSE"] {
        head.push_str(&format!(" {h:>19}"));
    }
    println!("{head}");
    if with_base {
        println!("(each cell: estimate (sinc-upsampled input baseline); LSD and LSD-HF lower is better)");
    }
    for f in &r.files {
        let b = f.baseline.as_ref().map(|b| cols(&b.scores));
        println!("{}", row(&truncate(&f.name, 28), Some(f.lag), cols(&f.scores), b));
        for n in &f.scores.notes {
            println!("  note: {n}");
        }
    }
    if r.files.len() > 1 {
        let b = r.baseline_mean.as_ref().map(mean_cols);
        println!(
            "{}",
            row(&format!("mean of {}", r.mean.files), None, mean_cols(&r.mean), b)
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s.chars().rev().take(n - 1).collect::<Vec<_>>().into_iter().rev().collect();
        format!("…{tail}")
    }
}
