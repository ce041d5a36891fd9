#!/usr/bin/env python3
"""Where the generated band's error is (docs/TRAINING.md, "Where the high-band error is").

Run on in-corpus hold-out pairs only (never on the eval split: these figures steer training):

  python3 scripts/highband-diagnose.py pick DIR N      # link N hold-out clips of data/corpus/train
  python3 scripts/highband-diagnose.py pick-train DIR N [first]   # N training clips (every k-th,
                                                       # or the first N: --max-train-clips N's)
  widen make-dataset --in-root DIR --out PAIRS --seed 7
  widen enhance PAIRS/lr -o OUT                        # then rename OUT/*_widen.wav to the pair names
  python3 scripts/highband-diagnose.py frames PAIRS/hr OUT   # per-frame LSD-HF and bias by level
  python3 scripts/highband-diagnose.py gap PAIRS/hr          # floor of a mel-smooth estimate
  python3 scripts/highband-diagnose.py shaping PAIRS/hr OUT  # band tilts and per-frame gain laws

LSD as DESIGN.md defines it (STFT 2048 / 512, Hann, centred, power clamped at 1e-8, log10);
PESQ-WB from the `pesq` package at 16 kHz. Needs numpy, scipy, soundfile, librosa, pesq
(.cache/venv of scripts/setup-tests.sh has them).
"""
import glob
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SR = 22050
TRAIN_ROOT = "data/corpus/train"


def spec_log(x, n_fft=2048, hop=512):
    import librosa
    s = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop, window="hann", center=True)) ** 2
    return np.log10(np.maximum(s, 1e-8))


def lsd_hf(y, r_log):
    """LSD-HF of `y` against a reference given as its `spec_log`."""
    f = np.fft.rfftfreq(2048, 1 / SR)
    d = (spec_log(y) - r_log)[f > 4000]
    return np.sqrt((d ** 2).mean(0)).mean()


def pairs(hr_dir, out_dir):
    import soundfile as sf
    for p in sorted(glob.glob(os.path.join(out_dir, "*.wav"))):
        ref = os.path.join(hr_dir, os.path.basename(p))
        if not os.path.exists(ref):
            continue
        y, _ = sf.read(p, dtype="float32")
        r, _ = sf.read(ref, dtype="float32")
        y = y.mean(1) if y.ndim > 1 else y
        r = r.mean(1) if r.ndim > 1 else r
        n = min(len(y), len(r))
        yield os.path.basename(p), y[:n], r[:n]


def corpus_names(holdout):
    """Clip names of data/corpus/train, sorted: the in-corpus hold-out or the rest."""
    def fnv(s):  # widen-train's data::is_holdout
        h = 0xCBF29CE484222325
        for b in s.encode():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        return h

    names = sorted(os.path.relpath(os.path.join(d, f), TRAIN_ROOT)
                   for d, _, fs in os.walk(TRAIN_ROOT) for f in fs)
    return [r for r in names if (fnv(r) % 32 == 0) == holdout]


