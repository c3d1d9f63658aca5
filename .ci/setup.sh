#!/usr/bin/env bash
# One-step set-up on a fresh Debian/Ubuntu machine with Python 3.11: system libraries + a venv in .venv.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# libportaudio2: sounddevice's PortAudio; libasound2-plugins: ALSA → PulseAudio/PipeWire bridge;
# libgl1, libglib2.0-0: OpenCV (mediapipe's opencv-contrib-python).  A sound server is NOT installed here
# (desktops have PulseAudio or PipeWire already; CI installs PulseAudio itself in .ci/run).
PKGS="libportaudio2 libasound2-plugins libgl1 libglib2.0-0"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# [ray]: CI runs the Ray tests (tests/test_ray_extract.py: a real local cluster)
# PYTHONWARNINGS: setuptools' editable-install notice ("Editable installation … be careful with folders
# named like your package") is informational and the same on every install; keep the set-up log clean.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[test,ray]"
