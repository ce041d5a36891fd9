#!/usr/bin/env bash
# Runs a widen-train job on the lent GPU machine (see docs/TRAINING.md): the release binary
# (built here with TORCH_EXTRA_RPATH=/opt/torch/.venv/lib/python3.12/site-packages/torch/lib)
# and data/gpu (scripts/gpu-pack.py) are carried; results are copied flat into $OUT
# (at most 8 files come back). Usage: bash scripts/gpu-train.sh cnn|gan|gan2
set -uo pipefail
stage=${1:-cnn}
B=target/release/widen-train
R=/tmp/runs
mkdir -p "$R"
export RAYON_NUM_THREADS=15
nvidia-smi -L || true
common=(--device cuda --dataset-dir data/gpu --batch-size 32 --eval-clips 16 --log-every 500)
if [ "$stage" = cnn ]; then
  $B train --variant quality --out-dir $R/q "${common[@]}" --steps 12000 --val-every 2000 --max-minutes 4.0
  $B train --variant low-latency --out-dir $R/ll "${common[@]}" --steps 12000 --val-every 2000 --max-minutes 3.0
elif [ "$stage" = gan ]; then
  $B train-gan --variant quality --out-dir $R/q "${common[@]}" --warm-start data/gpu-in/q --steps 8000 --val-every 2000 --max-minutes 4.0
  $B train-gan --variant low-latency --out-dir $R/ll "${common[@]}" --warm-start data/gpu-in/ll --steps 8000 --val-every 2000 --max-minutes 3.0
else
  # Continue GAN training from data/gpu-in/{q,ll} (generator + discriminator of a GAN run).
  $B train-gan --variant quality --out-dir $R/q "${common[@]}" --warm-start data/gpu-in/q --steps 9000 --lr 1e-4 --val-every 2000 --max-minutes 4.5
  $B train-gan --variant low-latency --out-dir $R/ll "${common[@]}" --warm-start data/gpu-in/ll --steps 7000 --lr 1e-4 --val-every 2000 --max-minutes 3.2
fi
for v in q ll; do
  cp "$R/$v/log.jsonl" "$OUT/$stage-$v.log.jsonl" 2>/dev/null
  cp "$R/$v/best/generator.safetensors" "$OUT/$stage-$v.best.safetensors" 2>/dev/null
  cp "$R/$v/best/state.json" "$OUT/$stage-$v.best.json" 2>/dev/null
  cp "$R/$v/best/disc.safetensors" "$OUT/$stage-$v.best-disc.safetensors" 2>/dev/null
done
ls -la "$OUT"
