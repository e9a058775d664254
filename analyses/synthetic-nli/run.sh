#!/usr/bin/env bash
# The three analyses and the method comparison on the default (12-layer) synthetic world, NLI task.
# Every run: 400 updates, batch 32, lr 5e-4, 6,000 English training pairs, 200 evaluation pairs per
# language, evaluation every 100 updates, best evaluation by overall accuracy. About 62 minutes on
# 2 CPU cores (111 sweep runs of ~28 s: 52 min; one CKA run; 15 comparison runs). Re-running reuses finished runs.
#   bash analyses/synthetic-nli/run.sh [OUT]      (default OUT: runs/synthetic-nli)
set -euo pipefail
OUT=${1:-runs/synthetic-nli}
COMMON=(--model synthetic --task synthetic-nli --max-steps 400 --eval-every 100 --lr 5e-4 --batch-size 32
        --train-size 6000 --eval-size 200 --no-save-best)

# where: per-layer re-init / freeze (12 layers), group experiments, 3 seeds
xprobe probe layers "${COMMON[@]}" --seed 1 --seed 2 --seed 3 --out "$OUT/sweep" -q
# when + CKA: DF with the CKA probe against the frozen pre-trained encoder
xprobe probe cka "${COMMON[@]}" --seed 1 --out "$OUT/cka"
# which weights to slow down / speed up
xprobe select "$OUT/sweep" --cka "$OUT/cka" --out "$OUT/selection"
# how much it helps: DF vs NoisyTune vs FS vs FF vs slow-and-fast, same data and budget. The paper's
# sets: the auto-selection above is degenerate on this sweep (results/selection.md), which would make
# every policy method equal to DF.
xprobe compare "${COMMON[@]}" --seed 1 --seed 2 --seed 3 --methods direct,noisytune,slow,fast,slowfast \
    --sets paper --out "$OUT/compare" -q
