#!/usr/bin/env bash
# One-command demo on the built-in synthetic SemanticKITTI data (CPU):
# install, generate data, train RangeNet++ with VisualDL logging, validate and print per-class IoU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CFG=configs/rangenet/rangenet_darknet21_synthetic_quick.yml
OUT=${OUT:-output/rangenet_synthetic_quick}

$PY -m pip install -q -r requirements.txt
$PY -m pip install -q --no-deps -e .
[ -d data/synthetic_kitti/sequences ] || \
  $PY tools/generate_synthetic.py --kind semantickitti --out data/synthetic_kitti
start=$(date +%s)
$PY tools/train.py --config "$CFG" --save_dir "$OUT" --do_eval --use_vdl --no_progress
$PY tools/val.py --config "$CFG" --model_path "$OUT/best_model" --no_progress
echo "demo finished in $(( $(date +%s) - start )) s of training + validation"
echo "curves: visualdl --logdir $OUT/vdl_log --language en   (then open http://localhost:8040)"
