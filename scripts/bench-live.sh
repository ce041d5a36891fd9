#!/usr/bin/env bash
# Benchmark of `widen live` on a private JACK dummy server (48 kHz): for each mode and period,
# the daemon latency (input callback -> output callback; exact, as tests/tests/live_jack.rs
# measures), the end-to-end latency (plus the device latencies JACK reports) and the CPU share
# of one core (median/max of the per-second status lines), late blocks and xruns (as the daemon
# counts them: each server xrun once), and the server's own account of them from its log:
# "driver" = the dummy driver woke up late (jackd's "JackTimedDriver::Process XRun"), "client" =
# a client had not finished its cycle in time.
# Usage: scripts/bench-live.sh [SECONDS]   (default 20 per configuration; release build)
# Environment: WIDEN_JACK_RT=1 runs the server with real-time scheduling (-R -P 70; needs the
# right to use SCHED_FIFO), BENCH_MODES / BENCH_PERIODS pick the lines, BENCH_SAFETY_MS adds
# worker margin (--safety-ms).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
bash "$root/scripts/setup-live.sh"
cargo build --release -p widen --manifest-path "$root/Cargo.toml" >&2
bin="${CARGO_TARGET_DIR:-$root/target}/release/widen"
sched=--no-realtime
if [ "${WIDEN_JACK_RT:-0}" = 1 ]; then sched="-R -P 70"; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '| mode | period | daemon latency | end to end | CPU (one core) median / max | late blocks | xruns (driver / client) |\n|---|---|---|---|---|---|---|\n'
for mode in ${BENCH_MODES:-low-latency quality}; do
  for period in ${BENCH_PERIODS:-256 128}; do
    name="widen-bench-$$-$period"
    # shellcheck disable=SC2086
    jackd -n "$name" $sched -S -t 5000 -d dummy -r 48000 -p "$period" >"$log" 2>&1 &
    jpid=$!
    sleep 1.5
    out=$(JACK_DEFAULT_SERVER="$name" "$bin" live --host jack --buffer "$period" --mode "$mode" \
          --safety-ms "${BENCH_SAFETY_MS:-0}" --duration "$secs" --stats-json 2>/dev/null || true)
    kill -TERM "$jpid" 2>/dev/null || true
    wait "$jpid" 2>/dev/null || true
    driver=$(grep -c 'JackTimedDriver::Process XRun' "$log" || true)
    client=$(grep -c 'was not finished' "$log" || true)
    printf '%s\n' "$out" | python3 -c '
import json, sys
mode, period, driver, client = sys.argv[1:5]
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
      f"| {cpu[len(cpu)//2]:.1f} % / {cpu[-1]:.1f} % | {late} | {xr} ({driver} / {client}) |")
' "$mode" "$period" "$driver" "$client"
  done
done
