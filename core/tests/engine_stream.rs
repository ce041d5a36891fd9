//! Streaming engine properties with mock models: block-size invariance, exact latency, low
//! band pass-through, reset determinism, chunk invariance, bad input.

mod engine_common;

use engine_common::*;
use widen_core::dsp::resample;
use widen_core::engine::mock::{Faulty, MockGenerator, MockVocoder};
use widen_core::engine::{
    enhance_offline, process_offline, Context, Engine, EngineConfig, EngineError, OfflineStream,
    StreamProcessor, Synthesis,
};

#[test]
fn offline_matches_streaming_for_every_block_size() {
    for rate in [22_050u32, 48_000] {
        let x = speech(rate, 0.6);
        let mut e = engine(small_config(rate), 44_100);
        let offline = process_offline(&mut e, &x).unwrap();
        assert_eq!(offline.len(), x.len());
        // The generated band is really there (the comparison is not trivially about zeros).
        assert!(e.stats().frames > 0);
        for block in [1usize, 64, 256, 480, 4096, 44_100] {
            let streamed = stream_trimmed(&mut e, &x, block);
            let err = max_abs_diff(&streamed, &offline);
            eprintln!("{rate} Hz, block {block}: max |streaming - offline| = {err:e}");
            assert!(err <= 1e-4, "{rate} Hz block {block}: max error {err}");
        }
        assert_eq!(e.stats().underruns, 0);
    }
}

#[test]
fn impulse_comes_out_exactly_latency_later() {
    for rate in [22_050u32, 44_100, 48_000, 8_000, 16_000] {
        let cfg = EngineConfig {
            amount: 0.0,
            ..small_config(rate)
        };
        let mut e = engine(cfg, 512);
        let lat = e.latency_samples();
        let at = rate as usize / 10;
        let mut x = vec![0.0f32; at + lat + rate as usize / 10];
        x[at] = 1.0;
        let mut y = vec![0.0f32; x.len()];
        for (i, o) in x.chunks(97).zip(y.chunks_mut(97)) {
            e.process_block(i, o).unwrap();
        }
        let (peak, _) = y
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        // Sub-sample position of the peak (parabola through the three samples around it).
        let (a, b, c) = (y[peak - 1] as f64, y[peak] as f64, y[peak + 1] as f64);
        let frac = 0.5 * (a - c) / (a - 2.0 * b + c);
        eprintln!("{rate} Hz: latency {lat}, peak at {peak} {frac:+.4}");
        assert_eq!(peak, at + lat, "{rate} Hz: latency {lat}");
        // The low-band path is symmetric: the peak sits on the sample to within resampler accuracy.
        assert!(frac.abs() < 0.02, "{rate} Hz: peak offset {frac}");
        assert_eq!(e.stats().underruns, 0);
    }
}

#[test]
fn amount_zero_passes_the_low_band_untouched() {
    // Narrow-band speech (8 kHz recording, faded in/out so the stream has no steps): with no
    // generated band the output is the input delayed. At 22.05 kHz that is exact to float
    // error; at other rates the engine's two resamplers are the only difference, so the
    // output equals the plain resampling round trip of the input.
    for rate in [22_050u32, 44_100, 48_000] {
        let x = faded(speech(rate, 1.0), rate);
        let cfg = EngineConfig {
            amount: 0.0,
            ..small_config(rate)
        };
        let mut e = engine(cfg, 1024);
        let y = process_offline(&mut e, &x).unwrap();
        let err = max_abs_diff(&y, &x);
        let round_trip = if rate == 22_050 {
            x.clone()
        } else {
            resample(&resample(&x, rate, 22_050).unwrap(), 22_050, rate).unwrap()
        };
        let err_rt = max_abs_diff(&y, &round_trip);
        eprintln!(
            "{rate} Hz: max |out - in| = {err:e}, max |out - resampling round trip| = {err_rt:e} (input rms {:.3})",
            rms(&x)
        );
        assert!(
            err_rt <= 1e-4,
            "{rate} Hz: max error vs round trip {err_rt}"
        );
        // The round trip itself is within the resamplers' accuracy.
        assert!(err <= 1e-3, "{rate} Hz: max error {err}");
    }
}

