//! Layer helpers on [`GraphBuilder`]: each appends the nodes (and weights) of one layer and returns
//! the name of its output value.
//!
//! Audio tensors follow PyTorch's `[batch, channels, time]` layout. Weighted layers take a `name`
//! that names their output value and prefixes their weights (`{name}.weight`, `{name}.bias`), so
//! trained weights can be matched by name; unweighted ops get fresh names.

use crate::{attr, GraphBuilder, OnnxError};

/// Hyper-parameters of a 1-D convolution over `[B, C, T]` (PyTorch `Conv1d` semantics).
///
/// The weight is `[out_channels, in_channels / groups, kernel]`, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size in frames.
    pub kernel: usize,
    /// Stride in frames.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups (`in_channels` = `groups` gives a depthwise convolution).
    pub groups: usize,
    /// Zero frames added before the input.
    pub pad_left: usize,
    /// Zero frames added after the input.
    pub pad_right: usize,
}

impl Conv1d {
    /// Stride 1, dilation 1, one group, no padding.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            dilation: 1,
            groups: 1,
            pad_left: 0,
            pad_right: 0,
        }
    }

    /// Sets the dilation.
    pub fn dilation(self, dilation: usize) -> Self {
        Self { dilation, ..self }
    }

    /// Sets the number of groups.
    pub fn groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }

    /// Sets the stride.
    pub fn stride(self, stride: usize) -> Self {
        Self { stride, ..self }
    }

    /// Sets explicit left/right zero padding.
    pub fn pads(self, pad_left: usize, pad_right: usize) -> Self {
        Self {
            pad_left,
            pad_right,
            ..self
        }
    }

    /// Frames the kernel spans: `dilation * (kernel - 1) + 1`.
    pub fn span(&self) -> usize {
        self.dilation * self.kernel.saturating_sub(1) + 1
    }

    /// Padding that keeps the length at stride 1, the odd frame on the right (PyTorch `"same"`).
    pub fn same(self) -> Self {
        let total = self.span() - 1;
        self.pads(total / 2, total - total / 2)
    }

    /// All padding on the left: output frame `t` sees input frames up to `t` only.
    pub fn causal(self) -> Self {
        self.pads(self.span() - 1, 0)
    }

    /// Number of weight values: `out * (in / groups) * kernel`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups.max(1)) * self.kernel
    }

    fn problem(&self) -> Option<String> {
        if self.kernel == 0 || self.stride == 0 || self.dilation == 0 || self.groups == 0 {
            return Some(format!(
                "kernel, stride, dilation and groups must be >= 1, found {}, {}, {}, {}",
                self.kernel, self.stride, self.dilation, self.groups
            ));
        }
        if !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Some(format!(
                "groups {} must divide in_channels {} and out_channels {}",
                self.groups, self.in_channels, self.out_channels
            ));
        }
        None
    }
}

/// How [`GraphBuilder::pad`] fills the new samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant(f32),
    /// Mirror without repeating the edge sample.
    Reflect,
    /// Repeat the edge sample.
    Edge,
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter()
        .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
        .collect()
}

impl GraphBuilder {
    fn check_weights(&mut self, layer: &str, what: &str, expected: usize, actual: usize) {
        if expected != actual {
            self.fail(OnnxError::InvalidLayer {
                layer: layer.to_string(),
                message: format!("{what} needs {expected} values, found {actual}"),
            });
        }
    }

