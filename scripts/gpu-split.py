#!/usr/bin/env python3
"""Hard-links a seeded subset of data/corpus/train into two parts, .gpu/dA and .gpu/dB (about
40 MiB of FLAC each), for a GPU fine-tune that carries one part per call (`run` carries at most
64 MiB; the second call finds the first part's clips already copied to /tmp/c/train on the
still-warm machine). Small sources are taken whole or in larger shares so that every source is
represented; the parts hold no hold-out clip except a small sample in dA for the run's own
validation lines (selection is done afterwards on the whole hold-out with `widen-train
evaluate`). Session 6: 1765 clips, 50.2 minutes. Usage: python3 scripts/gpu-split.py
"""
import collections
import os
import random
import shutil

ROOT = "data/corpus/train"
SHARE = {"megaglest-data": 1.0, "nexuiz-data": 0.45, "ktuberling-data": 0.4,
         "klettres-data": 0.22, "fillets-ng-data-cs": 0.15, "tuxpaint-stamps-default": 0.14}


def is_holdout(rel):
    """widen-train's data::is_holdout: FNV-1a of the relative name, 1 in 32."""
    h = 0xCBF29CE484222325
    for b in rel.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h % 32 == 0


rng = random.Random(11)
train, hold = [], []
for dp, dn, fn in os.walk(ROOT):
    dn.sort()
    for f in sorted(fn):
        rel = os.path.relpath(os.path.join(dp, f), ROOT)
        (hold if is_holdout(rel) else train).append(rel)
pick = [r for r in train if rng.random() < SHARE.get(r.split("/")[0], 0.15)]
rng.shuffle(pick)
hold_pick = [r for r in hold if rng.random() < 0.12]
parts, size = [[], []], [0, 0]
for r in pick:
    i = 0 if size[0] <= size[1] else 1
    parts[i].append(r)
    size[i] += os.path.getsize(os.path.join(ROOT, r))
parts[0] += hold_pick
for i, name in enumerate(["dA", "dB"]):
    shutil.rmtree(os.path.join(".gpu", name), ignore_errors=True)
    for r in parts[i]:
        dst = os.path.join(".gpu", name, r)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.link(os.path.join(ROOT, r), dst)
print(f"{len(pick)} train clips, {len(hold_pick)} hold-out clips; parts "
      f"{size[0] / 2**20:.1f} + {size[1] / 2**20:.1f} MiB;",
      dict(collections.Counter(r.split("/")[0] for r in pick)))
