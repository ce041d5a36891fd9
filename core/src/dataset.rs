//! The `make-dataset` job as a library: wide-band (HR) / narrow-band (LR) training pairs.
//!
//! For every audio file under `in_root` (extensions [`AUDIO_EXTENSIONS`], case-insensitive,
//! recursive, sorted; names starting with `.` and symlinked folders are skipped):
//! 1. read, mix to mono, resample to `hr_rate` -> `out/hr/<rel>.wav` (16-bit PCM);
//! 2. draw a random band-limiting low-pass ([`filters::draw_random`]) from an RNG seeded by
//!    `(seed, relative path)` ([`file_seed`]), so results do not depend on processing order;
//!    filter the HR signal at `hr_rate` with the delay removed ([`Lowpass::filter_aligned`]),
//!    resample to `lr_rate` -> `out/lr/<rel>.wav` (16-bit PCM);
//! 3. if either signal would clip, both are scaled by the same gain (recorded as `gain`).
//!
//! `<rel>` is the path relative to `in_root` with its extension replaced by `.wav`.
//!
//! # Manifest
//! `out/manifest.jsonl`: one JSON object ([`ManifestEntry`]) per pair, sorted by `path`,
//! rewritten atomically at the end of a run. While a run is in progress each finished pair is
//! appended to `out/manifest.jsonl.journal` so an interrupted run can resume; the journal is
//! removed once the manifest is written. Pairs of files that are no longer in `in_root` (or that
//! failed this time) are dropped from the manifest (their audio files are left alone).
//!
//! # Resume
//! A pair is skipped as done when both of its files exist and the manifest (or journal) has an
//! entry for it made with the same source (path and size), rates, seed and filter; anything else
//! is redone.
//!
//! # Usage
//! [`Dataset::prepare`] validates, walks and loads the previous state; [`Dataset::process`]
//! handles one item (thread-safe; call it from any number of threads, in any order);
//! [`Dataset::finish`] writes the manifest and returns the [`Summary`]. [`run`] does all three
//! sequentially.
//!
//! [`Lowpass::filter_aligned`]: crate::dsp::filters::Lowpass::filter_aligned

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config;
use crate::dsp::filters::{self, FilterError, LowpassSpec};

use crate::{dsp::resample::resample, io};

/// File extensions (lower case) treated as audio input: the readers' list.
pub use crate::io::AUDIO_EXTENSIONS;
/// Files shorter than this (seconds) are skipped with a reason.
pub const MIN_DURATION_SECS: f64 = 0.1;
/// Accepted range for `hr_rate` and `lr_rate` (Hz).
pub const RATE_RANGE: RangeInclusive<u32> = 2_000..=192_000;
/// Default cutoff range of the random band-limiting filters (Hz): telephone band edges.
pub const DEFAULT_CUTOFF_RANGE: (f64, f64) = (3400.0, 4000.0);
/// Manifest file name inside `out`.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// Journal of pairs finished by a run in progress, inside `out`.
pub const JOURNAL_FILE: &str = "manifest.jsonl.journal";
/// Sub-folder of `out` with the wide-band files.
pub const HR_DIR: &str = "hr";
/// Sub-folder of `out` with the narrow-band files.
pub const LR_DIR: &str = "lr";
/// Peak level above which a pair is scaled down so 16-bit output does not clip.
const CLIP_LEVEL: f32 = 0.999;

/// What to build and where.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    /// Folder searched recursively for audio.
    pub in_root: PathBuf,
    /// Output folder (`hr/`, `lr/`, manifest).
    pub out: PathBuf,
    /// Wide-band rate (Hz).
    pub hr_rate: u32,
    /// Narrow-band rate (Hz); must be below `hr_rate`.
    pub lr_rate: u32,
    /// Global seed; each file's RNG is seeded from it and the file's relative path.
    pub seed: u64,
    /// Cutoff range of the random low-pass (Hz), `0 < min <= max <= lr_rate / 2`.
    pub cutoff_range: (f64, f64),
}

