//! Parity tests: the trainer's tch log-mel against the engine's Rust log-mel (itself checked
//! against librosa by widen-core's fixtures), and an exported generator run in ONNX Runtime
//! against the same weights in tch.

mod common;
use common::testdata;

use tch::{nn, Device, Tensor};
use widen_core::config::contract;
use widen_core::dsp::LogMel;
use widen_core::model::Variant;
use widen_core::runtime::{init_ort, IoSpec, ModelRuntime, OrtModel, SessionOptions};
use widen_train::export::trained_weights;
use widen_train::generator::Generator;
use widen_train::spec;
use widen_train::tch_mel::TchMel;

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
