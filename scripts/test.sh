#!/usr/bin/env bash
# Set up (if needed) and run the default test suite. Exits non-zero when a test fails or none ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
