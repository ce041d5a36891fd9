//! `widen make-dataset` end to end (the built binary) on real speech clips.
//!
//! NOTE (merge): needs `widen_core::io` / `dsp::resample`; on branch h-dataset it ran against
//! the temporary shim in core/src/dataset_shims.rs. Test audio: ktuberling clips, see
//! scripts/setup-tests.sh (or set WIDEN_TESTDATA).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CLIPS: [&str; 3] = [
    "fr/egypte_ane.wav",
    "fr/egypte_chameau.wav",
    "fr/cheveux.wav",
];

fn testdata() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata"));
    let probe = dir.join("ktuberling").join(CLIPS[0]);
    assert!(
        probe.is_file(),
        "test audio missing: {} not found; run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        probe.display()
    );
    dir
}

/// A fresh folder under the system temp dir, removed on drop (no tempfile dev-dependency in
/// this crate).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("widen-cli-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("scratch dir");
        Self(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn speech_input(name: &str) -> Scratch {
    let s = Scratch::new(name);
    let data = testdata().join("ktuberling");
    for clip in CLIPS {
        let to = s.0.join("in").join(clip);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(data.join(clip), to).expect("copy clip");
    }
    s
}

fn widen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_widen"))
        .args(args)
        .output()
        .expect("run widen")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn make_dataset(in_root: &Path, out: &Path, extra: &[&str]) -> Output {
    let (i, o) = (in_root.to_string_lossy(), out.to_string_lossy());
    let mut args = vec!["make-dataset", "--in-root", &i, "--out", &o];
    args.extend_from_slice(extra);
    widen(&args)
}

#[test]
fn good_and_bad_files_exit_1_with_one_line_per_failure_then_resume() {
    let s = speech_input("mixed");
    let inp = s.0.join("in");
    fs::write(inp.join("fr/text.wav"), "not audio\nat all\n").expect("write");
    fs::write(inp.join("empty.flac"), b"").expect("write");
    let out = s.0.join("out");

    let o = make_dataset(&inp, &out, &["--jobs", "2"]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(errors.iter().all(|l| l.starts_with("error: ")), "{stderr}");
    assert!(errors.iter().any(|l| l.contains("text.wav: ")), "{stderr}");
    assert!(
        errors.iter().any(|l| l.contains("empty.flac: ")),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("written 3 pairs (0 skipped as done, 2 failed) in "),
        "{stdout}"
    );
    let manifest = fs::read_to_string(out.join("manifest.jsonl")).expect("manifest");
    assert_eq!(manifest.lines().count(), 3);
    for clip in CLIPS {
        assert!(out.join("hr").join(clip).is_file() && out.join("lr").join(clip).is_file());
    }

    let o = make_dataset(&inp, &out, &[]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout.starts_with("written 0 pairs (3 skipped as done, 2 failed) in "),
        "{stdout}"
    );
    assert_eq!(
        fs::read_to_string(out.join("manifest.jsonl")).expect("manifest"),
        manifest
    );
}

#[test]
fn one_job_and_many_jobs_give_identical_datasets() {
    let s = speech_input("jobs");
    let inp = s.0.join("in");
    let (a, b) = (s.0.join("a"), s.0.join("b"));
    assert!(make_dataset(&inp, &a, &["--jobs", "1", "--seed", "5"])
        .status
        .success());
    assert!(make_dataset(&inp, &b, &["--jobs", "3", "--seed", "5"])
        .status
        .success());
    for rel in [
        "manifest.jsonl",
        "hr/fr/egypte_ane.wav",
        "lr/fr/egypte_ane.wav",
        "lr/fr/cheveux.wav",
    ] {
        assert_eq!(
            fs::read(a.join(rel)).expect("a"),
            fs::read(b.join(rel)).expect("b"),
            "{rel}"
        );
    }
}

#[test]
fn unwritable_output_is_one_clean_error_line() {
    let s = speech_input("unwritable");
    let blocker = s.0.join("file.txt");
    fs::write(&blocker, "a file where a folder is needed").expect("write");
    // A regular file in the path: fails even as root, unlike permission bits.
    let o = make_dataset(&s.0.join("in"), &blocker.join("out"), &[]);
    let stderr = text(&o.stderr);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot write to output folder "),
        "{stderr}"
    );
}

#[test]
fn refuses_output_inside_input_and_bad_rates() {
    let s = speech_input("refuse");
    let inp = s.0.join("in");
    let o = make_dataset(&inp, &inp.join("fr/out"), &[]);
    let stderr = text(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("is inside the input folder"), "{stderr}");
    assert!(
        !inp.join("fr/out").exists(),
        "nothing may be created in the input"
    );

    let out = s.0.join("out");
    for (args, msg) in [
        (&["--lr-rate", "22050"][..], "must be below hr_rate"),
        (&["--hr-rate", "1000000"][..], "hr_rate must be between"),
        (&["--cutoff-max", "4500"][..], "cutoff range"),
        (
            &["--cutoff-min", "3900", "--cutoff-max", "3500"][..],
            "cutoff range",
        ),
    ] {
        let o = make_dataset(&inp, &out, args);
        let stderr = text(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(msg),
            "{args:?}: {stderr}"
        );
    }
    let o = make_dataset(&inp, &out, &["--jobs", "0"]);
    assert!(!o.status.success());

    let empty = s.0.join("empty");
    fs::create_dir(&empty).expect("mkdir");
    let o = make_dataset(&empty, &s.0.join("out2"), &[]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no audio files"),
        "{}",
        text(&o.stderr)
    );
}
