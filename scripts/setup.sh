#!/usr/bin/env bash
# Set up snnc on a fresh machine: a virtual environment in .venv with snnc (editable),
# its optional torch/dev extras and the reference frameworks the tests compare against.
# Idempotent: re-runs only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.snnc-setup
want=$(cat pyproject.toml setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "snnc setup: creating .venv and installing dependencies (first run takes a few minutes)" >&2
STEPS=5
n=0
step() {   # step "what it does" command...: one line before, one with its time after (stderr)
  local what=$1 t0=$SECONDS
  shift
  n=$((n + 1))
  echo "snnc setup: [$n/$STEPS] $what ..." >&2
  "$@"
  echo "snnc setup: [$n/$STEPS] $what: done in $((SECONDS - t0)) s" >&2
}
make_venv() { [ -x .venv/bin/python ] || "$PY" -m venv .venv; }
step "creating the virtual environment .venv" make_venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch is pinned exactly: 2.13.0 is the local CPU wheel; a looser pin fetches a CUDA build.
step "installing torch 2.13.0 (CPU build)" "${pip[@]}" "torch==2.13.0"
step "installing snnc (editable) with snnTorch, onnxruntime, pytest, rich" "${pip[@]}" -e ".[torch,dev,progress]"
# Norse pulls torchvision (a multi-GB CUDA build) through its dependencies: install it alone.
step "installing Norse and nirtorch (without their dependencies)" "${pip[@]}" --no-deps "norse==1.1.0" "nirtorch"
# JAX is an optional extra (the JAX frontend); installed here so its tests run. PyPI's jax
# wheel is the CPU build.
step "installing JAX (CPU)" "${pip[@]}" -e ".[jax]"
# numba (compiled interpreter kernels), Ray (runs over a cluster), rich (progress bars),
# matplotlib (snnc report), METIS and Mt-KaHyPar (partitioners loihi-partition also tries):
# optional extras, installed here so their tests run.
step "installing numba, Ray, rich, matplotlib, pymetis and mtkahypar" "${pip[@]}" -e ".[fast,parallel,progress,report,partition]"
echo "$want" > "$stamp"
echo "snnc setup: ready in $SECONDS s (.venv/bin/snnc)" >&2
