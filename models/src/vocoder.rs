//! The Vocos vocoder in tch, built from the same [`VocosSpec`] the ONNX export uses (layer
//! names, shapes and paddings from [`VocosSpec::layers`]), so a checkpoint maps one-to-one onto
//! the exported graph: ConvNeXt backbone, iSTFT head giving magnitude (`exp` of logits, clipped
//! at `mag_max`) and phase, plus a pointwise mel-to-log-magnitude prior (initialised to the
//! filterbank's log-inverse, trained with the rest) that gives the untrained network a sensible
//! magnitude from the first step.
//!
//! Synthesis is `torch.istft(center = true)` with a periodic Hann window: frame `t` is centred
//! on sample `t * hop`, exactly as the engine overlap-adds vocoder frames
//! (`widen_core::engine::Synthesis::Vocoder`).

use anyhow::Result;
use tch::{nn, Device, Kind, Tensor};
use widen_core::config::MelConfig;
use widen_onnx::nets::{ConvLayer, MagPrior, VocosSpec};

use crate::generator::{apply_conv, conv, sub_path};

/// LayerNorm epsilon of the exported graph (`widen_onnx::nets`).
const LN_EPS: f64 = 1e-6;

/// The vocoder network and its iSTFT.
#[derive(Debug)]
pub struct Vocoder {
    layers: Vec<(ConvLayer, nn::Conv1D)>,
    /// `(gamma, beta)` of `embed_norm`, `block{i}.norm`..., `final_norm`.
    norms: Vec<(Tensor, Tensor)>,
    prior: Option<nn::Conv1D>,
    blocks: usize,
    n_bins: i64,
    log_mag_max: f64,
    n_fft: i64,
    hop: i64,
    window: Tensor,
    /// Past frames each output frame depends on.
    pub context_left: usize,
    /// Future frames each output frame depends on.
    pub context_right: usize,
}

/// The vocoder's outputs for one mel input.
#[derive(Debug)]
pub struct VocoderOut {
    /// Magnitude `[B, n_bins, T]` (at most `mag_max`).
    pub mag: Tensor,
    /// Phase `[B, n_bins, T]` (radians, unwrapped: the graph emits its cosine and sine).
    pub phase: Tensor,
}

impl Vocoder {
    /// Creates the variables under `p` for `spec` on the STFT of `mel`. The head's magnitude
    /// rows start scaled by `spec.mag_head_scale` (the prior dominates at first); the prior
    /// starts at `spec.mag_prior` when given.
    pub fn new(p: &nn::Path, spec: &VocosSpec, mel: &MelConfig) -> Result<Self> {
        let (plan, context_left, context_right) = spec.layers()?;
        let c = spec.channels as i64;
        let mut layers = Vec::with_capacity(plan.len());
        for l in plan {
            let m = conv(p, &l);
            layers.push((l, m));
        }
        let norm = |name: &str| {
            let q = sub_path(p, name);
            (
                q.var("weight", &[c], nn::Init::Const(1.0)),
                q.var("bias", &[c], nn::Init::Const(0.0)),
            )
        };
        let mut norms = vec![norm("embed_norm")];
        for i in 0..spec.blocks {
            norms.push(norm(&format!("block{i}.norm")));
        }
        norms.push(norm("final_norm"));
        let nb = spec.n_bins as i64;
        if let Some((_, head)) = layers.last_mut() {
            tch::no_grad(|| {
                let _ = head
                    .ws
                    .narrow(0, 0, nb)
                    .f_mul_scalar_(spec.mag_head_scale as f64);
                if let Some(b) = &mut head.bs {
                    let _ = b.f_zero_();
                }
            });
        }
        let prior = match &spec.mag_prior {
            None => None,
            Some(MagPrior { weight, bias }) => {
                let mut m = nn::conv1d(
                    p / "prior",
                    spec.n_mels as i64,
                    nb,
                    1,
                    nn::ConvConfig::default(),
                );
                tch::no_grad(|| {
                    m.ws.copy_(&Tensor::from_slice(weight).reshape([nb, spec.n_mels as i64, 1]));
                    if let Some(b) = &mut m.bs {
                        b.copy_(&Tensor::from_slice(bias));
                    }
                });
                Some(m)
            }
        };
        let device = p.device();
        Ok(Self {
            layers,
            norms,
            prior,
            blocks: spec.blocks,
            n_bins: nb,
            log_mag_max: (spec.mag_max as f64).ln(),
            n_fft: mel.n_fft as i64,
            hop: mel.hop as i64,
            window: Tensor::hann_window_periodic(mel.win as i64, true, (Kind::Float, device)),
            context_left,
            context_right,
        })
    }

