#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that widen loads at run time (ort's `load-dynamic`), idempotently:
#   .cache/onnxruntime/libonnxruntime.so.<version>   the library from the PyPI wheel onnxruntime==$ORT_VERSION
#   .cache/onnxruntime/libonnxruntime.so             symlink to it (what widen looks for)
# The wheel is the only reachable binary distribution here (GitHub releases are not), and it is
# manylinux_2_28, so the library needs glibc >= 2.28. Called by scripts/setup-tests.sh and `cargo xtask setup-ort`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
ORT_VERSION=1.32.0
# Pinned so a changed upload cannot slip in silently.
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
dest="$cache/onnxruntime"
log() { printf 'setup-ort: %s\n' "$*" >&2; }

stamp="$dest/.done-$ORT_VERSION"
if [ -f "$stamp" ] && [ -e "$dest/libonnxruntime.so" ]; then
  log "ok ($dest/libonnxruntime.so)"
  exit 0
fi

if [ -x "$cache/venv/bin/pip" ]; then pip=("$cache/venv/bin/pip"); else pip=(python3 -m pip); fi
wheels="$cache/wheels"
mkdir -p "$wheels" "$dest"
wheel=$(ls "$wheels"/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  log "downloading onnxruntime==$ORT_VERSION wheel (~28 MB) from PyPI"
  "${pip[@]}" download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 --dest "$wheels" "onnxruntime==$ORT_VERSION"
  wheel=$(ls "$wheels"/onnxruntime-"$ORT_VERSION"-*.whl | head -n1)
fi
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$actual" != "$ORT_WHEEL_SHA256" ]; then
  log "checksum mismatch for $wheel: expected $ORT_WHEEL_SHA256, found $actual"
  exit 1
fi

tmp=$(mktemp -d "$dest/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 - "$wheel" "$tmp" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist()
             if n.startswith("onnxruntime/capi/libonnxruntime.so.1")]
    if not names:
        sys.exit(f"no onnxruntime/capi/libonnxruntime.so.1.* in {wheel}")
    for n in names:
        with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
            dst.write(src.read())
PY
lib=$(cd "$tmp" && ls libonnxruntime.so.1.* | head -n1)
mv -f "$tmp/$lib" "$dest/$lib"
ln -sfn "$lib" "$dest/libonnxruntime.so"
touch "$stamp"
log "ok ($dest/$lib)"
