//! Parity tests: the trainer's tch log-mel against the engine's Rust log-mel (itself checked
//! against librosa by widen-core's fixtures); an exported generator and an exported vocoder run
//! in ONNX Runtime against the same weights in tch; the engine running an exported vocoder on
//! real speech (and its frame placement against the trainer's iSTFT).

mod common;
use common::testdata;

use std::path::Path;

use tch::{nn, Device, Tensor};
use widen_core::config::contract;
use widen_core::dsp::LogMel;
use widen_core::engine::TrueMel;
use widen_core::engine::{engine_config_for, enhance_offline, Context, EngineConfig, Synthesis};
use widen_core::model::{ModelSet, Synthesis as ModelSynthesis, Variant};
use widen_core::runtime::{init_ort, IoSpec, ModelRuntime, OrtModel, SessionOptions};
use widen_train::export::{self, trained_weights};
use widen_train::generator::Generator;
use widen_train::tch_mel::TchMel;
use widen_train::vocoder::Vocoder;
use widen_train::{checkpoint, spec};

fn speech(rate: u32) -> Vec<f32> {
    let dir = testdata().join("ktuberling/fr");
    let mut x = Vec::new();
    for name in ["bouche.wav", "chapeau.wav", "boucle-d-oreille.wav"] {
        x.extend(widen_train::data::load_clip(&dir.join(name), rate).expect("read test clip"));
    }
    x
}

#[test]
fn tch_log_mel_matches_engine_log_mel() {
    for variant in Variant::ALL {
        let cfg = spec::mel_config(variant);
        let x = speech(cfg.sample_rate);
        let rust = LogMel::new(cfg.clone()).unwrap().compute(&x);
        let tm = TchMel::new(&cfg, Device::Cpu).unwrap();
        let t = tm.log_mel(&Tensor::from_slice(&x).unsqueeze(0));
        assert_eq!(t.size(), [1, cfg.n_mels as i64, rust.n_frames as i64]);
        let v = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        // Within 1e-4 in log-mel wherever the band lies above the f32 FFT noise floor (60 dB
        // below the loudest band: below it, rounding noise of either FFT dominates the log);
        // there, the linear magnitudes agree within 1e-6 of the peak.
        let peak = rust.data.iter().fold(f32::MIN, |m, &v| m.max(v));
        let floor = peak - 60.0f32 / 20.0 * std::f32::consts::LN_10;
        let (mut worst, mut worst_lin, mut n_loud) = (0.0f32, 0.0f32, 0usize);
        for (a, b) in v.iter().zip(&rust.data) {
            if *b > floor {
                worst = worst.max((a - b).abs());
                n_loud += 1;
            } else {
                worst_lin = worst_lin.max((a.exp() - b.exp()).abs() / peak.exp());
            }
        }
        assert!(
            worst <= 1e-4,
            "{variant:?}: tch and Rust log-mel differ by up to {worst} above the floor (tolerance 1e-4)"
        );
        assert!(
            worst_lin <= 1e-6,
            "{variant:?}: below the floor, linear difference {worst_lin} of the peak"
        );
        assert!(
            n_loud > v.len() / 4,
            "{variant:?}: only {n_loud} values above the floor"
        );
        // Not vacuous: the signal spans a wide range of log-mel values.
        let (lo, hi) = rust
            .data
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi - lo > 8.0, "log-mel range only {lo}..{hi}");
    }
}

