//! `widen-train import`: the shipped model sets come back as checkpoints whose export is the
//! same ONNX file, byte for byte, for both sets and both models.

use std::path::Path;

use widen_core::model::{Sidecar, Variant};
use widen_train::{checkpoint, export, import, spec, vtrain};

fn shipped(variant: Variant) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/default")
        .join(variant.as_str())
}

#[test]
fn imported_shipped_sets_export_to_the_same_bytes() {
    for variant in [Variant::Quality, Variant::LowLatency] {
        let set = shipped(variant);
        let text = std::fs::read(set.join("widen.json")).unwrap();
        let sc = Sidecar::from_json(&text, "widen.json").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let got = import::import_set(variant, &set, tmp.path()).unwrap();

        let same = |model: &widen_onnx::proto::ModelProto, file: &str| {
            let original = std::fs::read(set.join(file)).unwrap();
            assert!(
                widen_onnx::encode(model) == original,
                "{}: re-exported {file} differs",
                variant.as_str()
            );
        };
        let gspec = spec::generator_spec(variant);
        let (gvs, _) = export::load_generator(&gspec, &got.generator).unwrap();
        let gw = export::trained_weights(&gvs).unwrap();
        same(&gspec.build_trained(&gw).unwrap().model, &sc.generator.file);
        let vspec = spec::vocoder_spec(variant).unwrap();
        let (vvs, _) = vtrain::load_vocoder(variant, &got.vocoder).unwrap();
        let vw = export::trained_weights(&vvs).unwrap();
        same(&vspec.build_trained(&vw).unwrap().model, &sc.vocoder.file);

        let state = checkpoint::load_state(&got.generator).unwrap();
        assert_eq!(state.kind, "imported");
        assert_eq!(Some(state.step), sc.provenance.steps);
        assert!(state.corpus_minutes > 0.0, "{state:?}");
    }
}

#[test]
fn importing_a_set_as_the_other_variant_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let err = import::import_set(Variant::LowLatency, &shipped(Variant::Quality), tmp.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("wrong --variant"), "{err}");
    let err = import::import_set(Variant::Quality, tmp.path(), &tmp.path().join("o"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("widen.json"), "{err}");
}

#[test]
fn a_grown_generator_starts_as_the_small_one_and_round_trips() {
    use tch::{nn, Device, Kind, Tensor};
    use widen_core::model::ModelSet;
    use widen_train::generator::Generator;
    use widen_train::spec::{default_shape, generator_spec_shaped, GenShape};

    let variant = Variant::LowLatency;
    let tmp = tempfile::tempdir().unwrap();
    let got = import::import_set(variant, &shipped(variant), &tmp.path().join("imp")).unwrap();
    let small = default_shape(variant);
    let mut dil = small.dilations.clone();
    dil.extend([1, 2]);
    let grown = GenShape {
        channels: small.channels,
        dilations: dil,
    };
    let (svs, sgen) =
        export::load_generator(&spec::generator_spec(variant), &got.generator).unwrap();
    let mut gvs = nn::VarStore::new(Device::Cpu);
    let ggen = Generator::new(&gvs.root(), &generator_spec_shaped(variant, &grown)).unwrap();
    let file = got.generator.join(checkpoint::GEN);
    widen_train::train::warm_start_generator(&mut gvs, &file, &small, &grown).unwrap();
    tch::manual_seed(5);
    let x = Tensor::randn([1, 80, 120], (Kind::Float, Device::Cpu)) - 6.0;
    let (a, b) = tch::no_grad(|| (sgen.forward(&x), ggen.forward(&x)));
    let diff = (a - b).abs().max().double_value(&[]);
    assert!(
        diff < 1e-5,
        "grown generator differs from the small one by {diff}"
    );
    assert!(ggen.context_left > sgen.context_left);

    // Wider as well (Net2WiderNet): still the small one's function.
    let wide = GenShape {
        channels: small.channels * 2 + 16,
        dilations: grown.dilations.clone(),
    };
    let mut wvs = nn::VarStore::new(Device::Cpu);
    let wgen = Generator::new(&wvs.root(), &generator_spec_shaped(variant, &wide)).unwrap();
    widen_train::train::warm_start_generator(&mut wvs, &file, &small, &wide).unwrap();
    let (a, w) = tch::no_grad(|| (sgen.forward(&x), wgen.forward(&x)));
    let diff = (a - w).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "widened generator differs by {diff}");
    // The copies of a channel do not start as twins: the shares differ.
    let v = wvs.variables();
    let w1 = v.get("block0.conv1.weight").unwrap();
    let c = small.channels as i64;
    let twin = (w1.narrow(1, 0, 1) - w1.narrow(1, c, 1))
        .abs()
        .max()
        .double_value(&[]);
    assert!(twin > 0.0);

    // Narrower, or other blocks first: refused, naming both shapes.
    for bad in [
        GenShape {
            channels: small.channels / 2,
            dilations: grown.dilations.clone(),
        },
        GenShape {
            channels: small.channels,
            dilations: vec![2; small.dilations.len()],
        },
    ] {
        let mut bvs = nn::VarStore::new(Device::Cpu);
        Generator::new(&bvs.root(), &generator_spec_shaped(variant, &bad)).unwrap();
        let err = widen_train::train::warm_start_generator(&mut bvs, &file, &small, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("channels"), "{err}");
    }
    drop(svs);

    // Export of the grown checkpoint loads in the engine and imports back to its shape.
    let state = checkpoint::State {
        step: 1,
        corpus_minutes: 1.0,
        generator: Some(grown.clone()),
        ..checkpoint::State::blank("gan", variant)
    };
    let set = tmp.path().join("set");
    let info = export::ExportInfo {
        name: "grown".into(),
        amount: 0.5,
        synthesis: None,
        notes: "test".into(),
        metrics: serde_json::json!({}),
    };
    let gspec = generator_spec_shaped(variant, &grown);
    export::export_set(&gspec, &gvs, &state, &shipped(variant), &set, &info).unwrap();
    ModelSet::load_dir(&set).expect("the grown set loads");
    let back = import::import_set(variant, &set, &tmp.path().join("back")).unwrap();
    let st = checkpoint::load_state(&back.generator).unwrap();
    assert_eq!(st.generator.as_ref(), Some(&grown));
    let (bvs, _) = export::load_generator(
        &spec::checkpoint_generator_spec(variant, &back.generator),
        &back.generator,
    )
    .unwrap();
    let again = gspec
        .build_trained(&export::trained_weights(&bvs).unwrap())
        .unwrap();
    assert!(widen_onnx::encode(&again.model) == std::fs::read(set.join("generator.onnx")).unwrap());
}
