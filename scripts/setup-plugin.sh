#!/usr/bin/env bash
# Installs the third-party plugin host used by widen's plugin tests, idempotently:
#   qtractor (Debian) for `qtractor_plugin_scan`, which scans CLAP plugins the way the
#   Qtractor DAW does (tests/tests/plugin_hosts.rs). Needs root or sudo for apt-get.
# pedalboard (the PyPI VST3 host) comes with the Python venv of scripts/setup-tests.sh.
set -euo pipefail
log() { printf 'setup-plugin: %s\n' "$*" >&2; }

scan=$(ls /usr/lib/*/qtractor/qtractor_plugin_scan /usr/lib/qtractor/qtractor_plugin_scan 2>/dev/null | head -n1 || true)
if [ -z "$scan" ]; then
  log "installing qtractor (for qtractor_plugin_scan)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq --no-install-recommends qtractor >/dev/null 2>&1 || {
    as_root apt-get update -qq >/dev/null 2>&1
    as_root apt-get install -y -qq --no-install-recommends qtractor >/dev/null
  }
  scan=$(ls /usr/lib/*/qtractor/qtractor_plugin_scan /usr/lib/qtractor/qtractor_plugin_scan 2>/dev/null | head -n1 || true)
fi
log "ok ($scan)"