    /// `Conv` over `[B, in, T]` giving `[B, out, T']`; weight `[out, in/groups, kernel]`, optional bias `[out]`.
    pub fn conv1d(
        &mut self,
        name: &str,
        x: &str,
        spec: Conv1d,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> String {
        if let Some(message) = spec.problem() {
            self.fail(OnnxError::InvalidLayer {
                layer: name.to_string(),
                message,
            });
        }
        let w_shape = i64s(&[
            spec.out_channels,
            spec.in_channels / spec.groups.max(1),
            spec.kernel,
        ]);
        let w = self.initializer(&format!("{name}.weight"), &w_shape, weight);
        let mut inputs = vec![x.to_string(), w];
        if let Some(bias) = bias {
            let shape = i64s(&[spec.out_channels]);
            inputs.push(self.initializer(&format!("{name}.bias"), &shape, bias));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(
            "Conv",
            &inputs,
            &[name],
            vec![
                attr::ints("kernel_shape", &i64s(&[spec.kernel])),
                attr::ints("strides", &i64s(&[spec.stride])),
                attr::ints("dilations", &i64s(&[spec.dilation])),
                attr::ints("pads", &i64s(&[spec.pad_left, spec.pad_right])),
                attr::int("group", i64s(&[spec.groups])[0]),
            ],
        );
        name.to_string()
    }

    /// `LayerNormalization` over the last axis, with scale `gamma` and shift `beta` of that axis' size.
    pub fn layer_norm(
        &mut self,
        name: &str,
        x: &str,
        gamma: &[f32],
        beta: &[f32],
        epsilon: f32,
    ) -> String {
        self.check_weights(name, "beta (same length as gamma)", gamma.len(), beta.len());
        let shape = i64s(&[gamma.len()]);
        let g = self.initializer(&format!("{name}.weight"), &shape, gamma);
        let b = self.initializer(&format!("{name}.bias"), &shape, beta);
        self.node(
            "LayerNormalization",
            &[x, &g, &b],
            &[name],
            vec![attr::int("axis", -1), attr::float("epsilon", epsilon)],
        );
        name.to_string()
    }

    /// LayerNorm over the channels of a `[B, C, T]` tensor (transpose, normalise, transpose back),
    /// as Vocos/ConvNeXt blocks do.
    pub fn layer_norm_channels(
        &mut self,
        name: &str,
        x: &str,
        gamma: &[f32],
        beta: &[f32],
        epsilon: f32,
    ) -> String {
        let btc = self.transpose(x, &[0, 2, 1]);
        let inner = format!("{name}.btc");
        let y = self.layer_norm(&inner, &btc, gamma, beta, epsilon);
        self.node(
            "Transpose",
            &[&y],
            &[name],
            vec![attr::ints("perm", &[0, 2, 1])],
        );
        name.to_string()
    }

    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, written in the pattern ORT fuses into one kernel.
    pub fn gelu(&mut self, x: &str) -> String {
        let sqrt2 = self.scalar(std::f32::consts::SQRT_2);
        let one = self.scalar(1.0);
        let half = self.scalar(0.5);
        let scaled = self.op("Div", &[x, &sqrt2], vec![]);
        let erf = self.op("Erf", &[&scaled], vec![]);
        let plus1 = self.op("Add", &[&erf, &one], vec![]);
        let prod = self.op("Mul", &[x, &plus1], vec![]);
        self.op("Mul", &[&prod, &half], vec![])
    }

    /// `LeakyRelu` with negative slope `alpha`.
    pub fn leaky_relu(&mut self, x: &str, alpha: f32) -> String {
        self.op("LeakyRelu", &[x], vec![attr::float("alpha", alpha)])
    }

    /// `PRelu` over `[B, C, T]` with one learned slope per channel (weight `{name}.weight`, shape `[C, 1]`).
    pub fn prelu(&mut self, name: &str, x: &str, slopes: &[f32]) -> String {
        let w = self.initializer(&format!("{name}.weight"), &i64s(&[slopes.len(), 1]), slopes);
        self.node("PRelu", &[x, &w], &[name], vec![]);
        name.to_string()
    }

    /// `x @ weight + bias` over the last axis: weight `[in, out]`, bias `[out]`
    /// (a pointwise convolution on `[B, T, C]`).
    pub fn linear(
        &mut self,
        name: &str,
        x: &str,
        in_features: usize,
        out_features: usize,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> String {
        let w = self.initializer(
            &format!("{name}.weight"),
            &i64s(&[in_features, out_features]),
            weight,
        );
        match bias {
            Some(bias) => {
                let b = self.initializer(&format!("{name}.bias"), &i64s(&[out_features]), bias);
                let mm = self.matmul(x, &w);
                self.node("Add", &[&mm, &b], &[name], vec![]);
            }
            None => self.node("MatMul", &[x, &w], &[name], vec![]),
        }
        name.to_string()
    }

    /// Any single-input, single-output op without attributes (`Exp`, `Cos`, `Sin`, `Tanh`, `Relu`, ...).
    pub fn unary(&mut self, op_type: &str, x: &str) -> String {
        self.op(op_type, &[x], vec![])
    }

    /// Element-wise `a + b` (broadcasting).
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }

    /// Element-wise `a * b` (broadcasting).
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }

    /// Matrix product (numpy `matmul` semantics).
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.op("MatMul", &[a, b], vec![])
    }

