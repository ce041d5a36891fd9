//! The two network shapes of widen's model contract, written as ONNX graphs with seeded weights:
//!
//! - [`ResCnnSpec`]: the mel-to-mel generator, a residual 1-D CNN over time with the mel bands as
//!   channels and a global skip (`mel_hr = mel_lr + f(mel_lr)`).
//! - [`VocosSpec`]: a Vocos-like vocoder (ConvNeXt backbone, iSTFT head giving `mag`, `cos`, `sin`),
//!   with an optional fixed mel-to-magnitude prior added to the magnitude logits.
//!
//! Both are deterministic functions of their spec (weights come from a SplitMix64 stream seeded
//! by [`ResCnnSpec::seed`] / [`VocosSpec::seed`], so the same spec gives byte-identical models on
//! every machine). Padding follows a [`Padding`] policy, and the receptive field that results is
//! returned beside the model so a sidecar can record it.

use crate::{proto::ModelProto, Conv1d, Dim, GraphBuilder, OnnxError};

/// How convolutions pad time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Symmetric ('same') padding: every output frame sees as much future as past.
    Same,
    /// Past-only padding except for `lookahead` future frames in total, granted to the first
    /// convolutions of the chain (each takes at most its span minus one).
    Causal {
        /// Future frames the whole network may see.
        lookahead: usize,
    },
}

/// A built model and its receptive field: output frame `t` depends on input frames
/// `t - context_left ..= t + context_right` only.
#[derive(Debug, Clone)]
pub struct BuiltNet {
    /// The ONNX model.
    pub model: ModelProto,
    /// Past frames each output frame depends on.
    pub context_left: usize,
    /// Future frames each output frame depends on.
    pub context_right: usize,
}

/// Residual 1-D CNN generator: `conv_in` (mels -> channels), LeakyReLU, residual blocks of
/// (dilated conv, LeakyReLU, conv) with skip, `conv_out` (channels -> mels), plus the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ResCnnSpec {
    /// Graph input name (`[B, n_mels, T]`).
    pub input: String,
    /// Graph output name (`[B, n_mels, T]`).
    pub output: String,
    /// Mel bands (input and output channels).
    pub n_mels: usize,
    /// Hidden channels.
    pub channels: usize,
    /// Kernel size of every convolution.
    pub kernel: usize,
    /// Dilation of the first convolution of each residual block (one block per entry).
    pub dilations: Vec<usize>,
    /// Negative slope of the LeakyReLUs.
    pub leaky_slope: f32,
    /// Scale of `conv_out`'s weights relative to a unit-variance initialisation; near zero makes
    /// the untrained network close to the identity.
    pub out_scale: f32,
    /// Time padding policy.
    pub padding: Padding,
    /// Seed of the weight stream.
    pub seed: u64,
}

/// Vocos-like vocoder: `embed` conv (mels -> channels, kernel `embed_kernel`), channel LayerNorm,
/// ConvNeXt blocks (depthwise conv, LayerNorm, pointwise to `2 * channels`, GELU, pointwise back,
/// residual), final LayerNorm, `head` (pointwise to `2 * n_bins`), split into magnitude logits and
/// phase; `mag = min(exp(logits [+ prior(mel)]), mag_max)`, `cos = cos(phase)`, `sin = sin(phase)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VocosSpec {
    /// Graph input name (`[B, n_mels, T]`).
    pub input: String,
    /// Output names in the order magnitude, cosine, sine (each `[B, n_bins, T]`).
    pub outputs: [String; 3],
    /// Mel bands.
    pub n_mels: usize,
    /// One-sided STFT bins (`n_fft / 2 + 1`).
    pub n_bins: usize,
    /// Backbone channels.
    pub channels: usize,
    /// Number of ConvNeXt blocks.
    pub blocks: usize,
    /// Kernel of the embedding convolution.
    pub embed_kernel: usize,
    /// Kernel of the depthwise convolutions.
    pub dw_kernel: usize,
    /// Upper clip of the magnitude (Vocos: 1e2).
    pub mag_max: f32,
    /// Scale of the head's magnitude rows (near zero lets the prior dominate when untrained).
    pub mag_head_scale: f32,
    /// Standard deviation of the phase outputs at initialisation (radians, roughly).
    pub phase_scale: f32,
    /// Optional fixed 1x1 map from the input mel to the magnitude logits.
    pub mag_prior: Option<MagPrior>,
    /// Time padding policy.
    pub padding: Padding,
    /// Seed of the weight stream.
    pub seed: u64,
}

