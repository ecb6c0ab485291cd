#!/usr/bin/env bash
# The PACS flow of docs/pacs.md, run as documented against a throw-away local Orthanc.
# Usage: bash scripts/pacs_demo.sh [WORKDIR]   (default out/pacs-demo; replaced)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
repo=$PWD
work=${1:-out/pacs-demo}
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
export PATH="$repo/.venv/bin:$PATH"
PACS=$(python -m recist_tool.pacs.orthanc start --storage "$work/orthanc")
export PACS
trap 'python -m recist_tool.pacs.orthanc stop --storage "$work/orthanc"' EXIT
echo "local Orthanc: $PACS"
# the commands between the pacs-flow markers of docs/pacs.md, one by one
flow=$(sed -n '/<!-- pacs-flow:start -->/,/<!-- pacs-flow:end -->/p' docs/pacs.md | grep '^recist-tool')
cd "$work"
while IFS= read -r cmd; do
  echo "\$ $cmd"
  bash -euo pipefail -c "$cmd"
done <<<"$flow"
echo "done: results in $work/demo/results, SRs in $work/demo/sr (and on the PACS)"
