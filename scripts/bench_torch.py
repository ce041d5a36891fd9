"""PyTorch-on-CPU speed of the pipelines widen is compared with (issue 9), on the bench input.

Called by `cargo xtask bench` with the Python of scripts/setup-bench.sh; by hand:

    .cache/bench-venv/bin/python scripts/bench_torch.py --input target/bench/input-60s.wav \
        --threads 1,2 --repeats 3 --out target/bench/torch.json

Two pipelines, each timed as one whole-file call (how a user runs PyTorch offline), from the 8 kHz
input to the 22.05 kHz waveform:

(a) "seed": the seed's pipeline at the seed's sizes. Sinc resampling to 22.05 kHz
    (torchaudio), Vocos' own mel features (n_fft 1024, hop 256, 80 mels, log), a 16-block
    SRResNet on the log-mel seen as a one-channel image (the classic SRResNet: 64 channels, 9x9
    head and tail, blocks of conv3x3-BN-PReLU-conv3x3-BN with skip, a long skip; no upsampling
    layers since the output mel has the input's shape), then the full-size Vocos of the 22.05 kHz
    / 80-mel configuration (vocos' defaults: dim 512, intermediate 1536, 8 ConvNeXt layers,
    ISTFT head n_fft 1024 / hop 256).
(b) "widen-arch": widen's own architectures and synthesis in PyTorch, per set: the residual 1-D
    CNN generator (quality: 128 channels, dilations 1,2,4,8,1,2,4,8; low-latency: 64 channels,
    1,2,4,8,1,2; kernel 3, LeakyReLU 0.2, models/src/spec.rs) on the log-mel of the sinc-upsampled
    input (quality STFT 1024/256, low-latency 512/128), then the shipped default synthesis, phase
    copy: magnitude from the mel's non-negative pseudo-inverse, phase copied from the input's
    bins modulo the cutoff bin, spliced above the 4 kHz cutoff with a raised-cosine cross-fade and
    the per-frame energy limit, inverse STFT. The same work widen does, in another runtime,
    including the resampling filter: widen's quality resampler is a 256-tap (128 zero crossings
    a side) windowed sinc with its pass band to 0.947 of the input Nyquist, so (b) asks
    torchaudio for the same length and roll-off (`lowpass_filter_width=128, rolloff=0.947`,
    Kaiser window, beta 14).
(b') "widen-arch-default-resample": (b) with torchaudio's default resampling filter (6 zero
    crossings a side, rolloff 0.99, Hann): a much shorter filter with a wide transition band
    (images of the 3.6-4 kHz band leak into the band the generator replaces); reported beside
    (b) so the resampler's share of the comparison is visible.

Weights are random (seeded, torch.manual_seed(0)); the speed of a convolution does not depend on
its weights. Each configuration runs once on the first 2 s to warm up, then `--repeats` timed runs
(`--seed-repeats` for (a), about 1x real time on one core); the median is
reported. `torch.set_num_threads(n)` sets the intra-op threads (the caller pins CPUs with taskset).
Writes JSON: {"torch": version, "runs": [{"pipeline", "set", "threads", "median_seconds",
"all_seconds", "audio_seconds", "x_real_time", "parameters"}]}.
"""

import argparse
import ctypes
import glob
import json
import math
import os
import statistics
import sys
import time


def import_torch():
    """Imports torch, first loading the CPU stubs of the CUDA maths libraries if setup-bench.sh
    made them (the PyPI wheel is a CUDA build; see scripts/torch_cpu_stubs.py)."""
    for lib in sorted(glob.glob(os.path.join(sys.prefix, "torch-stubs", "*.so*"))):
        ctypes.CDLL(lib, mode=os.RTLD_GLOBAL)
    import torch

    return torch


torch = import_torch()
import soundfile  # noqa: E402
import torchaudio.functional as AF  # noqa: E402
from torch import nn  # noqa: E402

SR = 22050
N_MELS = 80


