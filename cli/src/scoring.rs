//! Scoring shared by `widen eval` and `widen enhance --hr-dir`: pairing an estimate with its
//! reference by relative path or stem, loading both as mono 22.05 kHz, removing a constant lag,
//! and averaging scores over files.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use widen_core::config::SAMPLE_RATE;
use widen_core::metrics::{self, Scores};

/// Mean scores over files.
#[derive(Debug, Serialize, Default)]
pub struct Mean {
    pub files: usize,
    pub stoi: Option<f64>,
    pub pesq_wb: Option<f64>,
    pub lsd: f64,
    pub lsd_hf: f64,
    pub snr_db: f64,
    pub mse: f64,
}

/// How an estimate file is looked up among references: its relative path without extension, then its stem.
#[derive(Debug, Clone)]
pub struct Key {
    rel: String,
    stem: String,
}

impl Key {
    /// The relative path when there is one, else the stem.
    pub fn display_name(&self) -> String {
        if self.rel.is_empty() {
            self.stem.clone()
        } else {
            self.rel.clone()
        }
    }
}

/// Suffixes an estimate's stem may carry beyond its reference's (`<stem>_sr.wav`, ...).
pub const ESTIMATE_SUFFIXES: [&str; 3] = ["_sr", "_enhanced", "_widen"];

fn strip_suffix(s: &str) -> &str {
    ESTIMATE_SUFFIXES
        .iter()
        .find_map(|suf| s.strip_suffix(suf))
        .unwrap_or(s)
}

/// The key of `file` found below `root` (a folder; for a file `root` the key is the stem only).
pub fn rel_key(root: &Path, file: &Path) -> Key {
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

/// The audio files of a reference (or input) folder, by relative path and by stem; or one file.
pub struct Index {
    pub root: PathBuf,
    single: Option<PathBuf>,
    by_rel: HashMap<String, PathBuf>,
    by_stem: HashMap<String, Vec<PathBuf>>,
}

impl Index {
    /// Lists `root` (a folder, recursively; or a single file that matches everything).
    pub fn new(root: &Path) -> Result<Self> {
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
                ix.by_rel.insert(
                    rel.with_extension("").to_string_lossy().into_owned(),
                    f.clone(),
                );
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

    /// The file matching `key`: same relative path, else the only file with the same stem.
    pub fn find(&self, key: &Key) -> Option<PathBuf> {
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
pub fn load(path: &Path) -> Result<Vec<f32>> {
    let audio = widen_core::io::read(path)?;
    let mono = audio.to_mono();
    if audio.sample_rate == SAMPLE_RATE {
        return Ok(mono);
    }
    widen_core::dsp::resample::resample(&mono, audio.sample_rate, SAMPLE_RATE)
        .with_context(|| format!("{}: cannot resample", path.display()))
}

/// Finds the lag of `estimate` behind `reference` (up to `max_lag` samples), removes it and scores.
pub fn score_pair(reference: &[f32], estimate: &[f32], max_lag: usize) -> Result<(isize, Scores)> {
    let lag = metrics::find_lag(reference, estimate, max_lag);
    let (r, e) = metrics::align(reference, estimate, lag);
    Ok((lag, metrics::evaluate(r, e, SAMPLE_RATE)?))
}

fn mean_opt<'a>(it: impl Iterator<Item = &'a Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = it.filter_map(|x| *x).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The mean of each score (STOI and PESQ over the files that have one; SNR over finite values).
pub fn mean_of<'a>(scores: impl Iterator<Item = &'a Scores>) -> Mean {
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
            let f: Vec<f64> = v
                .iter()
                .map(|s| s.snr_db)
                .filter(|x| x.is_finite())
                .collect();
            if f.is_empty() {
                f64::INFINITY
            } else {
                f.iter().sum::<f64>() / f.len() as f64
            }
        },
        mse: avg(|s| s.mse),
    }
}
