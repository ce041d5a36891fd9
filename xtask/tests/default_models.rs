//! The committed placeholder sets in `models/default/` are exactly what `cargo xtask
//! gen-default-models` writes: regenerated in memory, every file matches byte for byte, and the
//! sidecar's SHA-256 and receptive fields agree with the freshly built networks.

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
fn regenerated_sets_match_the_committed_files() {
    for variant in Variant::ALL {
        let set = generate(variant).expect("generate");
        let json = committed(variant, "widen.json");
        let sidecar = Sidecar::from_json(&json, "committed widen.json").expect("valid sidecar");
        assert_eq!(
            sha256_hex(&set.generator),
            sidecar.generator.sha256,
            "{variant}: regenerated generator differs from the committed sidecar's hash; \
             run `cargo xtask gen-default-models` and commit"
        );
        assert_eq!(
            sha256_hex(&set.vocoder),
            sidecar.vocoder.sha256,
            "{variant} vocoder"
        );
        assert_eq!(set.sidecar, sidecar, "{variant} sidecar");
        assert_eq!(
            set.sidecar_json.as_bytes(),
            &json[..],
            "{variant} widen.json bytes"
        );
        assert!(set.generator == committed(variant, "generator.onnx"));
        assert!(set.vocoder == committed(variant, "vocoder.onnx"));
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
    assert!(
        total < 3 << 20,
        "models/default holds {total} bytes (budget 3 MiB)"
    );
}