/// `logits[k] += sum_m weight[k][m] * mel[m] + bias[k]` (a pointwise convolution `n_mels -> n_bins`).
#[derive(Debug, Clone, PartialEq)]
pub struct MagPrior {
    /// Row-major `[n_bins][n_mels]`.
    pub weight: Vec<f32>,
    /// `[n_bins]`.
    pub bias: Vec<f32>,
}

/// SplitMix64: tiny, portable and fixed forever, so placeholder weights never change with a
/// dependency upgrade.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)` with 24 bits of resolution (exact in f32).
    fn symmetric(&mut self) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32;
        2.0 * u - 1.0
    }

    /// `n` values uniform in `[-b, b)` with `b = scale * sqrt(3 / fan_in)`: variance
    /// `scale^2 / fan_in`, i.e. unit-gain (LeCun) initialisation times `scale`.
    fn weights(&mut self, n: usize, fan_in: usize, scale: f32) -> Vec<f32> {
        let bound = scale * (3.0 / fan_in.max(1) as f32).sqrt();
        (0..n).map(|_| bound * self.symmetric()).collect()
    }
}

/// Hands out the padding of each convolution in chain order under a [`Padding`] policy and sums
/// the receptive field.
struct PadPlan {
    padding: Padding,
    lookahead_left: usize,
    left: usize,
    right: usize,
}

impl PadPlan {
    fn new(padding: Padding) -> Self {
        let lookahead_left = match padding {
            Padding::Same => 0,
            Padding::Causal { lookahead } => lookahead,
        };
        Self {
            padding,
            lookahead_left,
            left: 0,
            right: 0,
        }
    }

    /// Pads `spec` and records its context. Every conv sits on the network's deepest path
    /// (residual branches are in series with the trunk), so the contexts simply add up.
    fn pad(&mut self, spec: Conv1d) -> Conv1d {
        let padded = match self.padding {
            Padding::Same => spec.same(),
            Padding::Causal { .. } => {
                let total = spec.span() - 1;
                let right = self.lookahead_left.min(total);
                self.lookahead_left -= right;
                spec.pads(total - right, right)
            }
        };
        self.left += padded.pad_left;
        self.right += padded.pad_right;
        padded
    }
}

fn btc(channels: usize) -> Vec<Dim> {
    vec!["B".into(), channels.into(), "T".into()]
}

fn invalid(layer: &str, message: String) -> OnnxError {
    OnnxError::InvalidLayer {
        layer: layer.to_string(),
        message,
    }
}

/// Trained weights by parameter name (`"{layer}.weight"`, `"{layer}.bias"`), row-major in PyTorch's
/// layouts. A network built with weights takes every weighted layer from the map; a missing or
/// wrongly sized entry is an error, never a silent fallback to seeded weights.
pub type TrainedWeights = std::collections::HashMap<String, Vec<f32>>;

