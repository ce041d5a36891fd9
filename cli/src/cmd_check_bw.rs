//! `widen check-bw FILE...`: is the audio narrow-band (a candidate for widening)?

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use widen_core::analysis::{BandwidthAccumulator, Verdict, DEFAULT_ENERGY_FRACTION};
use widen_core::io::mix_to_mono;

use crate::batch::{self, Align};

/// Measure the effective bandwidth of audio files and say whether they are narrow-band.
///
/// Per file: the frequency below which FRACTION of the spectral energy lies, the highest
/// frequency within 50 dB of the spectral peak (roll-off), the estimated cutoff, and the
/// verdict (narrow-band when the roll-off is below 5.5 kHz). Folders are searched
/// recursively for .wav, .flac, .ogg, .oga and .mp3 files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Audio files or folders.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Energy fraction for the energy bandwidth, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_ENERGY_FRACTION, value_parser = parse_fraction)]
    pub fraction: f64,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a number in (0, 1], found '{s}'"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("expected a number in (0, 1], found {v}"))
    }
}

/// What `widen check-bw` reports for one file (also its JSON object).
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub path: String,
    pub sample_rate: u32,
    pub channels: usize,
    pub duration_secs: f64,
    pub energy_fraction: f64,
    pub energy_bw_hz: f64,
    pub rolloff_50db_hz: f64,
    pub cutoff_hz: f64,
    pub nyquist_hz: f64,
    pub active_frames: u64,
    pub verdict: Verdict,
}

/// Decodes the file once into the streaming bandwidth analysis.
pub fn analyse(path: &Path, fraction: f64) -> Result<Report, String> {
    let init = |info: &widen_core::io::AudioInfo| {
        (BandwidthAccumulator::new(info.sample_rate), info.channels, Vec::new())
    };
    let (info, frames, (mut bw, _, _)) =
        batch::stream_file(path, init, |(bw, channels, mono), block| {
            mono.clear();
            mix_to_mono(block, *channels, mono);
            bw.push(mono);
        })
        .map_err(|e| e.to_string())?;
    let b = bw.finish(fraction);
    Ok(Report {
        path: path.display().to_string(),
        sample_rate: info.sample_rate,
        channels: info.channels,
        duration_secs: frames as f64 / f64::from(info.sample_rate),
        energy_fraction: b.energy_fraction,
        energy_bw_hz: b.energy_bw_hz,
        rolloff_50db_hz: b.rolloff_50db_hz,
        cutoff_hz: b.cutoff_hz,
        nyquist_hz: b.nyquist_hz,
        active_frames: b.active_frames,
        verdict: b.verdict,
    })
}

fn row(r: &Report) -> Vec<(String, Align)> {
    use Align::{Left, Right};
    vec![
        (r.path.clone(), Left),
        (format!("{} Hz", r.sample_rate), Right),
        (
            format!(
                "energy {:.0}% < {}",
                r.energy_fraction * 100.0,
                batch::format_khz(r.energy_bw_hz)
            ),
            Right,
        ),
        (format!("roll-off {}", batch::format_khz(r.rolloff_50db_hz)), Right),
        (format!("cutoff {}", batch::format_khz(r.cutoff_hz)), Right),
        (r.verdict.to_string(), Left),
    ]
}

/// Runs `widen check-bw`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fraction = args.fraction;
    let outcomes = batch::process(batch::expand_inputs(&args.files), |p| analyse(p, fraction));
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