impl DatasetConfig {
    /// Defaults: [`config::SAMPLE_RATE`] / [`config::NARROW_BAND_RATE`], seed 0,
    /// [`DEFAULT_CUTOFF_RANGE`].
    pub fn new(in_root: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            in_root: in_root.into(),
            out: out.into(),
            hr_rate: config::SAMPLE_RATE,
            lr_rate: config::NARROW_BAND_RATE,
            seed: 0,
            cutoff_range: DEFAULT_CUTOFF_RANGE,
        }
    }

    /// Check rates and cutoff range (not the folders; [`Dataset::prepare`] does that).
    pub fn validate(&self) -> Result<(), DatasetError> {
        for (which, value) in [("hr_rate", self.hr_rate), ("lr_rate", self.lr_rate)] {
            if !RATE_RANGE.contains(&value) {
                return Err(DatasetError::Rate {
                    which,
                    value,
                    min: *RATE_RANGE.start(),
                    max: *RATE_RANGE.end(),
                });
            }
        }
        if self.lr_rate >= self.hr_rate {
            return Err(DatasetError::RateOrder {
                lr_rate: self.lr_rate,
                hr_rate: self.hr_rate,
            });
        }
        let (min, max) = self.cutoff_range;
        let lr_nyquist = f64::from(self.lr_rate) / 2.0;
        if !(min.is_finite() && max.is_finite() && min > 0.0 && min <= max && max <= lr_nyquist) {
            return Err(DatasetError::CutoffRange {
                min,
                max,
                lr_nyquist,
            });
        }
        Ok(())
    }
}

/// Why a dataset run cannot start or finish (per-file problems are [`FileError`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A rate outside [`RATE_RANGE`].
    #[error("{which} must be between {min} and {max} Hz, got {value} Hz")]
    Rate {
        which: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    /// `lr_rate >= hr_rate`.
    #[error("lr_rate ({lr_rate} Hz) must be below hr_rate ({hr_rate} Hz)")]
    RateOrder { lr_rate: u32, hr_rate: u32 },
    /// Bad cutoff range.
    #[error("cutoff range must satisfy 0 < min <= max <= lr_rate / 2 ({lr_nyquist} Hz), got {min}..{max} Hz")]
    CutoffRange { min: f64, max: f64, lr_nyquist: f64 },
    /// The input folder cannot be opened.
    #[error("input folder {}: {source}", path.display())]
    InRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The input path is not a folder.
    #[error("input folder {} is not a directory", path.display())]
    InRootNotDir { path: PathBuf },
    /// `out` is `in_root` or inside it: the outputs would be picked up as inputs.
    #[error("output folder {} is inside the input folder {}; choose an output outside it", out.display(), in_root.display())]
    OutInsideIn { out: PathBuf, in_root: PathBuf },
    /// `in_root` is (inside) `out/hr` or `out/lr`: inputs would be overwritten.
    #[error("input folder {} is inside the output folder {}; inputs would be overwritten", in_root.display(), out_sub.display())]
    InInsideOut { in_root: PathBuf, out_sub: PathBuf },
    /// `out` cannot be created or written.
    #[error("cannot write to output folder {}: {source}", path.display())]
    OutUnwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing the manifest failed.
    #[error("cannot write manifest {}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why one file was skipped or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    /// Decoding failed (corrupt, empty, unsupported...).
    #[error("cannot read: {0}")]
    Read(String),
    /// Decoded but without channels or rate.
    #[error("no audio: {channels} channels at {sample_rate} Hz")]
    NoAudio { channels: usize, sample_rate: u32 },
    /// Shorter than [`MIN_DURATION_SECS`] (a skip, not a failure).
    #[error("too short: {secs:.3} s (minimum {min_secs} s)")]
    TooShort { secs: f64, min_secs: f64 },
    /// NaN or infinite samples (float files).
    #[error("contains NaN or infinite samples")]
    NonFinite,
    /// Resampler error.
    #[error("resampling {from_hz} -> {to_hz} Hz failed: {reason}")]
    Resample {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
    /// The drawn filter could not be designed.
    #[error("filter: {0}")]
    Filter(#[from] FilterError),
    /// Writing an output failed.
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    /// Appending to the journal failed.
    #[error("cannot append to {}: {reason}", path.display())]
    Journal { path: PathBuf, reason: String },
    /// Another input maps to the same output name (e.g. `a.wav` and `a.flac`).
    #[error("output name {rel_out} is already used by {other}")]
    Collision { rel_out: String, other: String },
    /// The relative path is not UTF-8 (it could not be named in the manifest).
    #[error("file name is not valid UTF-8")]
    NonUtf8Name,
    /// A folder could not be listed.
    #[error("cannot list folder: {0}")]
    Walk(String),
}

/// A file that was skipped or failed, with the reason. Displays as `<path>: <reason>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileIssue {
    /// Full path of the source file (or folder, for listing errors).
    pub path: PathBuf,
    /// What went wrong.
    pub error: FileError,
}

impl fmt::Display for FileIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

/// One line of `manifest.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Pair name relative to `out/hr` and `out/lr` (`/`-separated, `.wav`).
    pub path: String,
    /// Source file relative to `in_root` (`/`-separated).
    pub source: String,
    /// Source file size (bytes); a changed size makes a resumed run redo the pair.
    pub source_bytes: u64,
    /// Source sample rate (Hz).
    pub source_rate: u32,
    /// Source channel count (mixed to mono).
    pub source_channels: usize,
    /// Duration of the HR file (s).
    pub duration_secs: f64,
    /// HR rate (Hz).
    pub hr_rate: u32,
    /// LR rate (Hz).
    pub lr_rate: u32,
    /// HR length (samples).
    pub hr_samples: usize,
    /// LR length (samples).
    pub lr_samples: usize,
    /// Gain applied to both files to avoid clipping (1 when none was needed).
    pub gain: f32,
    /// The band-limiting filter.
    pub filter: LowpassSpec,
    /// `filter` in words, e.g. `"butterworth order 8 @ 3712 Hz"`.
    pub filter_description: String,
    /// Delay (samples at `hr_rate`) removed after filtering to keep LR aligned with HR.
    pub filter_delay_samples: usize,
    /// The run's global seed.
    pub seed: u64,
    /// The per-file seed derived from `seed` and `source` ([`file_seed`]).
    pub file_seed: u64,
}

