//! `widen make-dataset`: build HR/LR training pairs from a folder of audio (see
//! `widen_core::dataset` for what is written and how resuming works).

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use widen_core::config;
use widen_core::dataset::{self, Dataset, DatasetConfig, ItemOutcome};

/// Build 22.05 kHz / 8 kHz training pairs (hr/, lr/, manifest) from a folder of audio.
///
/// Each low-rate file gets its own randomised anti-alias filter (recorded in the manifest),
/// so a model trained on the pairs does not learn one filter edge. Resumable and parallel.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Folder searched recursively for audio (wav, flac, ogg, oga, mp3).
    #[arg(long, value_name = "DIR")]
    pub in_root: PathBuf,
    /// Output folder: hr/, lr/ and manifest.jsonl (must not be inside --in-root).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Wide-band (target) sample rate in Hz.
    #[arg(long, value_name = "HZ", default_value_t = config::SAMPLE_RATE)]
    pub hr_rate: u32,
    /// Narrow-band (input) sample rate in Hz; must be below --hr-rate.
    #[arg(long, value_name = "HZ", default_value_t = config::NARROW_BAND_RATE)]
    pub lr_rate: u32,
    /// Seed of the random band-limiting filters (per file: seed + relative path).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Parallel jobs [default: all cores].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// Lowest cutoff of the random low-pass filters (Hz).
    #[arg(long, value_name = "HZ", default_value_t = dataset::DEFAULT_CUTOFF_RANGE.0)]
    pub cutoff_min: f64,
    /// Highest cutoff of the random low-pass filters (Hz); at most --lr-rate / 2.
    #[arg(long, value_name = "HZ", default_value_t = dataset::DEFAULT_CUTOFF_RANGE.1)]
    pub cutoff_max: f64,
}

/// Run `make-dataset`. Setup problems (bad rates, output folder inside the input, unwritable
/// output, no audio found) are returned as errors; per-file failures are printed one line each
/// (`error: <path>: <reason>`), the run goes on, and the exit code is 1 if any file failed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let config = DatasetConfig {
        in_root: args.in_root,
        out: args.out,
        hr_rate: args.hr_rate,
        lr_rate: args.lr_rate,
        seed: args.seed,
        cutoff_range: (args.cutoff_min, args.cutoff_max),
    };
    let in_root = config.in_root.clone();
    let dataset = Dataset::prepare(config)?;
    if dataset.items().is_empty() {
        bail!(
            "no audio files ({}) found under {}",
            dataset::AUDIO_EXTENSIONS.join(", "),
            in_root.display()
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        // 0 = rayon's default: one thread per core.
        .num_threads(args.jobs.map_or(0, NonZeroUsize::get))
        .build()
        .context("cannot start worker threads")?;

    let bar = if std::io::stderr().is_terminal() {
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} files ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        ProgressBar::new(dataset.items().len() as u64).with_style(style)
    } else {
        ProgressBar::hidden()
    };

    let outcomes: Vec<ItemOutcome> = pool.install(|| {
        dataset
            .items()
            .par_iter()
            .map(|item| {
                let outcome = dataset.process(item);
                match &outcome {
                    ItemOutcome::Failed(issue) => {
                        bar.suspend(|| eprintln!("error: {}", one_line(&issue.to_string())))
                    }
                    ItemOutcome::Skipped(issue) => {
                        bar.suspend(|| eprintln!("skipped: {}", one_line(&issue.to_string())))
                    }
                    ItemOutcome::Written(_) | ItemOutcome::Done(_) => {}
                }
                bar.inc(1);
                outcome
            })
            .collect()
    });
    bar.finish_and_clear();

    let summary = dataset.finish(outcomes)?;
    let too_short = if summary.skipped.is_empty() {
        String::new()
    } else {
        format!(", {} too short", summary.skipped.len())
    };
    println!(
        "written {} pairs ({} skipped as done, {} failed{too_short}) in {:.1} s",
        summary.written,
        summary.skipped_done,
        summary.failed.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Keep each reported problem on one line (decoder messages may contain newlines).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
