#!/usr/bin/env bash
# DF vs NoisyTune vs FS vs FF vs slow-and-fast on the real multilingual-e5-small, XNLI, 3 seeds, the
# paper's weight sets. 2,000 English MNLI pairs, all 15 XNLI dev languages (150 pairs each), 300 updates of
# batch 16 at lr 1e-4 with the word embeddings frozen, bf16 autocast (CPU with AMX), evaluation every 150 updates.
# About 75 minutes on 2 CPU cores (15 runs of ~5 min). Re-running reuses finished runs.
#   bash analyses/e5-small-xnli/run.sh [OUT] [MODEL] [DATA]
# MODEL: a multilingual-e5-small folder (offline: ../shared/tools/me5-small/build) or intfloat/multilingual-e5-small
set -euo pipefail
OUT=${1:-runs/e5-small-xnli}
MODEL=${2:-$HOME/.cache/xprobe-models/multilingual-e5-small}
DATA=${3:-../shared/data}
xprobe compare --model "$MODEL" --task xnli --data-dir "$DATA" --train-size 2000 --eval-size 150 \
    --max-steps 300 --eval-every 150 --batch-size 16 --lr 1e-4 --warmup-ratio 0.1 --freeze-embeddings --precision bf16 --no-save-best \
    --seed 1 --seed 2 --seed 3 --methods direct,noisytune,slow,fast,slowfast --sets paper --out "$OUT"