def every_kth(names, n):
    """N names spread evenly over the sorted list."""
    return names[::max(1, len(names) // n)][:n]


def link(out, chosen, flat):
    for rel in chosen:
        dst = os.path.join(out, rel.replace("/", "__") if flat else rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(os.path.join(TRAIN_ROOT, rel)), dst)


def pick(out, n):
    names = corpus_names(True)
    chosen = every_kth(names, n)
    link(out, chosen, True)
    print(f"{len(names)} hold-out clips, {len(chosen)} linked into {out}")


def pick_train(out, n, first):
    """N training clips (outside the hold-out), every k-th by name, or the first N (the clips
    `widen-train --max-train-clips N` trains on), linked with their source folders kept (the
    sources of `widen-train evaluate --clips-dir`)."""
    names = corpus_names(False)
    chosen = names[:n] if first else every_kth(names, n)
    link(out, chosen, False)
    print(f"{len(names)} training clips, {len(chosen)} linked into {out}")


def frames(hr_dir, out_dir):
    f = np.fft.rfftfreq(2048, 1 / SR)
    hf, b48, b8 = f > 4000, (f > 4000) & (f <= 8000), f > 8000
    rows = []
    for _, y, r in pairs(hr_dir, out_dir):
        Y, R = spec_log(y), spec_log(r)
        d = Y - R
        p = 10 ** R
        lev = 10 * np.log10(p[hf].mean(0) + 1e-12)
        ratio = lev - 10 * np.log10(p[f <= 4000].mean(0) + 1e-12)
        rows.append(np.stack([lev - lev.max(), ratio, np.sqrt((d[hf] ** 2).mean(0)),
                              np.sqrt((d[b48] ** 2).mean(0)), np.sqrt((d[b8] ** 2).mean(0)),
                              d[b48].mean(0), d[b8].mean(0)], 1))
    a = np.concatenate(rows)
    print(f"{len(a)} frames: LSD-HF {a[:, 2].mean():.3f} (4-8 kHz {a[:, 3].mean():.3f}, "
          f"8 kHz+ {a[:, 4].mean():.3f}); mean log10 error 4-8 kHz {a[:, 5].mean():+.3f}, "
          f"8 kHz+ {a[:, 6].mean():+.3f}")
    for col, title, edges in [(0, "reference high-band level below the clip's loudest frame, dB",
                               [0, -10, -20, -30, -40, -60, -200]),
                              (1, "reference high band against its low band, dB",
                               [100, 0, -10, -20, -30, -40, -200])]:
        print(title)
        for hi, lo in zip(edges[:-1], edges[1:]):
            m = (a[:, col] <= hi) & (a[:, col] > lo)
            if m.any():
                print(f"  ({lo:5},{hi:4}]: {m.mean() * 100:5.1f} % of frames, LSD-HF "
                      f"{a[m, 2].mean():.3f}, error 4-8 kHz {a[m, 5].mean():+.3f}, "
                      f"8 kHz+ {a[m, 6].mean():+.3f}")


def gap(hr_dir):
    """LSD-HF of the mel-smooth estimate of the true spectrum (the best a mel generator can
    hand to a smooth synthesis), with no offset, the best global offset and a per-frame oracle
    offset (what a loss on the linear bins could add over a log-mel loss at most)."""
    import librosa
    import soundfile as sf
    fb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0, fmax=SR / 2)
    pinv = np.linalg.pinv(fb)
    hf = np.fft.rfftfreq(1024, 1 / SR) > 4000
    ds = []
    for p in sorted(glob.glob(os.path.join(hr_dir, "*.wav"))):
        x, _ = sf.read(p, dtype="float32")
        s = np.abs(librosa.stft(x, n_fft=1024, hop_length=256))
        est = np.maximum(pinv @ (fb @ s), 1e-6)
        t = np.log10(np.maximum(s ** 2, 1e-8))[hf]
        d = np.log10(np.maximum(est ** 2, 1e-8))[hf] - t
        ds.append(d[:, t.mean(0) > -6])
    d = np.concatenate(ds, 1)
    off = d.mean(0, keepdims=True)
    print(f"{d.shape[1]} frames (STFT 1024 / 256): mean gap {d.mean():+.3f}; LSD-HF "
          f"{np.sqrt((d ** 2).mean(0)).mean():.3f}, best global offset "
          f"{np.sqrt(((d - d.mean()) ** 2).mean(0)).mean():.3f}, per-frame oracle offset "
          f"{np.sqrt(((d - off) ** 2).mean(0)).mean():.3f} (spread of the per-frame gap "
          f"{off.std():.3f})")


def _shape_one(args):
    import librosa
    from pesq import pesq
    from scipy.signal import resample_poly
    name, y, r, laws = args
    f = np.fft.rfftfreq(1024, 1 / SR)
    hi, lo = f >= 4000, (f < 4000) & (f > 100)
    Y = librosa.stft(y, n_fft=1024, hop_length=256)
    p = np.abs(Y) ** 2
    ratio = 10 * np.log10((p[hi].sum(0) + 1e-12) / (p[lo].sum(0) + 1e-12))
    lev = 10 * np.log10(p[lo].sum(0) + 1e-12)
    active = lev > lev.max() - 50
    med = np.median(ratio[active]) if active.any() else 0.0
    r16 = resample_poly(r, 320, 441)
    r_log = spec_log(r)
    out = []
    for g46, g68, g8, gamma in laws:
        g = np.ones((len(f), Y.shape[1]))
        frame_db = np.clip(gamma * (ratio - med), -20, 12)
        for (a, b, gg) in [(4000, 6000, g46), (6000, 8000, g68), (8000, SR, g8)]:
            band = (f >= a) & (f < b)
            g[band] = gg * 10 ** (frame_db / 20)[None, :]
        z = librosa.istft(Y * g, hop_length=256, length=len(y))
        z = np.round(np.clip(z, -1, 1) * 32767) / 32767
        try:
            q = pesq(16000, r16, resample_poly(z, 320, 441), "wb")
        except Exception:  # a clip PESQ cannot score (too short, silent)
            q = np.nan
        out.append((lsd_hf(z, r_log), q))
    return out


def shaping(hr_dir, out_dir):
    """Gains on the generated band of finished outputs: uniform (the amount's curve), tilted
    between 4-6 and 6-8 kHz, a separate gain above 8 kHz, and a per-frame law that expands
    (gamma > 0) or compresses (gamma < 0) the band's level against the low band's."""
    laws = {"uniform 1": (1, 1, 1, 0), "uniform 0.75": (.75, .75, .75, 0),
            "uniform 1.25": (1.25, 1.25, 1.25, 0), "uniform 0.6": (.6, .6, .6, 0),
            "4-6k 0.7": (.7, 1, 1, 0), "6-8k 0.7": (1, .7, 1, 0), "4-6k 0.6, 6-8k 1.2": (.6, 1.2, 1, 0),
            "4-8k 0.75, 8k+ 1": (.75, .75, 1, 0), "8k+ 1.3": (1, 1, 1.3, 0),
            "gamma +0.2": (1, 1, 1, .2), "gamma +0.2, 0.8": (.8, .8, .8, .2),
            "gamma -0.2": (1, 1, 1, -.2), "gamma -0.2, 1.2": (1.2, 1.2, 1.2, -.2)}
    jobs = [(n, y, r, list(laws.values())) for n, y, r in pairs(hr_dir, out_dir)]
    with ProcessPoolExecutor(os.cpu_count()) as ex:
        res = np.array(list(ex.map(_shape_one, jobs)))
    for i, k in enumerate(laws):
        print(f"{k:22} LSD-HF {np.nanmean(res[:, i, 0]):.4f}  PESQ-WB {np.nanmean(res[:, i, 1]):.4f}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "pick" and len(sys.argv) == 4:
        pick(sys.argv[2], int(sys.argv[3]))
    elif cmd == "pick-train" and len(sys.argv) in (4, 5) and sys.argv[4:] in ([], ["first"]):
        pick_train(sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["first"])
    elif cmd in ("frames", "shaping") and len(sys.argv) == 4:
        {"frames": frames, "shaping": shaping}[cmd](sys.argv[2], sys.argv[3])
    elif cmd == "gap" and len(sys.argv) == 3:
        gap(sys.argv[2])
    else:
        sys.exit(__doc__)