/// One input file to process.
#[derive(Debug, Clone)]
pub struct Item {
    /// Full source path.
    pub source: PathBuf,
    /// Source relative to `in_root`, `/`-separated.
    pub rel_source: String,
    /// Output name relative to `out/hr` and `out/lr` (`.wav`).
    pub rel_out: String,
    /// Known before processing (name collision, listing error, non-UTF-8 name).
    problem: Option<FileError>,
}

/// The result of processing one item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// The pair was (re)written.
    Written(ManifestEntry),
    /// The pair was already complete (resume).
    Done(ManifestEntry),
    /// Skipped on purpose (too short).
    Skipped(FileIssue),
    /// Failed; the run goes on.
    Failed(FileIssue),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Items considered (audio files found, including failures).
    pub items: usize,
    /// Pairs written by this run.
    pub written: usize,
    /// Pairs skipped because they were already done.
    pub skipped_done: usize,
    /// Files skipped on purpose (too short), sorted by path.
    pub skipped: Vec<FileIssue>,
    /// Files that failed, sorted by path.
    pub failed: Vec<FileIssue>,
    /// Entries in the manifest written.
    pub manifest_entries: usize,
    /// The manifest written.
    pub manifest: PathBuf,
}

/// A prepared dataset run: validated configuration, the items to process and the resume state.
#[derive(Debug)]
pub struct Dataset {
    config: DatasetConfig,
    items: Vec<Item>,
    previous: HashMap<String, ManifestEntry>,
    journal_path: PathBuf,
    journal: Mutex<File>,
}

