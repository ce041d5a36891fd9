#!/usr/bin/env bash
# The README's first command (`cargo xtask demo`) ends here: `widen enhance` with the embedded default
# models on a real 8 kHz recording, then widen's file tools on real recorded speech (ktuberling-data
# words, fetched by scripts/setup-tests.sh). Outputs go to .cache/demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
widen="${WIDEN_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/widen}"
kt="$root/.cache/testdata/ktuberling"
demo="$root/.cache/demo"
rm -rf "$demo/speech"
mkdir -p "$demo/speech/fr" "$demo/speech/es"
# 12 French words recorded at 44.1 kHz (wide-band) and 4 Spanish words recorded at 8 kHz (narrow-band).
find "$kt/fr" -name 'egypte_*.wav' | sort | head -n 12 | xargs -I{} cp {} "$demo/speech/fr/"
for f in anteojos bigote boca ceja; do [ -f "$kt/es/$f.wav" ] && cp "$kt/es/$f.wav" "$demo/speech/es/"; done

say() { printf '\n== %s\n' "$*"; }
# Print a command, then run it.
show() { printf '$ %s\n' "$*"; "$@"; }

say "widen enhance: a Spanish word recorded at 8 kHz -> 22.05 kHz, embedded default models"
nb="$demo/speech/es/anteojos.wav"
wb="$demo/enhanced/anteojos_widen.wav"
rm -rf "$demo/enhanced"
show "$widen" enhance "$nb" -o "$wb"
printf 'output: %s\n' "$wb"
say "widen check-bw: input vs output"
printf '%s\n' "(The output's low band is the input's own; above the cutoff the trained generator's band:" \
  "the roll-off moves from about 4 kHz to about 9 kHz.)"
show "$widen" check-bw "$nb" "$wb"
say "widen info (format, levels, bandwidth)"
"$widen" info "$demo/speech/fr/$(ls "$demo/speech/fr" | head -n 1)" "$demo/speech/es"
say "widen check-bw (the 8 kHz recordings are narrow-band)"
"$widen" check-bw "$demo/speech"
say "widen make-dataset (22.05 kHz HR / 8 kHz LR pairs with randomised anti-alias filters)"
"$widen" make-dataset --in-root "$demo/speech/fr" --out "$demo/dataset" --seed 1
say "widen eval: the 8 kHz LR files (sinc-upsampled) scored against their 22.05 kHz originals"
"$widen" eval --reference "$demo/dataset/hr" --estimate "$demo/dataset/lr"
printf '\nOutputs are in %s\n' "$demo"
