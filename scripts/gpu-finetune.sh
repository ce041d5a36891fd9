#!/usr/bin/env bash
# The asymmetric-loss fine-tune of both sets on the lent GPU machine (docs/TRAINING.md, session 6),
# both variants at once (the data pipelines share the 16 cores; the GPU is mostly idle).
# Carried: .gpu/bin (widen-train.xz: the stripped CPU build, xz; q/ and ll/: generator + disc of
# the runs to start from; this script) and one corpus part of scripts/gpu-split.py per call.
# Usage there:  bash .gpu/bin/gpu-finetune.sh smoke          (1 minute: checks, steps/s)
#               NQ=7600 NL=7800 VQ=950 VL=600 MM=8.3 bash .gpu/bin/gpu-finetune.sh
# The second call, on the still-warm machine, adds its part to the clips the first one copied.
# Returns (at most 8 files): q-snaps-*.tar, ll-snaps.tar (generator of every validation,
# --keep-snapshots), runs.tar (latest generator + disc, state, logs).
set -u
stage=${1:-main}
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  export LD_LIBRARY_PATH=$TL/lib
fi
mkdir -p /tmp/w /tmp/c/train /tmp/r
xz -dc .gpu/bin/widen-train.xz >/tmp/w/widen-train && chmod +x /tmp/w/widen-train
for p in .gpu/dA .gpu/dB; do
  [ -d $p ] && cp -r $p/. /tmp/c/train/ && echo "data part $p: $(du -sm $p | cut -f1) MiB"
done
train() { # variant start-dir args...
  v=$1; ck=$2; shift 2
  rm -rf /tmp/r/$v
  /tmp/w/widen-train train-gan --variant $v --dataset-dir /tmp/c --out-dir /tmp/r/$v \
    --warm-start .gpu/bin/$ck --over-weight 3 --eval-clips 0 --device ${DEV:-cuda} \
    --keep-snapshots --batch-size 32 --lr 1e-4 "$@" >/tmp/r/$v.log 2>&1
  echo "$v exit $?"
}
if [ "$stage" = smoke ]; then
  train quality q --steps 2000 --val-every 200 --log-every 50 --max-minutes 1 &
  train low-latency ll --steps 2000 --val-every 200 --log-every 50 --max-minutes 1 &
  wait
  for v in quality low-latency; do echo "== $v"; tail -n 8 /tmp/r/$v.log; done
  exit 0
fi
train quality q --steps $NQ --val-every $VQ --log-every 200 --max-minutes $MM &
train low-latency ll --steps $NL --val-every $VL --log-every 200 --max-minutes $MM &
wait
for v in quality low-latency; do echo "== $v"; tail -n 10 /tmp/r/$v.log; done
cd /tmp/r || exit 1
ls quality/snapshots | sort -t- -k2 -n | tail -n 8 | sed 's|^|quality/snapshots/|' | split -l 4 - /tmp/qlist.
for l in /tmp/qlist.*; do tar cf $OUT/q-snaps-${l##*.}.tar -T $l; done
tar cf $OUT/ll-snaps.tar low-latency/snapshots
tar cf $OUT/runs.tar {quality,low-latency}/latest/{generator,disc}.safetensors \
  {quality,low-latency}/latest/state.json {quality,low-latency}/log.jsonl quality.log low-latency.log
ls -la $OUT
echo "elapsed $(($(date +%s) - T0)) s"
