#!/usr/bin/env bash
# Installs the Debian packages that `widen live` and its tests need, idempotently:
#   build:  libjack-jackd2-dev, libasound2-dev, libpulse-dev, pkg-config (cpal's JACK/ALSA/Pulse hosts)
#   tests:  jackd2 (dummy backend), pipewire + wireplumber + pipewire-pulse (headless PipeWire),
#           pulseaudio-utils (pactl, parecord), dbus (dbus-run-session for wireplumber)
# Re-running it does nothing once every package is installed. Needs root or sudo.
set -euo pipefail

log() { printf 'setup-live: %s\n' "$*" >&2; }

pkgs=(pkg-config libjack-jackd2-dev jackd2 libasound2-dev libpulse-dev
      pipewire pipewire-bin wireplumber pipewire-pulse pulseaudio-utils dbus)

missing=()
for p in "${pkgs[@]}"; do
  # `dpkg-query` prints "install ok installed" only for a fully installed package.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_=()
[ "$(id -u)" -eq 0 ] || sudo_=(sudo)
log "installing ${missing[*]}"
# jackd2 asks whether to enable real-time scheduling; answer non-interactively (no).
echo "jackd2 jackd/tweak_rt_limits boolean false" | "${sudo_[@]}" debconf-set-selections 2>/dev/null || true
export DEBIAN_FRONTEND=noninteractive
# The first try uses the package lists as they are; on a fresh image they are stale and apt
# fails ("held broken packages"), which is not an error here: update them and try again.
if ! "${sudo_[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  log "package lists out of date: apt-get update, then installing again"
  "${sudo_[@]}" apt-get update -qq
  "${sudo_[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "ok"
