//! `widen info FILE...`: format, levels and bandwidth of audio files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use widen_core::analysis::{
    Bandwidth, BandwidthAccumulator, StatsAccumulator, DEFAULT_ENERGY_FRACTION,
};
use widen_core::io::mix_to_mono;

use crate::batch::{self, Align};

/// Show format, duration, levels and bandwidth of audio files.
///
/// Per file: container and codec, sample rate, channels, bit depth, duration, peak and RMS
/// level (dBFS), clipped samples (|x| >= 0.999), DC offset, and the bandwidth analysis
/// (-50 dB roll-off, narrow-/wide-band verdict). Folders are searched recursively for
/// .wav, .flac, .ogg, .oga and .mp3 files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audio files or folders.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What `widen info` reports for one file (also its JSON object).
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub path: String,
    pub container: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: usize,
    pub bits_per_sample: Option<u32>,
    pub sample_format: String,
    /// Frames actually decoded.
    pub frames: u64,
    pub duration_secs: f64,
    pub peak_dbfs: f64,
    pub rms_dbfs: f64,
    pub clipped_samples: u64,
    pub dc_offset: f64,
    pub bandwidth: Bandwidth,
}

/// Decodes the file once, feeding the level statistics and the bandwidth analysis.
pub fn analyse(path: &Path) -> Result<Report, String> {
    let init = |info: &widen_core::io::AudioInfo| {
        (
            StatsAccumulator::new(info.channels),
            BandwidthAccumulator::new(info.sample_rate),
            info.channels,
            Vec::new(),
        )
    };
    let (info, frames, (stats, mut bw, _, _)) =
        batch::stream_file(path, init, |(stats, bw, channels, mono), block| {
            stats.push(block);
            mono.clear();
            mix_to_mono(block, *channels, mono);
            bw.push(mono);
        })
        .map_err(|e| e.to_string())?;
    let s = stats.finish();
    Ok(Report {
        path: path.display().to_string(),
        container: info.container,
        codec: info.codec,
        sample_rate: info.sample_rate,
        channels: info.channels,
        bits_per_sample: info.bits_per_sample,
        sample_format: info.sample_format,
        frames,
        duration_secs: frames as f64 / f64::from(info.sample_rate),
        peak_dbfs: s.peak_dbfs,
        rms_dbfs: s.rms_dbfs,
        clipped_samples: s.clipped_samples,
        dc_offset: s.dc_offset,
        bandwidth: bw.finish(DEFAULT_ENERGY_FRACTION),
    })
}

fn row(r: &Report) -> Vec<(String, Align)> {
    use Align::{Left, Right};
    let bits = match r.bits_per_sample {
        Some(b) => format!("{b}-bit {}", r.sample_format),
        None => r.sample_format.clone(),
    };
    vec![
        (r.path.clone(), Left),
        (format!("{}/{}", r.container, r.codec), Left),
        (format!("{} Hz", r.sample_rate), Right),
        (format!("{} ch", r.channels), Right),
        (bits, Left),
        (batch::format_duration(r.duration_secs), Right),
        (format!("peak {:>6.1} dBFS", r.peak_dbfs), Right),
        (format!("rms {:>6.1} dBFS", r.rms_dbfs), Right),
        (format!("clipped {}", r.clipped_samples), Right),
        (format!("dc {:+.4}", r.dc_offset), Right),
        (format!("roll-off {}", batch::format_khz(r.bandwidth.rolloff_50db_hz)), Right),
        (r.bandwidth.verdict.to_string(), Left),
    ]
}

/// Runs `widen info`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcomes = batch::process(batch::expand_inputs(&args.files), analyse);
    let printed = if args.json {
        batch::write_json(&outcomes)
    } else {
        let rows: Vec<_> = outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok().map(row))
            .collect();
        batch::write_table(&rows).map_err(Into::into)
    };
    batch::ignore_broken_pipe(printed)?;
    Ok(batch::finish(&outcomes))
}
