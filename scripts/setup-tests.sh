#!/usr/bin/env bash
# Installs what widen's tests need, idempotently, into .cache/ (never committed):
#   .cache/venv          Python reference implementations (numpy, scipy, soundfile, librosa, pystoi, pesq)
#   .cache/testdata/     real recorded speech from the Debian package ktuberling-data (see shared corpus spec)
#   .cache/onnxruntime/  the ONNX Runtime shared library from the PyPI wheel (scripts/setup-ort.sh)
#   .cache/torch211/     libtorch 2.11 for the trainer widen-train (scripts/setup-torch.sh)
# Re-running it does nothing once everything is in place.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
mkdir -p "$cache"

log() { printf 'setup-tests: %s\n' "$*" >&2; }

# --- Python reference tools -------------------------------------------------
venv="$cache/venv"
pyreq="$root/scripts/requirements-test.txt"
stamp="$venv/.installed-$(sha256sum "$pyreq" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "creating Python venv in $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's system Python ships venv separately.
    log "python3 -m venv failed; installing python3-venv"
    { apt-get install -y -qq python3-venv 2>/dev/null || sudo apt-get install -y -qq python3-venv; } >/dev/null
    rm -rf "$venv"; python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pyreq"
  touch "$stamp"
fi

# --- Real speech: ktuberling-data (GPL-2+, spoken words, 44.1 kHz PCM WAV) -----------
td="$cache/testdata"
kt="$td/ktuberling"
if [ ! -f "$kt/.done" ]; then
  log "fetching ktuberling-data (46 MB) into $kt"
  mkdir -p "$td/debs" "$kt"
  if [ ! -f "$td/debs/ktuberling-data.deb" ]; then
    # apt-get download needs current package lists; refresh them once if the pinned version is unknown.
    (cd "$td/debs" && { apt-get download ktuberling-data=4:22.12.3-1 2>/dev/null \
      || { apt-get update -qq 2>/dev/null || sudo apt-get update -qq; apt-get download ktuberling-data=4:22.12.3-1 2>/dev/null; } \
      || apt-get download ktuberling-data; })
    mv "$td"/debs/ktuberling-data_*.deb "$td/debs/ktuberling-data.deb"
  fi
  dpkg-deb -x "$td/debs/ktuberling-data.deb" "$kt.tmp"
  rm -rf "$kt"
  mv "$kt.tmp/usr/share/ktuberling/sounds" "$kt"
  rm -rf "$kt.tmp"
  touch "$kt/.done"
fi

# --- ONNX Runtime shared library (loaded at run time by widen-core's runtime) ----------
bash "$root/scripts/setup-ort.sh"
bash "$root/scripts/setup-torch.sh"
bash "$root/scripts/setup-plugin.sh"  # qtractor_plugin_scan for the plugin host tests
bash "$root/scripts/setup-live.sh"  # JACK/PipeWire/ALSA/Pulse packages for widen live (daemon/)

log "ok (python: $venv/bin/python, speech: $kt, onnxruntime: $cache/onnxruntime)"
