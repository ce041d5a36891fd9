#!/usr/bin/env bash
# Installs the libtorch that widen-train (tch 0.24) builds and runs against, idempotently:
#   .cache/torch211/torch/{lib,include}   from the PyPI wheel torch==2.11.0 (the CUDA 13.0 build; PyPI
#                                         has no CPU-only wheel), plus the two CUDA runtime wheels
#                                         libtorch_cpu.so needs to load (cudart, cupti).
# About 1.25 GB, 40 s. The trainer's build.rs puts .cache/torch211/torch/lib into the binary's
# RUNPATH, so no library path needs setting. Use it with: export LIBTORCH=$PWD/.cache/torch211/torch
# Called by scripts/setup-tests.sh and `cargo xtask setup-torch`. See shared notes/libtorch.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/torch211"
TORCH_VERSION=2.11.0
log() { printf 'setup-torch: %s\n' "$*" >&2; }
stamp="$dest/.done-$TORCH_VERSION"
if [ -f "$stamp" ] && [ -e "$dest/torch/lib/libtorch_cpu.so" ]; then
  log "ok ($dest/torch)"
  exit 0
fi
log "installing torch==$TORCH_VERSION (libtorch for tch 0.24, ~530 MB download) into $dest"
rm -rf "$dest"
# One pip command: a second --target run would skip the existing nvidia/ folder.
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$dest" \
  "torch==$TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
test -e "$dest/torch/lib/libtorch_cpu.so" || { log "torch wheel lacks lib/libtorch_cpu.so"; exit 1; }
touch "$stamp"
log "ok ($dest/torch)"
