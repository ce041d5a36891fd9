//! `widen_core::dataset` end to end on real speech (ktuberling clips, see scripts/setup-tests.sh).
//!
//! NOTE (merge): these tests go through `crate::io` and `crate::dsp::resample`. On branch
//! h-dataset they ran against the temporary shim (core/src/dataset_shims.rs, WAV only); after the
//! merge they run against the real modules unchanged. Nothing here depends on the shim's exact
//! resampler: checks are structural (counts, formats, lengths, equality between runs).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use widen_core::dataset::{
    self, Dataset, DatasetConfig, FileError, ItemOutcome, ManifestEntry, Summary,
};

/// ktuberling French clips: three at 44.1 kHz, one at 22.05 kHz (no resampling on the HR side),
/// one at 8 kHz (upsampled to HR).
const CLIPS: [(&str, &str); 5] = [
    ("fr/egypte_ane.wav", "x/ane.wav"),
    ("fr/egypte_arche.wav", "x/deeper/arche.wav"),
    ("fr/egypte_chameau.wav", "chameau.wav"),
    ("fr/cheveux.wav", "cheveux.wav"),
    ("fr/bouche.wav", "y/bouche.wav"),
];

fn testdata() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata"));
    let probe = dir.join("ktuberling/fr/egypte_ane.wav");
    assert!(
        probe.is_file(),
        "test audio missing: {} not found; run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        probe.display()
    );
    dir
}

/// A temp folder with `in/` holding copies of the real clips under the CLIPS layout.
fn speech_input() -> tempfile::TempDir {
    let data = testdata().join("ktuberling");
    let dir = tempfile::tempdir().expect("temp dir");
    for (src, dst) in CLIPS {
        let to = dir.path().join("in").join(dst);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(data.join(src), &to).expect("copy clip");
    }
    dir
}

fn config(dir: &Path, out: &str, seed: u64) -> DatasetConfig {
    let mut c = DatasetConfig::new(dir.join("in"), dir.join(out));
    c.seed = seed;
    c
}

fn run(c: DatasetConfig) -> Summary {
    dataset::run(c, |_| {}).expect("dataset run")
}

fn manifest(out: &Path) -> Vec<ManifestEntry> {
    fs::read_to_string(out.join(dataset::MANIFEST_FILE))
        .expect("manifest")
        .lines()
        .map(|l| serde_json::from_str(l).expect("manifest line"))
        .collect()
}

/// Every file under `root`, relative path -> bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn go(root: &Path, dir: &Path, acc: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                go(root, &p, acc);
            } else {
                let rel = p.strip_prefix(root).expect("prefix").to_path_buf();
                acc.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    let mut acc = BTreeMap::new();
    go(root, root, &mut acc);
    acc
}

fn wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let s = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    (spec, s)
}

#[test]
fn writes_aligned_16_bit_mono_pairs_and_a_sorted_manifest() {
    let dir = speech_input();
    let summary = run(config(dir.path(), "out", 0));
    assert_eq!(
        (summary.items, summary.written, summary.skipped_done),
        (5, 5, 0)
    );
    assert!(
        summary.failed.is_empty() && summary.skipped.is_empty(),
        "{summary:?}"
    );
    let out = dir.path().join("out");
    assert!(!out.join(dataset::JOURNAL_FILE).exists());
    let entries = manifest(&out);
    let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "chameau.wav",
            "cheveux.wav",
            "x/ane.wav",
            "x/deeper/arche.wav",
            "y/bouche.wav"
        ]
    );
    for e in &entries {
        let (hs, hr) = wav(&out.join("hr").join(&e.path));
        let (ls, lr) = wav(&out.join("lr").join(&e.path));
        assert_eq!(
            (hs.sample_rate, hs.channels, hs.bits_per_sample),
            (22_050, 1, 16)
        );
        assert_eq!(
            (ls.sample_rate, ls.channels, ls.bits_per_sample),
            (8_000, 1, 16)
        );
        assert_eq!(
            (hr.len(), lr.len()),
            (e.hr_samples, e.lr_samples),
            "{}",
            e.path
        );
        let (ss, src) = wav(&dir.path().join("in").join(&e.source));
        assert_eq!(ss.sample_rate, e.source_rate);
        assert_eq!(
            e.hr_samples,
            (src.len() as f64 * 22_050.0 / f64::from(e.source_rate)).round() as usize,
            "{}",
            e.path
        );
        assert!((e.duration_secs - e.hr_samples as f64 / 22_050.0).abs() < 1e-12);
        assert_eq!(
            e.lr_samples,
            (e.hr_samples as f64 * 8_000.0 / 22_050.0).round() as usize,
            "{}",
            e.path
        );
        assert_eq!(e.filter_description, e.filter.describe());
        assert!((3400.0..=4000.0).contains(&e.filter.cutoff_hz));
        assert_eq!(e.file_seed, dataset::file_seed(0, &e.source));
        assert!(e.gain > 0.0 && e.gain <= 1.0);
        // LR must stay aligned with HR: best lag (in LR samples) of the correlation between LR
        // and the nearest HR sample at the same instant is 0.
        let corr = |lag: i64| -> f64 {
            (100..lr.len() as i64 - 100)
                .map(|n| {
                    let t = ((n + lag) as f64 * 22_050.0 / 8_000.0).round() as usize;
                    f64::from(lr[n as usize]) * f64::from(hr[t.min(hr.len() - 1)])
                })
                .sum()
        };
        let best = (-8..=8).max_by(|&a, &b| corr(a).total_cmp(&corr(b)));
        assert_eq!(best, Some(0), "{}: LR is shifted against HR", e.path);
    }
    // A 22.05 kHz mono source passes to HR untouched (no resampling; gain 1 as it does not
    // clip). 1 LSB of slack: 16-bit scaling conventions (32767 vs 32768) may differ.
    let ch = entries
        .iter()
        .find(|e| e.path == "cheveux.wav")
        .expect("cheveux");
    assert_eq!((ch.source_rate, ch.gain), (22_050, 1.0));
    let (_, src) = wav(&dir.path().join("in/cheveux.wav"));
    let (_, hr) = wav(&out.join("hr/cheveux.wav"));
    assert_eq!(src.len(), hr.len());
    let max_diff = src.iter().zip(&hr).map(|(a, b)| (a - b).abs()).max();
    assert!(
        max_diff <= Some(1),
        "HR differs from the 22.05 kHz source by {max_diff:?} LSB"
    );
}