#[test]
fn generated_band_is_added_above_the_cutoff_only() {
    let rate = 22_050;
    let x = speech(rate, 1.0);
    let mut dry = engine(
        EngineConfig {
            amount: 0.0,
            ..small_config(rate)
        },
        1024,
    );
    let mut wet = engine(small_config(rate), 1024);
    let (yd, yw) = (
        process_offline(&mut dry, &x).unwrap(),
        process_offline(&mut wet, &x).unwrap(),
    );
    let diff: Vec<f32> = yw.iter().zip(&yd).map(|(a, b)| a - b).collect();
    assert!(rms(&diff) > 1e-4, "no generated band: rms {}", rms(&diff));
    // The difference lives above the cutoff: below 3.5 kHz it is more than 40 dB down
    // (only the synthesis window's spectral leakage reaches there).
    let stft = widen_core::dsp::Stft::new(1024, 256, 1024).unwrap();
    let s = stft.forward(&diff);
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for t in 0..s.n_frames {
        for (k, c) in s.frame(t).unwrap().iter().enumerate() {
            let p = c.norm_sqr() as f64;
            if k < 162 {
                lo += p;
            } else if k >= 186 {
                hi += p;
            }
        }
    }
    eprintln!(
        "generated band: energy below 3.5 kHz / above 4 kHz = {:.2e}",
        lo / hi
    );
    assert!(lo < 1e-4 * hi, "low {lo} high {hi}");
    assert_eq!(wet.stats().dropped_frames, 0);
}

#[test]
fn reset_repeats_output_bit_for_bit() {
    for rate in [22_050u32, 48_000] {
        let x = speech(rate, 0.5);
        let mut e = engine(small_config(rate), 300);
        let run = |e: &mut Engine| {
            let mut y = vec![0.0f32; x.len()];
            let mut i = 0;
            // Irregular block sizes.
            for b in [1usize, 300, 17, 256, 99].iter().cycle() {
                if i >= x.len() {
                    break;
                }
                let j = (i + b).min(x.len());
                e.process_block(&x[i..j], &mut y[i..j]).unwrap();
                i = j;
            }
            y
        };
        let first = run(&mut e);
        e.reset();
        let second = run(&mut e);
        assert!(
            first
                .iter()
                .zip(&second)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{rate} Hz: output after reset differs"
        );
        assert!(rms(&first) > 1e-3);
    }
}

#[test]
fn output_does_not_depend_on_the_model_chunk_size() {
    // Seed-sized contexts: the same output for chunks of 1, 5 and 16 frames (the vocoder's
    // right context 25 is not a multiple of 5 or 16, which shifts its chunk grid).
    let rate = 22_050;
    let x = speech(rate, 0.8);
    let mut outs = Vec::new();
    for chunk in [1usize, 5, 16] {
        let cfg = EngineConfig {
            generator_context: Context {
                left: 25,
                right: 25,
            },
            vocoder_context: Context {
                left: 25,
                right: 25,
            },
            chunk_frames: chunk,
            ..EngineConfig::default()
        };
        let mut e = engine(cfg, 4096);
        eprintln!("chunk {chunk}: latency {}", e.latency_samples());
        outs.push(process_offline(&mut e, &x).unwrap());
    }
    for (i, o) in outs.iter().enumerate().skip(1) {
        let err = max_abs_diff(o, &outs[0]);
        assert!(err <= 1e-4, "chunk variant {i}: max error {err}");
    }
    // With these contexts and big chunks the low band still passes untouched.
    let xf = faded(x, rate);
    let cfg = EngineConfig {
        generator_context: Context {
            left: 25,
            right: 25,
        },
        vocoder_context: Context {
            left: 25,
            right: 25,
        },
        chunk_frames: 16,
        amount: 0.0,
        ..EngineConfig::default()
    };
    let y = process_offline(&mut engine(cfg, 4096), &xf).unwrap();
    let err = max_abs_diff(&y, &xf);
    assert!(err <= 1e-4, "seed contexts, amount 0: max error {err}");
}

