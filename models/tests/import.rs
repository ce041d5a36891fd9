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

        let gspec = spec::generator_spec(variant);
        let (gvs, _) = export::load_generator(&gspec, &got.generator).unwrap();
        let built = gspec
            .build_trained(&export::trained_weights(&gvs).unwrap())
            .unwrap();
        let original = std::fs::read(set.join(&sc.generator.file)).unwrap();
        assert!(
            widen_onnx::encode(&built.model) == original,
            "{}: re-exported generator differs",
            variant.as_str()
        );

        let vspec = spec::vocoder_spec(variant).unwrap();
        let (vvs, _) = vtrain::load_vocoder(variant, &got.vocoder).unwrap();
        let built = vspec
            .build_trained(&export::trained_weights(&vvs).unwrap())
            .unwrap();
        let original = std::fs::read(set.join(&sc.vocoder.file)).unwrap();
        assert!(
            widen_onnx::encode(&built.model) == original,
            "{}: re-exported vocoder differs",
            variant.as_str()
        );

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
