//! The committed sets in `models/default/`: trained generators and trained vocoders (the
//! trainer's exports, files matching the sidecar, no placeholder left), and the placeholder
//! generator of `cargo xtask gen-default-models` (for a fresh folder) stays deterministic.

use std::path::PathBuf;

use widen_core::model::{sha256_hex, ModelSet, Sidecar, Variant};
use xtask::default_models::{generate, generator_spec, vocoder_spec};

fn committed(variant: Variant, file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/default")
        .join(variant.as_str())
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_sets_hold_a_trained_generator_and_a_trained_vocoder() {
    for variant in Variant::ALL {
        let placeholder = generate(variant).expect("generate");
        let json = committed(variant, "widen.json");
        let sidecar = Sidecar::from_json(&json, "committed widen.json").expect("valid sidecar");
        for (file, sha) in [
            ("generator.onnx", &sidecar.generator.sha256),
            ("vocoder.onnx", &sidecar.vocoder.sha256),
        ] {
            assert_eq!(
                &sha256_hex(&committed(variant, file)),
                sha,
                "{variant}: {file} differs from the sidecar's hash"
            );
        }
        // No placeholder left: both networks are the trainer's.
        assert_ne!(
            sha256_hex(&placeholder.vocoder),
            sidecar.vocoder.sha256,
            "{variant}: the placeholder vocoder is back"
        );
        assert_ne!(sha256_hex(&placeholder.generator), sidecar.generator.sha256);
        assert!(sidecar.provenance.trained, "{variant}: provenance.trained");
        assert!(sidecar.provenance.steps.unwrap_or(0) > 0);
        let notes = &sidecar.provenance.notes;
        assert!(notes.contains("Vocoder: trained"), "{variant}: {notes}");
        assert!(
            !notes.contains("still the untrained placeholder"),
            "{variant}: {notes}"
        );
        // ...and the library embeds these very files.
        let embedded = ModelSet::embedded(variant).expect("embedded");
        assert_eq!(embedded.sidecar(), &sidecar);
    }
}

#[test]
fn generation_is_deterministic_and_contexts_come_from_the_architecture() {
    for variant in Variant::ALL {
        let a = generate(variant).expect("a");
        let b = generate(variant).expect("b");
        assert_eq!(a.generator, b.generator);
        assert_eq!(a.vocoder, b.vocoder);
        let g = generator_spec(variant).build().expect("g");
        let v = vocoder_spec(variant).expect("spec").build().expect("v");
        assert_eq!(
            (
                a.sidecar.generator.context_left,
                a.sidecar.generator.context_right
            ),
            (g.context_left, g.context_right)
        );
        assert_eq!(
            (
                a.sidecar.vocoder.context_left,
                a.sidecar.vocoder.context_right
            ),
            (v.context_left, v.context_right)
        );
    }
    // The stated architecture: k3 convs, dilations 1/2/4/8 -> 21 frames each side; k7 embed and
    // three k7 depthwise convs -> 12; the low-latency pair looks 1 + 1 frames ahead.
    let q = generate(Variant::Quality).expect("q").sidecar;
    assert_eq!(
        (q.generator.context_left, q.generator.context_right),
        (21, 21)
    );
    assert_eq!((q.vocoder.context_left, q.vocoder.context_right), (12, 12));
    let l = generate(Variant::LowLatency).expect("l").sidecar;
    assert_eq!(
        (l.generator.context_left, l.generator.context_right),
        (41, 1)
    );
    assert_eq!((l.vocoder.context_left, l.vocoder.context_right), (23, 1));
}

#[test]
fn default_sets_stay_small() {
    let total: usize = Variant::ALL
        .iter()
        .flat_map(|&v| {
            ["widen.json", "generator.onnx", "vocoder.onnx"].map(|f| committed(v, f).len())
        })
        .sum();
    // The shipped sets together stay within 25 MB (the plugin and CLI embed them).
    assert!(
        total < 25_000_000,
        "models/default holds {total} bytes (budget 25 MB)"
    );
}
