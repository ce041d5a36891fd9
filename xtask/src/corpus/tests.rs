//! Unit tests of the corpus rules (no download: these run in the default `cargo test`).

use super::*;

/// Deterministic uniform noise in [-0.5, 0.5) (xorshift; no rand dependency in xtask).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
        })
        .collect()
}

/// Brick-wall low-pass by zeroing FFT bins at and above `cut_hz`.
fn lowpass(x: &[f32], rate: u32, cut_hz: f64) -> Vec<f32> {
    let n = x.len();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut input: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut input, &mut spec).unwrap();
    for (k, c) in spec.iter_mut().enumerate() {
        if k as f64 * f64::from(rate) / n as f64 >= cut_hz {
            *c = realfft::num_complex::Complex::new(0.0, 0.0);
        }
    }
    // The Nyquist and DC bins must be real for the inverse transform.
    spec[0].im = 0.0;
    if let Some(last) = spec.last_mut() {
        last.im = 0.0;
    }
    let mut out = inv.make_output_vec();
    inv.process(&mut spec, &mut out).unwrap();
    out.iter().map(|&v| (v / n as f64) as f32).collect()
}

#[test]
fn white_noise_passes_high_band_test() {
    let b = high_band(&noise(44_100 * 2, 7), 44_100);
    // White noise: f_hi = 3025/10975 of the energy, r9 = 0 dB.
    assert!((b.f_hi - 3025.0 / 10975.0).abs() < 0.02, "{b:?}");
    assert!(b.r9.abs() < 0.5, "{b:?}");
    assert!(b.passes());
}

#[test]
fn lowpassed_noise_fails_r9() {
    let x = lowpass(&noise(44_100 * 2, 11), 44_100, 4000.0);
    let b = high_band(&x, 44_100);
    assert!(b.r9 < MIN_R9_DB, "{b:?}");
    assert!(!b.passes());
}

#[test]
fn noise_lowpassed_at_10k_passes() {
    let x = lowpass(&noise(44_100 * 2, 5), 44_100, 10_000.0);
    assert!(high_band(&x, 44_100).passes());
}

#[test]
fn silence_fails_levels_and_high_band() {
    let x = vec![0.0f32; 22_050];
    let (peak, rms) = levels_db(&x);
    assert!(peak < MIN_PEAK_DB && rms < MIN_RMS_DB);
    let b = high_band(&x, 22_050);
    assert!(!b.passes(), "{b:?}");
    // A full-scale sine is loud enough.
    let s: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.1).sin()).collect();
    let (peak, rms) = levels_db(&s);
    assert!(peak > -0.1 && (rms - (-3.01)).abs() < 0.05, "{peak} {rms}");
}

#[test]
fn quiet_frames_are_not_active() {
    // A loud low-passed part and a quiet white-noise tail 40 dB down: the tail is not active,
    // so the high band stays empty.
    let mut x = lowpass(&noise(44_100, 3), 44_100, 4000.0);
    x.extend(noise(44_100, 4).iter().map(|v| v * 0.01));
    assert!(!high_band(&x, 44_100).passes());
}

#[test]
fn split_rule() {
    assert_eq!(split_of("klettres-data", "lt"), Split::Eval);
    assert_eq!(split_of("ktuberling-data", "da"), Split::Eval);
    assert_eq!(split_of("tuxpaint-stamps-default", "nl"), Split::Eval);
    assert_eq!(split_of("klettres-data", "de"), Split::Train);
    assert_eq!(split_of("hedgewars-data", "Classic"), Split::Eval);
    assert_eq!(split_of("fillets-ng-data", "en"), Split::Eval);
    assert_eq!(split_of("fillets-ng-data-cs", "cs"), Split::Train);
    // Whole-source train even for a language code that is eval elsewhere.
    assert_eq!(split_of("0ad-data", "nl"), Split::Train);
    assert_eq!(split_of("nexuiz-data", "announcer"), Split::Train);
}

