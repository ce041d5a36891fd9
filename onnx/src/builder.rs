//! [`GraphBuilder`]: a minimal, order-preserving ONNX graph writer.

use std::collections::HashSet;

use crate::proto::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::{OnnxError, IR_VERSION, OPSET};

/// One dimension of a graph input/output: a fixed size or a named symbolic size (`"B"`, `"T"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A size chosen at run time, named so that equal names mean equal sizes.
    Symbolic(String),
}

impl From<i64> for Dim {
    fn from(v: i64) -> Self {
        Dim::Fixed(v)
    }
}

impl From<i32> for Dim {
    fn from(v: i32) -> Self {
        Dim::Fixed(i64::from(v))
    }
}

impl From<usize> for Dim {
    fn from(v: usize) -> Self {
        // Sizes beyond i64 cannot occur in a model anyone can run.
        Dim::Fixed(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&str> for Dim {
    fn from(v: &str) -> Self {
        Dim::Symbolic(v.to_string())
    }
}

/// Builds an ONNX graph node by node.
///
/// Methods never fail on the spot: problems (wrong data lengths, inconsistent layer parameters) are
/// recorded and the first one is returned by [`GraphBuilder::build`], which also checks that every
/// node reads only values defined before it and that every output is produced.
///
/// ```
/// use widen_onnx::GraphBuilder;
/// let mut b = GraphBuilder::new("scale");
/// let x = b.input("x", &["B".into(), 80.into(), "T".into()]);
/// let two = b.scalar(2.0);
/// b.node("Mul", &[&x, &two], &["y"], vec![]);
/// b.output("y", &["B".into(), 80.into(), "T".into()]);
/// let model = b.build().unwrap();
/// assert_eq!(model.graph.unwrap().node.len(), 1);
/// ```
#[derive(Debug)]
pub struct GraphBuilder {
    name: String,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    initializers: Vec<TensorProto>,
    nodes: Vec<NodeProto>,
    next_id: usize,
    errors: Vec<OnnxError>,
    doc: Option<String>,
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Fixed(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                Dim::Symbolic(s) => tensor_shape_proto::dimension::Value::DimParam(s.clone()),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            denotation: None,
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}

fn shape_len(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

impl GraphBuilder {
    /// Starts an empty graph called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            initializers: Vec::new(),
            nodes: Vec::new(),
            next_id: 0,
            errors: Vec::new(),
            doc: None,
        }
    }

    /// Sets the model's doc string (shown by Netron and friends).
    pub fn doc(&mut self, text: &str) -> &mut Self {
        self.doc = Some(text.to_string());
        self
    }

    /// A fresh value name `prefix_N`, unique within this builder.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}", self.next_id)
    }

    /// Records a deferred error (reported by [`GraphBuilder::build`]).
    pub fn fail(&mut self, error: OnnxError) {
        self.errors.push(error);
    }

    /// Declares a `float32` graph input; returns its name for use as a node input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, dims));
        name.to_string()
    }

    /// Declares a `float32` graph output named `name`; some node must write a value of that name.
    pub fn output(&mut self, name: &str, dims: &[Dim]) {
        self.outputs.push(value_info(name, dims));
    }

    /// Declares `value` as graph output `name`, inserting an `Identity` node when the names differ
    /// (ORT removes it when optimising).
    pub fn output_from(&mut self, value: &str, name: &str, dims: &[Dim]) {
        if value != name {
            self.node("Identity", &[value], &[name], vec![]);
        }
        self.output(name, dims);
    }

    /// Adds a `float32` initializer (a weight) of `shape` from row-major `data`; returns its name.
    pub fn initializer(&mut self, name: &str, shape: &[i64], data: &[f32]) -> String {
        self.check_len(name, shape, data.len());
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_tensor(name, shape, DataType::Float, raw)
    }

    /// Adds an `int64` initializer (shape operands of Slice/Split/Pad); returns its name.
    pub fn initializer_i64(&mut self, name: &str, shape: &[i64], data: &[i64]) -> String {
        self.check_len(name, shape, data.len());
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_tensor(name, shape, DataType::Int64, raw)
    }

    /// A fresh rank-0 `float32` constant.
    pub fn scalar(&mut self, value: f32) -> String {
        let name = self.fresh("const");
        self.initializer(&name, &[], &[value])
    }

    /// A fresh rank-1 `int64` constant.
    pub fn ints_const(&mut self, values: &[i64]) -> String {
        let name = self.fresh("const_i64");
        let len = i64::try_from(values.len()).unwrap_or(i64::MAX);
        self.initializer_i64(&name, &[len], values)
    }

    fn check_len(&mut self, name: &str, shape: &[i64], actual: usize) {
        let expected = shape_len(shape);
        if expected != Some(actual) {
            self.fail(OnnxError::DataLength {
                name: name.to_string(),
                shape: shape.to_vec(),
                expected: expected.unwrap_or(0),
                actual,
            });
        }
    }

    fn push_tensor(&mut self, name: &str, shape: &[i64], ty: DataType, raw: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            dims: shape.to_vec(),
            data_type: Some(ty as i32),
            name: Some(name.to_string()),
            // raw_data (little-endian) is the compact encoding every runtime reads.
            raw_data: Some(raw),
            ..Default::default()
        });
        name.to_string()
    }

    /// Appends a node of the default domain. Empty strings in `inputs` mark omitted optional inputs.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) {
        let name = self.fresh(op_type);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name),
            op_type: Some(op_type.to_string()),
            attribute: attributes,
            ..Default::default()
        });
    }

    /// Appends a single-output node and returns its freshly named output.
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        let out = self.fresh(&op_type.to_ascii_lowercase());
        self.node(op_type, inputs, &[&out], attributes);
        out
    }

    /// Validates and returns the model (opset [`OPSET`], IR version [`IR_VERSION`]).
    pub fn build(self) -> Result<ModelProto, OnnxError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        if self.outputs.is_empty() {
            return Err(OnnxError::NoOutputs(self.name));
        }
        let mut defined: HashSet<&str> = HashSet::new();
        let declared = self
            .inputs
            .iter()
            .filter_map(|v| v.name.as_deref())
            .chain(self.initializers.iter().filter_map(|t| t.name.as_deref()));
        for name in declared {
            if !defined.insert(name) {
                return Err(OnnxError::DuplicateName(name.to_string()));
            }
        }
        for node in &self.nodes {
            let node_name = node.name.as_deref().unwrap_or_default();
            let op_type = node.op_type.as_deref().unwrap_or_default();
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                if !defined.contains(input.as_str()) {
                    return Err(OnnxError::UndefinedValue {
                        node: node_name.to_string(),
                        op_type: op_type.to_string(),
                        value: input.clone(),
                    });
                }
            }
            for output in node.output.iter().filter(|o| !o.is_empty()) {
                if !defined.insert(output.as_str()) {
                    return Err(OnnxError::DuplicateName(output.clone()));
                }
            }
        }
        for output in &self.outputs {
            let name = output.name.as_deref().unwrap_or_default();
            if !defined.contains(name) {
                return Err(OnnxError::OutputNotProduced(name.to_string()));
            }
        }
        Ok(ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("widen-onnx".to_string()),
            producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            doc_string: self.doc,
            graph: Some(GraphProto {
                node: self.nodes,
                name: Some(self.name),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}
