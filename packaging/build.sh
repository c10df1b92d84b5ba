#!/usr/bin/env bash
# Configures and builds TensorLLM Studio into ./build (Ninja, -j2, ccache when present).
# Warnings are errors (-Werror): the supported compiler is Debian 12's GCC 12.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTENSORLLM_WERROR=ON >/dev/null
cmake --build build -j"${TENSORLLM_JOBS:-2}"