fn clip(group: &str, rel: &str, pass5: bool, hash: u8) -> Measured {
    Measured {
        source: "klettres-data",
        rel: rel.to_string(),
        group: group.to_string(),
        rate: 44_100,
        duration: 1.0,
        hash: [hash; 32],
        band: Some(if pass5 {
            HighBand {
                f_hi: 1e-3,
                r9: -10.0,
            }
        } else {
            HighBand {
                f_hi: 1e-3,
                r9: -50.0,
            }
        }),
        clipped: 0,
        early_reject: None,
    }
}

#[test]
fn group_rule() {
    assert!(group_kept(4, 3));
    assert!(!group_kept(4, 2));
    assert!(!group_kept(0, 0));
    // Group a: 3 of 4 pass -> kept, the failing clip rejected for test 5.
    // Group b: 1 of 2 pass -> all dropped. Group c: a duplicate does not count.
    let clips = vec![
        clip("a", "a/1", true, 1),
        clip("a", "a/2", true, 2),
        clip("a", "a/3", true, 3),
        clip("a", "a/4", false, 4),
        clip("b", "b/1", true, 5),
        clip("b", "b/2", false, 6),
        clip("c", "c/1", true, 7),
        clip("c", "c/2", false, 5),
    ];
    let v = decide(&clips);
    assert_eq!(
        v,
        vec![
            Ok(()),
            Ok(()),
            Ok(()),
            Err(Reject::HighBand),
            Err(Reject::Group),
            Err(Reject::Group),
            Ok(()),
            Err(Reject::Duplicate),
        ]
    );
}

#[test]
fn megaglest_resaved_copies() {
    let mut a = clip(
        "tech/archer",
        "x/tech/archer/sounds/archer_ack1.wav",
        true,
        1,
    );
    let mut b = clip(
        "magic/archer",
        "x/magic/archer/sounds/archer_ack1.wav",
        true,
        2,
    );
    let mut c = clip(
        "magic/archer",
        "x/magic/archer/sounds/archer_ack2.wav",
        true,
        3,
    );
    for m in [&mut a, &mut b, &mut c] {
        m.source = "megaglest-data";
    }
    assert_eq!(
        decide(&[a, b, c]),
        vec![Ok(()), Err(Reject::Resaved), Ok(())]
    );
}

