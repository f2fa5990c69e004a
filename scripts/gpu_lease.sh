#!/usr/bin/env bash
# Train the teacher and distil the student side by side on one lent GPU (docs/training.md, session 13).
#
#   scripts/gpu_lease.sh prepare          here: .devcarry/ gets the diffusers wheel and the packed text
#                                         encoder (the GPU image has torch and transformers, not these)
#   scripts/gpu_lease.sh train [T A B]    there (carry .devcarry): the teacher continues the shipped
#                                         transformer for T minutes while the student distils towards the
#                                         shipped teacher for A minutes, then towards the new one for B
#
# Everything that comes back lands in $OUT as it is ready: log.txt and each model as fp16, tarred and
# split into 15 MiB parts (the device returns 8 files of 16 MiB at most). Unpack with
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
STUDENT="--rollout 0.5 --tokens-per-batch 9600 --max-batch 128 --bank-size 1024 --refresh-per-step 4 \
  --ckpt-every 100000 --log-every 25"
mkdir -p /tmp/runs /tmp/export
python3 -m cinegen.training.dit --out /tmp/runs/world4 $COMMON --vae weights/backlot-v1/vae --preset small \
  --init-from weights/backlot-v1/transformer --tokens-per-batch 24000 --max-batch 256 --text-dropout 0.1 \
  --plan true --warmup 50 --ema 0.998 --plan-dropout 0.2 --camera-weight 2 --motion-weight 2 \
  --world-positions true --sub-frames true --bank-size 2048 --fill-seconds 20 --refresh-per-step 8 \
  --log-every 50 --ckpt-every 100000 --workers 9 --lr 1.5e-4 --timestep-shift true --shift-share 0.5 \
  --seed 4 --max-minutes "$TM" $EXTRA > /tmp/runs/world4.log 2>&1 &
PT=$!
python3 -m cinegen.training.distill --out /tmp/runs/distill7 $COMMON $STUDENT --teacher weights/backlot-v1 \
  --init-from weights/backlot-v1/student --lr 1e-4 --fill-seconds 20 --workers 5 --seed 7 \
  --max-minutes "$SA" $EXTRA > /tmp/runs/distill7a.log 2>&1 &
PS=$!
( while sleep 30; do el "$(tail -n1 /tmp/runs/world4.log | cut -c1-150)"; el "$(tail -n1 /tmp/runs/distill7a.log | cut -c1-150)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done ) &
MON=$!
pack() {  # pack DIR NAME: fp16 weights, one tar split into 15 MiB parts
  python3 -c "import sys; from pathlib import Path; from cinegen.training.distill import _store_half; _store_half(Path(sys.argv[1]))" "$1"
  tar -C "$(dirname "$1")" -cf - "$(basename "$1")" | split -b 15M - "$OUT/$2.tar.part-"
}
wait $PT; RT=$?; el "world4 exit $RT"; grep -v "Loading weights" /tmp/runs/world4.log
if [ $RT = 0 ]; then
  python3 scripts/export_dit_checkpoint.py /tmp/runs/world4 /tmp/export/world4 && cp /tmp/runs/world4/history.json /tmp/export/world4/ && pack /tmp/export/world4 world4
  # the teacher directory the student resumes towards (the distiller reads the index, vae/ and transformer/)
  mkdir -p /tmp/model4 && cp -r weights/backlot-v1/model_index.json weights/backlot-v1/vae /tmp/model4/ \
    && cp -r /tmp/export/world4 /tmp/model4/transformer
fi
wait $PS; RS=$?; el "distill7a exit $RS"; grep -v "Loading weights" /tmp/runs/distill7a.log
if [ $RS = 0 ]; then
  cp -r /tmp/runs/distill7/pretrained /tmp/export/student-a && pack /tmp/export/student-a student-a
  if [ $RT = 0 ] && [ "$SB" != 0 ]; then
    python3 -m cinegen.training.distill --out /tmp/runs/distill7 $COMMON $STUDENT --resume true --teacher /tmp/model4 \
      --lr 7e-5 --fill-seconds 10 --workers 12 --seed 8 --max-minutes "$SB" $EXTRA > /tmp/runs/distill7b.log 2>&1; RB=$?
    el "distill7b exit $RB"; grep -v "Loading weights" /tmp/runs/distill7b.log
    [ $RB = 0 ] && cp -r /tmp/runs/distill7/pretrained /tmp/export/student-b && pack /tmp/export/student-b student-b
  fi
fi
kill $MON 2>/dev/null; el all done; ls -la "$OUT"
