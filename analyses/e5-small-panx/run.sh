#!/usr/bin/env bash
# DF vs NoisyTune vs FS vs FF vs slow-and-fast on the real multilingual-e5-small, PAN-X, 3 seeds, the
# paper's weight sets. 2,000 English training sentences, 300 per target language (de es ru zh ar hi sw),
# 300 updates of batch 16 at lr 5e-5 with the word embeddings frozen (CPU), evaluation every 100 updates.
# About 50 minutes on 2 CPU cores (15 runs of ~3.3 min). Re-running reuses finished runs.
#   bash analyses/e5-small-panx/run.sh [OUT] [MODEL] [DATA]
# MODEL: a multilingual-e5-small folder (offline: ../shared/tools/me5-small/build) or intfloat/multilingual-e5-small
set -euo pipefail
OUT=${1:-runs/e5-small-panx}
MODEL=${2:-$HOME/.cache/xprobe-models/multilingual-e5-small}
DATA=${3:-../shared/data}
xprobe compare --model "$MODEL" --task panx --data-dir "$DATA" --train-size 2000 --langs de,es,ru,zh,ar,hi,sw \
    --eval-size 300 --max-steps 300 --eval-every 100 --batch-size 16 --lr 5e-5 --warmup-ratio 0.1 --freeze-embeddings --no-save-best \
    --seed 1 --seed 2 --seed 3 --methods direct,noisytune,slow,fast,slowfast --sets paper --out "$OUT"