#[test]
fn path_selection_and_exclusions() {
    let t = "tuxpaint-stamps-default";
    assert_eq!(
        select(t, "usr/share/tuxpaint/stamps/animals/cat_desc.ogg").as_deref(),
        Some("default")
    );
    assert_eq!(
        select(t, "usr/share/tuxpaint/stamps/animals/cat_desc_da.wav").as_deref(),
        Some("da")
    );
    assert_eq!(select(t, "usr/share/tuxpaint/stamps/animals/cat.ogg"), None);
    assert_eq!(
        select("klettres-data", "usr/share/klettres/de/alpha/a.ogg").as_deref(),
        Some("de")
    );
    assert_eq!(
        select("klettres-data", "usr/share/klettres/de/pics/a.ogg"),
        None
    );
    let k = "ktuberling-data";
    assert_eq!(
        select(k, "usr/share/ktuberling/sounds/nn/eye.opus").as_deref(),
        Some("nn")
    );
    assert_eq!(
        select(k, "usr/share/ktuberling/sounds/sr@latin/eye.ogg").as_deref(),
        Some("sr@latin")
    );
    assert_eq!(select(k, "usr/share/ktuberling/sounds/de.soundtheme"), None);
    let h = "usr/share/games/hedgewars/Data/Sounds/voices";
    assert_eq!(
        select("hedgewars-data", &format!("{h}/Classic/Hello.ogg")).as_deref(),
        Some("Classic")
    );
    assert_eq!(
        select("hedgewars-data", &format!("{h}/Robot/Hello.ogg")),
        None
    );
    let f = "usr/share/games/fillets-ng/sound";
    assert_eq!(
        select("fillets-ng-data-cs", &format!("{f}/level/cs/x.ogg")).as_deref(),
        Some("cs")
    );
    assert_eq!(
        select("fillets-ng-data-cs", &format!("{f}/level/en/x.ogg")),
        None
    );
    assert_eq!(
        select("fillets-ng-data", &format!("{f}/level/en/x.ogg")).as_deref(),
        Some("en")
    );
    assert_eq!(select("fillets-ng-data", &format!("{f}/share/x.ogg")), None);
    let n = "nexuiz-data";
    assert_eq!(
        select(n, "sound/tutorial/intro.ogg").as_deref(),
        Some("tutorial")
    );
    assert_eq!(select(n, "sound/tutorial/misc-at_corp_rap.ogg"), None);
    assert_eq!(
        select(n, "sound/announcer/male/03.ogg").as_deref(),
        Some("announcer")
    );
    assert_eq!(select(n, "sound/announcer/robotic/03.ogg"), None);
    assert_eq!(
        select(n, "sound/player/carni/coms/taunt.ogg").as_deref(),
        Some("carni")
    );
    assert_eq!(select(n, "sound/player/carni/player/pain25.ogg"), None);
    let m = "usr/share/games/megaglest/techs/megapack";
    assert_eq!(
        select(
            "megaglest-data",
            &format!("{m}/factions/norsemen/units/swordman_berserk/sounds/swordman_select2.wav")
        )
        .as_deref(),
        Some("norsemen/swordman_berserk")
    );
    assert_eq!(
        select(
            "megaglest-data",
            &format!("{m}/commondata/sounds/worker_ack1.wav")
        )
        .as_deref(),
        Some("commondata/worker")
    );
    assert_eq!(
        select(
            "megaglest-data",
            &format!("{m}/factions/x/units/dragon/sounds/dragon_ack1.wav")
        ),
        None
    );
    assert_eq!(
        select(
            "megaglest-data",
            &format!("{m}/factions/x/units/archer/sounds/archer_attack1.wav")
        ),
        None
    );
    assert_eq!(
        select("0ad-data", "audio/voice/latin/civ/civ_female_heal_1.ogg").as_deref(),
        Some("latin/female")
    );
    assert_eq!(
        select("0ad-data", "audio/voice/global/civ/civ_male_x.ogg"),
        None
    );
    assert_eq!(
        select(
            "tortoise-tts",
            "tortoise-tts-3.0.0/tortoise/voices/pat2/1.mp3"
        )
        .as_deref(),
        Some("pat2")
    );
}

#[test]
fn every_kept_tsv_row_has_a_source() {
    let tsv = include_str!("../../corpus/sources.tsv");
    let mut names = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 10, "short row: {line}");
        if !cols[4].starts_with("REJECTED") {
            names.push(cols[0]);
            let s = source(cols[0]).unwrap_or_else(|| panic!("no rule for {}", cols[0]));
            assert!(
                cols[2].contains(s.version),
                "{} pin {} not in {}",
                s.name,
                s.version,
                cols[2]
            );
        }
    }
    assert_eq!(names.len(), SOURCES.len());
}

#[test]
fn options() {
    let o = parse_args(&["--sources".into(), "klettres-data,ktuberling-data".into()]).unwrap();
    assert_eq!(chosen(&o).len(), 2);
    let o = parse_args(&[]).unwrap();
    let names: Vec<&str> = chosen(&o).iter().map(|s| s.name).collect();
    assert!(!names.contains(&"0ad-data") && !names.contains(&"tortoise-tts"));
    assert_eq!(names.len(), 8);
    let o = parse_args(&["--with-0ad".into(), "--with-tortoise".into()]).unwrap();
    assert_eq!(chosen(&o).len(), 10);
    assert!(parse_args(&["--sources".into(), "nope".into()]).is_err());
}
