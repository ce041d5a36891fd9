#!/usr/bin/env bash
# The vocoder's adversarial stage on the lent GPU machine (docs/TRAINING.md, session 8): both
# sets at once, warm-started from the CPU-trained vocoders (reconstruction losses only) with
# fresh multi-period + multi-resolution discriminators, snapshots at every validation.
# Carried: .gpu/bin (widen-train.xz: this box's stripped CPU build, xz; vq/, vll/: the
# vocoder.safetensors to start from; a copy of this script) and .gpu/dA (a corpus part of
# scripts/gpu-split.py, hold-out sample included for the runs' own validation lines).
# Usage there:  NQ=9000 NL=9000 MM=7 bash .gpu/bin/gpu-vocoder.sh
#   (DEV=cpu and small NQ/NL/MM try it here; OUT is where the results go; CKQ/CKL name other
#   start folders under .gpu/bin, LRQ/LRL other learning rates; a start folder with a
#   disc.safetensors also starts the discriminators from it.)
# Returns (at most 8 files): q-snaps-*.tar, ll-snaps.tar (vocoder of every validation),
# runs.tar (latest vocoder + discriminators, states, logs).
set -u
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
if TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  export LD_LIBRARY_PATH=$TL/lib
fi
W=${WORK:-/tmp/gv}
rm -rf "$W" && mkdir -p "$W/c/train" "$W/r"
xz -dc .gpu/bin/widen-train.xz >"$W/widen-train" && chmod +x "$W/widen-train"
cp -r .gpu/dA/. "$W/c/train/" && echo "data: $(du -sm .gpu/dA | cut -f1) MiB"
train() { # variant start-dir steps lr
  v=$1; ck=$2; n=$3; lr=$4
  "$W/widen-train" train-vocoder --variant "$v" --dataset-dir "$W/c" --out-dir "$W/r/$v" \
    --warm-start ".gpu/bin/$ck" --disc-start 0 --disc-width "${DW:-32}" --device "${DEV:-cuda}" \
    --keep-snapshots --batch-size "${BS:-32}" --lr "$lr" --steps "$n" \
    --val-every "${VE:-1000}" --log-every 100 --holdout-clips 12 --threads "${TH:-8}" \
    --max-minutes "$MM" >"$W/r/$v.log" 2>&1
  echo "$v exit $?"
}
train quality "${CKQ:-vq}" "$NQ" "${LRQ:-2e-4}" &
train low-latency "${CKL:-vll}" "$NL" "${LRL:-2e-4}" &
wait
for v in quality low-latency; do echo "== $v"; grep -v '^step' "$W/r/$v.log" | tail -n 12; grep '^step' "$W/r/$v.log" | tail -n 2; done
cd "$W/r" || exit 1
ls -d quality/snapshots/s* | sort -V | split -l 4 - "$W/qlist."
for l in "$W"/qlist.*; do tar cf "$OUT/q-snaps-${l##*.}.tar" -T "$l"; done
tar cf "$OUT/ll-snaps.tar" low-latency/snapshots
tar cf "$OUT/runs.tar" {quality,low-latency}/latest/{vocoder,disc}.safetensors \
  {quality,low-latency}/latest/state.json {quality,low-latency}/log.jsonl quality.log low-latency.log
ls -la "$OUT"
echo "elapsed $(($(date +%s) - T0)) s"