#[test]
fn config_round_trips_through_json() {
    let cfg = EngineConfig {
        synthesis: Synthesis::GriffinLim { iterations: 32 },
        ..EngineConfig::default()
    };
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(
        json.contains(r#""synthesis":{"kind":"griffin_lim","iterations":32}"#),
        "{json}"
    );
    assert!(
        json.contains(r#""generator_context":{"left":25,"right":25}"#),
        "{json}"
    );
    let back: EngineConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let v: EngineConfig = serde_json::from_str(&json.replace(
        r#"{"kind":"griffin_lim","iterations":32}"#,
        r#"{"kind":"phase_copy"}"#,
    ))
    .unwrap();
    assert_eq!(v.synthesis, Synthesis::PhaseCopy);
}

#[test]
fn phase_copy_synthesis_streams_and_adds_a_band() {
    let rate = 48_000;
    let x = speech(rate, 0.5);
    let cfg = EngineConfig {
        synthesis: Synthesis::PhaseCopy,
        ..small_config(rate)
    };
    let mut e = engine(cfg.clone(), 4096);
    let off = process_offline(&mut e, &x).unwrap();
    let st = stream_trimmed(&mut e, &x, 33);
    assert!(max_abs_diff(&off, &st) <= 1e-4);
    let mut dry = engine(EngineConfig { amount: 0.0, ..cfg }, 4096);
    let yd = process_offline(&mut dry, &x).unwrap();
    let d: Vec<f32> = off.iter().zip(&yd).map(|(a, b)| a - b).collect();
    assert!(rms(&d) > 1e-4, "phase copy generated nothing");
    assert!(off.iter().all(|v| v.is_finite()));
}

#[test]
fn rate_conversion_offline_and_streaming_agree() {
    // 8 kHz in, 22.05 kHz out (the CLI's main case) and 16 kHz -> 48 kHz.
    for (rin, rout) in [(8_000u32, 22_050u32), (16_000, 48_000)] {
        let x = speech(rin, 0.5);
        let cfg = EngineConfig {
            input_rate: rin,
            output_rate: rout,
            ..small_config(rin)
        };
        let mut e = engine(cfg, 4096);
        let off = process_offline(&mut e, &x).unwrap();
        let expected = (x.len() as f64 * rout as f64 / rin as f64).round() as usize;
        assert_eq!(off.len(), expected);
        // Streaming with small blocks through `process`.
        e.reset();
        let lat = e.latency_samples();
        let mut out = Vec::with_capacity(lat + off.len() + 64);
        let mut xin = x.clone();
        xin.resize(
            x.len() + (lat * rin as usize).div_ceil(rout as usize) + 2,
            0.0,
        );
        for piece in xin.chunks(37) {
            e.process(piece, &mut out).unwrap();
        }
        let st = &out[lat..lat + off.len()];
        let err = max_abs_diff(st, &off);
        assert!(err <= 1e-4, "{rin}->{rout}: max error {err}");
        assert!(matches!(
            e.process_block(&x[..10], &mut [0.0; 10]),
            Err(EngineError::RateMismatch { .. })
        ));
    }
}

#[test]
fn bad_input_is_sanitised_silence_stays_silent_clipping_stays_bounded() {
    for rate in [22_050u32, 48_000] {
        let mut e = engine(small_config(rate), 512);
        let lat = e.latency_samples();
        // NaN/Inf.
        let mut x = speech(rate, 0.4);
        let n_bad = x.len() / 50;
        for i in 0..n_bad {
            x[i * 50] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
        }
        let y = process_offline(&mut e, &x).unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{rate}: non-finite output");
        assert_eq!(e.stats().non_finite_samples, n_bad as u64);

        // Digital silence -> silence (< -90 dBFS), including the start-up.
        let z = vec![0.0f32; rate as usize / 2 + lat];
        let mut yz = vec![1.0f32; z.len()];
        e.reset();
        for (i, o) in z.chunks(128).zip(yz.chunks_mut(128)) {
            e.process_block(i, o).unwrap();
        }
        let peak = yz.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(
            peak < 10f32.powf(-90.0 / 20.0),
            "{rate}: silence peak {peak}"
        );

        // Silence after speech: the tail decays to below -90 dBFS too (no bursts).
        let mut xs = speech(rate, 0.3);
        let speech_len = xs.len();
        xs.resize(speech_len + rate as usize / 2, 0.0);
        let ys = process_offline(&mut e, &xs).unwrap();
        let tail = &ys[speech_len + rate as usize / 10..];
        let peak = tail.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(peak < 10f32.powf(-90.0 / 20.0), "{rate}: tail peak {peak}");

        // Full-scale clipped input (speech x 30, hard-clipped at +-1).
        let xc: Vec<f32> = speech(rate, 0.4)
            .iter()
            .map(|v| (v * 30.0).clamp(-1.0, 1.0))
            .collect();
        let yc = process_offline(&mut e, &xc).unwrap();
        let peak = yc.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        eprintln!("{rate} Hz: clipped input -> output peak {peak}");
        assert!(yc.iter().all(|v| v.is_finite()));
        assert!(peak < 3.0, "{rate}: clipped input gave peak {peak}");
        assert_eq!(e.stats().underruns, 0);
    }
}

#[test]
fn non_finite_model_outputs_drop_the_band_not_the_signal() {
    let rate = 22_050;
    let cfg = small_config(rate);
    let mut g = Faulty::new(MockGenerator::new(80, SPLIT_BAND, 3));
    g.nan_every = 3;
    let mut v = Faulty::new(MockVocoder::new(&cfg.mel, 2, 0.02).unwrap());
    v.nan_every = 5;
    let mut e = Engine::new(cfg.clone(), Box::new(g), Some(Box::new(v)), 1024).unwrap();
    let x = speech(rate, 0.5);
    let y = process_offline(&mut e, &x).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
    let s = e.stats();
    assert!(s.dropped_frames > 0, "{s:?}");
    // Dropped frames keep the exact low band: the output stays close to the clean engine's.
    let mut clean = engine(cfg, 1024);
    let yc = process_offline(&mut clean, &x).unwrap();
    let d: Vec<f32> = y.iter().zip(&yc).map(|(a, b)| a - b).collect();
    assert!(
        rms(&d) < rms(&yc),
        "dropping bands should only remove the generated part"
    );
}

#[test]
fn runtime_failure_is_an_error_not_a_panic() {
    let cfg = small_config(22_050);
    let mut g = Faulty::new(MockGenerator::new(80, SPLIT_BAND, 3));
    g.fail_every = 2;
    let v = MockVocoder::new(&cfg.mel, 2, 0.02).unwrap();
    let mut e = Engine::new(cfg, Box::new(g), Some(Box::new(v)), 1024).unwrap();
    let err = process_offline(&mut e, &speech(22_050, 0.3)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("generator") && msg.contains("scheduled failure"),
        "{msg}"
    );
}

#[test]
fn griffin_lim_is_refused_by_the_streaming_engine_and_works_offline() {
    let cfg = EngineConfig {
        synthesis: Synthesis::GriffinLim { iterations: 8 },
        ..small_config(22_050)
    };
    let (g, v) = mocks(&cfg.mel);
    let err = Engine::new(cfg.clone(), g, v, 256).unwrap_err();
    assert!(matches!(err, EngineError::GriffinLimNotStreamable));
    assert!(err
        .to_string()
        .contains("Griffin-Lim needs the whole signal"));

    for rate in [22_050u32, 16_000] {
        let x = faded(speech(rate, 0.5), rate);
        let cfg = EngineConfig {
            input_rate: rate,
            output_rate: 22_050,
            ..cfg.clone()
        };
        let (g, v) = mocks(&cfg.mel);
        let y = enhance_offline(&cfg, g, v, &x).unwrap();
        let expected = (x.len() as f64 * 22_050.0 / rate as f64).round() as usize;
        assert_eq!(y.len(), expected);
        assert!(y.iter().all(|v| v.is_finite()));
        // Low band only: the input itself (no latency offline).
        let cfg0 = EngineConfig {
            amount: 0.0,
            cutoff_hz: 4200.0,
            ..cfg.clone()
        };
        let (g, v) = mocks(&cfg0.mel);
        let y0 = enhance_offline(&cfg0, g, v, &x).unwrap();
        let x22 = resample(&x, rate, 22_050).unwrap();
        let err = max_abs_diff(&y0, &x22[..y0.len()]);
        eprintln!("{rate} Hz: Griffin-Lim path, amount 0: max |out - in| = {err:e}");
        assert!(err < 1e-4, "{rate}: Griffin-Lim path low band error {err}");
        let d: Vec<f32> = y.iter().zip(&y0).map(|(a, b)| a - b).collect();
        assert!(rms(&d) > 1e-4, "Griffin-Lim generated nothing");
    }
}

#[test]
fn bad_configs_and_blocks_are_rejected_with_clear_errors() {
    let base = small_config(22_050);
    let cases: Vec<(EngineConfig, &str)> = vec![
        (
            EngineConfig {
                chunk_frames: 0,
                ..base.clone()
            },
            "chunk_frames",
        ),
        (
            EngineConfig {
                cutoff_hz: 20_000.0,
                ..base.clone()
            },
            "cutoff_hz",
        ),
        (
            EngineConfig {
                cutoff_hz: 50.0,
                ..base.clone()
            },
            "cutoff_hz",
        ),
        (
            EngineConfig {
                amount: f32::NAN,
                ..base.clone()
            },
            "amount",
        ),
        (
            EngineConfig {
                input_rate: 10,
                ..base.clone()
            },
            "input_rate",
        ),
        (
            EngineConfig {
                crossfade_bins: 400,
                ..base.clone()
            },
            "crossfade_bins",
        ),
    ];
    for (cfg, field) in cases {
        let (g, v) = mocks(&cfg.mel);
        let msg = Engine::new(cfg, g, v, 256).unwrap_err().to_string();
        assert!(
            msg.contains(field) && msg.contains("expected") && msg.contains("found"),
            "{msg}"
        );
    }
    // Vocoder synthesis without a vocoder; a vocoder with the wrong bin count.
    let (g, _) = mocks(&base.mel);
    assert!(matches!(
        Engine::new(base.clone(), g, None, 256),
        Err(EngineError::MissingVocoder)
    ));
    let (g, _) = mocks(&base.mel);
    let small_mel = widen_core::config::MelConfig {
        n_fft: 512,
        ..base.mel.clone()
    };
    let v = MockVocoder::new(&small_mel, 2, 0.02).unwrap();
    let msg = Engine::new(base.clone(), g, Some(Box::new(v)), 256)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("vocoder") && msg.contains("513") && msg.contains("257"),
        "{msg}"
    );
    // Blocks.
    let mut e = engine(base, 256);
    let mut out = vec![0.0; 300];
    assert!(matches!(
        e.process_block(&[0.0; 300], &mut out),
        Err(EngineError::BlockTooLarge {
            max: 256,
            found: 300
        })
    ));
    assert!(matches!(
        e.process_block(&[0.0; 10], &mut out[..9]),
        Err(EngineError::BlockLengthMismatch { .. })
    ));
}

#[test]
fn seed_config_latencies() {
    // The seed's quality set: n_fft 1024, hop 256, contexts 25/25 for both models.
    let mut table = Vec::new();
    for chunk in [1usize, 16] {
        for rate in [22_050u32, 44_100, 48_000] {
            let cfg = EngineConfig {
                chunk_frames: chunk,
                input_rate: rate,
                output_rate: rate,
                ..EngineConfig::default()
            };
            let e = engine(cfg, 512);
            let lat = e.latency_samples();
            eprintln!(
                "chunk {chunk:2}, {rate} Hz: latency {lat} samples = {:.2} ms",
                lat as f64 * 1000.0 / rate as f64
            );
            table.push((chunk, rate, lat));
        }
    }
    // At 22.05 kHz there is no resampler: n_fft - 1 + (25 + 25 + chunk - 1) * hop.
    assert_eq!(table[0].2, 1023 + 50 * 256);
    assert_eq!(table[3].2, 1023 + 65 * 256);
    // Resampling adds a few ms, never less than the plain scaling of the 22.05 kHz figure.
    for &(chunk, rate, lat) in &table {
        let base = if chunk == 1 { 13_823.0 } else { 17_663.0 };
        let scaled = base * rate as f64 / 22_050.0;
        assert!(lat as f64 >= scaled && (lat as f64) < scaled + 0.02 * rate as f64);
    }
}

#[test]
fn offline_stream_in_blocks_equals_process_offline_and_restarts_after_finish() {
    // 8 kHz in, 22.05 kHz out (what `widen enhance` does), and 48 kHz in and out.
    for (r_in, r_out) in [(8_000u32, 22_050u32), (48_000, 48_000)] {
        let x = speech(r_in, 0.7);
        let cfg = EngineConfig {
            output_rate: r_out,
            ..small_config(r_in)
        };
        let mut whole_engine = engine(cfg.clone(), 4096);
        let whole = process_offline(&mut whole_engine, &x).unwrap();
        let expected_len = (x.len() as u64 * r_out as u64 * 2 + r_in as u64) / (2 * r_in as u64);
        assert_eq!(whole.len() as u64, expected_len);
        let mut stream = OfflineStream::new(engine(cfg, 1000));
        for round in 0..2 {
            let mut out = Vec::new();
            // Uneven blocks, some larger than max_block (split inside push).
            let mut rest = &x[..];
            for n in [1usize, 7, 300, 2500, 999, 1000, 1001].iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*n).min(rest.len());
                stream.push(&rest[..n], &mut out).unwrap();
                rest = &rest[n..];
            }
            stream.finish(&mut out).unwrap();
            assert_eq!(out.len(), whole.len(), "{r_in}->{r_out} round {round}");
            let err = max_abs_diff(&out, &whole);
            assert!(
                err <= 1e-5,
                "{r_in}->{r_out} round {round}: max error {err}"
            );
        }
    }
}