#[test]
fn same_seed_is_bit_identical_and_another_seed_changes_the_filters() {
    let dir = speech_input();
    run(config(dir.path(), "a", 0));
    run(config(dir.path(), "b", 0));
    run(config(dir.path(), "c", 1));
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    assert_eq!(tree(&a), tree(&b), "same seed, different output");
    let (ma, mc) = (manifest(&a), manifest(&c));
    let differing = ma
        .iter()
        .zip(&mc)
        .filter(|(x, y)| x.filter != y.filter)
        .count();
    assert!(
        differing >= 4,
        "only {differing} of 5 filters changed with the seed"
    );
    // HR does not depend on the seed; LR does.
    assert_eq!(tree(&a.join("hr")), tree(&c.join("hr")));
    let (la, lc) = (tree(&a.join("lr")), tree(&c.join("lr")));
    assert!(la.iter().zip(&lc).filter(|(x, y)| x.1 != y.1).count() >= 4);
}

#[test]
fn resume_skips_done_pairs_and_redoes_what_is_missing() {
    let dir = speech_input();
    let out = dir.path().join("out");
    run(config(dir.path(), "out", 0));
    let first = tree(&out);
    let mtimes = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
    let t0 = mtimes(&out.join("lr/x/ane.wav"));

    let s = run(config(dir.path(), "out", 0));
    assert_eq!((s.written, s.skipped_done, s.manifest_entries), (0, 5, 5));
    assert_eq!(tree(&out), first);
    assert_eq!(mtimes(&out.join("lr/x/ane.wav")), t0);

    fs::remove_file(out.join("lr/y/bouche.wav")).expect("rm");
    let s = run(config(dir.path(), "out", 0));
    assert_eq!((s.written, s.skipped_done), (1, 4));
    assert_eq!(tree(&out), first);

    // A source whose size changed is redone.
    let mut longer = fs::read(dir.path().join("in/chameau.wav")).expect("read");
    longer.extend_from_slice(b"LIST\x04\x00\x00\x00INFO"); // trailing chunk, same audio
    fs::write(dir.path().join("in/chameau.wav"), longer).expect("write");
    let s = run(config(dir.path(), "out", 0));
    assert_eq!((s.written, s.skipped_done), (1, 4));

    // Another filter range changes every drawn filter: nothing counts as done.
    let mut other = config(dir.path(), "out", 0);
    other.cutoff_range = (3000.0, 3300.0);
    let s = run(other);
    assert_eq!((s.written, s.skipped_done), (5, 0));
}

#[test]
fn an_interrupted_run_resumes_from_its_journal() {
    let dir = speech_input();
    run(config(dir.path(), "full", 0));
    let ds = Dataset::prepare(config(dir.path(), "out", 0)).expect("prepare");
    for item in &ds.items()[..2] {
        assert!(matches!(ds.process(item), ItemOutcome::Written(_)));
    }
    drop(ds); // "killed" before finish: no manifest, a journal with two lines
    let out = dir.path().join("out");
    assert!(!out.join(dataset::MANIFEST_FILE).exists());
    assert!(out.join(dataset::JOURNAL_FILE).is_file());
    let s = run(config(dir.path(), "out", 0));
    assert_eq!((s.written, s.skipped_done), (3, 2));
    assert_eq!(tree(&out), tree(&dir.path().join("full")));
}

