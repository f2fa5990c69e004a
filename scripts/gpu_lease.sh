#!/usr/bin/env bash
# Train the teacher and distil the student side by side on one lent GPU (docs/training.md, sessions 13-14).
#
#   scripts/gpu_lease.sh prepare          here: .devcarry/ gets the diffusers wheel and the packed text
#                                         encoder (the GPU image has torch and transformers, not these)
#   scripts/gpu_lease.sh train [T A B]    there (carry .devcarry): the teacher continues the shipped
#                                         transformer for T minutes while the student distils towards the
#                                         shipped teacher for A minutes, then towards the new one for B
#
# Everything that comes back lands in $OUT as it is ready: log.txt and each model as fp16, tarred and
# split into 15 MiB parts (the device returns 8 files of 16 MiB, about 64 MiB in all, at most). Unpack with
# `cat world4.tar.part-* | tar x`. DEV=cpu and EXTRA="--sizes 64x64 ..." try it on a CPU first.
set -u
cd "$(dirname "$0")/.."
if [ "${1:-}" = prepare ]; then
  set -e
  mkdir -p .devcarry/whl
  "${PYTHON:-.venv/bin/python}" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 -d .devcarry/whl "diffusers==$(.venv/bin/python -c 'import diffusers; print(diffusers.__version__)')"
  "${PYTHON:-.venv/bin/python}" -m cinegen.training.text_pack pack .devcarry/minilm-pack
  du -sh .devcarry
  exit 0
fi
[ "${1:-}" = train ] || { echo "usage: $0 prepare | train [TEACHER_MIN STUDENT_A_MIN STUDENT_B_MIN]" >&2; exit 2; }
TM=${2:-4.5}; SA=${3:-4.5}; SB=${4:-2.2}; DEV=${DEV:-cuda}; EXTRA=${EXTRA:-}; OUT=${OUT:?set OUT}
# session 14 names and settings; session 13 ran TNAME=world4 SNAME=distill7 TLR=1.5e-4 TEMA=0.998 TSNAP=0 SSNAP=0
TNAME=${TNAME:-world5}; SNAME=${SNAME:-distill8}; TLR=${TLR:-1e-4}; TEMA=${TEMA:-0.999}; SLR=${SLR:-7e-5}
TSNAP=${TSNAP:-1200}; SSNAP=${SSNAP:-1200}; TSEED=${TSEED:-5}; SSEED=${SSEED:-9}; TKEEP=${TKEEP:-1}; SKEEP=${SKEEP:-0}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
exec > >(tee -a "$OUT/log.txt") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcarry/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
python3 -m cinegen.training.text_pack unpack .devcarry/minilm-pack /tmp/minilm || exit 4
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used --format=csv
el setup done
COMMON="--text-encoder /tmp/minilm --device $DEV --bf16 true --object-weight 4 --steps 1000000 \
  --frames 1,17,33 --frame-weights 0.05,0.35,0.6 --aspect-weights 0.8,0.1,0.1 --sizes 128x128,176x96,96x176"
# session 17: 4-step intervals (distill9 lifted shapes) and the camera terms (the student's motion gap)
SFLAGS=${SFLAGS:---student-steps 4 --camera-weight 2 --motion-weight 2}
STUDENT="$SFLAGS --rollout 0.5 --tokens-per-batch 9600 --max-batch 128 --bank-size 1024 --refresh-per-step 4 \
  --ckpt-every 100000 --log-every 25 --snapshot-every $SSNAP"
mkdir -p /tmp/runs /tmp/export
python3 -m cinegen.training.dit --out /tmp/runs/$TNAME $COMMON --vae weights/backlot-v1/vae --preset small \
  --init-from weights/backlot-v1/transformer --tokens-per-batch 24000 --max-batch 256 --text-dropout 0.1 \
  --plan true --warmup 50 --ema "$TEMA" --plan-dropout 0.2 --camera-weight 2 --motion-weight 2 \
  --world-positions true --sub-frames true --bank-size 2048 --fill-seconds 20 --refresh-per-step 8 \
  --log-every 50 --ckpt-every 100000 --snapshot-every "$TSNAP" --workers 9 --lr "$TLR" --timestep-shift true \
  --shift-share 0.5 --seed "$TSEED" --max-minutes "$TM" $EXTRA > /tmp/runs/$TNAME.log 2>&1 &
