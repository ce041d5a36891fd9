//! The vocoder's waveform discriminators, sized for CPU training: a multi-period discriminator
//! (HiFi-GAN: the waveform folded into `[frames, period]` images, 2-D convs along time) and a
//! multi-resolution discriminator (UnivNet/Vocos: 2-D convs over log-magnitude spectrograms at
//! several STFT sizes). Both return per-patch logits and every intermediate feature map (for
//! feature matching).

use tch::{nn, Device, Kind, Tensor};

use crate::generator::leaky_relu;

/// Periods of the multi-period discriminator (HiFi-GAN's).
pub const PERIODS: [i64; 5] = [2, 3, 5, 7, 11];

/// One period's sub-discriminator.
#[derive(Debug)]
struct PeriodD {
    period: i64,
    convs: Vec<nn::Conv2D>,
    post: nn::Conv2D,
}

impl PeriodD {
    fn new(p: &nn::Path, period: i64, width: i64) -> Self {
        let chans = [1, width, 2 * width, 4 * width, 4 * width];
        let convs = (0..4)
            .map(|i| {
                nn::conv(
                    p / format!("c{i}"),
                    chans[i],
                    chans[i + 1],
                    [5, 1],
                    nn::ConvConfigND::<[i64; 2]> {
                        stride: if i < 3 { [3, 1] } else { [1, 1] },
                        padding: [2, 0],
                        ..Default::default()
                    },
                )
            })
            .collect();
        let post = nn::conv(
            p / "post",
            4 * width,
            1,
            [3, 1],
            nn::ConvConfigND::<[i64; 2]> {
                padding: [1, 0],
                ..Default::default()
            },
        );
        Self {
            period,
            convs,
            post,
        }
    }

    fn forward(&self, x: &Tensor, feats: &mut Vec<Tensor>) -> Tensor {
        let (b, l) = (x.size()[0], x.size()[1]);
        let pad = (self.period - l % self.period) % self.period;
        let x = if pad > 0 {
            x.unsqueeze(1).reflection_pad1d([0, pad]).squeeze_dim(1)
        } else {
            x.shallow_clone()
        };
        let mut h = x.reshape([b, 1, (l + pad) / self.period, self.period]);
        for c in &self.convs {
            h = leaky_relu(&h.apply(c), 0.1);
            feats.push(h.shallow_clone());
        }
        h.apply(&self.post).flatten(1, -1)
    }
}

/// One STFT resolution's sub-discriminator.
#[derive(Debug)]
struct ResD {
    n_fft: i64,
    hop: i64,
    window: Tensor,
    convs: Vec<nn::Conv2D>,
    post: nn::Conv2D,
}

impl ResD {
    fn new(p: &nn::Path, n_fft: i64, width: i64, device: Device) -> Self {
        // Kernels (time, frequency); strides halve the frequency axis.
        let cfg = |stride: [i64; 2], k: [i64; 2]| nn::ConvConfigND::<[i64; 2]> {
            stride,
            padding: [k[0] / 2, k[1] / 2],
            ..Default::default()
        };
        let mut convs = vec![nn::conv(p / "c0", 1, width, [3, 5], cfg([1, 2], [3, 5]))];
        for i in 1..4 {
            convs.push(nn::conv(
                p / format!("c{i}"),
                width,
                width,
                [3, 5],
                cfg([1, 2], [3, 5]),
            ));
        }
        convs.push(nn::conv(
            p / "c4",
            width,
            width,
            [3, 3],
            cfg([1, 1], [3, 3]),
        ));
        let post = nn::conv(p / "post", width, 1, [3, 3], cfg([1, 1], [3, 3]));
        Self {
            n_fft,
            hop: n_fft / 4,
            window: Tensor::hann_window_periodic(n_fft, true, (Kind::Float, device)),
            convs,
            post,
        }
    }

    fn forward(&self, x: &Tensor, feats: &mut Vec<Tensor>) -> Tensor {
        let p = self.n_fft / 2;
        let padded = x.unsqueeze(1).reflection_pad1d([p, p]).squeeze_dim(1);
        let mag = padded
            .stft(
                self.n_fft,
                self.hop,
                self.n_fft,
                Some(&self.window),
                false,
                true,
                true,
                false,
            )
            .abs();
        // [B, F, T] -> [B, 1, T, F], log-compressed to about unit range.
        let mut h = ((mag + 1e-5).log() * 0.2).transpose(1, 2).unsqueeze(1);
        for c in &self.convs {
            h = leaky_relu(&h.apply(c), 0.1);
            feats.push(h.shallow_clone());
        }
        h.apply(&self.post).flatten(1, -1)
    }
}

/// Multi-period + multi-resolution discriminator.
#[derive(Debug)]
pub struct WaveDisc {
    periods: Vec<PeriodD>,
    resolutions: Vec<ResD>,
}

impl WaveDisc {
    /// `width` channels in the first layer of each period sub-discriminator (doubling twice)
    /// and in every layer of the resolution ones; resolutions at `n_ffts` (hop a quarter).
    pub fn new(p: &nn::Path, width: i64, n_ffts: &[i64]) -> Self {
        let device = p.device();
        Self {
            periods: PERIODS
                .iter()
                .map(|&per| PeriodD::new(&(p / format!("mpd{per}")), per, width))
                .collect(),
            resolutions: n_ffts
                .iter()
                .map(|&n| ResD::new(&(p / format!("mrd{n}")), n, width, device))
                .collect(),
        }
    }

    /// Logits of every sub-discriminator and all feature maps, for audio `[B, L]`.
    pub fn forward(&self, x: &Tensor) -> (Vec<Tensor>, Vec<Tensor>) {
        let mut feats = Vec::new();
        let mut logits = Vec::new();
        for d in &self.periods {
            logits.push(d.forward(x, &mut feats));
        }
        for d in &self.resolutions {
            logits.push(d.forward(x, &mut feats));
        }
        (logits, feats)
    }
}