#[test]
fn processing_order_and_threads_do_not_change_the_result() {
    let dir = speech_input();
    run(config(dir.path(), "seq", 0));
    let ds = Dataset::prepare(config(dir.path(), "par", 0)).expect("prepare");
    let n = ds.items().len();
    let outcomes: Vec<ItemOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|t| {
                let ds = &ds;
                s.spawn(move || {
                    (0..n)
                        .rev()
                        .filter(|i| i % 3 == t)
                        .map(|i| ds.process(&ds.items()[i]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let s = ds.finish(outcomes).expect("finish");
    assert_eq!(s.written, 5);
    assert_eq!(tree(&dir.path().join("seq")), tree(&dir.path().join("par")));
}

fn write_wav_i16(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
}

#[test]
fn bad_files_fail_alone_and_good_files_are_written() {
    let dir = speech_input();
    let inp = dir.path().join("in");
    let (_, cheveux) = wav(&inp.join("cheveux.wav"));
    fs::create_dir(inp.join("bad")).expect("mkdir");
    // Stereo: left = clip, right = half the clip -> mono mix = 0.75 * clip.
    let stereo: Vec<i16> = cheveux.iter().flat_map(|&s| [s, s / 2]).collect();
    write_wav_i16(&inp.join("bad/stereo.wav"), 22_050, 2, &stereo);
    fs::write(inp.join("bad/empty.flac"), b"").expect("write");
    fs::write(inp.join("bad/text.wav"), b"this is not audio\n").expect("write");
    let mut corrupt = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    corrupt.extend((0..400u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    fs::write(inp.join("bad/corrupt.wav"), corrupt).expect("write");
    write_wav_i16(&inp.join("bad/short.wav"), 22_050, 1, &vec![1000; 1_000]); // 45 ms
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(inp.join("bad/nan.wav"), spec).expect("create");
    for i in 0..22_050 {
        w.write_sample(if i == 500 { f32::NAN } else { 0.1 })
            .expect("sample");
    }
    w.finalize().expect("finalize");
    fs::copy(inp.join("cheveux.wav"), inp.join("bad/twice.wav")).expect("copy");
    fs::write(inp.join("bad/twice.flac"), b"fLaC garbage").expect("write");
    fs::write(
        inp.join("bad/notes.txt"),
        b"ignored: not an audio extension",
    )
    .expect("write");

    let s = run(config(dir.path(), "out", 0));
    assert_eq!(s.items, 5 + 8);
    assert_eq!(s.written, 6, "{s:#?}");
    assert_eq!(s.skipped.len(), 1);
    assert!(s.skipped[0].path.ends_with("bad/short.wav"));
    assert!(matches!(s.skipped[0].error, FileError::TooShort { .. }));
    let failed: Vec<(String, &FileError)> = s
        .failed
        .iter()
        .map(|f| {
            let name = f
                .path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, &f.error)
        })
        .collect();
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "corrupt.wav",
            "empty.flac",
            "nan.wav",
            "text.wav",
            "twice.flac",
            "twice.wav"
        ],
        "{failed:#?}"
    );
    assert!(matches!(failed[0].1, FileError::Read(_)));
    assert!(matches!(failed[1].1, FileError::Read(_)));
    // The reader itself refuses NaN/Inf samples, naming the count.
    assert!(
        matches!(failed[2].1, FileError::Read(m) if m.contains("non-finite")),
        "{:?}",
        failed[2].1
    );
    assert!(matches!(failed[3].1, FileError::Read(_)));
    assert!(matches!(failed[4].1, FileError::Read(_)));
    // `twice.flac` sorts first and owns the output name `bad/twice.wav` (then fails to decode);
    // the good `twice.wav` is refused rather than silently overwriting or being overwritten.
    assert!(matches!(failed[5].1, FileError::Collision { .. }));
    let msg = s.failed[5].to_string();
    assert!(
        msg.ends_with("bad/twice.wav: output name bad/twice.wav is already used by bad/twice.flac"),
        "{msg}"
    );
    let entries = manifest(&dir.path().join("out"));
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| !e.path.contains("twice")));

    let stereo_entry = entries
        .iter()
        .find(|e| e.path == "bad/stereo.wav")
        .expect("stereo");
    assert_eq!(stereo_entry.source_channels, 2);
    let (_, hr) = wav(&dir.path().join("out/hr/bad/stereo.wav"));
    let g = f64::from(stereo_entry.gain);
    let max_err = hr
        .iter()
        .zip(&cheveux)
        .map(|(&h, &c)| (f64::from(h) - 0.75 * g * f64::from(c)).abs())
        .fold(0.0, f64::max);
    assert!(max_err <= 1.0, "stereo mix-down off by {max_err} LSB");
}