    /// Axis permutation.
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![attr::ints("perm", perm)])
    }

    /// `exp(x)`.
    pub fn exp(&mut self, x: &str) -> String {
        self.unary("Exp", x)
    }

    /// `cos(x)`.
    pub fn cos(&mut self, x: &str) -> String {
        self.unary("Cos", x)
    }

    /// `sin(x)`.
    pub fn sin(&mut self, x: &str) -> String {
        self.unary("Sin", x)
    }

    /// Clamps to `[min, max]`; `None` leaves that side open.
    pub fn clip(&mut self, x: &str, min: Option<f32>, max: Option<f32>) -> String {
        let lo = min.map(|v| self.scalar(v)).unwrap_or_default();
        let hi = max.map(|v| self.scalar(v)).unwrap_or_default();
        // Omitted optional inputs are empty names; trailing ones may be dropped entirely.
        let inputs: Vec<&str> = if hi.is_empty() {
            if lo.is_empty() {
                vec![x]
            } else {
                vec![x, &lo]
            }
        } else {
            vec![x, &lo, &hi]
        };
        self.op("Clip", &inputs, vec![])
    }

    /// `Slice` along `axes` from `starts` to `ends` (exclusive; negative counts from the end).
    pub fn slice(&mut self, x: &str, starts: &[i64], ends: &[i64], axes: &[i64]) -> String {
        let s = self.ints_const(starts);
        let e = self.ints_const(ends);
        let a = self.ints_const(axes);
        self.op("Slice", &[x, &s, &e, &a], vec![])
    }

    /// `Split` along `axis` into pieces of `sizes`; returns one name per piece.
    pub fn split(&mut self, x: &str, axis: i64, sizes: &[i64]) -> Vec<String> {
        let split = self.ints_const(sizes);
        let outs: Vec<String> = (0..sizes.len()).map(|_| self.fresh("split")).collect();
        let out_refs: Vec<&str> = outs.iter().map(String::as_str).collect();
        self.node(
            "Split",
            &[x, &split],
            &out_refs,
            vec![attr::int("axis", axis)],
        );
        outs
    }

    /// `Concat` along `axis`.
    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, vec![attr::int("axis", axis)])
    }

    /// `Pad` with ONNX `pads` = `[begin_0, .., begin_n, end_0, .., end_n]`.
    pub fn pad(&mut self, x: &str, pads: &[i64], mode: PadMode) -> String {
        let p = self.ints_const(pads);
        match mode {
            PadMode::Constant(v) => {
                let c = self.scalar(v);
                self.op("Pad", &[x, &p, &c], vec![attr::string("mode", "constant")])
            }
            PadMode::Reflect => self.op("Pad", &[x, &p], vec![attr::string("mode", "reflect")]),
            PadMode::Edge => self.op("Pad", &[x, &p], vec![attr::string("mode", "edge")]),
        }
    }

    /// Pads the time axis of `[B, C, T]`: `left` frames before, `right` after (causal padding = `left` only).
    pub fn pad_time(&mut self, x: &str, left: usize, right: usize, mode: PadMode) -> String {
        let l = i64s(&[left])[0];
        let r = i64s(&[right])[0];
        self.pad(x, &[0, 0, l, 0, 0, r], mode)
    }
}
