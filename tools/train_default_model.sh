#!/usr/bin/env bash
# Rebuild the shipped default model (models/default) from nothing but the TTS engines, on a CPU.
# One command: tools/train_default_model.sh  (about 2 h 15 min on a 2-core CPU; resumable: rerun it
# after an interruption and every finished stage is skipped, a started training run is resumed).
#
#   1. corpus   diface corpus build  -> data/synth         (60 min target, seed 0; ~6 min)
#   2. stage 1  diface train configs/train_shipped.toml to 7000 steps -> runs/shipped_long
#   3. voices   diface corpus augment -> data/synth_vs/train (+2 voice-shifted copies per clip; ~15 s)
#   4. stage 2  diface train configs/finetune_shipped.toml (10000 steps from stage 1, lip-vertex loss)
#   5. copy     runs/shipped_ft/bundle -> models/default (weights + config; the model card is kept)
# The shipped model was made with these commands, except that stage 1 ran as 3600 steps resumed to
# 7000 and stage 2 as 6000 steps resumed to 10000 (warm restarts; see models/default/MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
D=".venv/bin/diface"
[ -x "$D" ] || { echo "run tools/setup.sh first" >&2; exit 1; }

[ -f data/synth/manifest.json ] || $D corpus build --out data/synth --minutes 60 --seed 0 --workers 2

if [ ! -f runs/shipped_long/bundle/config.json ]; then
  resume=(); [ -d runs/shipped_long/checkpoints ] && resume=(--resume)
  $D train --config configs/train_shipped.toml --threads 1 --steps 7000 \
     --run-dir runs/shipped_long --bundle runs/shipped_long/bundle "${resume[@]}"
fi

[ -f data/synth_vs/train/voice_shift.json ] || \
  $D corpus augment data/synth/train --out data/synth_vs/train --copies 2 --seed 0

if [ ! -f runs/shipped_ft/bundle/config.json ]; then
  resume=(); [ -d runs/shipped_ft/checkpoints ] && resume=(--resume)
  $D train --config configs/finetune_shipped.toml --threads 1 "${resume[@]}"
fi

cp runs/shipped_ft/bundle/config.json runs/shipped_ft/bundle/face.safetensors \
   runs/shipped_ft/bundle/head.safetensors models/default/
echo "models/default updated; evaluate it with: $D eval --data data/synth --json"
