//! PatchGAN discriminator on log-mel patches, conditioned on the narrow-band input: it sees
//! `[input mel, candidate mel]` as a two-channel image and scores overlapping patches.

use tch::{nn, Tensor};

use crate::generator::leaky_relu;

/// Convolutional PatchGAN: 2-D convs with stride 2 over (mel, time), LeakyReLU, one logit per
/// patch.
#[derive(Debug)]
pub struct PatchGan {
    convs: Vec<nn::Conv2D>,
}

/// Offset and scale that bring log-mels (about -11.5 ..= 3) near unit range.
const MEL_SHIFT: f64 = 5.0;
const MEL_SCALE: f64 = 0.25;

impl PatchGan {
    /// `width` channels in the first layer, doubled per stride-2 layer.
    pub fn new(p: &nn::Path, width: i64) -> Self {
        let cfg = |stride: i64| nn::ConvConfig {
            stride,
            padding: 1,
            ..Default::default()
        };
        let convs = vec![
            nn::conv2d(p / "c0", 2, width, 3, cfg(1)),
            nn::conv2d(p / "c1", width, 2 * width, 3, cfg(2)),
            nn::conv2d(p / "c2", 2 * width, 4 * width, 3, cfg(2)),
            nn::conv2d(p / "c3", 4 * width, 4 * width, 3, cfg(1)),
            nn::conv2d(p / "out", 4 * width, 1, 3, cfg(1)),
        ];
        Self { convs }
    }

    /// Patch logits and the intermediate features (for feature matching) of
    /// `cond`, `x` (`[B, n_mels, T]` each).
    pub fn forward(&self, cond: &Tensor, x: &Tensor) -> (Tensor, Vec<Tensor>) {
        let img = Tensor::stack(&[cond, x], 1);
        let mut h = (img + MEL_SHIFT) * MEL_SCALE;
        let mut feats = Vec::with_capacity(self.convs.len() - 1);
        let n = self.convs.len();
        for (i, c) in self.convs.iter().enumerate() {
            h = h.apply(c);
            if i + 1 < n {
                h = leaky_relu(&h, 0.2);
                feats.push(h.shallow_clone());
            }
        }
        (h, feats)
    }
}
