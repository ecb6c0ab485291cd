#!/usr/bin/env bash
# Set up everything recist-tool needs on a fresh Debian machine (run as root):
# system packages for a headless display (Xvfb, Mesa, Qt's xcb libraries), R with
# the survival, psych and vcd packages and dicom3tools (reference checks in the tests), Orthanc with
# its DICOMweb plugin (the PACS tests start their own server on a free port), a virtual
# environment in .venv, the project with its all (napari + PyQt6) and dev extras, and the
# node packages of the OHIF SR tests.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip
  xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1
  r-base-core r-cran-survival dicom3tools poppler-utils
  r-cran-psych r-cran-vcd
  orthanc orthanc-dicomweb openssl
)

# python3 may come from elsewhere (pyenv, a CI image): only require Debian's when the
# python3 on PATH is missing, older than 3.11, or cannot make a virtual environment.
have_python=0
if command -v python3 >/dev/null &&
  python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  have_python=1
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  case "$p" in python3*) ((have_python)) && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's orthanc package would start its service on ports 8042/4242: forbid service
  # starts while installing (policy-rc.d), unless the machine has such a policy already.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  if ((own_policy)); then rm -f "$policy"; fi
  ((rc == 0)) || exit "$rc"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.recist-setup
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing recist-tool and its Python dependencies into .venv"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install --upgrade pip &&
    .venv/bin/python -m pip install -e ".[all,dev]"; } >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "setup: pip install failed (full log: $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi

# Node for the OHIF SR tests: OHIF v3's own SR adapter (@cornerstonejs/adapters,
# pinned in tests/node/package-lock.json) reads our SRs and writes OHIF-style ones.
# It needs Node >= 20; Debian 12 ships 18, so an older Node gets a pinned Node 22
# from the npm registry (tests/node/.runtime) next to it.
NODE_RUNTIME_VERSION=22.23.5
node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' 2>/dev/null; }
if ! command -v npm >/dev/null; then
  echo "setup: installing Debian packages: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! node_ok node && ! ls tests/node/.runtime/node_modules/node-linux-*/bin/node >/dev/null 2>&1; then
  case "$(uname -m)" in aarch64 | arm64) arch=arm64 ;; *) arch=x64 ;; esac
  echo "setup: installing Node $NODE_RUNTIME_VERSION for the OHIF SR tests (tests/node/.runtime)"
  npm install --silent --no-audit --no-fund --ignore-scripts --no-save \
    --prefix tests/node/.runtime "node-linux-$arch@$NODE_RUNTIME_VERSION" >/dev/null
fi
node_stamp=tests/node/node_modules/.recist-setup
if [ ! -f "$node_stamp" ] || [ tests/node/package-lock.json -nt "$node_stamp" ]; then
  echo "setup: installing the OHIF SR adapter for the tests (tests/node, npm ci)"
  (cd tests/node && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
  touch "$node_stamp"
fi
