#!/usr/bin/env bash
# Benchmark of `widen live` on a private JACK dummy server (48 kHz): for each mode and period,
# the daemon latency (input callback -> output callback; exact, as tests/tests/live_jack.rs
# measures), the end-to-end latency (plus the device latencies JACK reports) and the CPU share
# of one core (median/max of the per-second status lines), late blocks and xruns.
# Usage: scripts/bench-live.sh [SECONDS]   (default 20 per configuration; release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
bash "$root/scripts/setup-live.sh"
cargo build --release -p widen --manifest-path "$root/Cargo.toml" >&2
bin="${CARGO_TARGET_DIR:-$root/target}/release/widen"
printf '| mode | period | daemon latency | end to end | CPU (one core) median / max | late blocks | xruns |\n|---|---|---|---|---|---|---|\n'
for mode in low-latency quality; do
  for period in 256 128; do
    name="widen-bench-$$-$period"
    jackd -n "$name" --no-realtime -S -t 5000 -d dummy -r 48000 -p "$period" >/dev/null 2>&1 &
    jpid=$!
    sleep 1.5
    out=$(JACK_DEFAULT_SERVER="$name" "$bin" live --host jack --buffer "$period" --mode "$mode" \
          --duration "$secs" --stats-json 2>/dev/null || true)
    kill -TERM "$jpid" 2>/dev/null || true
    wait "$jpid" 2>/dev/null || true
    printf '%s\n' "$out" | python3 -c '
import json, sys
mode, period = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in sys.stdin if l.startswith("{")]
st = [l for l in lines if l.get("event") == "started"][0]
status = [l for l in lines if l.get("event") == "status"][2:]  # skip warm-up seconds
last = [l for l in lines if l.get("event") == "stopped"][0]
cpu = sorted(s["cpu_percent"] for s in status)
e2e = sorted(s["end_to_end_ms"] for s in status)
lat = st["latency_frames"]
ms = 1000 * lat / st["rate"]
late, xr = last["late_blocks"], last["xruns"]
print(f"| {mode} | {period} | {lat} frames = {ms:.1f} ms | {e2e[len(e2e)//2]:.1f} ms "
      f"| {cpu[len(cpu)//2]:.1f} % / {cpu[-1]:.1f} % | {late} | {xr} |")
' "$mode" "$period"
  done
done