PT=$!
python3 -m cinegen.training.distill --out /tmp/runs/$SNAME $COMMON $STUDENT --teacher weights/backlot-v1 \
  --init-from weights/backlot-v1/student --lr "$SLR" --fill-seconds 20 --workers 5 --seed "$SSEED" \
  --max-minutes "$SA" $EXTRA > /tmp/runs/${SNAME}a.log 2>&1 &
PS=$!
( while sleep 30; do el "$(tail -n1 /tmp/runs/$TNAME.log | cut -c1-150)"; el "$(tail -n1 /tmp/runs/${SNAME}a.log | cut -c1-150)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done ) &
MON=$!
half() { python3 -c "import sys; from pathlib import Path; from cinegen.training.distill import _store_half; _store_half(Path(sys.argv[1]))" "$1"; }
pack() {  # pack DIR NAME: one tar of DIR (fp16 already) split into 15 MiB parts
  tar -C "$(dirname "$1")" -cf - "$(basename "$1")" | split -b 15M - "$OUT/$2.tar.part-"
}
wait $PT; RT=$?; el "$TNAME exit $RT"; grep -v "Loading weights" /tmp/runs/$TNAME.log
if [ $RT = 0 ]; then
  mkdir -p /tmp/export/$TNAME
  python3 scripts/export_dit_checkpoint.py /tmp/runs/$TNAME /tmp/export/$TNAME/final && cp /tmp/runs/$TNAME/history.json /tmp/export/$TNAME/
  # the final weights and the last TKEEP snapshots (what comes back is capped at 8 files and about 64 MiB
  # in all: 3 models of 18 MiB; the rest stay in /tmp/export for a follow-up call while the machine is warm)
  for s in $(ls -d /tmp/runs/$TNAME/snapshots/step-* 2>/dev/null | tail -n "$TKEEP"); do cp -r "$s" /tmp/export/$TNAME/; done
  for d in /tmp/export/$TNAME/*/; do half "$d"; done
  pack /tmp/export/$TNAME $TNAME
  # the teacher directory a later student phase distils towards (the distiller reads the index, vae/ and transformer/)
  mkdir -p /tmp/modelT && cp -r weights/backlot-v1/model_index.json weights/backlot-v1/vae /tmp/modelT/ \
    && cp -r /tmp/export/$TNAME/final /tmp/modelT/transformer
fi
wait $PS; RS=$?; el "${SNAME}a exit $RS"; grep -v "Loading weights" /tmp/runs/${SNAME}a.log
if [ $RS = 0 ]; then
  mkdir -p /tmp/export/$SNAME && cp -r /tmp/runs/$SNAME/pretrained /tmp/export/$SNAME/final
  for s in $(ls -d /tmp/runs/$SNAME/snapshots/step-* 2>/dev/null | head -n "$SKEEP"); do cp -r "$s" /tmp/export/$SNAME/; done
  for d in /tmp/export/$SNAME/*/; do half "$d"; done
  pack /tmp/export/$SNAME $SNAME
  if [ $RT = 0 ] && [ "$SB" != 0 ]; then
    python3 -m cinegen.training.distill --out /tmp/runs/$SNAME --resume true --teacher /tmp/modelT $COMMON $STUDENT \
      --lr "$SLR" --fill-seconds 10 --workers 12 --seed $((SSEED + 1)) --max-minutes "$SB" $EXTRA > /tmp/runs/${SNAME}b.log 2>&1; RB=$?
    el "${SNAME}b exit $RB"; grep -v "Loading weights" /tmp/runs/${SNAME}b.log
    [ $RB = 0 ] && cp -r /tmp/runs/$SNAME/pretrained /tmp/export/$SNAME-b && half /tmp/export/$SNAME-b && pack /tmp/export/$SNAME-b $SNAME-b
  fi
fi
kill $MON 2>/dev/null; el all done; ls -la "$OUT"
