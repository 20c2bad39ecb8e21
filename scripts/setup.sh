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
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch is pinned exactly: 2.13.0 is the local CPU wheel; a looser pin fetches a CUDA build.
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[torch,dev]"
# Norse pulls torchvision (a multi-GB CUDA build) through its dependencies: install it alone.
"${pip[@]}" --no-deps "norse==1.1.0" "nirtorch"
# JAX is an optional extra (the JAX frontend); installed here so its tests run. PyPI's jax
# wheel is the CPU build.
"${pip[@]}" -e ".[jax]"
echo "$want" > "$stamp"