/// The `float32` initializers of `model` by name, row-major: the inverse of a trained build
/// (`build_trained(&initializer_weights(&m)?)` gives `m` back for a model built by this module).
/// The graph's own constants (`const*`) come along and are ignored by whoever looks up layers;
/// a channel LayerNorm's parameters, stored as `{layer}.btc.weight` (the norm runs on the
/// transposed tensor), are returned under the layer's name, `{layer}.weight`.
pub fn initializer_weights(model: &crate::proto::ModelProto) -> Result<TrainedWeights, OnnxError> {
    let mut out = TrainedWeights::new();
    let Some(graph) = &model.graph else {
        return Ok(out);
    };
    for t in &graph.initializer {
        if t.data_type != Some(crate::proto::tensor_proto::DataType::Float as i32) {
            continue;
        }
        let name = t.name.clone().unwrap_or_default();
        let values: Vec<f32> = match &t.raw_data {
            Some(raw) if !raw.is_empty() => {
                if raw.len() % 4 != 0 {
                    return Err(invalid(
                        &name,
                        format!(
                            "raw data of {} bytes is not whole float32 values",
                            raw.len()
                        ),
                    ));
                }
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
            _ => t.float_data.clone(),
        };
        let expected: i64 = t.dims.iter().product();
        if usize::try_from(expected).ok() != Some(values.len()) {
            return Err(OnnxError::DataLength {
                name,
                shape: t.dims.clone(),
                expected: usize::try_from(expected).unwrap_or(0),
                actual: values.len(),
            });
        }
        let name = name.replace(".btc.", ".");
        out.insert(name, values);
    }
    Ok(out)
}

/// Where a build takes its weights from.
enum WeightSource<'a> {
    Seeded(SplitMix64),
    Trained(&'a TrainedWeights),
}

impl WeightSource<'_> {
    /// Weight and bias of `name` (`Conv1d` `spec`); seeded ones use `scale` (see [`SplitMix64::weights`]).
    fn conv(
        &mut self,
        name: &str,
        spec: &Conv1d,
        scale: f32,
    ) -> Result<(Vec<f32>, Vec<f32>), OnnxError> {
        match self {
            WeightSource::Seeded(rng) => {
                let fan_in = spec.in_channels / spec.groups * spec.kernel;
                Ok((
                    rng.weights(spec.weight_len(), fan_in, scale),
                    vec![0.0; spec.out_channels],
                ))
            }
            WeightSource::Trained(map) => Ok((
                trained(map, &format!("{name}.weight"), spec.weight_len())?,
                trained(map, &format!("{name}.bias"), spec.out_channels)?,
            )),
        }
    }
}

/// `map[key]`, checked to hold `len` values.
fn trained(map: &TrainedWeights, key: &str, len: usize) -> Result<Vec<f32>, OnnxError> {
    match map.get(key) {
        Some(v) if v.len() == len => Ok(v.clone()),
        Some(v) => Err(invalid(
            key,
            format!("expected {len} trained values, found {}", v.len()),
        )),
        None => Err(invalid(key, "missing from the trained weights".into())),
    }
}

/// One weighted layer of a network in chain order: its name and padded hyper-parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvLayer {
    /// Layer name (prefix of `.weight` / `.bias`).
    pub name: String,
    /// Hyper-parameters with the padding the policy gives it.
    pub conv: Conv1d,
}

impl ResCnnSpec {
    /// The convolutions in chain order (`conv_in`, `block{i}.conv1`, `block{i}.conv2`, ...,
    /// `conv_out`) with their padding, and the receptive field `(left, right)`. A trainer builds
    /// its network from this list, so training and export share one definition.
    pub fn layers(&self) -> Result<(Vec<ConvLayer>, usize, usize), OnnxError> {
        if self.n_mels == 0 || self.channels == 0 || self.kernel == 0 {
            return Err(invalid(
                "generator",
                format!(
                    "n_mels, channels and kernel must be >= 1, found {}, {}, {}",
                    self.n_mels, self.channels, self.kernel
                ),
            ));
        }
        let (m, c, k) = (self.n_mels, self.channels, self.kernel);
        let mut plan = PadPlan::new(self.padding);
        let mut out = Vec::with_capacity(2 + 2 * self.dilations.len());
        let mut push = |name: String, conv: Conv1d| {
            out.push(ConvLayer {
                name,
                conv: plan.pad(conv),
            })
        };
        push("conv_in".into(), Conv1d::new(m, c, k));
        for (i, &d) in self.dilations.iter().enumerate() {
            push(format!("block{i}.conv1"), Conv1d::new(c, c, k).dilation(d));
            push(format!("block{i}.conv2"), Conv1d::new(c, c, k));
        }
        push("conv_out".into(), Conv1d::new(c, m, k));
        Ok((out, plan.left, plan.right))
    }

    /// Builds the graph (weights from [`ResCnnSpec::seed`]) and its receptive field.
    pub fn build(&self) -> Result<BuiltNet, OnnxError> {
        self.build_from(WeightSource::Seeded(SplitMix64(self.seed)))
    }

    /// Builds the graph with trained weights (names as in [`ResCnnSpec::layers`]).
    pub fn build_trained(&self, weights: &TrainedWeights) -> Result<BuiltNet, OnnxError> {
        self.build_from(WeightSource::Trained(weights))
    }

