#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, and run every test:
#   0. the layout of every C++ file (clang-format, .clang-format);
#   1. the GoogleTest suites (core, CLI, GUI offscreen) with ctest;
#   2. the Debian package: built with cpack, installed with apt, its CLI run;
#   3. extra suites when their scripts are present (sanitizers, fuzzing), see below.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"

echo "== format: every tracked C++ file as .clang-format lays it out"
(cd "$root" && git ls-files -z '*.cpp' '*.h' | xargs -0 clang-format --dry-run --Werror)
echo "format: ok"

"$root/packaging/build.sh"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

echo "== Debian package: cpack, apt install, tensorllm info --demo"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
(cd "$root/build" && rm -f tensorllm-studio_*.deb && cpack -G DEB >/dev/null)
deb=$(ls "$root"/build/tensorllm-studio_*.deb)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --reinstall "$deb" >/dev/null
(cd / && /usr/bin/tensorllm info --demo >/dev/null)
# A results file written and shown by the installed CLI: `show` reads it through the installed
# helper (/usr/libexec/tensorllm/tensorllm-read-results), found relative to /usr/bin.
pkgtmp=$(mktemp -d)
(cd / && /usr/bin/tensorllm decompose --demo --layers 0 --ranks 16,8,2 --h5 "$pkgtmp/r.h5" >/dev/null &&
  env -u TENSORLLM_RESULTS_READER /usr/bin/tensorllm show "$pkgtmp/r.h5" >/dev/null)
rm -rf "$pkgtmp"
echo "package $(basename "$deb") installed; /usr/bin/tensorllm info --demo, decompose --h5 and show: ok"

if [[ -x "$root/tests/sanitize.sh" ]]; then
  echo "== core tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  "$root/tests/sanitize.sh"
fi
if [[ -x "$root/tests/fuzz/run.sh" ]]; then
  echo "== fuzzing (bounded)"
  "$root/tests/fuzz/run.sh" "${TENSORLLM_FUZZ_SECONDS:-20}"
fi

echo "== test suites"
cd "$root/build"
# Serial: the suite takes about a minute, and the cancel-latency and responsiveness checks
# want the cores to themselves.
ctest --output-on-failure --timeout 900
