//! Builder checks that need no runtime: validation errors and protobuf round trips.

use widen_onnx::proto::{tensor_proto::DataType, type_proto, ModelProto};
use widen_onnx::{decode, encode, Conv1d, Dim, GraphBuilder, OnnxError, IR_VERSION, OPSET};

fn btc(c: i64) -> Vec<Dim> {
    vec!["B".into(), c.into(), "T".into()]
}

fn tiny() -> Result<ModelProto, OnnxError> {
    let mut b = GraphBuilder::new("tiny");
    let x = b.input("x", &btc(2));
    let w = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
    ];
    let y = b.conv1d(
        "conv",
        &x,
        Conv1d::new(2, 2, 3).same(),
        &w,
        Some(&[0.5, -0.5]),
    );
    b.output_from(&y, "y", &btc(2));
    b.build()
}

#[test]
fn model_header_graph_and_weights_round_trip() -> Result<(), OnnxError> {
    let model = tiny()?;
    assert_eq!(model.ir_version, Some(IR_VERSION));
    assert_eq!(model.opset_import[0].version, Some(OPSET));
    let back = decode(&encode(&model), "memory")?;
    assert_eq!(back, model);

    let g = back.graph.as_ref().expect("graph");
    let ops: Vec<&str> = g.node.iter().filter_map(|n| n.op_type.as_deref()).collect();
    assert_eq!(ops, ["Conv", "Identity"]);
    let w = g
        .initializer
        .iter()
        .find(|t| t.name.as_deref() == Some("conv.weight"))
        .expect("weight");
    assert_eq!(w.dims, [2, 2, 3]);
    assert_eq!(w.data_type, Some(DataType::Float as i32));
    let raw = w.raw_data.as_deref().expect("raw");
    let vals: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(vals[11], 12.0);
    let conv = &g.node[0];
    let pads = conv
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("pads"))
        .expect("pads");
    assert_eq!(pads.ints, [1, 1]);

    let Some(type_proto::Value::TensorType(t)) =
        g.input[0].r#type.as_ref().and_then(|t| t.value.clone())
    else {
        panic!("input is not a tensor");
    };
    let dims: Vec<String> = t
        .shape
        .expect("shape")
        .dim
        .iter()
        .map(|d| format!("{:?}", d.value))
        .collect();
    assert_eq!(dims[0], "Some(DimParam(\"B\"))");
    assert_eq!(dims[1], "Some(DimValue(2))");
    Ok(())
}

#[test]
fn conv_padding_helpers() {
    let c = Conv1d::new(4, 4, 3).dilation(4);
    assert_eq!(c.span(), 9);
    assert_eq!((c.same().pad_left, c.same().pad_right), (4, 4));
    assert_eq!((c.causal().pad_left, c.causal().pad_right), (8, 0));
    let even = Conv1d::new(1, 1, 4).same();
    assert_eq!((even.pad_left, even.pad_right), (1, 2));
}

#[test]
fn wrong_weight_length_is_reported_with_expected_and_actual() {
    let mut b = GraphBuilder::new("bad");
    let x = b.input("x", &btc(2));
    let y = b.conv1d("conv", &x, Conv1d::new(2, 2, 3), &[0.0; 11], None);
    b.output_from(&y, "y", &btc(2));
    let err = b.build().expect_err("must fail");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            OnnxError::DataLength {
                expected: 12,
                actual: 11,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("conv.weight"), "{msg}");
}

#[test]
fn bad_groups_are_reported() {
    let mut b = GraphBuilder::new("bad");
    let x = b.input("x", &btc(3));
    let y = b.conv1d("c", &x, Conv1d::new(3, 4, 1).groups(2), &[0.0; 6], None);
    b.output_from(&y, "y", &btc(4));
    let err = b.build().expect_err("must fail");
    assert!(matches!(err, OnnxError::InvalidLayer { .. }), "{err}");
    assert!(err.to_string().contains("groups 2"), "{err}");
}

#[test]
fn undefined_inputs_duplicates_and_missing_outputs_are_rejected() {
    let mut b = GraphBuilder::new("g");
    b.input("x", &btc(1));
    b.node("Relu", &["nope"], &["y"], vec![]);
    b.output("y", &btc(1));
    let err = b.build().expect_err("undefined");
    assert!(
        matches!(err, OnnxError::UndefinedValue { ref value, .. } if value == "nope"),
        "{err}"
    );

    let mut b = GraphBuilder::new("g");
    let x = b.input("x", &btc(1));
    b.node("Relu", &[&x], &["y"], vec![]);
    b.node("Relu", &[&x], &["y"], vec![]);
    b.output("y", &btc(1));
    assert!(matches!(b.build(), Err(OnnxError::DuplicateName(n)) if n == "y"));

    let mut b = GraphBuilder::new("g");
    let x = b.input("x", &btc(1));
    b.node("Relu", &[&x], &["y"], vec![]);
    b.output("z", &btc(1));
    assert!(matches!(b.build(), Err(OnnxError::OutputNotProduced(n)) if n == "z"));

    let mut b = GraphBuilder::new("g");
    b.input("x", &btc(1));
    assert!(matches!(b.build(), Err(OnnxError::NoOutputs(_))));
}

#[test]
fn garbage_bytes_do_not_decode() {
    let err = decode(&[0xff, 0xff, 0xff, 0x01, 0x02], "junk").expect_err("must fail");
    assert!(err.to_string().contains("junk"), "{err}");
}

#[test]
fn save_and_load_file() -> Result<(), OnnxError> {
    let model = tiny()?;
    let dir = std::env::temp_dir().join(format!("widen-onnx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("tiny.onnx");
    widen_onnx::save(&model, &path)?;
    assert_eq!(widen_onnx::load(&path)?, model);
    let missing = widen_onnx::load(dir.join("missing.onnx")).expect_err("missing");
    assert!(missing.to_string().contains("missing.onnx"), "{missing}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
    Ok(())
}
