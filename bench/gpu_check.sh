#!/usr/bin/env bash
# The GPU check of the scale-out work, as one call on a lent device machine (README: Scale out):
#   1. training images/s and GMAC/s of every generator at 128/256/512 px (the real training step, bf16
#      autocast + channels_last) beside the same GPU's dense-conv GMAC/s, and 512x512 inference latency;
#   2. the toy e2e pipeline (`dvc repro`: train on CUDA, evaluation on CUDA; lama data-parallel over
#      up to 2 GPUs with NCCL);
#   3. the data-parallel throughput of the real train stage, 1 process against one per GPU (2+ GPUs).
# On a machine with one GPU, step 2 trains lama with one process (NCCL and DDP need 2+ GPUs) and step 3
# is skipped: say so beside the figures. Figures go to $OUT (the device tool brings them back). Prepare the packages the device's python lacks
# here first, into an ignored folder that the run carries:
#   python -m pip download --only-binary=:all: --python-version 3.12 -d gpu-wheels \
#       dvc albumentations lpips pyiqa platformdirs     # then: run carry=[gpu-wheels, ...]
# On the CPU, `DEVICE=cpu SIZES=64 bash bench/gpu_check.sh` tries the script itself in a minute or two.
#   bash bench/gpu_check.sh [WHEELS_DIR]
set -uo pipefail
wheels=${1:-gpu-wheels}
out=${OUT:-/tmp/gpu-check}
device=${DEVICE:-cuda}
sizes=${SIZES:-128 256 512}
mkdir -p "$out"
py=$(command -v python3 || command -v python)
if ! "$py" -c "import dvc, albumentations, lpips, pyiqa, platformdirs" 2>/dev/null; then
  [ -d "$wheels" ] && "$py" -m pip install --quiet --no-index --find-links "$wheels" dvc albumentations lpips pyiqa platformdirs
fi
"$py" -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null 2>&1 || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PATH="$(dirname "$py"):$PATH"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } > "$out/gpu.txt"
status=0
"$py" bench/train_speed.py --device "$device" --sizes $sizes --iters 5 > "$out/train_speed.json" 2> "$out/train_speed.err" ||
  { echo "train_speed failed"; status=1; }
INPAINT_TEST_DEVICE=$device "$py" -m pytest -q -p no:cacheprovider tests/e2e \
  -k "repro_produces or reports_are_complete or second_repro" > "$out/e2e.txt" 2>&1 || { echo "e2e failed"; status=1; }
gpus=$("$py" -c "import torch; print(torch.cuda.device_count())")
if [ "$device" = cuda ] && [ "$gpus" -ge 2 ] && [ -f data/split/train.csv ]; then
  "$py" bench/ddp_speed.py --steps 50 --procs 1 "$gpus" -S train.common.batch_size=64 > "$out/ddp_speed.json" 2>&1 ||
    { echo "ddp_speed failed"; status=1; }
fi
tail -n 3 "$out/e2e.txt"
exit $status
