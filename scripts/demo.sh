#!/usr/bin/env bash
# Set up (if needed), then run snnc's main job on the shipped example model:
# a spiking MLP trained on scikit-learn digits (examples/digits/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
snnc=.venv/bin/snnc
ex=examples/digits
mkdir -p out
set -x
"$snnc" inspect "$ex/digits.snnir"
"$snnc" simulate "$ex/digits.snnir" --input "$ex/test_x.npy" --labels "$ex/test_y.npy" -o out/digits_float.npy
"$snnc" compile "$ex/digits.snnir" --target loihi -o out/digits.loihi
"$snnc" verify out/digits.loihi --model "$ex/digits.snnir" --input "$ex/test_x.npy" --labels "$ex/test_y.npy"