    fn build_from(&self, mut src: WeightSource<'_>) -> Result<BuiltNet, OnnxError> {
        let (layers, left, right) = self.layers()?;
        let mut b = GraphBuilder::new("widen_generator");
        b.doc("widen mel generator: residual 1-D CNN over time, mel_hr = mel_lr + f(mel_lr)");
        let x = b.input(&self.input, &btc(self.n_mels));
        let n_blocks = self.dilations.len();
        // Residual branches get half gain at initialisation so the trunk's variance does not
        // double per block; conv_out gets `out_scale`.
        let scale = |i: usize| {
            if i == layers.len() - 1 {
                self.out_scale
            } else if i > 0 && i.is_multiple_of(2) {
                0.5
            } else {
                1.0
            }
        };
        let mut conv = |b: &mut GraphBuilder, i: usize, x: &str| -> Result<String, OnnxError> {
            let l = &layers[i];
            let (w, bias) = src.conv(&l.name, &l.conv, scale(i))?;
            Ok(b.conv1d(&l.name, x, l.conv, &w, Some(&bias)))
        };
        let h = conv(&mut b, 0, &x)?;
        let mut h = b.leaky_relu(&h, self.leaky_slope);
        for blk in 0..n_blocks {
            let r = conv(&mut b, 1 + 2 * blk, &h)?;
            let r = b.leaky_relu(&r, self.leaky_slope);
            let r = conv(&mut b, 2 + 2 * blk, &r)?;
            h = b.add(&h, &r);
        }
        let y = conv(&mut b, layers.len() - 1, &h)?;
        let out = b.add(&x, &y);
        b.output_from(&out, &self.output, &btc(self.n_mels));
        Ok(BuiltNet {
            model: b.build()?,
            context_left: left,
            context_right: right,
        })
    }
}

