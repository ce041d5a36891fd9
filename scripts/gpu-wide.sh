#!/usr/bin/env bash
# A wider generator from scratch on the lent GPU machine (docs/TRAINING.md, "Capacity" and
# "Width": deeper grown and widened generators gained nothing on the CPU; this is the from-scratch
# check that a widened start cannot give, low priority since session 10): the CNN
# loop, then the GAN loop with the asymmetric loss (`--over-weight 3`, as the shipped
# generators), snapshots at every GAN validation for choosing a step on the hold-out afterwards.
# Carried: .gpu/bin and .gpu/dA of scripts/gpu-prepare.sh (binary, this script, a corpus part).
# Usage there:  NC=4800 NG=6000 MC=4 MG=5 bash .gpu/bin/gpu-wide.sh
#   V=quality|low-latency (default quality), CH channels (256), DIL dilations (the set's),
#   BS batch (32), VG GAN validation interval (1000); DEV=cpu with tiny NC/NG/MC/MG tries it here;
#   OUT is where the results go.
# Returns: wide-snaps-*.tar (GAN generator of every validation, two per tar: a 256-channel
# generator is about 13 MB), runs.tar (states and logs; a snapshot becomes a checkpoint folder
# for `evaluate`/`export` as generator.safetensors beside a copy of gan/latest/state.json, which
# records the shape).
set -u
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
if TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  export LD_LIBRARY_PATH=$TL/lib
fi
W=${WORK:-/tmp/gw}
V=${V:-quality}
rm -rf "$W" && mkdir -p "$W/c/train" "$W/r"
xz -dc .gpu/bin/widen-train.xz >"$W/widen-train" && chmod +x "$W/widen-train"
cp -r .gpu/dA/. "$W/c/train/" && echo "data: $(du -sm .gpu/dA | cut -f1) MiB"
shape=(--channels "${CH:-256}")
[ -n "${DIL:-}" ] && shape+=(--dilations "$DIL")
common=(--variant "$V" --dataset-dir "$W/c" --device "${DEV:-cuda}" --batch-size "${BS:-32}"
        --eval-clips 0 --log-every 200 --threads "${TH:-8}")
"$W/widen-train" train "${common[@]}" "${shape[@]}" --out-dir "$W/r/cnn" --lr 1e-3 \
  --steps "$NC" --val-every "${VC:-1000}" --max-minutes "$MC" >"$W/r/cnn.log" 2>&1
echo "cnn exit $?"
"$W/widen-train" train-gan "${common[@]}" --out-dir "$W/r/gan" --warm-start "$W/r/cnn/best" \
  --over-weight 3 --lr 2e-4 --steps "$NG" --val-every "${VG:-1000}" --keep-snapshots \
  --max-minutes "$MG" >"$W/r/gan.log" 2>&1
echo "gan exit $?"
for s in cnn gan; do echo "== $s"; grep -v '^step' "$W/r/$s.log" | tail -n 8; grep '^step' "$W/r/$s.log" | tail -n 2; done
cd "$W/r" || exit 1
ls gan/snapshots/generator-*.safetensors 2>/dev/null | sort -V | split -l 2 - "$W/slist."
for l in "$W"/slist.*; do [ -e "$l" ] && tar cf "$OUT/wide-snaps-${l##*.}.tar" -T "$l"; done
tar cf "$OUT/runs.tar" cnn/best/state.json gan/latest/state.json cnn.log gan.log cnn/log.jsonl gan/log.jsonl
ls -la "$OUT"
echo "elapsed $(($(date +%s) - T0)) s"
