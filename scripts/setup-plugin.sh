#!/usr/bin/env bash
# Installs the third-party plugin hosts used by widen's plugin tests, idempotently
# (tests/tests/plugin_hosts.rs; needs root or sudo for apt-get):
#   qtractor (Debian) for `qtractor_plugin_scan`, which scans CLAP plugins the way the
#     Qtractor DAW does;
#   ardour (Debian, Ardour 7) for `ardour-vst3-scanner`, Ardour's VST3 plugin scanner.
# pedalboard (the PyPI VST3 host) comes with the Python venv of scripts/setup-tests.sh.
set -euo pipefail
log() { printf 'setup-plugin: %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
    as_root apt-get update -qq >/dev/null 2>&1
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  }
}
find_tool() { ls "$@" 2>/dev/null | head -n1 || true; }

qscan=$(find_tool /usr/lib/*/qtractor/qtractor_plugin_scan /usr/lib/qtractor/qtractor_plugin_scan)
ascan=$(find_tool /usr/lib/ardour*/ardour-vst3-scanner)
missing=()
[ -n "$qscan" ] || missing+=(qtractor)
[ -n "$ascan" ] || missing+=(ardour)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (plugin scanners)"
  apt_install "${missing[@]}"
  qscan=$(find_tool /usr/lib/*/qtractor/qtractor_plugin_scan /usr/lib/qtractor/qtractor_plugin_scan)
  ascan=$(find_tool /usr/lib/ardour*/ardour-vst3-scanner)
fi
log "ok ($qscan, $ascan)"
