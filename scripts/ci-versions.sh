#!/usr/bin/env bash
# Install recist-tool with the LOWEST and with the NEWEST versions its dependency
# bounds allow (uv's resolver: --resolution lowest-direct / highest), each in a fresh
# virtual environment under .venv-ci/, and run the core test suite in each.
#
#   bash scripts/ci-versions.sh                 # both
#   bash scripts/ci-versions.sh lowest-direct   # or: highest
#   bash scripts/ci-versions.sh highest -k survival   # extra arguments go to pytest
#
# The core package and its test tools are installed ("[dev]"); the napari plugin's
# GUI tests stay with scripts/test.sh (a Qt binding per run would double the time).
# Each run writes .venv-ci/<resolution>.txt: the versions it tested.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh # system packages the tests use (R, dicom3tools, node, ...)
modes=(lowest-direct highest)
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  modes=("$1")
  shift
fi
tools=.venv-ci/tools
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q uv
fi
uv="$tools/bin/uv"
# uv reads no pip.conf: pass the same extra indexes and wheel folders pip uses here
uv_args=()
for url in ${PIP_EXTRA_INDEX_URL:-}; do uv_args+=(--extra-index-url "$url"); done
for dir in ${PIP_FIND_LINKS:-}; do [ -d "$dir" ] && uv_args+=(--find-links "$dir"); done
status=0
for mode in "${modes[@]}"; do
  case "$mode" in lowest-direct | lowest | highest) ;; *)
    echo "unknown resolution $mode (lowest-direct or highest)" >&2
    exit 2
    ;;
  esac
  env=".venv-ci/$mode"
  rm -rf "$env"
  "$uv" venv -q --python "$(command -v python3)" "$env"
  echo "== $mode: installing recist-tool[dev]"
  "$uv" pip install -q --python "$env/bin/python" --resolution "$mode" "${uv_args[@]}" -e ".[dev]"
  "$uv" pip freeze --python "$env/bin/python" >".venv-ci/$mode.txt"
  grep -iE '^(numpy|pandas|scipy|matplotlib|lifelines|pydicom|highdicom|pyarrow|typer|statsmodels)==' \
    ".venv-ci/$mode.txt" | tr '\n' ' '
  echo
  echo "== $mode: core tests"
  if ! "$env/bin/python" -m pytest -q -n 2 -p no:cacheprovider -p no:pytest-qt tests/recist_tool "$@"; then
    status=1
    echo "== $mode: FAILED" >&2
  fi
done
exit $status