#[test]
fn exported_generator_matches_tch_in_onnx_runtime() {
    init_ort().expect("ONNX Runtime library (run scripts/setup-tests.sh)");
    tch::manual_seed(11);
    for variant in Variant::ALL {
        let gspec = spec::generator_spec(variant);
        let vs = nn::VarStore::new(Device::Cpu);
        let gen = Generator::new(&vs.root(), &gspec).unwrap();
        let weights = trained_weights(&vs).unwrap();
        let built = gspec.build_trained(&weights).unwrap();
        assert_eq!(
            (built.context_left, built.context_right),
            (gen.context_left, gen.context_right)
        );
        let bytes = widen_onnx::encode(&built.model);
        let n = gspec.n_mels;
        let io = IoSpec::new(
            (contract::GENERATOR_INPUT, n),
            &[(contract::GENERATOR_OUTPUT, n)],
        );
        let mut ort = OrtModel::from_memory(&bytes, "exported", &io, &SessionOptions::default())
            .expect("ONNX Runtime loads the export");
        // Real log-mel input.
        let cfg = spec::mel_config(variant);
        let mel = LogMel::new(cfg).unwrap().compute(&speech(22_050));
        let frames = mel.n_frames;
        let mut out = vec![Vec::new()];
        ort.run(&mel.data, n, frames, &mut out).unwrap();
        let x = Tensor::from_slice(&mel.data).reshape([1, n as i64, frames as i64]);
        let y = tch::no_grad(|| gen.forward(&x));
        let y = Vec::<f32>::try_from(y.flatten(0, -1)).unwrap();
        assert_eq!(y.len(), out[0].len());
        let worst = y
            .iter()
            .zip(&out[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let peak = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            worst <= 1e-4,
            "{variant:?}: ONNX Runtime and tch differ by up to {worst} (tolerance 1e-4; outputs up to {peak})"
        );
        // The residual is not negligible, so the comparison exercises the weights.
        let resid = y
            .iter()
            .zip(&mel.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(resid > 0.01, "{variant:?}: residual only {resid}");
    }
}

/// Adds small noise to every variable so the comparison exercises every weight (LayerNorm
/// gains of exactly 1, zero biases and a head near zero would hide a wrong mapping).
fn perturb(vs: &nn::VarStore, scale: f64) {
    tch::no_grad(|| {
        for (_, mut t) in vs.variables() {
            let noise = t.randn_like() * scale;
            let _ = t.f_add_(&noise);
        }
    });
}

#[test]
fn exported_vocoder_matches_tch_in_onnx_runtime() {
    init_ort().expect("ONNX Runtime library (run scripts/setup-tests.sh)");
    tch::manual_seed(12);
    for variant in Variant::ALL {
        let cfg = spec::mel_config(variant);
        let vspec = spec::vocoder_spec(variant).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let voc = Vocoder::new(&vs.root(), &vspec, &cfg).unwrap();
        perturb(&vs, 0.02);
        let built = vspec.build_trained(&trained_weights(&vs).unwrap()).unwrap();
        assert_eq!(
            (built.context_left, built.context_right),
            (voc.context_left, voc.context_right)
        );
        let bytes = widen_onnx::encode(&built.model);
        let (n, nb) = (vspec.n_mels, vspec.n_bins);
        let io = IoSpec::new(
            (contract::VOCODER_INPUT, n),
            &[
                (contract::VOCODER_MAG, nb),
                (contract::VOCODER_COS, nb),
                (contract::VOCODER_SIN, nb),
            ],
        );
        let mut ort =
            OrtModel::from_memory(&bytes, "exported vocoder", &io, &SessionOptions::default())
                .expect("ONNX Runtime loads the export");
        let mel = LogMel::new(cfg.clone()).unwrap().compute(&speech(22_050));
        let frames = mel.n_frames;
        let mut out = vec![Vec::new(), Vec::new(), Vec::new()];
        ort.run(&mel.data, n, frames, &mut out).unwrap();
        let x = Tensor::from_slice(&mel.data).reshape([1, n as i64, frames as i64]);
        let o = tch::no_grad(|| voc.forward(&x));
        let flat = |t: Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        let (mag, cos, sin) = (flat(o.mag), flat(o.phase.cos()), flat(o.phase.sin()));
        assert_eq!(mag.len(), out[0].len());
        // Magnitude: relative 1e-4 (it is exp of the logits; 1e-6 absolute near zero).
        let worst_mag = mag
            .iter()
            .zip(&out[0])
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-2))
            .fold(0.0f32, f32::max);
        eprintln!("{variant:?}: vocoder magnitude worst relative difference {worst_mag}");
        assert!(
            worst_mag <= 1e-4,
            "{variant:?}: magnitude differs by up to {worst_mag} relative (tolerance 1e-4)"
        );
        for (name, t, o) in [("cos", &cos, &out[1]), ("sin", &sin, &out[2])] {
            let worst = t
                .iter()
                .zip(o)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            eprintln!("{variant:?}: vocoder {name} worst difference {worst}");
            assert!(
                worst <= 1e-4,
                "{variant:?}: {name} differs by up to {worst} (tolerance 1e-4)"
            );
        }
        // Not vacuous: magnitudes span a wide range and phases vary.
        let (lo, hi) = mag
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(
            hi / lo.max(1e-12) > 1e3,
            "{variant:?}: magnitudes only {lo}..{hi}"
        );
        let spread = cos.iter().filter(|c| c.abs() < 0.5).count();
        assert!(spread > cos.len() / 10, "{variant:?}: phases barely vary");
    }
}

