#!/usr/bin/env bash
# Python environment of `cargo xtask bench` (idempotent, cached in .cache/bench-venv):
#   - PyTorch on CPU: the PyPI torch==2.11.0 package that scripts/setup-torch.sh already unpacks into
#     .cache/torch211 (no second 2 GB download): a .pth file puts it on the venv's path, and the venv
#     gets torch's pure-Python dependencies;
#   - vocos==0.1.0 (the seed's vocoder) with torchaudio==2.11.0 and the modules vocos imports
#     (einops, encodec, huggingface_hub, pyyaml, scipy); vocos, encodec and torchaudio with --no-deps,
#     as their requirements would pull a second torch;
#   - numpy, soundfile (the bench input), matplotlib (docs/bench/*.png).
# Used by scripts/bench_torch.py and scripts/bench_plot.py. Prints the venv's python on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.cache/bench-venv"
log() { printf 'setup-bench: %s\n' "$*" >&2; }
STAMP_VERSION=2
stamp="$venv/.done-$STAMP_VERSION"
# The .pth holds an absolute path: a venv made in another checkout (or a moved one) is rebuilt.
pth=$(ls "$venv"/lib/python3*/site-packages/widen-torch211.pth 2>/dev/null | head -n 1 || true)
if [ -f "$stamp" ] && [ -n "$pth" ] && [ "$(cat "$pth")" = "$root/.cache/torch211" ]; then
  log "ok ($venv)"
  echo "$venv/bin/python"
  exit 0
fi
bash "$root/scripts/setup-torch.sh" >&2
rm -rf "$venv"
python3 -m venv "$venv"
pip() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2; }
pip numpy==2.2.6 scipy==1.15.3 soundfile==0.13.1 matplotlib==3.10.7 \
  sympy==1.14.0 networkx==3.5 jinja2==3.1.6 fsspec==2025.9.0 filelock==3.20.0 \
  typing_extensions==4.15.0 einops==0.8.1 huggingface_hub==0.35.3 pyyaml==6.0.3
# These pin torch; the torch of .cache/torch211 stands in.
pip --no-deps torchaudio==2.11.0 vocos==0.1.0 encodec==0.1.1
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$root/.cache/torch211" > "$site/widen-torch211.pth"
# The wheel is a CUDA build: stub the CUDA maths libraries it links but CPU tensors never call
# (instead of ~2 GB of nvidia wheels); scripts/bench_torch.py loads them before `import torch`.
python3 "$root/scripts/torch_cpu_stubs.py" "$root/.cache/torch211/torch/lib" \
  "$(ls -d "$root"/.cache/torch211/nvidia/*/lib | tr '\n' ':')" "$venv/torch-stubs"
"$venv/bin/python" - "$venv" <<'PY' >&2
import ctypes, glob, os, sys
for lib in sorted(glob.glob(os.path.join(sys.argv[1], "torch-stubs", "*.so*"))):
    ctypes.CDLL(lib, mode=os.RTLD_GLOBAL)
import torch, vocos, matplotlib, soundfile
print("setup-bench: torch", torch.__version__, "CPU threads", torch.get_num_threads())
PY
touch "$stamp"
log "ok ($venv)"
echo "$venv/bin/python"
