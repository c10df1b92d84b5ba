#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, and start TensorLLM Studio on
# the bundled demo model, ready to run (Ctrl+R). Without a display it renders the headless
# report of a decomposition of the demo model instead and says where it is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"
"$root/packaging/build.sh"
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  exec "$root/build/app/tensorllm-studio" "$@"
fi
out="${TENSORLLM_REPORT_DIR:-$root/build/demo-report}"
echo "No display found: writing the headless report of the demo model instead."
"$root/build/app/tensorllm" report --demo --out "$out"
echo "Report: $out/index.html"
