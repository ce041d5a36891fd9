//! Tiny random-weight models written with widen-onnx, plus an independent pure-Rust evaluation of
//! each graph (direct loops in f64) to compare ONNX Runtime against.
//!
//! Shared by the ORT test binaries; each uses a subset.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use widen_core::runtime::{init_ort, IoSpec};
use widen_onnx::{Conv1d, Dim, GraphBuilder, PadMode};

/// Loads ONNX Runtime or fails the test with the set-up command.
pub fn require_ort() -> std::path::PathBuf {
    init_ort().unwrap_or_else(|e| panic!("ONNX Runtime is needed for this test: {e}"))
}

pub fn btc(c: usize) -> Vec<Dim> {
    vec!["B".into(), c.into(), "T".into()]
}

pub fn uniform(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// A `[channels, frames]` test signal.
pub fn signal(seed: u64, channels: usize, frames: usize) -> Vec<f32> {
    uniform(&mut ChaCha8Rng::seed_from_u64(seed), channels * frames, 1.0)
}

/// Direct 1-D convolution of `x` = `[in, t_in]` (channel-major), PyTorch semantics.
pub fn conv1d_ref(
    x: &[f32],
    t_in: usize,
    s: Conv1d,
    w: &[f32],
    b: Option<&[f32]>,
) -> (Vec<f64>, usize) {
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let padded = t_in + s.pad_left + s.pad_right;
    let t_out = (padded - s.span()) / s.stride + 1;
    let mut y = vec![0.0f64; s.out_channels * t_out];
    for o in 0..s.out_channels {
        let g = o / cout_g;
        for t in 0..t_out {
            let mut acc = b.map_or(0.0, |b| f64::from(b[o]));
            for ci in 0..cin_g {
                let c = g * cin_g + ci;
                for k in 0..s.kernel {
                    let pos = t * s.stride + k * s.dilation;
                    if pos < s.pad_left || pos >= s.pad_left + t_in {
                        continue;
                    }
                    let wv = f64::from(w[(o * cin_g + ci) * s.kernel + k]);
                    acc += wv * f64::from(x[c * t_in + pos - s.pad_left]);
                }
            }
            y[o * t_out + t] = acc;
        }
    }
    (y, t_out)
}

/// erf by Simpson integration of 2/sqrt(pi) exp(-t^2) (error far below 1e-9 for |x| < 6).
pub fn erf(x: f64) -> f64 {
    let n = 400;
    let h = x / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
}

fn as_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Largest `|a - b| / (1 + |b|)`: absolute near zero, relative for large values (exp outputs).
pub fn max_err(actual: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(actual.len(), reference.len(), "length");
    actual
        .iter()
        .zip(reference)
        .map(|(&a, &r)| (f64::from(a) - f64::from(r)).abs() / (1.0 + f64::from(r).abs()))
        .fold(0.0, f64::max)
}

/// Two dilated/grouped Conv1d layers with LeakyReLU and a residual Add: `mel_lr` 80 -> `mel_hr` 80.
pub struct ConvNet {
    pub c1: Conv1d,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub c2: Conv1d,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub alpha: f32,
}

impl ConvNet {
    pub const CH: usize = 80;

    pub fn random(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c1 = Conv1d::new(80, 80, 3).same();
        let c2 = Conv1d::new(80, 80, 5).dilation(2).groups(4).same();
        let s1 = 1.0 / (80.0f32 * 3.0).sqrt();
        let s2 = 1.0 / (20.0f32 * 5.0).sqrt();
        Self {
            w1: uniform(&mut rng, c1.weight_len(), s1),
            b1: uniform(&mut rng, 80, 0.1),
            w2: uniform(&mut rng, c2.weight_len(), s2),
            b2: uniform(&mut rng, 80, 0.1),
            c1,
            c2,
            alpha: 0.1,
        }
    }

    pub fn spec() -> IoSpec {
        IoSpec::new(("mel_lr", 80), &[("mel_hr", 80)])
    }

    pub fn onnx(&self) -> Vec<u8> {
        let mut b = GraphBuilder::new("convnet");
        let x = b.input("mel_lr", &btc(80));
        let h = b.conv1d("conv1", &x, self.c1, &self.w1, Some(&self.b1));
        let h = b.leaky_relu(&h, self.alpha);
        let h = b.conv1d("conv2", &h, self.c2, &self.w2, Some(&self.b2));
        let y = b.add(&h, &x);
        b.output_from(&y, "mel_hr", &btc(80));
        widen_onnx::encode(&b.build().expect("valid graph"))
    }

    pub fn reference(&self, x: &[f32], frames: usize) -> Vec<f32> {
        let (h, t) = conv1d_ref(x, frames, self.c1, &self.w1, Some(&self.b1));
        let h: Vec<f32> = h
            .iter()
            .map(|&v| {
                (if v < 0.0 {
                    v * f64::from(self.alpha)
                } else {
                    v
                }) as f32
            })
            .collect();
        let (h, t2) = conv1d_ref(&h, t, self.c2, &self.w2, Some(&self.b2));
        assert_eq!(t2, frames);
        as_f32(
            &h.iter()
                .zip(x)
                .map(|(&a, &b)| a + f64::from(b))
                .collect::<Vec<_>>(),
        )
    }
}

/// A Vocos-like iSTFT head: Conv1d 80 -> 1026, split, `mag = exp(clip(a))`, `cos(p)`, `sin(p)`, 513 bins each.
/// Outputs are declared in the graph as cos, sin, mag to check that results are mapped by name.
pub struct VocosHead {
    pub conv: Conv1d,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub clip: (f32, f32),
}

impl VocosHead {
    pub const BINS: usize = 513;

    pub fn random(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let conv = Conv1d::new(80, 2 * Self::BINS, 3).same();
        Self {
            w: uniform(&mut rng, conv.weight_len(), 2.0 / (240.0f32).sqrt()),
            b: uniform(&mut rng, 2 * Self::BINS, 0.5),
            conv,
            clip: (-1.0, 1.2),
        }
    }

    pub fn spec() -> IoSpec {
        IoSpec::new(("mel", 80), &[("mag", 513), ("cos", 513), ("sin", 513)])
    }

    pub fn onnx(&self) -> Vec<u8> {
        let mut b = GraphBuilder::new("vocos_head");
        let x = b.input("mel", &btc(80));
        let h = b.conv1d("head", &x, self.conv, &self.w, Some(&self.b));
        let parts = b.split(&h, 1, &[513, 513]);
        let clipped = b.clip(&parts[0], Some(self.clip.0), Some(self.clip.1));
        let mag = b.exp(&clipped);
        let cos = b.cos(&parts[1]);
        let sin = b.sin(&parts[1]);
        b.output_from(&cos, "cos", &btc(513));
        b.output_from(&sin, "sin", &btc(513));
        b.output_from(&mag, "mag", &btc(513));
        widen_onnx::encode(&b.build().expect("valid graph"))
    }

    /// `[mag, cos, sin]`.
    pub fn reference(&self, x: &[f32], frames: usize) -> [Vec<f32>; 3] {
        let (h, t) = conv1d_ref(x, frames, self.conv, &self.w, Some(&self.b));
        assert_eq!(t, frames);
        let n = Self::BINS * frames;
        let (a, p) = h.split_at(n);
        let (lo, hi) = (f64::from(self.clip.0), f64::from(self.clip.1));
        [
            as_f32(&a.iter().map(|v| v.clamp(lo, hi).exp()).collect::<Vec<_>>()),
            as_f32(&p.iter().map(|v| v.cos()).collect::<Vec<_>>()),
            as_f32(&p.iter().map(|v| v.sin()).collect::<Vec<_>>()),
        ]
    }
}

/// A causal ConvNeXt-like block exercising the remaining helpers: Pad (causal), depthwise Conv,
/// channel LayerNorm, Transpose, Linear (MatMul + Add), GELU, PReLU, residual Add, Slice, Concat.
pub struct NextBlock {
    pub dw: Conv1d,
    pub dw_w: Vec<f32>,
    pub dw_b: Vec<f32>,
    pub ln_g: Vec<f32>,
    pub ln_b: Vec<f32>,
    pub l1_w: Vec<f32>,
    pub l1_b: Vec<f32>,
    pub l2_w: Vec<f32>,
    pub l2_b: Vec<f32>,
    pub slopes: Vec<f32>,
}

impl NextBlock {
    const C: usize = 16;
    const H: usize = 48;
    const K: usize = 7;
    const EPS: f32 = 1e-6;

    pub fn random(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (c, h) = (Self::C, Self::H);
        let dw = Conv1d::new(c, c, Self::K).groups(c);
        Self {
            dw_w: uniform(&mut rng, dw.weight_len(), 0.4),
            dw_b: uniform(&mut rng, c, 0.1),
            ln_g: uniform(&mut rng, c, 1.0)
                .iter()
                .map(|v| 1.0 + 0.5 * v)
                .collect(),
            ln_b: uniform(&mut rng, c, 0.2),
            l1_w: uniform(&mut rng, c * h, 1.0 / (c as f32).sqrt()),
            l1_b: uniform(&mut rng, h, 0.1),
            l2_w: uniform(&mut rng, h * c, 1.0 / (h as f32).sqrt()),
            l2_b: uniform(&mut rng, c, 0.1),
            slopes: uniform(&mut rng, c, 0.3),
            dw,
        }
    }

    pub fn spec() -> IoSpec {
        IoSpec::new(("x", Self::C), &[("y", Self::C)])
    }

    pub fn onnx(&self) -> Vec<u8> {
        let (c, h) = (Self::C, Self::H);
        let mut b = GraphBuilder::new("next_block");
        let x = b.input("x", &btc(c));
        let padded = b.pad_time(&x, Self::K - 1, 0, PadMode::Constant(0.0));
        let d = b.conv1d("dw", &padded, self.dw, &self.dw_w, Some(&self.dw_b));
        let n = b.layer_norm_channels("ln", &d, &self.ln_g, &self.ln_b, Self::EPS);
        let btc_ = b.transpose(&n, &[0, 2, 1]);
        let l1 = b.linear("pw1", &btc_, c, h, &self.l1_w, Some(&self.l1_b));
        let g = b.gelu(&l1);
        let l2 = b.linear("pw2", &g, h, c, &self.l2_w, Some(&self.l2_b));
        let bct = b.transpose(&l2, &[0, 2, 1]);
        let p = b.prelu("act", &bct, &self.slopes);
        let r = b.add(&p, &x);
        let half = (c / 2) as i64;
        let lo = b.slice(&r, &[0], &[half], &[1]);
        let hi = b.slice(&x, &[half], &[c as i64], &[1]);
        let y = b.concat(&[&lo, &hi], 1);
        b.output_from(&y, "y", &btc(c));
        widen_onnx::encode(&b.build().expect("valid graph"))
    }

    pub fn reference(&self, x: &[f32], frames: usize) -> Vec<f32> {
        let (c, h) = (Self::C, Self::H);
        let dw = self.dw.causal();
        let (d, t) = conv1d_ref(x, frames, dw, &self.dw_w, Some(&self.dw_b));
        assert_eq!(t, frames);
        let mut y = vec![0.0f64; c * frames];
        for t in 0..frames {
            let col: Vec<f64> = (0..c).map(|ch| d[ch * frames + t]).collect();
            let mean = col.iter().sum::<f64>() / c as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (var + f64::from(Self::EPS)).sqrt();
            let n: Vec<f64> = (0..c)
                .map(|ch| {
                    (col[ch] - mean) * inv * f64::from(self.ln_g[ch]) + f64::from(self.ln_b[ch])
                })
                .collect();
            let g: Vec<f64> = (0..h)
                .map(|j| {
                    let z = f64::from(self.l1_b[j])
                        + (0..c)
                            .map(|i| n[i] * f64::from(self.l1_w[i * h + j]))
                            .sum::<f64>();
                    0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2))
                })
                .collect();
            for ch in 0..c {
                let z = f64::from(self.l2_b[ch])
                    + (0..h)
                        .map(|j| g[j] * f64::from(self.l2_w[j * c + ch]))
                        .sum::<f64>();
                let p = if z < 0.0 {
                    z * f64::from(self.slopes[ch])
                } else {
                    z
                };
                let xin = f64::from(x[ch * frames + t]);
                y[ch * frames + t] = if ch < c / 2 { p + xin } else { xin };
            }
        }
        as_f32(&y)
    }
}

/// The library `cargo xtask setup` caches, found without loading it.
pub fn cached_library() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let path = root.join(".cache/onnxruntime/libonnxruntime.so");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup` (or scripts/setup-ort.sh)",
        path.display()
    );
    path
}
