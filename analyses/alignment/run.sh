#!/usr/bin/env bash
# The alignment probe's measurements (analyses/alignment/README.md): the pre-trained multilingual-e5-small's
# alignment by layer on XNLI dev; alignment over a DF and a slow-and-fast run on the synthetic world and on
# e5-small; a re-init-only layer sweep of the synthetic world to compare the selection from alignment with.
#   bash analyses/alignment/run.sh [STAGE] [OUT]      (default: all stages, OUT runs/alignment)
# Stages (each under ~10 min on 2 CPU cores, run one at a time; re-running reuses finished runs):
#   e5-map  syn-df  syn-sf  syn-reinit-1  syn-reinit-2  syn-reinit-3  e5-df  e5-sf  summary
# MODEL: a multilingual-e5-small folder (offline: ../shared/tools/me5-small/build); DATA: ../shared/data.
# e5-df / e5-sf take ~10-12 min each (2026-11-30): LIMIT=540 bash run.sh e5-df stops the run after 540 s
# (SIGINT, exit status 124); call it again until it finishes (each call resumes from the last checkpoint).
set -euo pipefail
STAGE=${1:-all}
OUT=${2:-runs/alignment}
MODEL=${MODEL:-$HOME/.cache/xprobe-models/multilingual-e5-small}
DATA=${DATA:-../shared/data}
# the synthetic world's analysis settings (analyses/synthetic-nli): 400 updates, lr 5e-4, batch 32
SYN=(--model synthetic --task synthetic-nli --max-steps 400 --eval-every 100 --lr 5e-4 --batch-size 32
     --train-size 6000 --eval-size 200 --no-save-best -q)
# e5-small on XNLI as in analyses/e5-small-xnli: 300 updates of 16, word embeddings frozen, bf16 autocast
# (checkpoints every 75 updates, so a stage cut by `timeout -s INT` resumes where it stopped)
E5=(--model "$MODEL" --task xnli --data-dir "$DATA" --train-size 2000 --eval-size 150 --max-steps 300
    --eval-every 150 --batch-size 16 --lr 1e-4 --freeze-embeddings --precision bf16 --no-save-best
    --save-every 75 --no-score-test -q)
LIMIT=${LIMIT:-}
run() { [[ $STAGE == all || $STAGE == "$1" ]]; }
limited() { if [[ -n $LIMIT ]]; then timeout -s INT "$LIMIT" "$@"; else "$@"; fi; }

if run e5-map; then  # 15 XNLI dev languages, 256 premises each, no training
  xprobe probe alignment --no-train --model "$MODEL" --task xnli --data-dir "$DATA" --out "$OUT/e5-map" --overwrite
fi
if run syn-df; then  # DF with the alignment probe every 25 updates (and the CKA probe), 5 seeds
  xprobe probe alignment "${SYN[@]}" --align-every 25 --seed 1 --seed 2 --seed 3 --seed 4 --seed 5 --resume \
      --out "$OUT/syn-df"
fi
if run syn-sf; then  # slow-and-fast with the paper's sets, same probes
  xprobe probe alignment "${SYN[@]}" --method slowfast --sets paper --align-every 25 --seed 1 --seed 2 --seed 3 \
      --resume --out "$OUT/syn-sf"
fi
for k in 1 2 3; do  # re-init-only layer sweep, one more seed per stage (13 runs of ~30 s each)
  if run "syn-reinit-$k"; then
    seeds=(); for s in $(seq 1 "$k"); do seeds+=(--seed "$s"); done
    xprobe probe layers "${SYN[@]}" --experiments reinit "${seeds[@]}" --out "$OUT/syn-reinit"
  fi
done
if run e5-df; then  # 128 premises per language, probed every 75 updates
  limited xprobe probe alignment "${E5[@]}" --align-every 75 --align-size 128 --seed 1 --resume --out "$OUT/e5-df"
fi
if run e5-sf; then
  limited xprobe probe alignment "${E5[@]}" --method slowfast --sets paper --align-every 75 --align-size 128 --seed 1 \
      --resume --out "$OUT/e5-sf"
fi
if run summary; then  # selections (from alignment, and from the re-init sweep), rank agreement, figures
  xprobe select --from alignment "$OUT/syn-df" --out "$OUT/syn-select-alignment"
  if [[ -f $OUT/syn-reinit/sweep.json ]]; then xprobe select "$OUT/syn-reinit" --out "$OUT/syn-select-sweep"; fi
  # rank agreement against SWEEP: by default the 111-run sweep kept with analyses/synthetic-nli (its DF and
  # reinit runs are the syn-reinit stages' runs: same configs and run ids); SWEEP=$OUT/syn-reinit to use those
  python analyses/alignment/summarise.py "$OUT" analyses/alignment/results \
      "${SWEEP:-analyses/synthetic-nli/results/results.csv}"
fi
