//! The mel generator in tch, built from the same [`ResCnnSpec`] the ONNX export uses: the layer
//! names, shapes and paddings come from [`ResCnnSpec::layers`], so a trained checkpoint maps
//! one-to-one onto the exported graph.

use anyhow::Result;
use tch::{nn, Tensor};
use widen_onnx::nets::{ConvLayer, ResCnnSpec};

/// `mel_hr = mel_lr + f(mel_lr)`: residual 1-D CNN over time with the mel bands as channels.
#[derive(Debug)]
pub struct Generator {
    layers: Vec<(ConvLayer, nn::Conv1D)>,
    slope: f64,
    /// Past frames each output frame depends on.
    pub context_left: usize,
    /// Future frames each output frame depends on.
    pub context_right: usize,
}

/// `root / "a" / "b"` for the dotted name `a.b` (tch path components may not contain dots).
pub fn sub_path<'a>(root: &nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    dotted.split('.').fold(root.clone(), |p, part| p / part)
}

/// A tch `Conv1D` without padding (padding is applied explicitly, possibly asymmetric).
pub fn conv(p: &nn::Path, l: &ConvLayer) -> nn::Conv1D {
    let c = &l.conv;
    nn::conv1d(
        sub_path(p, &l.name),
        c.in_channels as i64,
        c.out_channels as i64,
        c.kernel as i64,
        nn::ConvConfig {
            stride: c.stride as i64,
            dilation: c.dilation as i64,
            groups: c.groups as i64,
            padding: 0,
            ..Default::default()
        },
    )
}

/// Zero padding of `l` on the time axis, then the convolution.
pub fn apply_conv(l: &ConvLayer, m: &nn::Conv1D, x: &Tensor) -> Tensor {
    let (a, b) = (l.conv.pad_left as i64, l.conv.pad_right as i64);
    let x = if a == 0 && b == 0 {
        x.shallow_clone()
    } else {
        x.constant_pad_nd([a, b])
    };
    x.apply(m)
}

impl Generator {
    /// Creates the variables under `p`; `conv_out` starts scaled by `spec.out_scale` so the
    /// untrained network is close to the identity (the global skip).
    pub fn new(p: &nn::Path, spec: &ResCnnSpec) -> Result<Self> {
        let (plan, context_left, context_right) = spec.layers()?;
        let mut layers = Vec::with_capacity(plan.len());
        for l in plan {
            let m = conv(p, &l);
            layers.push((l, m));
        }
        if let Some((_, last)) = layers.last_mut() {
            tch::no_grad(|| {
                let _ = last.ws.f_mul_scalar_(spec.out_scale as f64);
            });
        }
        Ok(Self {
            layers,
            slope: spec.leaky_slope as f64,
            context_left,
            context_right,
        })
    }

    fn lrelu(&self, x: &Tensor) -> Tensor {
        leaky_relu(x, self.slope)
    }

    /// `[B, n_mels, T] -> [B, n_mels, T]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let n = self.layers.len();
        let run = |i: usize, x: &Tensor| apply_conv(&self.layers[i].0, &self.layers[i].1, x);
        let mut h = self.lrelu(&run(0, x));
        let blocks = (n - 2) / 2;
        for b in 0..blocks {
            let r = self.lrelu(&run(1 + 2 * b, &h));
            let r = run(2 + 2 * b, &r);
            h += r;
        }
        x + run(n - 1, &h)
    }
}

/// LeakyReLU with slope `a` in `0..1`: `max(x, a x)` (ONNX `LeakyRelu` semantics).
pub fn leaky_relu(x: &Tensor, a: f64) -> Tensor {
    x.maximum(&(x * a))
}