    fn norm(&self, i: usize, x: &Tensor) -> Tensor {
        let (g, b) = &self.norms[i];
        let c = g.size()[0];
        x.transpose(1, 2)
            .layer_norm([c], Some(g), Some(b), LN_EPS, false)
            .transpose(1, 2)
    }

    fn conv(&self, i: usize, x: &Tensor) -> Tensor {
        apply_conv(&self.layers[i].0, &self.layers[i].1, x)
    }

    /// Magnitude and phase of log-mel `mel` `[B, n_mels, T]`.
    pub fn forward(&self, mel: &Tensor) -> VocoderOut {
        let mut h = self.norm(0, &self.conv(0, mel));
        for i in 0..self.blocks {
            let r = self.conv(1 + 3 * i, &h);
            let r = self.norm(1 + i, &r);
            let r = self.conv(2 + 3 * i, &r).gelu("none");
            let r = self.conv(3 + 3 * i, &r);
            h += r;
        }
        let h = self.norm(self.blocks + 1, &h);
        let o = self.conv(self.layers.len() - 1, &h);
        let mut logits = o.narrow(1, 0, self.n_bins);
        let phase = o.narrow(1, self.n_bins, self.n_bins);
        if let Some(p) = &self.prior {
            logits += mel.apply(p);
        }
        // Clip before exp (same values as the graph's exp-then-clip, without an inf * 0
        // gradient where exp overflows).
        let mag = logits.clamp_max(self.log_mag_max).exp();
        VocoderOut { mag, phase }
    }

    /// Audio `[B, (T - 1) * hop]` of a magnitude and phase: `torch.istft(center = true)`.
    pub fn istft(&self, out: &VocoderOut) -> Tensor {
        let t = out.mag.size()[2];
        let spec = Tensor::polar(&out.mag, &out.phase);
        spec.istft(
            self.n_fft,
            self.hop,
            self.window.size()[0],
            Some(&self.window),
            true,
            false,
            true,
            (t - 1) * self.hop,
            false,
        )
    }

    /// Audio of log-mel `mel`.
    pub fn synth(&self, mel: &Tensor) -> Tensor {
        self.istft(&self.forward(mel))
    }

    /// Target phase of `audio` `[B, samples]` on the vocoder's own frames (the STFT whose
    /// inverse [`Self::istft`] is) and its magnitude, each `[B, n_bins, T]`.
    pub fn analyse(&self, audio: &Tensor) -> (Tensor, Tensor) {
        let spec = centred_stft(audio, self.n_fft, self.hop, &self.window);
        (spec.angle(), spec.abs())
    }

    /// Device of the variables.
    pub fn device(&self) -> Device {
        self.window.device()
    }
}

/// Complex STFT `[B, n_fft / 2 + 1, 1 + samples / hop]` of `x` `[B, samples]` with frame `t`
/// centred on sample `t * hop` (reflection padding of `n_fft / 2`, `torch.stft(center = true)`),
/// the framing [`Vocoder::istft`] inverts; `window` has at most `n_fft` samples (a shorter one
/// is centred in the frame, as torch does).
pub fn centred_stft(x: &Tensor, n_fft: i64, hop: i64, window: &Tensor) -> Tensor {
    let p = n_fft / 2;
    x.unsqueeze(1).reflection_pad1d([p, p]).squeeze_dim(1).stft(
        n_fft,
        hop,
        window.size()[0],
        Some(window),
        false,
        true,
        true,
        false,
    )
}
