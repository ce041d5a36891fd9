#!/usr/bin/env bash
# Prepares .gpu/ for a lent GPU machine from a plain clone (docs/TRAINING.md, "Starting from the
# shipped models"): the stripped CPU build of widen-train (xz), the shipped generators and
# vocoders as checkpoint folders (`widen-train import`), the gpu-*.sh scripts, and the corpus
# parts of scripts/gpu-split.py. Needs the corpus (`cargo xtask corpus`) and libtorch
# (`cargo xtask setup-torch`). Idempotent: the binary and the imports are redone, the corpus
# parts are kept when present.
#
#   bash scripts/gpu-prepare.sh
#
# Then, with the device tool: carry [".gpu/bin", ".gpu/dA"] (the parts stay under 64 MiB) and run
# e.g. `bash .gpu/bin/gpu-finetune.sh smoke`. The start folders are .gpu/bin/q and ll
# (generators, gpu-finetune.sh) and vq and vll (vocoders, gpu-vocoder.sh).
# .gpu/ is build output: keep it out of git (`echo .gpu >> .git/info/exclude`; the device tool
# still carries what `carry` names).
set -euo pipefail
cd "$(dirname "$0")/.."
export LIBTORCH="${LIBTORCH:-$PWD/.cache/torch211/torch}"
[ -d "$LIBTORCH/lib" ] || { echo "gpu-prepare: no libtorch at $LIBTORCH (run cargo xtask setup-torch)" >&2; exit 1; }
[ -d data/corpus/train ] || { echo "gpu-prepare: no data/corpus/train (run cargo xtask corpus)" >&2; exit 1; }
cargo build --release -p widen-train
B=target/release/widen-train
mkdir -p .gpu/bin .gpu/import
grep -qx '.gpu' .git/info/exclude 2>/dev/null || echo .gpu >> .git/info/exclude
strip -o .gpu/bin/widen-train "$B"
xz -f -T0 -6 .gpu/bin/widen-train
for v in quality low-latency; do
  "$B" import --variant "$v" --model-dir "models/default/$v" --out-dir ".gpu/import/$v"
done
rm -rf .gpu/bin/q .gpu/bin/ll .gpu/bin/vq .gpu/bin/vll
cp -r .gpu/import/quality/generator .gpu/bin/q
cp -r .gpu/import/low-latency/generator .gpu/bin/ll
cp -r .gpu/import/quality/vocoder .gpu/bin/vq
cp -r .gpu/import/low-latency/vocoder .gpu/bin/vll
cp scripts/gpu-finetune.sh scripts/gpu-vocoder.sh scripts/gpu-wide.sh .gpu/bin/
if [ ! -d .gpu/dA ]; then python3 scripts/gpu-split.py; fi
du -sm .gpu/bin .gpu/dA .gpu/dB 2>/dev/null || true
echo "gpu-prepare: ok (carry .gpu/bin and one of .gpu/dA, .gpu/dB per call)"