#[test]
fn offline_stream_of_nothing_is_nothing() {
    let mut stream = OfflineStream::new(engine(small_config(16_000), 512));
    let mut out = Vec::new();
    assert_eq!(stream.finish(&mut out).unwrap(), 0);
    assert!(out.is_empty());
}

#[test]
fn translation_baseline_keeps_the_low_band_and_fills_the_high_band() {
    // 8 kHz speech (content below 4 kHz) in, 22.05 kHz out.
    let x = faded(speech(8_000, 1.0), 8_000);
    let cfg = EngineConfig {
        input_rate: 8_000,
        output_rate: 22_050,
        ..small_config(22_050)
    };
    let y = widen_core::engine::translate_offline(&cfg, &x).unwrap();
    assert_eq!(y.len(), (x.len() * 22_050).div_ceil(8_000));
    assert!(y.iter().all(|v| v.is_finite()));
    let sinc = resample(&x, 8_000, 22_050).unwrap();
    let stft = widen_core::dsp::Stft::new(1024, 256, 1024).unwrap();
    let band_energy = |sig: &[f32], lo: usize, hi: usize| -> f64 {
        let s = stft.forward(sig);
        (0..s.n_frames)
            .flat_map(|t| s.frame(t).unwrap()[lo..hi].to_vec())
            .map(|c| c.norm_sqr() as f64)
            .sum()
    };
    // Below 3.5 kHz the output is the sinc-upsampled input (40 dB down at worst, from the
    // analysis window's leakage of the new band).
    let diff: Vec<f32> = y.iter().zip(&sinc).map(|(a, b)| a - b).collect();
    let low = band_energy(&sinc, 0, 162);
    assert!(band_energy(&diff, 0, 162) < 1e-4 * low);
    // Above 4.5 kHz: a band that sinc upsampling does not have, below the low band's level.
    let (hi_sinc, hi_out) = (band_energy(&sinc, 209, 513), band_energy(&y, 209, 513));
    eprintln!(
        "high/low energy: sinc {:.2e}, translation {:.2e}",
        hi_sinc / low,
        hi_out / low
    );
    assert!(
        hi_out > 100.0 * hi_sinc,
        "no band added: {hi_out} vs {hi_sinc}"
    );
    assert!(
        hi_out < low,
        "added band louder than the input: {hi_out} vs {low}"
    );
    // Digital silence stays silent; no splice is refused.
    let z = widen_core::engine::translate_offline(&cfg, &vec![0.0; 8_000]).unwrap();
    assert!(z.iter().all(|&v| v == 0.0));
    let err = widen_core::engine::translate_offline(
        &EngineConfig {
            splice: false,
            ..cfg
        },
        &x,
    )
    .unwrap_err();
    assert!(err.to_string().contains("splice"), "{err}");
}

