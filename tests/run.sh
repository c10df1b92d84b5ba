#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, run every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"
"$root/packaging/build.sh"
cd "$root/build"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
# Serial: the suite takes seconds, and the cancel-latency checks want the cores to themselves.
ctest --output-on-failure --timeout 600
