//! `cargo xtask quality`: the measured quality report, docs/QUALITY.md + docs/quality.json.
//!
//! Everything is measured through widen's own commands (`make-dataset`, `enhance --hr-dir
//! --json`, `eval --input --json`, `vocoder-eval --json`), so the report scores exactly what a
//! user gets; this module only chooses the clips, runs the commands and writes the tables.
//!
//! Clips: an evenly spread subset of the corpus eval split (`data/corpus/eval`, unseen speakers
//! and languages; `--max-files`, default 300), turned into 22.05 kHz / 8 kHz pairs by
//! `widen make-dataset` (its randomised anti-alias filters, seed 7). `--smoke` uses four
//! ktuberling words from the test data instead and writes below target/ (CI keeps the command
//! working; its figures mean nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use widen_core::dsp::{resample, Stft};
use widen_core::io::{read, write, Audio, SampleFormat};

/// Seed of `make-dataset`'s random band-limiting filters for the report's pairs.
const PAIR_SEED: &str = "7";
/// Griffin-Lim iterations of the report's Griffin-Lim rows (the engine's default).
const GL_ITERS: &str = "32";
/// Amounts of the trade-off table.
const AMOUNTS: [&str; 4] = ["0.25", "0.5", "0.75", "1"];
/// Clips with spectrogram PNGs.
const SPECTROGRAM_CLIPS: usize = 3;

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    smoke: bool,
    max_files: usize,
    eval_dir: PathBuf,
    cnn: [PathBuf; 2],
    vocoder_files: usize,
}

fn parse(ws: &Path, args: &[String]) -> Result<Options> {
    let mut o = Options {
        smoke: false,
        max_files: 300,
        eval_dir: ws.join("data/corpus/eval"),
        cnn: [ws.join("data/export/cnn-q"), ws.join("data/export/cnn-ll")],
        vocoder_files: 100,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{name} expects a value, found nothing"))
        };
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--max-files" => {
                let v = value(a)?;
                o.max_files = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow!("--max-files expects a count > 0, found `{v}`"))?;
            }
            "--vocoder-files" => {
                let v = value(a)?;
                o.vocoder_files =
                    v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        anyhow!("--vocoder-files expects a count > 0, found `{v}`")
                    })?;
            }
            "--eval-dir" => o.eval_dir = PathBuf::from(value(a)?),
            "--cnn-quality" => o.cnn[0] = PathBuf::from(value(a)?),
            "--cnn-low-latency" => o.cnn[1] = PathBuf::from(value(a)?),
            other => bail!(
                "cargo xtask quality: unknown option `{other}`; expected --smoke, --max-files N, \
                 --vocoder-files N, --eval-dir DIR, --cnn-quality DIR, --cnn-low-latency DIR"
            ),
        }
    }
    if o.smoke {
        o.max_files = o.max_files.min(4);
        o.vocoder_files = o.vocoder_files.min(2);
        o.eval_dir = ws.join(".cache/testdata/ktuberling/fr");
    }
    Ok(o)
}

/// Runs a command and returns its stdout; exit code 1 (some file failed) is accepted when
/// `allow_partial`, its stderr then passes through.
fn output(cmd: &mut Command, allow_partial: bool) -> Result<String> {
    let shown = format!("{cmd:?}");
    eprintln!("quality: {shown}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !(out.status.success() || allow_partial && code == Some(1)) {
        bail!("{shown} failed ({:?}): {}", code, stderr.trim());
    }
    if !out.status.success() {
        eprint!("{stderr}");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn audio_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            audio_files(&p, out)?;
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["wav", "flac", "ogg", "oga", "mp3"].contains(&e.to_ascii_lowercase().as_str())
        }) {
            out.push(p);
        }
    }
    Ok(())
}

/// `n` files spread evenly over the sorted list (every source and speaker gets its share).
fn spread(mut files: Vec<PathBuf>, n: usize) -> Vec<PathBuf> {
    files.sort();
    if files.len() <= n {
        return files;
    }
    (0..n).map(|i| files[i * files.len() / n].clone()).collect()
}

