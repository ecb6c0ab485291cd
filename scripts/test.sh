#!/usr/bin/env bash
# Run the whole test suite (lint, core and GUI tests) under a virtual X display.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest -n 2 "$@"
