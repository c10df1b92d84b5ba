#!/usr/bin/env bash
# Installs the Debian 12 packages TensorLLM Studio needs to build and test.
# Returns at once (no apt-get call) when every package is already installed.
# Usage: packaging/install-deps.sh [--gui-check]   (run as root, or with sudo available)
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config
  # core
  libeigen3-dev libtbb-dev libhdf5-dev nlohmann-json3-dev libopenblas-dev liblapacke-dev
  libsentencepiece-dev
  # ui
  qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libgl1-mesa-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3-numpy python3-h5py
  # sanitizers and fuzzing (tests/sanitize.sh, tests/fuzz/run.sh); the format check
  clang libclang-rt-14-dev clang-format
  # scale-out: tensorllm-mpi and its tests (docs/cluster.md)
  libopenmpi-dev openmpi-bin
  # headless GUI checks (offscreen platform needs fonts; xvfb for real windows)
  xvfb xauth fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
