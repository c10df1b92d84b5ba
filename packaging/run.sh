#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, and run the main job on the
# bundled model.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"
"$root/packaging/build.sh"
exec "$root/build/app/tensorllm" info --demo