#[test]
fn offline_end_runs_only_the_frames_the_output_needs() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    // Resampling both ways, phase copy and vocoder; lengths that end anywhere in a chunk (a
    // long one, as offline: the last chunk's synthesis then runs far ahead of the output).
    for (rate_in, rate_out, synthesis) in [
        (8_000u32, 22_050u32, Synthesis::PhaseCopy),
        (8_000, 48_000, Synthesis::Vocoder),
        (22_050, 22_050, Synthesis::Vocoder),
    ] {
        let cfg = EngineConfig {
            chunk_frames: 96,
            input_rate: rate_in,
            output_rate: rate_out,
            synthesis,
            ..small_config(rate_in)
        };
        let x = speech(rate_in, 1.6);
        for len in [x.len() / 3, x.len() / 2 + 77, x.len() - 5] {
            let x = &x[..len];
            let g = Faulty::new(MockGenerator::new(cfg.mel.n_mels, SPLIT_BAND, 3));
            let counted = Arc::clone(&g.frames_run);
            let v = (synthesis == Synthesis::Vocoder)
                .then(|| Box::new(MockVocoder::new(&cfg.mel, 2, 1.0).unwrap()) as _);
            let mut e = Engine::new(cfg.clone(), Box::new(g), v, 4096).unwrap();
            // `process_offline` tells the engine where the output ends...
            let limited = process_offline(&mut e, x).unwrap();
            let run_limited = counted.swap(0, Ordering::Relaxed) as usize;
            // ...plain streaming does not: every chunk runs whole.
            e.reset();
            let lat = e.latency_samples();
            let mut full = Vec::new();
            let pad = vec![0.0f32; 4096];
            for block in x.chunks(4096) {
                e.process(block, &mut full).unwrap();
            }
            while full.len() < lat + limited.len() {
                e.process(&pad, &mut full).unwrap();
            }
            full.drain(..lat);
            let run_full = counted.load(Ordering::Relaxed) as usize;
            assert!(full.len() >= limited.len());
            let err = max_abs_diff(&limited, &full[..limited.len()]);
            assert!(
                err <= 1e-6,
                "{rate_in}->{rate_out} {synthesis:?}, {len} samples: max diff {err:e}"
            );
            // The frames the output spans, plus the window, resampler and model context.
            let frames =
                (len as u64 * cfg.mel.sample_rate as u64 / rate_in as u64) as usize / cfg.mel.hop;
            let ctx = cfg.generator_context.left + cfg.generator_context.right;
            let calls = frames.div_ceil(96) + 1;
            eprintln!(
                "{rate_in}->{rate_out} {synthesis:?}, {len} samples ({frames} frames): \
                 generator frames {run_limited} (limited), {run_full} (whole chunks)"
            );
            assert!(run_limited < run_full);
            assert!(
                run_limited <= frames + 16 + calls * ctx,
                "{run_limited} generator frames for {frames}"
            );
        }
    }
}
