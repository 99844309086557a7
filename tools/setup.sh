#!/usr/bin/env bash
# Idempotent set-up: Debian packages (when root or sudo is available; otherwise prints the apt-get
# line), a virtual environment at .venv/ in the repository root, torch pinned to a CPU build on
# machines without an NVIDIA GPU, and diface itself (editable) with its test extras.
# Usage: tools/setup.sh            (quiet when everything is already there)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri
              libportaudio2 espeak-ng festival festvox-kallpc16k festvox-us-slt-hts flite sox ffmpeg
              pulseaudio libasound2-plugins)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "diface setup: these Debian packages are missing; please run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
  else
    echo "diface setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "diface setup: creating .venv"
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  echo "diface setup: installing torch"
  if command -v nvidia-smi >/dev/null 2>&1 || [ -n "${DIFACE_TORCH_CUDA:-}" ]; then
    "$VPY" -m pip install -q "torch==2.13.0"
  elif [ -n "${DIFACE_TORCH_INDEX:-}" ]; then
    "$VPY" -m pip install -q "torch==2.13.0" --index-url "$DIFACE_TORCH_INDEX"
  else
    # On this project's machines the CPU wheel of 2.13.0 lies on disk and pip prefers it.
    # Elsewhere, set DIFACE_TORCH_INDEX=https://download.pytorch.org/whl/cpu to get a CPU build.
    "$VPY" -m pip install -q "torch==2.13.0"
  fi
fi
stamp=.venv/.diface-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "diface setup: installing diface and its dependencies"
  "$VPY" -m pip install -q -e ".[test]"
  touch "$stamp"
fi
# The Khronos glTF validator (npm package) for the export tests; optional: the test skips without it
# and a failing or unreachable npm never fails the set-up.
if command -v npm >/dev/null 2>&1 && [ ! -d tools/gltf-validator/node_modules/gltf-validator ]; then
  echo "diface setup: installing the glTF validator (npm)"
  ( cd tools/gltf-validator && timeout 300 npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ) \
    || echo "diface setup: could not install gltf-validator with npm; the glTF validation test will be skipped" >&2
fi
# Optional steps added by later parts (pretrained encoder conversion) go in tools/setup.d/*.sh
if [ -d tools/setup.d ]; then
  for f in tools/setup.d/*.sh; do [ -e "$f" ] && VPY="$VPY" bash "$f"; done
fi
