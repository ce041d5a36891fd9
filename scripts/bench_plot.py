"""Plots of `cargo xtask bench` (issue 9) from its report JSON.

    .cache/bench-venv/bin/python scripts/bench_plot.py docs/benchmarks.json docs/bench

Writes speed.png (x real time per system and thread count, log scale) and scaling.png (engine
time against input length, log-log, with the linear reference; peak RSS of `widen enhance`
against input length). Deterministic for a given JSON (no timestamps in the PNG metadata).
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

META = {"Software": None}


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=META)
    plt.close(fig)


def speed(r, out):
    bars = []
    for v in r["pipeline"].get("offline_enhance", []):
        bars.append((f"widen {v['variant']}", v["threads"], v["x_real_time"]))
    for v in r["torch"].get("runs", []):
        name = {
            "seed": "(a) seed, PyTorch",
            "widen-arch": f"(b) widen {v['set']} arch, PyTorch",
        }.get(v["pipeline"], f"(b') widen {v['set']} arch, PyTorch, default resampler")
        bars.append((name, v["threads"], v["x_real_time"]))
    for f in r["pipeline"].get("floor", []):
        bars.append(("sinc upsampling alone", f["threads"], f["floor"]["x_real_time"]))
    names = list(dict.fromkeys(b[0] for b in bars))
    threads = sorted({b[1] for b in bars})
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(len(threads), 1)
    for i, t in enumerate(threads):
        xs, ys = [], []
        for j, n in enumerate(names):
            for b in bars:
                if b[0] == n and b[1] == t:
                    xs.append(j + (i - (len(threads) - 1) / 2) * width)
                    ys.append(b[2])
        ax.bar(xs, ys, width, label=f"{t} thread{'s' if t > 1 else ''}")
        for x, y in zip(xs, ys):
            ax.text(x, y, f"{y:.0f}" if y >= 10 else f"{y:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("x real time (log)")
    ax.set_title("Offline 8 kHz -> 22.05 kHz, same input, same machine")
    ax.legend(fontsize=8)
    save(fig, os.path.join(out, "speed.png"))


def scaling(r, out):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    series = {}
    for v in r["pipeline"].get("scaling", []):
        series.setdefault((v["variant"], v["threads"]), []).append((v["length_seconds"], v["median_seconds"]))
    for (var, t), pts in sorted(series.items()):
        pts.sort()
        a1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{var}, {t} thr.")
    if series:
        pts = sorted(next(iter(sorted(series.items())))[1])
        x0, y0 = pts[-1]
        xs = [p[0] for p in pts]
        a1.plot(xs, [y0 * x / x0 for x in xs], "k:", lw=0.8, label="linear")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("input length (s)")
    a1.set_ylabel("engine time (s)")
    a1.set_title("Time against length")
    a1.legend(fontsize=7)
    mem = {}
    for v in r["memory"].get("enhance", []):
        if v.get("peak_rss_kib") is not None:
            mem.setdefault(v["mode"], []).append((v["seconds"], v["peak_rss_kib"] / 1024))
    for mode, pts in sorted(mem.items()):
        pts.sort()
        a2.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=mode)
    a2.set_xscale("log")
    top = max((p[1] for pts in mem.values() for p in pts), default=1.0)
    a2.set_ylim(0, 1.25 * top)
    a2.set_xlabel("input length (s)")
    a2.set_ylabel("peak RSS (MiB)")
    a2.set_title("widen enhance memory")
    a2.legend(fontsize=7, loc="lower right")
    save(fig, os.path.join(out, "scaling.png"))


def main():
    path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(path) as f:
        r = json.load(f)
    speed(r, out)
    scaling(r, out)


if __name__ == "__main__":
    main()