impl Dataset {
    /// Validate the configuration, check the folders (creating `out` and probing that it is
    /// writable), list the inputs and load the manifest/journal of earlier runs.
    pub fn prepare(config: DatasetConfig) -> Result<Self, DatasetError> {
        config.validate()?;
        let in_root = fs::canonicalize(&config.in_root).map_err(|source| DatasetError::InRoot {
            path: config.in_root.clone(),
            source,
        })?;
        if !in_root.is_dir() {
            return Err(DatasetError::InRootNotDir {
                path: config.in_root.clone(),
            });
        }
        let out_abs = absolute(&config.out).map_err(|source| DatasetError::OutUnwritable {
            path: config.out.clone(),
            source,
        })?;
        if out_abs.starts_with(&in_root) {
            return Err(DatasetError::OutInsideIn {
                out: config.out.clone(),
                in_root: config.in_root.clone(),
            });
        }
        for sub in [HR_DIR, LR_DIR] {
            let out_sub = out_abs.join(sub);
            if in_root.starts_with(&out_sub) {
                return Err(DatasetError::InInsideOut {
                    in_root: config.in_root.clone(),
                    out_sub,
                });
            }
        }
        let unwritable = |source| DatasetError::OutUnwritable {
            path: config.out.clone(),
            source,
        };
        fs::create_dir_all(&config.out).map_err(unwritable)?;
        let probe = config
            .out
            .join(format!(".widen-write-probe-{}", std::process::id()));
        File::create(&probe).map_err(unwritable)?;
        fs::remove_file(&probe).map_err(unwritable)?;

        let items = plan_items(&config.in_root);
        let journal_path = config.out.join(JOURNAL_FILE);
        let mut previous = HashMap::new();
        for path in [config.out.join(MANIFEST_FILE), journal_path.clone()] {
            for entry in read_entries(&path) {
                previous.insert(entry.path.clone(), entry);
            }
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(unwritable)?;
        Ok(Self {
            config,
            items,
            previous,
            journal_path,
            journal: Mutex::new(journal),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The inputs, sorted by relative path.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Path of the HR output of `item`.
    pub fn hr_path(&self, item: &Item) -> PathBuf {
        join_rel(&self.config.out.join(HR_DIR), &item.rel_out)
    }

    /// Path of the LR output of `item`.
    pub fn lr_path(&self, item: &Item) -> PathBuf {
        join_rel(&self.config.out.join(LR_DIR), &item.rel_out)
    }

    /// Process one item: skip it if done, otherwise make and write the pair and journal it.
    /// Never panics on bad input; problems come back as [`ItemOutcome::Failed`].
    pub fn process(&self, item: &Item) -> ItemOutcome {
        let issue = |error| FileIssue {
            path: item.source.clone(),
            error,
        };
        if let Some(problem) = &item.problem {
            return ItemOutcome::Failed(issue(problem.clone()));
        }
        let cfg = &self.config;
        let seed = file_seed(cfg.seed, &item.rel_source);
        let spec = filters::draw_random(&mut ChaCha8Rng::seed_from_u64(seed), cfg.cutoff_range);
        let (hr_path, lr_path) = (self.hr_path(item), self.lr_path(item));
        let source_bytes = match fs::metadata(&item.source) {
            Ok(m) => m.len(),
            Err(e) => return ItemOutcome::Failed(issue(FileError::Read(e.to_string()))),
        };
        if let Some(prev) = self.previous.get(&item.rel_out) {
            let same = prev.source == item.rel_source
                && prev.source_bytes == source_bytes
                && prev.hr_rate == cfg.hr_rate
                && prev.lr_rate == cfg.lr_rate
                && prev.seed == cfg.seed
                && prev.file_seed == seed
                && prev.filter == spec;
            if same && hr_path.is_file() && lr_path.is_file() {
                return ItemOutcome::Done(prev.clone());
            }
        }
        let paths = (hr_path.as_path(), lr_path.as_path());
        match self.make_pair(item, spec, seed, source_bytes, paths) {
            Ok(entry) => match self.append_journal(&entry) {
                Ok(()) => ItemOutcome::Written(entry),
                Err(e) => ItemOutcome::Failed(issue(e)),
            },
            Err(e @ FileError::TooShort { .. }) => ItemOutcome::Skipped(issue(e)),
            Err(e) => ItemOutcome::Failed(issue(e)),
        }
    }

    fn make_pair(
        &self,
        item: &Item,
        spec: LowpassSpec,
        file_seed: u64,
        source_bytes: u64,
        (hr_path, lr_path): (&Path, &Path),
    ) -> Result<ManifestEntry, FileError> {
        let cfg = &self.config;
        let audio = io::read(&item.source).map_err(|e| FileError::Read(e.to_string()))?;
        let (source_rate, source_channels) = (audio.sample_rate, audio.channels);
        if source_rate == 0 || source_channels == 0 {
            return Err(FileError::NoAudio {
                channels: source_channels,
                sample_rate: source_rate,
            });
        }
        let mono = audio.to_mono();
        drop(audio);
        let secs = mono.len() as f64 / f64::from(source_rate);
        if secs < MIN_DURATION_SECS {
            return Err(FileError::TooShort {
                secs,
                min_secs: MIN_DURATION_SECS,
            });
        }
        if mono.iter().any(|v| !v.is_finite()) {
            return Err(FileError::NonFinite);
        }
        let resample_to = |x: &[f32], from_hz: u32, to_hz: u32| {
            resample(x, from_hz, to_hz).map_err(|e| FileError::Resample {
                from_hz,
                to_hz,
                reason: e.to_string(),
            })
        };
        let mut hr = if source_rate == cfg.hr_rate {
            mono
        } else {
            resample_to(&mono, source_rate, cfg.hr_rate)?
        };
        let mut lowpass = filters::design(spec, cfg.hr_rate)?;
        let band_limited = lowpass.filter_aligned(&hr);
        let mut lr = resample_to(&band_limited, cfg.hr_rate, cfg.lr_rate)?;
        drop(band_limited);

        let peak = hr.iter().chain(&lr).fold(0.0f32, |m, v| m.max(v.abs()));
        let gain = if peak > CLIP_LEVEL {
            CLIP_LEVEL / peak
        } else {
            1.0
        };
        if gain != 1.0 {
            hr.iter_mut().chain(lr.iter_mut()).for_each(|v| *v *= gain);
        }
        let (hr_samples, lr_samples) = (hr.len(), lr.len());
        write_mono(hr_path, hr, cfg.hr_rate)?;
        write_mono(lr_path, lr, cfg.lr_rate)?;
        Ok(ManifestEntry {
            path: item.rel_out.clone(),
            source: item.rel_source.clone(),
            source_bytes,
            source_rate,
            source_channels,
            duration_secs: hr_samples as f64 / f64::from(cfg.hr_rate),
            hr_rate: cfg.hr_rate,
            lr_rate: cfg.lr_rate,
            hr_samples,
            lr_samples,
            gain,
            filter: spec,
            filter_description: spec.describe(),
            filter_delay_samples: lowpass.latency_samples(),
            seed: cfg.seed,
            file_seed,
        })
    }

    fn append_journal(&self, entry: &ManifestEntry) -> Result<(), FileError> {
        let journal_err = |reason: String| FileError::Journal {
            path: self.journal_path.clone(),
            reason,
        };
        let mut line = serde_json::to_string(entry).map_err(|e| journal_err(e.to_string()))?;
        line.push('\n');
        // A poisoned lock only means another thread panicked mid-append; the file is still usable.
        let mut file = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: an interruption leaves at most one partial last line, which
        // `read_entries` ignores.
        file.write_all(line.as_bytes())
            .map_err(|e| journal_err(e.to_string()))
    }

    /// Write `out/manifest.jsonl` (entries of written and done pairs, sorted by path,
    /// atomically), remove the journal and summarise. `outcomes` are those of [`Dataset::process`]
    /// in any order.
    pub fn finish(
        self,
        outcomes: impl IntoIterator<Item = ItemOutcome>,
    ) -> Result<Summary, DatasetError> {
        let mut entries = BTreeMap::new();
        let (mut written, mut skipped_done) = (0, 0);
        let (mut skipped, mut failed) = (Vec::new(), Vec::new());
        for outcome in outcomes {
            match outcome {
                ItemOutcome::Written(e) => {
                    written += 1;
                    entries.insert(e.path.clone(), e);
                }
                ItemOutcome::Done(e) => {
                    skipped_done += 1;
                    entries.insert(e.path.clone(), e);
                }
                ItemOutcome::Skipped(i) => skipped.push(i),
                ItemOutcome::Failed(i) => failed.push(i),
            }
        }
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        failed.sort_by(|a, b| a.path.cmp(&b.path));

        let manifest = self.config.out.join(MANIFEST_FILE);
        let manifest_err = |source| DatasetError::Manifest {
            path: manifest.clone(),
            source,
        };
        let mut text = String::new();
        for entry in entries.values() {
            let line =
                serde_json::to_string(entry).map_err(|e| manifest_err(std::io::Error::other(e)))?;
            text.push_str(&line);
            text.push('\n');
        }
        let partial = self.config.out.join(format!("{MANIFEST_FILE}.partial"));
        fs::write(&partial, text).map_err(manifest_err)?;
        fs::rename(&partial, &manifest).map_err(manifest_err)?;
        drop(self.journal);
        match fs::remove_file(&self.journal_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(manifest_err(e)),
            _ => {}
        }
        Ok(Summary {
            items: self.items.len(),
            written,
            skipped_done,
            skipped,
            failed,
            manifest_entries: entries.len(),
            manifest,
        })
    }
}

/// Prepare, process every item in order (calling `on_outcome` after each) and finish.
pub fn run(
    config: DatasetConfig,
    mut on_outcome: impl FnMut(&ItemOutcome),
) -> Result<Summary, DatasetError> {
    let dataset = Dataset::prepare(config)?;
    let outcomes: Vec<ItemOutcome> = dataset
        .items()
        .iter()
        .map(|item| {
            let outcome = dataset.process(item);
            on_outcome(&outcome);
            outcome
        })
        .collect();
    dataset.finish(outcomes)
}

/// Per-file seed: FNV-1a (64-bit) over the seed's little-endian bytes and the `/`-separated
/// relative path, finished with the SplitMix64 mixer. Stable across platforms and Rust versions
/// (unlike `std`'s `DefaultHasher`), so a dataset can be regenerated bit for bit.
pub fn file_seed(seed: u64, rel_path: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    for &b in seed.to_le_bytes().iter().chain(rel_path.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// `a/b.flac` -> `a/b.wav` (only the last extension changes).
pub fn output_name(rel_source: &str) -> String {
    let (dir, file) = match rel_source.rfind('/') {
        Some(i) => (&rel_source[..=i], &rel_source[i + 1..]),
        None => ("", rel_source),
    };
    let stem = match file.rfind('.') {
        Some(i) if i > 0 => &file[..i],
        _ => file,
    };
    format!("{dir}{stem}.wav")
}

/// Whether `path` has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| e.eq_ignore_ascii_case(a)))
}

/// The pairs listed in `out/manifest.jsonl` of a finished `make-dataset` run (nothing when it
/// has no manifest; unparsable lines are skipped).
pub fn read_manifest(out: &Path) -> Vec<ManifestEntry> {
    read_entries(&out.join(MANIFEST_FILE))
}

/// Read manifest/journal lines; a missing file gives nothing, unparsable lines (e.g. the partial
/// last line of an interrupted journal) are ignored, which only means that pair is redone.
fn read_entries(path: &Path) -> Vec<ManifestEntry> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

fn write_mono(path: &Path, samples: Vec<f32>, sample_rate: u32) -> Result<(), FileError> {
    let write_err = |reason: String| FileError::Write {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| write_err(e.to_string()))?;
    }
    let audio = io::Audio {
        sample_rate,
        channels: 1,
        samples,
    };
    io::write(path, &audio, io::SampleFormat::I16).map_err(|e| write_err(e.to_string()))
}

fn join_rel(base: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(base.to_path_buf(), |p, c| p.join(c))
}

/// List the inputs (sorted by relative path) and turn them into items, flagging collisions.
fn plan_items(in_root: &Path) -> Vec<Item> {
    let mut found = Vec::new();
    walk(in_root, in_root, &mut found);
    found.sort_by(|a, b| a.rel_source.cmp(&b.rel_source));
    let mut first_user: HashMap<String, String> = HashMap::new();
    for item in &mut found {
        if item.problem.is_some() {
            continue;
        }
        match first_user.get(&item.rel_out) {
            Some(other) => {
                item.problem = Some(FileError::Collision {
                    rel_out: item.rel_out.clone(),
                    other: other.clone(),
                })
            }
            None => {
                first_user.insert(item.rel_out.clone(), item.rel_source.clone());
            }
        }
    }
    found
}

/// Recursive listing. Dot-names are skipped (hidden files, macOS `._x.wav` resource forks);
/// symlinks to files are followed, symlinks to folders are not (no cycles).
fn walk(root: &Path, dir: &Path, found: &mut Vec<Item>) {
    let rel_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        Some(parts?.join("/"))
    };
    let fail = |path: &Path, error: FileError| Item {
        source: path.to_path_buf(),
        rel_source: path.to_string_lossy().into_owned(),
        rel_out: String::new(),
        problem: Some(error),
    };
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            found.push(fail(dir, FileError::Walk(e.to_string())));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            walk(root, &path, found);
            continue;
        }
        let is_file = file_type.is_file()
            || (file_type.is_symlink() && fs::metadata(&path).is_ok_and(|m| m.is_file()));
        if !is_file || !is_audio_file(&path) {
            continue;
        }
        match rel_of(&path) {
            Some(rel_source) => found.push(Item {
                source: path,
                rel_out: output_name(&rel_source),
                rel_source,
                problem: None,
            }),
            None => found.push(fail(&path, FileError::NonUtf8Name)),
        }
    }
}

/// Absolute, normalised form of `path` without requiring it to exist: the deepest existing
/// ancestor is canonicalised (resolving symlinks) and the rest appended lexically.
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = fs::canonicalize(existing) {
            let mut out = canonical;
            for c in rest.iter().rev() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(s) => out.push(s),
                    _ => {}
                }
            }
            return Ok(out);
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return Ok(path.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_seed_is_stable_and_path_sensitive() {
        // Pinned (values computed independently in Python): changing the derivation would
        // silently change every generated dataset.
        assert_eq!(file_seed(0, "fr/bouche.wav"), 0xf773_c26b_1cf2_fd91);
        assert_eq!(file_seed(7, "a/b.flac"), 0x5244_d0a5_8ca2_9d59);
        assert_ne!(file_seed(0, "fr/bouche.wav"), file_seed(1, "fr/bouche.wav"));
        assert_ne!(
            file_seed(0, "fr/bouche.wav"),
            file_seed(0, "fr/bouche2.wav")
        );
    }

    #[test]
    fn output_names_change_only_the_last_extension() {
        assert_eq!(output_name("a/b.flac"), "a/b.wav");
        assert_eq!(output_name("x.tar.mp3"), "x.tar.wav");
        assert_eq!(output_name("dir.v2/take"), "dir.v2/take.wav");
        assert_eq!(output_name("c.WAV"), "c.wav");
    }

    #[test]
    fn audio_extensions_are_case_insensitive() {
        for name in ["a.wav", "a.FLAC", "a.ogg", "a.oga", "a.Mp3"] {
            assert!(is_audio_file(Path::new(name)), "{name}");
        }
        for name in ["a.txt", "a", "a.wav.bak", "wav"] {
            assert!(!is_audio_file(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn config_validation() {
        let ok = DatasetConfig::new("in", "out");
        assert!(ok.validate().is_ok());
        let bad = |f: &dyn Fn(&mut DatasetConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(matches!(
            bad(&|c| c.hr_rate = 1000),
            DatasetError::Rate {
                which: "hr_rate",
                ..
            }
        ));
        assert!(matches!(
            bad(&|c| c.lr_rate = 500_000),
            DatasetError::Rate {
                which: "lr_rate",
                ..
            }
        ));
        let e = bad(&|c| c.lr_rate = 22_050);
        assert_eq!(
            e.to_string(),
            "lr_rate (22050 Hz) must be below hr_rate (22050 Hz)"
        );
        assert!(matches!(
            bad(&|c| c.cutoff_range = (4000.0, 3400.0)),
            DatasetError::CutoffRange { .. }
        ));
        assert!(matches!(
            bad(&|c| c.cutoff_range = (3400.0, 4100.0)),
            DatasetError::CutoffRange { .. }
        ));
        assert!(matches!(
            bad(&|c| c.cutoff_range = (0.0, 3000.0)),
            DatasetError::CutoffRange { .. }
        ));
        assert!(matches!(
            bad(&|c| c.cutoff_range = (f64::NAN, 3000.0)),
            DatasetError::CutoffRange { .. }
        ));
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    #[test]
    fn walk_is_sorted_filtered_and_flags_collisions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b/z.wav",
            "b/a.FLAC",
            "a.mp3",
            "a.wav",
            "notes.txt",
            ".hidden.wav",
            ".git/c.wav",
            "c/d/e.oga",
            "c/d/f.ogg",
        ] {
            touch(&root.join(name));
        }
        let items = plan_items(root);
        let names: Vec<_> = items.iter().map(|i| i.rel_source.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.mp3",
                "a.wav",
                "b/a.FLAC",
                "b/z.wav",
                "c/d/e.oga",
                "c/d/f.ogg"
            ]
        );
        assert_eq!(items[1].rel_out, "a.wav");
        assert_eq!(
            items[1].problem,
            Some(FileError::Collision {
                rel_out: "a.wav".into(),
                other: "a.mp3".into()
            })
        );
        assert!(items
            .iter()
            .enumerate()
            .all(|(i, it)| (i == 1) == it.problem.is_some()));
    }

    #[cfg(unix)]
    #[test]
    fn walk_does_not_follow_folder_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("sub/a.wav"));
        std::os::unix::fs::symlink(root.join("sub"), root.join("sub/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/a.wav"), root.join("link.wav")).unwrap();
        let names: Vec<_> = plan_items(root).into_iter().map(|i| i.rel_source).collect();
        assert_eq!(names, ["link.wav", "sub/a.wav"]);
    }

    #[test]
    fn folder_relations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("in");
        fs::create_dir_all(&root).unwrap();
        let refuse = |out: PathBuf, in_root: PathBuf| {
            Dataset::prepare(DatasetConfig::new(in_root, out)).unwrap_err()
        };
        assert!(matches!(
            refuse(root.join("out"), root.clone()),
            DatasetError::OutInsideIn { .. }
        ));
        assert!(matches!(
            refuse(root.clone(), root.clone()),
            DatasetError::OutInsideIn { .. }
        ));
        // Through `..` and not yet existing folders.
        assert!(matches!(
            refuse(root.join("x/../y/new"), root.clone()),
            DatasetError::OutInsideIn { .. }
        ));
        let hr_in = dir.path().join("data/hr/raw");
        fs::create_dir_all(&hr_in).unwrap();
        assert!(matches!(
            refuse(dir.path().join("data"), hr_in),
            DatasetError::InInsideOut { .. }
        ));
        assert!(matches!(
            refuse(dir.path().join("o"), dir.path().join("missing")),
            DatasetError::InRoot { .. }
        ));
        // An output folder beside or above the input (not hr/lr) is fine.
        assert!(Dataset::prepare(DatasetConfig::new(&root, dir.path())).is_ok());
        assert!(Dataset::prepare(DatasetConfig::new(&root, dir.path().join("o2"))).is_ok());
    }

    #[test]
    fn unwritable_output_is_a_clean_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.txt");
        fs::write(&file, b"not a folder").unwrap();
        // Works even as root (permission bits would not stop root): a file in the path.
        let err = Dataset::prepare(DatasetConfig::new(dir.path().join("in0"), &file)).unwrap_err();
        assert!(matches!(err, DatasetError::InRoot { .. }), "{err}");
        fs::create_dir(dir.path().join("in")).unwrap();
        let err = Dataset::prepare(DatasetConfig::new(dir.path().join("in"), file.join("out")))
            .unwrap_err();
        assert!(matches!(err, DatasetError::OutUnwritable { .. }), "{err}");
        assert!(
            err.to_string().starts_with("cannot write to output folder"),
            "{err}"
        );
    }

    #[test]
    fn journal_partial_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let entry = ManifestEntry {
            path: "a.wav".into(),
            source: "a.flac".into(),
            source_bytes: 1234,
            source_rate: 44_100,
            source_channels: 2,
            duration_secs: 1.0,
            hr_rate: 22_050,
            lr_rate: 8_000,
            hr_samples: 22_050,
            lr_samples: 8_000,
            gain: 1.0,
            filter: LowpassSpec {
                kind: filters::LowpassKind::Butterworth { order: 8 },
                cutoff_hz: 3712.0,
            },
            filter_description: "butterworth order 8 @ 3712 Hz".into(),
            filter_delay_samples: 3,
            seed: 0,
            file_seed: 42,
        };
        let line = serde_json::to_string(&entry).unwrap();
        let path = dir.path().join("j");
        fs::write(&path, format!("{line}\n{}", &line[..line.len() / 2])).unwrap();
        assert_eq!(read_entries(&path), vec![entry]);
        assert!(read_entries(&dir.path().join("missing")).is_empty());
    }
}