impl VocosSpec {
    fn check(&self) -> Result<(), OnnxError> {
        let (m, c, nb) = (self.n_mels, self.channels, self.n_bins);
        if m == 0 || c == 0 || nb == 0 || self.embed_kernel == 0 || self.dw_kernel == 0 {
            return Err(invalid(
                "vocoder",
                format!(
                    "n_mels, n_bins, channels and kernels must be >= 1, found {m}, {nb}, {c}, {}, {}",
                    self.embed_kernel, self.dw_kernel
                ),
            ));
        }
        if let Some(p) = &self.mag_prior {
            if p.weight.len() != nb * m || p.bias.len() != nb {
                return Err(invalid(
                    "prior",
                    format!(
                        "weight must hold {nb} x {m} = {} values and bias {nb}, found {} and {}",
                        nb * m,
                        p.weight.len(),
                        p.bias.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The convolutions in chain order (`embed`, `block{i}.dwconv`, `block{i}.pwconv1`,
    /// `block{i}.pwconv2`, ..., `head`) with their padding, and the receptive field
    /// `(left, right)`. The optional `prior` (a pointwise `n_mels -> n_bins` convolution on the
    /// input) and the LayerNorms (`embed_norm`, `block{i}.norm`, `final_norm`, each `channels`
    /// wide) are not in the list. A trainer builds its network from this, so training and
    /// export share one definition.
    pub fn layers(&self) -> Result<(Vec<ConvLayer>, usize, usize), OnnxError> {
        self.check()?;
        let (m, c, nb) = (self.n_mels, self.channels, self.n_bins);
        let mut plan = PadPlan::new(self.padding);
        let mut out = Vec::with_capacity(2 + 3 * self.blocks);
        let mut push = |name: String, conv: Conv1d| {
            out.push(ConvLayer {
                name,
                conv: plan.pad(conv),
            })
        };
        push("embed".into(), Conv1d::new(m, c, self.embed_kernel));
        for i in 0..self.blocks {
            push(
                format!("block{i}.dwconv"),
                Conv1d::new(c, c, self.dw_kernel).groups(c),
            );
            push(format!("block{i}.pwconv1"), Conv1d::new(c, 2 * c, 1));
            push(format!("block{i}.pwconv2"), Conv1d::new(2 * c, c, 1));
        }
        push("head".into(), Conv1d::new(c, 2 * nb, 1));
        Ok((out, plan.left, plan.right))
    }

    /// Builds the graph (weights from [`VocosSpec::seed`]) and its receptive field.
    pub fn build(&self) -> Result<BuiltNet, OnnxError> {
        self.build_from(WeightSource::Seeded(SplitMix64(self.seed)))
    }

    /// Builds the graph with trained weights: every layer of [`VocosSpec::layers`], the
    /// LayerNorms (`{norm}.weight`, `{norm}.bias`) and, when [`VocosSpec::mag_prior`] is set,
    /// `prior.weight` / `prior.bias` from `weights` (the spec's prior values are then unused).
    pub fn build_trained(&self, weights: &TrainedWeights) -> Result<BuiltNet, OnnxError> {
        self.build_from(WeightSource::Trained(weights))
    }

    fn build_from(&self, mut src: WeightSource<'_>) -> Result<BuiltNet, OnnxError> {
        let (layers, left, right) = self.layers()?;
        let (m, c, nb) = (self.n_mels, self.channels, self.n_bins);
        let mut b = GraphBuilder::new("widen_vocoder");
        b.doc("widen vocoder: Vocos-like ConvNeXt backbone with an iSTFT head (mag, cos, sin)");
        let x = b.input(&self.input, &btc(m));
        const EPS: f32 = 1e-6;
        let norm = |b: &mut GraphBuilder,
                    src: &WeightSource<'_>,
                    name: &str,
                    x: &str|
         -> Result<String, OnnxError> {
            let (g, beta) = match src {
                WeightSource::Seeded(_) => (vec![1.0f32; c], vec![0.0f32; c]),
                WeightSource::Trained(map) => (
                    trained(map, &format!("{name}.weight"), c)?,
                    trained(map, &format!("{name}.bias"), c)?,
                ),
            };
            Ok(b.layer_norm_channels(name, x, &g, &beta, EPS))
        };
        let conv = |b: &mut GraphBuilder,
                    src: &mut WeightSource<'_>,
                    i: usize,
                    x: &str,
                    scale: f32|
         -> Result<String, OnnxError> {
            let l = &layers[i];
            let (w, bias) = src.conv(&l.name, &l.conv, scale)?;
            Ok(b.conv1d(&l.name, x, l.conv, &w, Some(&bias)))
        };

        let h = conv(&mut b, &mut src, 0, &x, 1.0)?;
        let mut h = norm(&mut b, &src, "embed_norm", &h)?;
        for i in 0..self.blocks {
            let r = conv(&mut b, &mut src, 1 + 3 * i, &h, 1.0)?;
            let r = norm(&mut b, &src, &format!("block{i}.norm"), &r)?;
            let r = conv(&mut b, &mut src, 2 + 3 * i, &r, 1.0)?;
            let r = b.gelu(&r);
            let r = conv(&mut b, &mut src, 3 + 3 * i, &r, 0.5)?;
            h = b.add(&h, &r);
        }
        let h = norm(&mut b, &src, "final_norm", &h)?;

        // Seeded: the head's magnitude and phase rows get different scales.
        let head = &layers[layers.len() - 1];
        let (w, bias) = match &mut src {
            WeightSource::Seeded(rng) => {
                let mut w = rng.weights(nb * c, c, self.mag_head_scale);
                w.extend(rng.weights(nb * c, c, self.phase_scale));
                (w, vec![0.0; 2 * nb])
            }
            WeightSource::Trained(_) => src.conv(&head.name, &head.conv, 1.0)?,
        };
        let o = b.conv1d(&head.name, &h, head.conv, &w, Some(&bias));
        let nb_i = i64::try_from(nb).unwrap_or(i64::MAX);
        let parts = b.split(&o, 1, &[nb_i, nb_i]);
        let (mut logits, phase) = (parts[0].clone(), parts[1].clone());
        if let Some(p) = &self.mag_prior {
            let spec = Conv1d::new(m, nb, 1);
            let (pw, pb) = match &src {
                WeightSource::Seeded(_) => (p.weight.clone(), p.bias.clone()),
                WeightSource::Trained(map) => (
                    trained(map, "prior.weight", nb * m)?,
                    trained(map, "prior.bias", nb)?,
                ),
            };
            let prior = b.conv1d("prior", &x, spec, &pw, Some(&pb));
            logits = b.add(&logits, &prior);
        }
        // Vocos order: exp, then clip, so the bound holds exactly even where exp overflows.
        let mag = b.exp(&logits);
        let mag = b.clip(&mag, None, Some(self.mag_max));
        let cos = b.cos(&phase);
        let sin = b.sin(&phase);
        let [n_mag, n_cos, n_sin] = &self.outputs;
        b.output_from(&mag, n_mag, &btc(nb));
        b.output_from(&cos, n_cos, &btc(nb));
        b.output_from(&sin, n_sin, &btc(nb));
        Ok(BuiltNet {
            model: b.build()?,
            context_left: left,
            context_right: right,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(padding: Padding) -> ResCnnSpec {
        ResCnnSpec {
            input: "mel_lr".into(),
            output: "mel_hr".into(),
            n_mels: 8,
            channels: 4,
            kernel: 3,
            dilations: vec![1, 2, 4, 8],
            leaky_slope: 0.2,
            out_scale: 0.1,
            padding,
            seed: 7,
        }
    }

    /// A small vocoder (8 mels, 9 bins, 4 channels) of `blocks` blocks with `prior`.
    fn voc(blocks: usize, prior: MagPrior) -> VocosSpec {
        VocosSpec {
            input: "mel".into(),
            outputs: ["mag".into(), "cos".into(), "sin".into()],
            n_mels: 8,
            n_bins: 9,
            channels: 4,
            blocks,
            embed_kernel: 7,
            dw_kernel: 7,
            mag_max: 100.0,
            mag_head_scale: 0.01,
            phase_scale: 1.0,
            mag_prior: Some(prior),
            padding: Padding::Same,
            seed: 1,
        }
    }

    #[test]
    fn generator_receptive_field_adds_up() {
        // conv_in 1 + blocks (d + 1) + conv_out 1 = 1 + 2 + 3 + 5 + 9 + 1.
        let same = gen(Padding::Same).build().unwrap();
        assert_eq!((same.context_left, same.context_right), (21, 21));
        // Causal: spans 3, 3+5, 5+3, 9+3, 17+3, 3 -> 42 frames of past minus the lookahead.
        let causal = gen(Padding::Causal { lookahead: 1 }).build().unwrap();
        assert_eq!((causal.context_left, causal.context_right), (41, 1));
        let causal3 = gen(Padding::Causal { lookahead: 3 }).build().unwrap();
        assert_eq!((causal3.context_left, causal3.context_right), (39, 3));
    }

    #[test]
    fn same_spec_gives_same_bytes_and_seed_matters() {
        let a = crate::encode(&gen(Padding::Same).build().unwrap().model);
        let b = crate::encode(&gen(Padding::Same).build().unwrap().model);
        assert_eq!(a, b);
        let mut other = gen(Padding::Same);
        other.seed = 8;
        assert_ne!(a, crate::encode(&other.build().unwrap().model));
    }

    #[test]
    fn initializers_read_back_rebuild_the_same_bytes() {
        let g = gen(Padding::Causal { lookahead: 1 }).build().unwrap().model;
        let w = initializer_weights(&g).unwrap();
        assert_eq!(w["conv_in.weight"].len(), 4 * 8 * 3);
        let again = gen(Padding::Causal { lookahead: 1 })
            .build_trained(&w)
            .unwrap()
            .model;
        assert_eq!(crate::encode(&g), crate::encode(&again));
        let voc = VocosSpec {
            seed: 3,
            ..voc(
                2,
                MagPrior {
                    weight: (0..72).map(|i| i as f32 * 0.01).collect(),
                    bias: vec![0.5; 9],
                },
            )
        };
        let v = voc.build().unwrap().model;
        let vw = initializer_weights(&v).unwrap();
        let again = voc.build_trained(&vw).unwrap().model;
        assert_eq!(crate::encode(&v), crate::encode(&again));
        // A truncated tensor is an error, not a short weight.
        let mut bad = v.clone();
        let t = &mut bad.graph.as_mut().unwrap().initializer[0];
        t.raw_data.as_mut().unwrap().truncate(8);
        assert!(initializer_weights(&bad).is_err());
    }

    #[test]
    fn splitmix_is_fixed() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn vocoder_rejects_bad_prior() {
        let spec = voc(
            1,
            MagPrior {
                weight: vec![0.0; 5],
                bias: vec![0.0; 9],
            },
        );
        let err = spec.build().unwrap_err().to_string();
        assert!(err.contains("72") && err.contains("found 5"), "{err}");
        let ok = VocosSpec {
            mag_prior: None,
            ..spec
        }
        .build()
        .unwrap();
        assert_eq!((ok.context_left, ok.context_right), (6, 6));
    }
}
