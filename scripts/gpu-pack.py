#!/usr/bin/env python3
"""Builds data/gpu/: a compact copy of the training corpus that fits the GPU machine's 64 MiB
carry limit, for `widen-train --dataset-dir data/gpu` runs there.

train/: a seeded random selection of data/corpus/train clips (so every source is represented in
proportion to its minutes), re-encoded as Ogg Vorbis at quality 0.8 (about 4x smaller than FLAC;
the sources were mostly Vorbis already), until the budget is filled.
eval/: every k-th FLAC of data/corpus/eval (monitoring only; reported figures use the full split).

Needs the test venv (soundfile): .cache/venv/bin/python scripts/gpu-pack.py [--budget-mib 56]
"""
import argparse
import os
import random
import shutil

import soundfile as sf

ap = argparse.ArgumentParser()
ap.add_argument("--budget-mib", type=float, default=56.0)
ap.add_argument("--eval-clips", type=int, default=32)
ap.add_argument("--quality", type=float, default=0.8)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "data/corpus")
out = os.path.join(root, "data/gpu")
shutil.rmtree(out, ignore_errors=True)

cands = []
for d, _, files in os.walk(os.path.join(corpus, "train")):
    for f in files:
        if f.endswith(".flac"):
            cands.append(os.path.relpath(os.path.join(d, f), os.path.join(corpus, "train")))
cands.sort()
random.Random(a.seed).shuffle(cands)
budget = a.budget_mib * 2**20
total, secs, per_source = 0, 0.0, {}
for rel in cands:
    x, sr = sf.read(os.path.join(corpus, "train", rel), dtype="float32")
    dst = os.path.join(out, "train", rel[: -len(".flac")] + ".ogg")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    sf.write(dst, x, sr, format="OGG", subtype="VORBIS",
             compression_level=1.0 - a.quality)
    size = os.path.getsize(dst)
    if total + size > budget:
        os.remove(dst)
        break
    total += size
    secs += len(x) / sr
    s = rel.split("/", 1)[0]
    per_source[s] = per_source.get(s, 0) + 1
ev = []
for d, _, files in os.walk(os.path.join(corpus, "eval")):
    for f in files:
        if f.endswith(".flac"):
            ev.append(os.path.relpath(os.path.join(d, f), os.path.join(corpus, "eval")))
ev.sort()
k = max(1, len(ev) // max(1, a.eval_clips))
for rel in ev[::k][: a.eval_clips]:
    dst = os.path.join(out, "eval", rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(os.path.join(corpus, "eval", rel), dst)
print(f"gpu-pack: {sum(per_source.values())} train clips, {secs / 60:.1f} min, "
      f"{total / 2**20:.1f} MiB: {per_source}")