class SRResNet(nn.Module):
    """SRResNet (Ledig et al. 2017) without the upsampling stage, on a [B, 1, mels, T] image."""

    def __init__(self, blocks=16, ch=64):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(1, ch, 9, padding=4), nn.PReLU(ch))
        body = []
        for _ in range(blocks):
            body.append(
                nn.Sequential(
                    nn.Conv2d(ch, ch, 3, padding=1),
                    nn.BatchNorm2d(ch),
                    nn.PReLU(ch),
                    nn.Conv2d(ch, ch, 3, padding=1),
                    nn.BatchNorm2d(ch),
                )
            )
        self.body = nn.ModuleList(body)
        self.mid = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch))
        self.tail = nn.Conv2d(ch, 1, 9, padding=4)

    def forward(self, x):
        h = self.head(x)
        y = h
        for b in self.body:
            y = y + b(y)
        y = self.mid(y) + h
        return self.tail(y) + x


class ResCnn(nn.Module):
    """widen's generator (onnx/src/nets.rs ResCnnSpec): conv_in, LeakyReLU, residual blocks of
    (dilated conv, LeakyReLU, conv), conv_out, plus the input."""

    def __init__(self, ch, dilations, k=3, slope=0.2):
        super().__init__()
        self.conv_in = nn.Conv1d(N_MELS, ch, k, padding=k // 2)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [nn.Conv1d(ch, ch, k, padding=d * (k // 2), dilation=d), nn.Conv1d(ch, ch, k, padding=k // 2)]
            )
            for d in dilations
        )
        self.conv_out = nn.Conv1d(ch, N_MELS, k, padding=k // 2)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x):
        h = self.act(self.conv_in(x))
        for c1, c2 in self.blocks:
            h = h + c2(self.act(c1(h)))
        return self.conv_out(h) + x


def htk_mel_fb(n_fft):
    """[n_mels, n_bins] HTK triangles, 0..11025 Hz, no norm (widen's quality/low-latency config)."""
    import torchaudio.functional as F

    return F.melscale_fbanks(n_fft // 2 + 1, 0.0, SR / 2, N_MELS, SR, norm=None, mel_scale="htk").T.contiguous()


class WidenArch(nn.Module):
    """widen's pipeline with phase-copy synthesis (core/src/engine/spectral.rs) in torch."""

    def __init__(self, n_fft, hop, ch, dilations, cutoff_hz=4000.0, crossfade=8):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.gen = ResCnn(ch, dilations)
        fb = htk_mel_fb(n_fft)
        self.register_buffer("fb", fb)
        # Non-negative pseudo-inverse: mag_k = sum_m W[m,k] mel_m / B_m / sum_m W[m,k].
        band = fb.sum(1, keepdim=True).clamp_min(1e-12)
        col = fb.sum(0, keepdim=True).clamp_min(1e-12)
        self.register_buffer("inv", (fb / band / col).T.contiguous())
        self.register_buffer("window", torch.hann_window(n_fft))
        n_bins = n_fft // 2 + 1
        self.cut = int(math.ceil(cutoff_hz * n_fft / SR))
        k = torch.arange(n_bins)
        x = (k - self.cut + 1).float() / (crossfade + 1)
        fade = 0.5 + 0.5 * torch.cos(math.pi * x)
        low = torch.where(k < self.cut, 1.0, torch.where(k < self.cut + crossfade, fade, 0.0))
        self.register_buffer("low", low[:, None])

    def forward(self, wav22):
        X = torch.stft(wav22, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        mag = X.abs()
        logmel = torch.log(torch.clamp(self.fb @ mag, min=1e-5))
        mel_hr = self.gen(logmel[None])[0]
        mag_hr = self.inv @ torch.exp(torch.clamp(mel_hr, max=20.0))
        n_bins = X.shape[0]
        src = X[torch.arange(n_bins) % self.cut]
        unit = src / src.abs().clamp_min(1e-20)
        V = unit * mag_hr
        high = (1.0 - self.low) * 0.5
        low_e = (X[: self.cut].abs() ** 2).sum(0)
        gen_e = ((high * V).abs() ** 2).sum(0)
        gain = torch.where(gen_e > low_e, torch.sqrt(low_e / gen_e.clamp_min(1e-30)), torch.ones_like(gen_e))
        Y = X * self.low + V * high * gain
        return torch.istft(Y, self.n_fft, self.hop, window=self.window, center=True, length=wav22.shape[-1])


class Seed(nn.Module):
    """The seed's pipeline: Vocos mel features, SRResNet, full-size Vocos (22.05 kHz, 80 mels)."""

    def __init__(self):
        super().__init__()
        from vocos.feature_extractors import MelSpectrogramFeatures
        from vocos.heads import ISTFTHead
        from vocos.models import VocosBackbone

        self.features = MelSpectrogramFeatures(sample_rate=SR, n_fft=1024, hop_length=256, n_mels=N_MELS)
        self.gen = SRResNet(16, 64)
        self.backbone = VocosBackbone(input_channels=N_MELS, dim=512, intermediate_dim=1536, num_layers=8)
        self.head = ISTFTHead(dim=512, n_fft=1024, hop_length=256, padding="center")

    def forward(self, wav22):
        mel = self.features(wav22[None])  # [1, 80, T], log
        mel_hr = self.gen(mel[:, None])[:, 0]
        return self.head(self.backbone(mel_hr))[0]


def params(m):
    return sum(p.numel() for p in m.parameters())


# widen's quality resampling filter in torchaudio's terms (core/src/dsp/resample.rs: 256 taps
# at the lower rate, cutoff 0.947 of its Nyquist).
WIDEN_RESAMPLE = dict(lowpass_filter_width=128, rolloff=0.947, resampling_method="sinc_interp_kaiser", beta=14.0)


def pipelines():
    quality = lambda: WidenArch(1024, 256, 128, [1, 2, 4, 8, 1, 2, 4, 8])  # noqa: E731
    low = lambda: WidenArch(512, 128, 64, [1, 2, 4, 8, 1, 2], crossfade=4)  # noqa: E731
    return [
        ("seed", "seed (SRResNet-16 + Vocos 22.05k)", Seed, {}),
        ("widen-arch", "quality", quality, WIDEN_RESAMPLE),
        ("widen-arch", "low-latency", low, WIDEN_RESAMPLE),
        ("widen-arch-default-resample", "quality", quality, {}),
        ("widen-arch-default-resample", "low-latency", low, {}),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="8 kHz mono WAV (the bench input)")
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed-repeats", type=int, default=2, help="timed runs of (a), the slow one")
    ap.add_argument("--seconds", type=float, default=None, help="use only the first S seconds")
    ap.add_argument(
        "--only", choices=["seed", "widen-arch", "widen-arch-default-resample"], help="time one pipeline only"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    x, rate = soundfile.read(a.input, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if a.seconds:
        x = x[: int(a.seconds * rate)]
    audio_s = len(x) / rate
    x = torch.from_numpy(x.copy())
    runs = []
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        for name, set_name, make, resample_kw in pipelines():
            if a.only and name != a.only:
                continue
            torch.manual_seed(0)
            model = make().eval()
            times = []
            repeats = a.seed_repeats if name == "seed" else a.repeats
            with torch.inference_mode():
                # Warm-up on the first 2 s (first calls allocate and pick kernels), then timed runs.
                for i in range(repeats + 1):
                    xi = x[: 2 * rate] if i == 0 else x
                    t0 = time.perf_counter()
                    wav22 = AF.resample(xi, rate, SR, **resample_kw)
                    y = model(wav22)
                    dt = time.perf_counter() - t0
                    if not torch.isfinite(y).all():
                        sys.exit(f"bench_torch: {name} {set_name}: non-finite output")
                    if i > 0:
                        times.append(dt)
            med = statistics.median(times)
            runs.append(
                {
                    "pipeline": name,
                    "set": set_name,
                    "threads": threads,
                    "audio_seconds": audio_s,
                    "median_seconds": med,
                    "all_seconds": times,
                    "x_real_time": audio_s / med,
                    "parameters": params(model),
                    "resample": resample_kw or "torchaudio default",
                    "output_samples": int(y.shape[-1]),
                }
            )
            print(f"bench_torch: {name} {set_name} {threads}t: {audio_s / med:.1f}x real time", file=sys.stderr)
    doc = {"torch": torch.__version__, "input": a.input, "repeats": a.repeats, "runs": runs}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