/// The subset as symlinks below `src` and its pairs below `pairs` (rebuilt when the subset
/// changed, otherwise `make-dataset` resumes).
fn make_pairs(widen: &Path, o: &Options, work: &Path) -> Result<(PathBuf, PathBuf)> {
    if !o.eval_dir.is_dir() {
        bail!(
            "{}: no eval split; run `cargo xtask corpus` first (or pass --eval-dir DIR)",
            o.eval_dir.display()
        );
    }
    let mut all = Vec::new();
    audio_files(&o.eval_dir, &mut all)?;
    let chosen = spread(all, o.max_files);
    if chosen.is_empty() {
        bail!("{}: no audio files", o.eval_dir.display());
    }
    let list: String = chosen
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    let (src, pairs, stamp) = (
        work.join("src"),
        work.join("pairs"),
        work.join("subset.txt"),
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(list.as_str()) {
        for d in [&src, &pairs] {
            if d.exists() {
                std::fs::remove_dir_all(d)
                    .with_context(|| format!("cannot clear {}", d.display()))?;
            }
        }
        for p in &chosen {
            let rel = p.strip_prefix(&o.eval_dir).unwrap_or(p);
            let dst = src.join(rel);
            std::fs::create_dir_all(dst.parent().unwrap_or(&src))?;
            let abs = std::fs::canonicalize(p)?;
            std::os::unix::fs::symlink(&abs, &dst)
                .with_context(|| format!("cannot link {}", dst.display()))?;
        }
        std::fs::create_dir_all(work)?;
        std::fs::write(&stamp, &list)?;
    }
    output(
        Command::new(widen)
            .args(["make-dataset", "--seed", PAIR_SEED, "--in-root"])
            .arg(&src)
            .arg("--out")
            .arg(&pairs),
        false,
    )?;
    Ok((pairs.join("hr"), pairs.join("lr")))
}

/// One row of the systems table.
#[derive(Debug, Clone)]
struct Row {
    set: &'static str,
    system: String,
    amount: Option<f64>,
    mean: Value,
    realtime: Option<f64>,
    note: String,
    /// Per source (first folder of the clip's path): `{"files", "lsd_hf", "pesq_wb"}`.
    per_source: Value,
}

/// The source of a clip: the first folder of its path relative to the pairs' root (empty for
/// a clip directly in the root, as in the smoke run; `widen eval` names clips without their
/// extension and `widen enhance` with it, so the file name itself must not count).
fn source_of(rel: &Path) -> String {
    rel.parent()
        .and_then(|p| p.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The systems table's row of a set's shipped default (phase copy + splice).
fn is_default(r: &Row) -> bool {
    r.system.starts_with("GAN + phase copy")
}

/// Means of LSD-HF and PESQ-WB per source ([`source_of`] each clip's relative path), from
/// per-clip score objects; a missing PESQ-WB (too little speech) is left out of that mean only.
fn per_source<'a, P: AsRef<Path>>(clips: impl Iterator<Item = (P, &'a Value)>) -> Value {
    let mut acc: BTreeMap<String, [(f64, usize); 2]> = BTreeMap::new();
    for (rel, scores) in clips {
        let source = source_of(rel.as_ref());
        let key = if source.is_empty() {
            "(top level)".to_string()
        } else {
            source
        };
        let e = acc.entry(key).or_default();
        for (slot, key) in e.iter_mut().zip(["lsd_hf", "pesq_wb"]) {
            if let Some(v) = num(scores, key) {
                slot.0 += v;
                slot.1 += 1;
            }
        }
    }
    let mean = |(sum, n): (f64, usize)| (n > 0).then(|| sum / n as f64);
    Value::Object(
        acc.into_iter()
            .map(|(src, [hf, pesq])| {
                let v = json!({"files": hf.1, "lsd_hf": mean(hf), "pesq_wb": mean(pesq)});
                (src, v)
            })
            .collect(),
    )
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// `widen enhance` over the LR files with `flags`, scored against HR: (mean scores, x real time
/// of one thread over the files' processing time, means per source).
fn enhance(
    widen: &Path,
    lr: &Path,
    hr: &Path,
    out: &Path,
    flags: &[&str],
) -> Result<(Value, f64, Value)> {
    let stdout = output(
        Command::new(widen)
            .arg("enhance")
            .arg(lr)
            .arg("-o")
            .arg(out)
            .arg("--hr-dir")
            .arg(hr)
            .args(["--json", "--threads", "1"])
            .args(flags),
        true,
    )?;
    let v: Value = serde_json::from_str(&stdout).context("widen enhance --json output")?;
    let mean = v
        .get("mean_scores")
        .cloned()
        .filter(|m| !m.is_null())
        .ok_or_else(|| anyhow!("widen enhance {flags:?}: no file was scored"))?;
    // Every output must be scored: a reference that was not found would silently drop clips
    // from the means (once 121 of 300, most of one source, when references were matched by
    // stem only and voice packs share file names).
    let files = v["files"].as_array().map(Vec::as_slice).unwrap_or_default();
    if let Some(e) = files.iter().find_map(|f| f["score_error"].as_str()) {
        bail!("widen enhance {flags:?}: not every output was scored: {e}");
    }
    if mean["files"].as_u64() != Some(files.len() as u64) {
        bail!(
            "widen enhance {flags:?}: {} of {} outputs scored",
            mean["files"],
            files.len()
        );
    }
    let (mut audio, mut secs) = (0.0, 0.0);
    for f in files {
        if let (Some(d), Some(s)) = (num(f, "duration_s"), num(f, "seconds")) {
            audio += d;
            secs += s;
        }
    }
    let by_source = per_source(files.iter().filter_map(|f| {
        let input = Path::new(f["input"].as_str()?);
        let rel = input.strip_prefix(lr).unwrap_or(input);
        Some((rel, &f["scores"]["scores"]))
    }));
    Ok((mean, audio / f64::max(secs, 1e-9), by_source))
}

/// The sinc baseline through `widen eval --input` (any estimate folder will do) and its speed.
fn sinc_row(widen: &Path, lr: &Path, hr: &Path, estimates: &Path) -> Result<Row> {
    let stdout = output(
        Command::new(widen)
            .args(["eval", "--json", "-r"])
            .arg(hr)
            .arg("-e")
            .arg(estimates)
            .arg("-i")
            .arg(lr),
        true,
    )?;
    let v: Value = serde_json::from_str(&stdout).context("widen eval --json output")?;
    let mean = v
        .get("baseline_mean")
        .cloned()
        .filter(|m| !m.is_null())
        .ok_or_else(|| anyhow!("widen eval: no baseline scores"))?;
    let clips = v["files"].as_array().map(Vec::as_slice).unwrap_or_default();
    let by_source = per_source(
        clips
            .iter()
            .filter_map(|f| Some((Path::new(f["name"].as_str()?), &f["baseline"]["scores"]))),
    );
    // Speed of the resampler alone on the same files (read once, timed without I/O).
    let mut files = Vec::new();
    audio_files(lr, &mut files)?;
    let (mut audio, mut secs) = (0.0, 0.0);
    for f in &files {
        let a = read(f).with_context(|| format!("{}", f.display()))?;
        let x = a.to_mono();
        let t = Instant::now();
        let y = resample(&x, a.sample_rate, widen_core::config::SAMPLE_RATE)?;
        secs += t.elapsed().as_secs_f64();
        audio += y.len() as f64 / f64::from(widen_core::config::SAMPLE_RATE);
    }
    Ok(Row {
        set: "-",
        system: "sinc upsampling".into(),
        amount: None,
        mean,
        realtime: Some(audio / f64::max(secs, 1e-9)),
        note: "widen's windowed-sinc resampler (quality filter), no high band".into(),
        per_source: by_source,
    })
}

fn trained_vocoder(model_dir: &Path) -> bool {
    std::fs::read_to_string(model_dir.join("widen.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        // `widen-train export --vocoder-checkpoint` records the vocoder's training under
        // provenance.metrics.vocoder (the placeholder sets have none).
        .map(|v| v["provenance"]["metrics"]["vocoder"].is_object())
        .unwrap_or(false)
}

fn default_amount(model_dir: &Path) -> Result<f64> {
    let p = model_dir.join("widen.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?,
    )?;
    num(&v, "default_amount").ok_or_else(|| anyhow!("{}: no default_amount", p.display()))
}

/// Peak level (dBFS) of `widen enhance` output for 5 s of digital silence.
fn silence_peak(widen: &Path, work: &Path, mode: &str) -> Result<f64> {
    let inp = work.join("silence.wav");
    write(
        &inp,
        &Audio {
            sample_rate: 8_000,
            channels: 1,
            samples: vec![0.0; 40_000],
        },
        SampleFormat::I16,
    )?;
    let out = work.join(format!("silence-{mode}.wav"));
    let _ = std::fs::remove_file(&out);
    output(
        Command::new(widen)
            .arg("enhance")
            .arg(&inp)
            .arg("-o")
            .arg(&out)
            .args(["--mode", mode, "--cutoff", "4000", "--format", "f32"]),
        false,
    )?;
    let y = read(&out)?;
    let peak = y.samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    Ok(if peak > 0.0 {
        20.0 * f64::from(peak).log10()
    } else {
        f64::NEG_INFINITY
    })
}

/// Log-magnitude spectrogram panels (input, reference, output) stacked into one PNG: 0 dB is the
/// loudest bin of all panels, 80 dB of range; columns repeated so short clips are readable.
fn spectrogram_png(path: &Path, panels: &[(&str, &[f32])]) -> Result<()> {
    const RANGE_DB: f64 = 80.0;
    const MIN_WIDTH: usize = 600;
    let stft = Stft::new(1024, 256, 1024)?;
    let specs: Vec<_> = panels.iter().map(|(_, x)| stft.forward(x)).collect();
    let frames = specs.iter().map(|s| s.n_frames).max().unwrap_or(1).max(1);
    let rep = MIN_WIDTH.div_ceil(frames).max(1);
    let width = frames * rep;
    let (h_panel, gap) = (256usize, 6usize);
    let height = panels.len() * (h_panel + gap);
    // Two bins per pixel row (the louder), low frequencies at the bottom.
    let pixel = |frame: &[widen_core::dsp::Complex32], row: usize| {
        let k = (h_panel - 1 - row) * 2;
        f64::from(frame[k].norm_sqr().max(frame[k + 1].norm_sqr()))
    };
    let mut peak = 1e-20f64;
    for s in &specs {
        for t in 0..s.n_frames {
            if let Some(f) = s.frame(t) {
                for row in 0..h_panel {
                    peak = peak.max(pixel(f, row));
                }
            }
        }
    }
    let mut img = vec![255u8; width * height * 3];
    for (p, s) in specs.iter().enumerate() {
        let y0 = p * (h_panel + gap);
        for t in 0..s.n_frames {
            let Some(frame) = s.frame(t) else { continue };
            for row in 0..h_panel {
                let db = 10.0 * (pixel(frame, row) / peak).max(1e-30).log10();
                let (r, g, b) = colour((db + RANGE_DB) / RANGE_DB);
                for c in 0..rep {
                    let i = ((y0 + row) * width + t * rep + c) * 3;
                    img[i..i + 3].copy_from_slice(&[r, g, b]);
                }
            }
        }
    }
    let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img)?;
    Ok(())
}

/// A dark-blue -> red -> yellow map for 0..=1.
fn colour(v: f64) -> (u8, u8, u8) {
    let v = v.clamp(0.0, 1.0);
    let r = (v * 2.0).min(1.0);
    let g = ((v - 0.5) * 2.0).clamp(0.0, 1.0);
    let b = (0.4 - v).clamp(0.0, 0.4) * 1.5;
    ((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

fn fmt(v: Option<f64>, p: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.p$}"))
}

/// Regenerates the report. `widen` is the release binary; `target` the cargo target folder.
pub fn run(ws: &Path, widen: &Path, target: &Path, args: &[String]) -> Result<()> {
    let o = parse(ws, args)?;
    let started = Instant::now();
    let work = if o.smoke {
        target.join("quality-smoke")
    } else {
        ws.join("data/quality")
    };
    std::fs::create_dir_all(&work)?;
    let (hr, lr) = make_pairs(widen, &o, &work)?;
    let n_files = {
        let mut v = Vec::new();
        audio_files(&hr, &mut v)?;
        v.len()
    };
    let default_set =
        |i: usize| ws.join(["models/default/quality", "models/default/low-latency"][i]);
    let mut rows: Vec<Row> = Vec::new();
    let mut sweep: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let out = work.join("out");
    // Output folder of the quality set's shipped configuration (for the spectrograms).
    let mut default_out = None;
    for (i, (set, mode)) in [("quality", "quality"), ("low-latency", "low-latency")]
        .into_iter()
        .enumerate()
    {
        let dir = default_set(i);
        let amount = default_amount(&dir)?;
        let a = format!("{amount}");
        let voc_note = if trained_vocoder(&dir) {
            "trained vocoder (CPU reconstruction stage, GPU adversarial stage)".to_string()
        } else {
            "untrained placeholder vocoder".to_string()
        };
        let mut systems: Vec<(String, Vec<String>, String)> = Vec::new();
        if i == 0 {
            systems.push((
                "DSP spectral translation".into(),
                vec![
                    "--method".into(),
                    "translate".into(),
                    "--amount".into(),
                    "1".into(),
                ],
                "2-4 kHz band copied upwards, -6 dB/octave, no model".into(),
            ));
        }
        if o.cnn[i].join("widen.json").is_file() {
            systems.push((
                "CNN + Griffin-Lim".into(),
                vec![
                    "--model".into(),
                    o.cnn[i].display().to_string(),
                    "--vocoder".into(),
                    "griffin-lim".into(),
                    "--griffin-iters".into(),
                    GL_ITERS.into(),
                    "--amount".into(),
                    a.clone(),
                ],
                format!(
                    "generator of {}",
                    o.cnn[i].strip_prefix(ws).unwrap_or(&o.cnn[i]).display()
                ),
            ));
        } else {
            notes.push(format!(
                "{set}: no CNN + Griffin-Lim row: no exported CNN model set at {} (make one with \
                 `widen-train export --variant {set} --checkpoint data/runs/cnn-...` as in docs/TRAINING.md)",
                o.cnn[i].display()
            ));
        }
        let m = |extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = vec!["--mode".into(), mode.into()];
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        systems.push((
            "GAN + Griffin-Lim".into(),
            m(&[
                "--vocoder",
                "griffin-lim",
                "--griffin-iters",
                GL_ITERS,
                "--amount",
                &a,
            ]),
            String::new(),
        ));
        systems.push((
            "GAN + vocoder, no splice (the seed's output)".into(),
            m(&["--vocoder", "vocos", "--no-splice"]),
            voc_note.clone(),
        ));
        systems.push((
            "GAN + vocoder + splice".into(),
            m(&["--vocoder", "vocos", "--amount", &a]),
            voc_note.clone(),
        ));
        systems.push((
            "GAN + phase copy + splice".into(),
            m(&["--vocoder", "phase-copy", "--amount", &a]),
            "the shipped default".into(),
        ));
        for (k, (name, flags, note)) in systems.iter().enumerate() {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let dir_k = out.join(format!("{set}-{k}"));
            let (mean, rt, by_source) = enhance(widen, &lr, &hr, &dir_k, &flags)?;
            if i == 0 && name.starts_with("GAN + phase copy") {
                default_out = Some(dir_k);
            }
            rows.push(Row {
                set,
                system: name.clone(),
                amount: if name.contains("no splice") {
                    None
                } else {
                    Some(if name.starts_with("DSP") { 1.0 } else { amount })
                },
                mean,
                realtime: Some(rt),
                note: note.clone(),
                per_source: by_source,
            });
        }
        // The amount trade-off of the shipped synthesis.
        for am in AMOUNTS {
            let (mean, rt, by_source) = enhance(
                widen,
                &lr,
                &hr,
                &out.join(format!("{set}-amount-{am}")),
                &m(&["--vocoder", "phase-copy", "--amount", am])
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            )?;
            sweep.push(Row {
                set,
                system: "GAN + phase copy + splice".into(),
                amount: am.parse().ok(),
                mean,
                realtime: Some(rt),
                note: String::new(),
                per_source: by_source,
            });
        }
    }
    let sinc = sinc_row(widen, &lr, &hr, &out.join("quality-0"))?;

    // Vocoder alone (true mel in).
    let mut vocoder_tables = Vec::new();
    for mode in ["quality", "low-latency"] {
        let stdout = output(
            Command::new(widen)
                .args([
                    "vocoder-eval",
                    "--json",
                    "--mode",
                    mode,
                    "--griffin-iters",
                    GL_ITERS,
                ])
                .args(["--max-files", &o.vocoder_files.to_string()])
                .arg("--hr-dir")
                .arg(&hr),
            true,
        )?;
        let v: Value = serde_json::from_str(&stdout).context("widen vocoder-eval --json output")?;
        vocoder_tables.push((mode, v));
    }
    let silence = [
        silence_peak(widen, &work, "quality")?,
        silence_peak(widen, &work, "low-latency")?,
    ];

    // Spectrograms and listening files for clips from different sources.
    let img_dir = if o.smoke {
        work.join("img")
    } else {
        ws.join("docs/quality")
    };
    let listen = work.join("listen");
    std::fs::create_dir_all(&img_dir)?;
    std::fs::create_dir_all(&listen)?;
    let mut hr_files = Vec::new();
    audio_files(&hr, &mut hr_files)?;
    hr_files.sort();
    let mut seen = BTreeSet::new();
    let mut images = Vec::new();
    for f in &hr_files {
        let rel = f.strip_prefix(&hr).unwrap_or(f);
        let source = source_of(rel);
        if !seen.insert(source.clone()) && !o.smoke {
            continue;
        }
        if images.len() == SPECTROGRAM_CLIPS {
            break;
        }
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lr_file = lr.join(rel);
        let Some(default_out) = &default_out else {
            break;
        };
        let enhanced = default_out
            .join(rel.parent().unwrap_or(Path::new("")))
            .join(format!("{stem}_widen.wav"));
        let (Ok(x), Ok(r), Ok(y)) = (read(&lr_file), read(f), read(&enhanced)) else {
            continue;
        };
        let xs = resample(&x.to_mono(), x.sample_rate, 22_050)?;
        let name = if source.is_empty() {
            stem.clone()
        } else {
            format!("{source}-{stem}")
        };
        let png_path = img_dir.join(format!("{name}.png"));
        spectrogram_png(
            &png_path,
            &[
                ("input", &xs),
                ("reference", &r.to_mono()),
                ("output", &y.to_mono()),
            ],
        )?;
        for (label, s) in [
            ("1-input-sinc", &xs),
            ("2-reference", &r.to_mono()),
            ("3-widen-quality", &y.to_mono()),
        ] {
            write(
                listen.join(format!("{name}-{label}.wav")),
                &Audio {
                    sample_rate: 22_050,
                    channels: 1,
                    samples: s.clone(),
                },
                SampleFormat::I16,
            )?;
        }
        images.push((name, png_path));
    }

    // The report.
    let sinc_hf = num(&sinc.mean, "lsd_hf").unwrap_or(f64::NAN);
    let sinc_pesq = num(&sinc.mean, "pesq_wb").unwrap_or(f64::NAN);
    let sinc_stoi = num(&sinc.mean, "stoi").unwrap_or(f64::NAN);
    let mut md = String::new();
    let _ = writeln!(md, "# widen quality report\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask quality{}` in {:.0} s. {} clips {} turned into 22.05 kHz / 8 kHz pairs by \
         `widen make-dataset --seed {PAIR_SEED}` (random anti-alias filters, cutoff 3.4-4 kHz); every system runs \
         through `widen enhance` (automatic cutoff, 16-bit output, one ONNX Runtime thread) and is scored by its \
         `--hr-dir` option (LSD/LSD-HF in log10 power units, PESQ-WB, STOI, SNR; DESIGN.md metrics). Speed: audio \
         seconds per processing second of one thread, including file I/O and the cutoff analysis pass, on this \
         machine (noisy; see docs/BENCHMARKS.md for the controlled figures).\n",
        if o.smoke { " --smoke" } else { "" },
        started.elapsed().as_secs_f64(),
        n_files,
        if o.smoke {
            "(smoke: ktuberling test words, figures not meaningful)".to_string()
        } else {
            format!("spread evenly over the corpus eval split `{}` (speakers and languages the training split does not contain)", o.eval_dir.strip_prefix(ws).unwrap_or(&o.eval_dir).display())
        }
    );
    let header = "| set | system | amount | LSD | LSD-HF | LSD-HF / sinc | PESQ-WB | STOI | SNR dB | x real time | note |\n|---|---|---|---|---|---|---|---|---|---|---|";
    let line = |r: &Row| {
        let hf = num(&r.mean, "lsd_hf");
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.set,
            r.system,
            fmt(r.amount, 2),
            fmt(num(&r.mean, "lsd"), 3),
            fmt(hf, 3),
            hf.map_or("-".into(), |h| format!("{:.1}%", 100.0 * h / sinc_hf)),
            fmt(num(&r.mean, "pesq_wb"), 3),
            fmt(num(&r.mean, "stoi"), 3),
            fmt(num(&r.mean, "snr_db"), 2),
            fmt(r.realtime, 1),
            r.note
        )
    };
    let _ = writeln!(md, "## Systems\n\n{header}");
    let _ = writeln!(md, "{}", line(&sinc));
    for r in &rows {
        let _ = writeln!(md, "{}", line(r));
    }
    for n in &notes {
        let _ = writeln!(md, "\n{n}");
    }
    let defaults: Vec<&Row> = rows.iter().filter(|r| is_default(r)).collect();
    let _ = writeln!(
        md,
        "\n## Per source (the shipped defaults)\n\nLSD-HF as a share of sinc's on the same clips, and \
         PESQ-WB; the eval split's sources differ in speakers, languages and recording style \
         (hedgewars: shouted game voice packs; klettres: single letters and syllables).\n"
    );
    let mut head = "| source | clips | sinc LSD-HF | sinc PESQ-WB |".to_string();
    let mut rule = "|---|---|---|---|".to_string();
    for r in &defaults {
        let _ = write!(head, " {} LSD-HF / sinc | {} PESQ-WB |", r.set, r.set);
        rule.push_str("---|---|");
    }
    let _ = writeln!(md, "{head}\n{rule}");
    for (src, s) in sinc.per_source.as_object().into_iter().flatten() {
        let shf = num(s, "lsd_hf");
        let mut l = format!(
            "| {src} | {} | {} | {} |",
            s["files"],
            fmt(shf, 3),
            fmt(num(s, "pesq_wb"), 3)
        );
        for r in &defaults {
            let m = &r.per_source[src.as_str()];
            let ratio = num(m, "lsd_hf").zip(shf).map(|(h, b)| 100.0 * h / b);
            let _ = write!(
                l,
                " {} | {} |",
                ratio.map_or("-".into(), |x| format!("{x:.1}%")),
                fmt(num(m, "pesq_wb"), 3)
            );
        }
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(
        md,
        "\n## High-band amount (the shipped synthesis)\n\n{header}"
    );
    for r in &sweep {
        let _ = writeln!(md, "{}", line(r));
    }
    let _ = writeln!(
        md,
        "\nThe amount scales the generated band. LSD-HF falls as the amount rises towards 1 while \
         PESQ-WB (which hears up to 8 kHz) prefers a quieter band; the shipped default is the \
         largest amount whose in-corpus hold-out PESQ-WB stays 0.05 above sinc's (docs/TRAINING.md)."
    );
    let _ = writeln!(
        md,
        "\n## Synthesis alone (`widen vocoder-eval`, true mel in)\n"
    );
    for (mode, v) in &vocoder_tables {
        let _ = writeln!(
            md,
            "{mode} set ({}):\n\n| synthesis | files | LSD | LSD-HF | PESQ-WB | STOI | SNR dB | x real time |\n|---|---|---|---|---|---|---|---|",
            v["model"].as_str().unwrap_or("?")
        );
        for r in v["rows"].as_array().into_iter().flatten() {
            let m = &r["mean"];
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r["system"].as_str().unwrap_or("?"),
                m["files"],
                fmt(num(m, "lsd"), 3),
                fmt(num(m, "lsd_hf"), 3),
                fmt(num(m, "pesq_wb"), 3),
                fmt(num(m, "stoi"), 3),
                fmt(num(m, "snr_db"), 2),
                fmt(num(r, "realtime_factor"), 1)
            );
        }
        let _ = writeln!(md);
    }
    // Acceptance (issue: default quality set <= 26 % of sinc's LSD-HF and PESQ-WB >= sinc + 0.25;
    // low-latency <= 30 % and >= sinc + 0.10; STOI not below sinc; silence below -90 dBFS).
    let _ = writeln!(
        md,
        "## Targets\n\n| check | target | measured | met |\n|---|---|---|---|"
    );
    let default_row = |set: &str| rows.iter().find(|r| r.set == set && is_default(r));
    let mut checks = Vec::new();
    for (set, hf_max, pesq_gain) in [("quality", 0.26, 0.25), ("low-latency", 0.30, 0.10)] {
        if let Some(r) = default_row(set) {
            let hf = num(&r.mean, "lsd_hf").unwrap_or(f64::NAN) / sinc_hf;
            let dp = num(&r.mean, "pesq_wb").unwrap_or(f64::NAN) - sinc_pesq;
            let ds = num(&r.mean, "stoi").unwrap_or(f64::NAN) - sinc_stoi;
            checks.push((
                format!("{set} default: LSD-HF / sinc"),
                format!("<= {:.0}%", hf_max * 100.0),
                format!("{:.1}%", hf * 100.0),
                hf <= hf_max,
            ));
            checks.push((
                format!("{set} default: PESQ-WB - sinc"),
                format!(">= +{pesq_gain:.2}"),
                format!("{dp:+.3}"),
                dp >= pesq_gain,
            ));
            checks.push((
                format!("{set} default: STOI - sinc"),
                ">= 0".into(),
                format!("{ds:+.4}"),
                ds >= 0.0,
            ));
        }
    }
    for (set, db) in ["quality", "low-latency"].iter().zip(silence) {
        checks.push((
            format!("{set}: digital silence in, peak out"),
            "< -90 dBFS".into(),
            if db.is_finite() {
                format!("{db:.1} dBFS")
            } else {
                "exact zeros".into()
            },
            db < -90.0,
        ));
    }
    for (c, t, m, ok) in &checks {
        let _ = writeln!(
            md,
            "| {c} | {t} | {m} | {} |",
            if *ok { "yes" } else { "**no**" }
        );
    }
    if !images.is_empty() {
        let _ = writeln!(md, "\n## Spectrograms\n\nEach image: sinc-upsampled input (top), reference, widen quality set output (bottom); 0-11 kHz, 80 dB range. Listening files (not in git): `{}`.\n", listen.strip_prefix(ws).unwrap_or(&listen).display());
        for (name, p) in &images {
            let rel = p.strip_prefix(ws.join("docs")).unwrap_or(p);
            let _ = writeln!(md, "![{name}]({})\n", rel.display());
        }
    }
    let _ = writeln!(
        md,
        "\nTraining: see docs/TRAINING.md (commands, steps, times on two CPU cores and on a GPU)."
    );

    let row_json = |r: &Row| {
        json!({"set": r.set, "system": r.system, "amount": r.amount, "mean": r.mean,
               "realtime_factor": r.realtime, "note": r.note, "per_source": r.per_source})
    };
    let report = json!({
        "smoke": o.smoke,
        "files": n_files,
        "eval_dir": o.eval_dir.strip_prefix(ws).unwrap_or(&o.eval_dir),
        "sinc": row_json(&sinc),
        "systems": rows.iter().map(row_json).collect::<Vec<_>>(),
        "amount_sweep": sweep.iter().map(row_json).collect::<Vec<_>>(),
        "vocoder_eval": vocoder_tables.iter().map(|(m, v)| json!({"mode": m, "rows": v["rows"]})).collect::<Vec<_>>(),
        "silence_peak_dbfs": silence.iter().map(|d| if d.is_finite() { json!(d) } else { Value::Null }).collect::<Vec<_>>(),
        "checks": checks.iter().map(|(c, t, m, ok)| json!({"check": c, "target": t, "measured": m, "met": ok})).collect::<Vec<_>>(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    let (md_path, json_path) = if o.smoke {
        (work.join("QUALITY.md"), work.join("quality.json"))
    } else {
        (ws.join("docs/QUALITY.md"), ws.join("docs/quality.json"))
    };
    std::fs::write(&md_path, md)?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!(
        "quality: wrote {} and {} ({} clips, {:.0} s)",
        md_path.display(),
        json_path.display(),
        n_files,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_source_means_group_by_first_folder_and_skip_missing_pesq() {
        let a = json!({"lsd_hf": 1.0, "pesq_wb": 3.0});
        let b = json!({"lsd_hf": 2.0, "pesq_wb": null});
        let c = json!({"lsd_hf": 4.0, "pesq_wb": 4.0});
        let clips = [
            (Path::new("hedgewars/British/Amazing.ogg.wav"), &a),
            (Path::new("hedgewars/Pirate/Amazing.ogg.wav"), &b),
            (Path::new("klettres/lt/a.ogg.wav"), &c),
            (Path::new("top.wav"), &c),
            (Path::new("top"), &a),
        ];
        let v = per_source(clips.iter().copied());
        assert_eq!(
            v,
            json!({
                "hedgewars": {"files": 2, "lsd_hf": 1.5, "pesq_wb": 3.0},
                "klettres": {"files": 1, "lsd_hf": 4.0, "pesq_wb": 4.0},
                "(top level)": {"files": 2, "lsd_hf": 2.5, "pesq_wb": 3.5},
            })
        );
    }
}
