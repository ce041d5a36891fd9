//! `widen eval`: score estimates against wide-band references (the seed's `eval`).
//!
//! Files or directories; directories are matched by relative path without extension, falling back to
//! the bare file stem, and an estimate stem may carry a `_sr`, `_enhanced` or `_widen` suffix (the seed
//! names its outputs `<stem>_sr.wav`). Every signal is mixed to mono and resampled to 22.05 kHz first.
//! A constant lag up to `--max-lag` samples is detected by cross-correlation and removed before scoring,
//! and reported. With `--input`, the narrow-band input is sinc-upsampled (plain resampling) and scored
//! too, so each score has its baseline beside it.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use widen_core::config::{MAX_EVAL_LAG, SAMPLE_RATE};
use widen_core::metrics::{self, Scores};

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

#[derive(Debug, Serialize, Default)]
struct Mean {
    files: usize,
    stoi: Option<f64>,
    pesq_wb: Option<f64>,
    lsd: f64,
    lsd_hf: f64,
    snr_db: f64,
    mse: f64,
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

/// How an estimate file is looked up among references: its relative path without extension, then its stem.
#[derive(Debug, Clone)]
struct Key {
    rel: String,
    stem: String,
}

impl Key {
    fn display_name(&self) -> String {
        if self.rel.is_empty() {
            self.stem.clone()
        } else {
            self.rel.clone()
        }
    }
}

const ESTIMATE_SUFFIXES: [&str; 3] = ["_sr", "_enhanced", "_widen"];

fn strip_suffix(s: &str) -> &str {
    ESTIMATE_SUFFIXES
        .iter()
        .find_map(|suf| s.strip_suffix(suf))
        .unwrap_or(s)
}

fn rel_key(root: &Path, file: &Path) -> Key {
    let stem = file
        .file_stem()
        .map(|s| strip_suffix(&s.to_string_lossy()).to_string())
        .unwrap_or_default();
    let rel = if root.is_dir() {
        file.strip_prefix(root)
            .ok()
            .map(|r| r.with_extension("").to_string_lossy().into_owned())
            .map(|r| strip_suffix(&r).to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Key { rel, stem }
}

struct Index {
    root: PathBuf,
    single: Option<PathBuf>,
    by_rel: HashMap<String, PathBuf>,
    by_stem: HashMap<String, Vec<PathBuf>>,
}

impl Index {
    fn new(root: &Path) -> Result<Self> {
        let mut ix = Index {
            root: root.to_path_buf(),
            single: None,
            by_rel: HashMap::new(),
            by_stem: HashMap::new(),
        };
        if !root.is_dir() {
            ix.single = Some(root.to_path_buf());
            return Ok(ix);
        }
        for f in crate::batch::audio_files(root)
            .with_context(|| format!("{}: cannot list", root.display()))?
        {
            if let Ok(rel) = f.strip_prefix(root) {
                ix.by_rel
                    .insert(rel.with_extension("").to_string_lossy().into_owned(), f.clone());
            }
            if let Some(stem) = f.file_stem() {
                ix.by_stem
                    .entry(stem.to_string_lossy().into_owned())
                    .or_default()
                    .push(f.clone());
            }
        }
        Ok(ix)
    }

    fn find(&self, key: &Key) -> Option<PathBuf> {
        if let Some(s) = &self.single {
            return Some(s.clone());
        }
        if let Some(p) = self.by_rel.get(&key.rel) {
            return Some(p.clone());
        }
        // A bare stem only counts when it is unambiguous.
        match self.by_stem.get(&key.stem).map(Vec::as_slice) {
            Some([one]) => Some(one.clone()),
            _ => None,
        }
    }
}

/// Reads a file as mono at 22.05 kHz.
fn load(path: &Path) -> Result<Vec<f32>> {
    let audio = widen_core::io::read(path)?;
    let mono = audio.to_mono();
    if audio.sample_rate == SAMPLE_RATE {
        return Ok(mono);
    }
    widen_core::dsp::resample::resample(&mono, audio.sample_rate, SAMPLE_RATE)
        .with_context(|| format!("{}: cannot resample", path.display()))
}

fn score_pair(reference: &[f32], estimate: &[f32], max_lag: usize) -> Result<(isize, Scores)> {
    let lag = metrics::find_lag(reference, estimate, max_lag);
    let (r, e) = metrics::align(reference, estimate, lag);
    Ok((lag, metrics::evaluate(r, e, SAMPLE_RATE)?))
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

fn mean_opt<'a>(it: impl Iterator<Item = &'a Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = it.filter_map(|x| *x).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn mean_of<'a>(scores: impl Iterator<Item = &'a Scores> + Clone) -> Mean {
    let v: Vec<&Scores> = scores.collect();
    let n = v.len();
    if n == 0 {
        return Mean::default();
    }
    let avg = |f: fn(&Scores) -> f64| v.iter().map(|s| f(s)).sum::<f64>() / n as f64;
    Mean {
        files: n,
        stoi: mean_opt(v.iter().map(|s| &s.stoi)),
        pesq_wb: mean_opt(v.iter().map(|s| &s.pesq_wb)),
        lsd: avg(|s| s.lsd),
        lsd_hf: avg(|s| s.lsd_hf),
        // A perfect file has infinite SNR; the mean stays meaningful only over finite values.
        snr_db: {
            let f: Vec<f64> = v.iter().map(|s| s.snr_db).filter(|x| x.is_finite()).collect();
            if f.is_empty() {
                f64::INFINITY
            } else {
                f.iter().sum::<f64>() / f.len() as f64
            }
        },
        mse: avg(|s| s.mse),
    }
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
