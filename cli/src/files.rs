//! Finding audio files given on the command line.

use std::path::{Path, PathBuf};

/// Extensions the readers understand (compared case-insensitively).
pub const AUDIO_EXTENSIONS: [&str; 6] = ["wav", "flac", "ogg", "oga", "mp3", "wave"];

pub fn is_audio_file(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// All audio files below `dir`, recursively, sorted (deterministic order for reports and datasets).
pub fn audio_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() && is_audio_file(entry.path()) {
            out.push(entry.into_path());
        }
    }
    out.sort();
    Ok(out)
}

/// Expands command-line arguments: files are kept as given, directories are walked.
pub fn expand(args: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        if a.is_dir() {
            match audio_files(a) {
                Ok(v) if v.is_empty() => errors.push(format!("{}: no audio files found", a.display())),
                Ok(v) => files.extend(v),
                Err(e) => errors.push(format!("{}: cannot list: {e}", a.display())),
            }
        } else {
            files.push(a.clone());
        }
    }
    (files, errors)
}
