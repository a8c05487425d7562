#!/usr/bin/env bash
# The GPU pretraining run behind the shipped pretrained/lama: one call on a lent device machine (a copy
# of the working tree, python3 with torch + CUDA, no network). Carried in $CARRY (ignored by git):
# wheels/ (the pure-Python and cp312 wheels torch's image lacks), cache/perceptual (the verified
# AlexNet trunk), bsds500/{train,val}. The held-out scoring and the card run afterwards on the CPU
# (stages/model_card.py), with the BSDS500 test split, which never travels.
#   bash pretrain/device_run.sh CARRY MINUTES OUT COMMIT MODEL [extra -S overrides ...]
# (a model's own train.<model> section wins over train.common: set a GPU batch as -S train.<model>.batch_size=64)
set -euo pipefail
carry=$1 minutes=$2 out=$3 commit=$4 model=$5
shift 5
python3 -c "import albumentations, lpips, platformdirs" 2>/dev/null ||
  python3 -m pip install --quiet --no-deps --no-index "$carry"/wheels/*.whl
[ -e ../shared/datasets/bsds500 ] || { mkdir -p ../shared/datasets && ln -s "$PWD/$carry/bsds500" ../shared/datasets/bsds500; }
export INPAINT_CACHE="$PWD/$carry/cache" PYTHONPATH="$PWD"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 stages/pretrain.py --model "$model" --params params.yaml --pretrain pretrain/params.yaml --out "$out" --run "$out/run" \
  --commit "$commit" -S train.common.device=cuda -S "train.$model.max_minutes=$minutes" "$@"