#[test]
fn engine_runs_an_exported_trained_vocoder_on_real_speech() {
    init_ort().expect("ONNX Runtime library (run scripts/setup-tests.sh)");
    tch::manual_seed(13);
    let tmp = tempfile::tempdir().unwrap();
    for variant in Variant::ALL {
        let cfg = spec::mel_config(variant);
        let vspec = spec::vocoder_spec(variant).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let voc = Vocoder::new(&vs.root(), &vspec, &cfg).unwrap();
        perturb(&vs, 0.02);
        let set = tmp.path().join(variant.as_str());
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/default")
            .join(variant.as_str());
        export::copy_set(&base, &set).unwrap();
        let state = checkpoint::State {
            step: 1,
            total_steps: 1,
            batch_size: 1,
            frames: 32,
            ..checkpoint::State::blank("vocoder", variant)
        };
        let sc = export::export_vocoder(
            &vspec,
            &vs,
            &state,
            &set,
            Some(ModelSynthesis::Vocoder),
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            (sc.vocoder.context_left, sc.vocoder.context_right),
            (voc.context_left, voc.context_right)
        );
        let ms = ModelSet::load_dir(&set).expect("the exported set loads");
        assert!(ms.sidecar().provenance.notes.contains("Vocoder: trained"));

        // The product path: real 8 kHz speech, vocoder synthesis, band splice.
        let wide = speech(22_050);
        let nb = widen_train::validate::narrow_band(&wide).unwrap();
        let ecfg = engine_config_for(&ms, 8_000, 22_050);
        assert_eq!(ecfg.synthesis, Synthesis::Vocoder);
        let (g, v) = ms.instantiate(&SessionOptions::default()).unwrap();
        let out = enhance_offline(&ecfg, Box::new(g), Some(Box::new(v)), &nb).unwrap();
        let want = (nb.len() as f64 * 22_050.0 / 8_000.0).round() as i64;
        assert!(
            (out.len() as i64 - want).abs() <= 1,
            "{variant:?}: {} output samples for {} input samples (expected {want})",
            out.len(),
            nb.len()
        );
        assert!(
            out.iter().all(|v| v.is_finite()),
            "{variant:?}: non-finite output"
        );
        assert!(
            out.iter().any(|v| v.abs() > 1e-3),
            "{variant:?}: silent output"
        );

        // Framing (measured: 2e-6 of the peak): the engine's full-band re-synthesis of the clip's own mel through the
        // exported graph equals tch's torch.istft(center = true) synthesis of the same mel,
        // away from the edges (where the engine's streaming framing pads with zeros and the
        // trainer's log-mel reflects).
        let (_, v) = ms.instantiate(&SessionOptions::default()).unwrap();
        let full = EngineConfig {
            mel: cfg.clone(),
            generator_context: Context::default(),
            vocoder_context: Context {
                left: sc.vocoder.context_left,
                right: sc.vocoder.context_right,
            },
            chunk_frames: 16,
            amount: 1.0,
            synthesis: Synthesis::Vocoder,
            splice: false,
            input_rate: 22_050,
            output_rate: 22_050,
            ..EngineConfig::default()
        };
        let id = Box::new(TrueMel::new(cfg.n_mels));
        let y_engine = enhance_offline(&full, id, Some(Box::new(v)), &wide).unwrap();
        let mel = LogMel::new(cfg.clone()).unwrap().compute(&wide);
        let x = Tensor::from_slice(&mel.data).reshape([1, cfg.n_mels as i64, mel.n_frames as i64]);
        let y_tch = Vec::<f32>::try_from(tch::no_grad(|| voc.synth(&x)).flatten(0, -1)).unwrap();
        let edge = cfg.n_fft + (voc.context_left.max(voc.context_right) + 1) * cfg.hop;
        let end = y_tch.len().min(y_engine.len()) - edge;
        let peak = y_tch[edge..end].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = y_tch[edge..end]
            .iter()
            .zip(&y_engine[edge..end])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{variant:?}: engine vs tch synthesis worst {worst} (peak {peak})");
        assert!(peak > 1e-3, "{variant:?}: re-synthesis is silent");
        assert!(
            worst <= 1e-5 * peak,
            "{variant:?}: engine and tch synthesis differ by up to {worst} (peak {peak}; tolerance 1e-5 of the peak)"
        );
    }
}
