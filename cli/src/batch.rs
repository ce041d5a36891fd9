//! What every many-files subcommand shares: expanding arguments into audio files,
//! processing them in parallel without letting one bad file stop the rest, printing aligned
//! tables or one JSON array, and the error/summary/exit-code conventions:
//!
//! - each failure is one line `error: <path>: <reason>` on stderr;
//! - with more than one file, a final `N files, M failed` line on stderr;
//! - exit code 1 if any file failed, 0 otherwise (clap exits with 2 on usage errors).

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rayon::prelude::*;
use widen_core::io::{AudioError, AudioInfo, AudioReader, AUDIO_EXTENSIONS};

/// One input: a file to process, or an argument that already failed (e.g. an empty folder).
pub enum Input {
    File(PathBuf),
    Failed(PathBuf, String),
}

fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.as_str()))
}

/// Expands folders recursively (sorted by name, following links) into their audio files
/// (extensions in [`AUDIO_EXTENSIONS`]); any other argument is kept as a file, so a missing
/// or unreadable path fails later with the decoder's reason.
pub fn expand_inputs(args: &[PathBuf]) -> Vec<Input> {
    let mut out = Vec::new();
    for arg in args {
        if !arg.is_dir() {
            out.push(Input::File(arg.clone()));
            continue;
        }
        let before = out.len();
        for entry in walkdir::WalkDir::new(arg)
            .follow_links(true)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() && is_audio_file(e.path()) => {
                    out.push(Input::File(e.into_path()));
                }
                Ok(_) => {}
                Err(e) => {
                    let path = e.path().unwrap_or(arg).to_path_buf();
                    let reason = match e.io_error() {
                        Some(io) => short_io(io),
                        None => e.to_string(),
                    };
                    out.push(Input::Failed(
                        path.clone(),
                        format!("{}: cannot list: {reason}", path.display()),
                    ));
                }
            }
        }
        if out.len() == before {
            out.push(Input::Failed(
                arg.clone(),
                format!(
                    "{}: no audio files found (looked for .{})",
                    arg.display(),
                    AUDIO_EXTENSIONS.join(", .")
                ),
            ));
        }
    }
    out
}

/// "Permission denied" rather than "Permission denied (os error 13)".
fn short_io(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The result for one input: its path and either a report or a one-line error message
/// that already names the path.
pub struct Outcome<T> {
    pub path: PathBuf,
    pub result: Result<T, String>,
}

/// Runs `work` on every input in parallel, keeping the input order. A panic in `work` is
/// caught and reported as that file's failure so the other files still get processed.
pub fn process<T, F>(inputs: Vec<Input>, work: F) -> Vec<Outcome<T>>
where
    T: Send,
    F: Fn(&Path) -> Result<T, String> + Sync,
{
    inputs
        .into_par_iter()
        .map(|input| match input {
            Input::Failed(path, msg) => Outcome {
                path,
                result: Err(msg),
            },
            Input::File(path) => {
                let result = match std::panic::catch_unwind(AssertUnwindSafe(|| work(&path))) {
                    Ok(r) => r,
                    Err(payload) => {
                        let what = payload
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_string())
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(format!("{}: internal error: {what}", path.display()))
                    }
                };
                Outcome { path, result }
            }
        })
        .collect()
}

/// Writes the error lines and the summary to stderr and returns the exit code.
pub fn finish<T>(outcomes: &[Outcome<T>]) -> ExitCode {
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let mut err = std::io::stderr().lock();
    for o in outcomes {
        if let Err(msg) = &o.result {
            let _ = writeln!(err, "error: {msg}");
        }
    }
    if outcomes.len() > 1 {
        let _ = writeln!(err, "{} files, {failed} failed", outcomes.len());
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One element of the JSON array: the report itself, or the failure.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum JsonEntry<'a, T> {
    Ok(&'a T),
    Failed { path: String, error: &'a str },
}

/// Writes the outcomes as one JSON array: each report as it serialises (fields in
/// declaration order), each failure as `{"path": ..., "error": ...}`.
pub fn write_json<T: serde::Serialize>(outcomes: &[Outcome<T>]) -> anyhow::Result<()> {
    let entries: Vec<JsonEntry<'_, T>> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(r) => JsonEntry::Ok(r),
            Err(msg) => JsonEntry::Failed {
                path: o.path.display().to_string(),
                error: msg,
            },
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &entries)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// How a table cell is aligned.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

/// Prints rows as columns padded to their widest cell, two spaces apart.
pub fn write_table(rows: &[Vec<(String, Align)>]) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, (cell, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, align)) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            match align {
                Align::Left if i + 1 == row.len() => line.push_str(cell),
                Align::Left => {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
        }
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Output writes that fail because the reader went away (`widen info | head`) end quietly.
pub fn ignore_broken_pipe(r: anyhow::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .and_then(|j| j.io_error_kind())
                        == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// `1.234 s`, `2:03.5`, `1:02:03`.
pub fn format_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.3} s")
    } else if secs < 3600.0 {
        let m = (secs / 60.0).floor();
        format!("{}:{:04.1}", m as u64, secs - m * 60.0)
    } else {
        let total = secs.round() as u64;
        format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
    }
}

/// ` 10.4 kHz` (padded so labels before it line up).
pub fn format_khz(hz: f64) -> String {
    format!("{:>5.1} kHz", hz / 1000.0)
}

/// Decodes `path` block by block: `init` builds a state from the header, `on_block` gets
/// every interleaved block. Returns the header, the frames decoded and the final state.
/// Memory stays bounded by the block size.
pub fn stream_file<S>(
    path: &Path,
    init: impl FnOnce(&AudioInfo) -> S,
    mut on_block: impl FnMut(&mut S, &[f32]),
) -> Result<(AudioInfo, u64, S), AudioError> {
    let mut reader = AudioReader::open(path)?;
    let mut state = init(reader.info());
    let mut buf = Vec::new();
    while reader.read_frames(&mut buf, 1 << 16)? > 0 {
        on_block(&mut state, &buf);
    }
    Ok((reader.info().clone(), reader.frames_read(), state))
}

/// All audio files below `dir`, recursively, sorted by path (for commands that pair files
/// across folders, such as `eval`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(1.2345), "1.234 s");
        assert_eq!(format_duration(123.46), "2:03.5");
        assert_eq!(format_duration(3723.0), "1:02:03");
        assert_eq!(format_khz(10_400.0), " 10.4 kHz");
        assert_eq!(format_khz(3_900.0), "  3.9 kHz");
    }

    #[test]
    fn audio_extensions_are_case_insensitive() {
        assert!(is_audio_file(Path::new("a/B.WAV")));
        assert!(is_audio_file(Path::new("x.flac")));
        assert!(!is_audio_file(Path::new("x.wav.partial")));
        assert!(!is_audio_file(Path::new("x.opus")));
        assert!(!is_audio_file(Path::new("wav")));
    }
}
