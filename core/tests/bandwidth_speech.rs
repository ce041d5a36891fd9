//! Bandwidth verdicts on real speech (ktuberling clips; see `common::testdata_dir`).

mod common;

use common::{lowpass, speech_clips};
use widen_core::analysis::{bandwidth, Verdict, NARROW_BAND_MAX_HZ};
use widen_core::io::read;

#[test]
fn wide_band_recordings_are_wide_band() {
    let mut n = 0;
    for lang in ["fr", "ga", "ro"] {
        for path in speech_clips(lang, 44_100) {
            let a = read(&path).unwrap();
            let bw = bandwidth(&a.to_mono(), a.sample_rate, 0.99);
            assert_eq!(bw.verdict, Verdict::WideBand, "{}: {bw:?}", path.display());
            assert!(bw.rolloff_50db_hz >= 6_000.0, "{}: {bw:?}", path.display());
            n += 1;
        }
    }
    assert!(n >= 200, "only {n} 44.1 kHz clips found");
}

#[test]
fn eight_khz_recordings_are_narrow_band() {
    let mut n = 0;
    for lang in ["es", "fi", "it", "nds", "nl", "pt", "sv"] {
        for path in speech_clips(lang, 8_000) {
            let a = read(&path).unwrap();
            let bw = bandwidth(&a.to_mono(), a.sample_rate, 0.99);
            assert_eq!(
                bw.verdict,
                Verdict::NarrowBand,
                "{}: {bw:?}",
                path.display()
            );
            assert!(bw.rolloff_50db_hz <= 4_000.0, "{}: {bw:?}", path.display());
            assert!(
                bw.cutoff_hz <= 4_000.0 && bw.cutoff_hz > 2_000.0,
                "{}: {bw:?}",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 70, "only {n} 8 kHz clips found");
}

#[test]
fn low_passed_wide_band_speech_is_narrow_band_with_cutoff_near_4khz() {
    // Every 12th French clip plus all Romanian ones. (ga/gruaig.wav is left out on purpose:
    // it has no content between 3.6 and 10 kHz, so a 4 kHz filter leaves no edge to find.)
    let mut clips: Vec<_> = speech_clips("fr", 44_100).into_iter().step_by(12).collect();
    clips.extend(speech_clips("ro", 44_100));
    assert!(clips.len() >= 25);
    let mut worst = 0.0f64;
    for path in &clips {
        let a = read(path).unwrap();
        let before = bandwidth(&a.to_mono(), a.sample_rate, 0.99);
        assert_eq!(before.verdict, Verdict::WideBand, "{}", path.display());
        // 1023 taps: a transition band of about ±120 Hz around 4 kHz, -74 dB stop band.
        let y = lowpass(&a.to_mono(), 4_000.0, f64::from(a.sample_rate), 1023);
        let bw = bandwidth(&y, a.sample_rate, 0.99);
        assert_eq!(
            bw.verdict,
            Verdict::NarrowBand,
            "{}: {bw:?}",
            path.display()
        );
        assert!(bw.rolloff_50db_hz < NARROW_BAND_MAX_HZ);
        let err = bw.cutoff_hz - 4_000.0;
        assert!(
            err.abs() <= 300.0,
            "{}: cutoff {} Hz",
            path.display(),
            bw.cutoff_hz
        );
        worst = worst.max(err.abs());
    }
    eprintln!("{} clips, worst cutoff error {worst:.0} Hz", clips.len());
}

#[test]
fn energy_bandwidth_grows_with_the_fraction() {
    let path = &speech_clips("ro", 44_100)[0];
    let a = read(path).unwrap();
    let m = a.to_mono();
    let mut last = 0.0;
    for fr in [0.5, 0.9, 0.99, 0.999] {
        let bw = bandwidth(&m, a.sample_rate, fr);
        assert!(bw.energy_bw_hz >= last, "{fr}: {bw:?}");
        last = bw.energy_bw_hz;
    }
}
