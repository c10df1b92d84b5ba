#!/usr/bin/env bash
# Builds the core test binary with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into
# ./build-asan and runs it under ctest. Any sanitizer report fails the run: UB is not
# recovered from, and leaks are reported at exit.
#
#   tests/sanitize.sh [extra ctest arguments, e.g. -R Safetensors]
#
# Environment: TLLM_SANITIZE_GUI (ON when the CLI needs the Qt ui library; default OFF),
# TENSORLLM_JOBS (build parallelism, default 2), TLLM_ASAN_BUILD_DIR,
# TLLM_SANITIZE_EXCLUDE (ctest -E regex; default: the cancel-latency test, whose time bound
# is meant for optimised builds and fails on ASan's 2-3x slower code; the perplexity of the
# demo model's whole validation split (800,000 scored tokens: the same code paths as the
# passage tests, which run here, at a cost that suits an optimised build); and the placeholder
# ctest adds for the Qt test binary this script does not build; "" runs everything).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TLLM_ASAN_BUILD_DIR:-$root/build-asan}
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# A build type of its own: -O1 keeps the numerical tests fast enough while the reports keep
# usable stacks (the project's RelWithDebInfo is -O3).
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g" -DCMAKE_C_FLAGS_SANITIZE="-O1 -g" \
  -DCMAKE_CXX_FLAGS="$san" -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$san" -DCMAKE_SHARED_LINKER_FLAGS="$san" \
  -DTENSORLLM_BUILD_GUI="${TLLM_SANITIZE_GUI:-OFF}" -DTENSORLLM_BUILD_BENCHMARKS=OFF -DTENSORLLM_BUILD_TESTS=ON \
  -DTENSORLLM_WERROR=OFF -DTENSORLLM_MPI=OFF >/dev/null
# TENSORLLM_MPI=OFF: tensorllm-mpi is not built here (nor its tests registered); Open MPI's own
# allocations at exit would read as leaks. The MPI tests run in the normal build.
# The test binary depends on the CLI (the CLI tests run it), so both are built instrumented.
cmake --build "$build" -j"${TENSORLLM_JOBS:-2}" --target tensorllm_core_tests tensorllm

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
exclude=${TLLM_SANITIZE_EXCLUDE-'^JobRunner\.CancelInsideALargeLayerReturnsQuickly$|^Evaluate\.KjvValidationSplitMatchesReference$|^Edits\.DemoHosvdEditsMatchReference$|_NOT_BUILT$'}
if [ -n "$exclude" ]; then
  ctest --output-on-failure --timeout 900 -E "$exclude" "$@"
else
  ctest --output-on-failure --timeout 900 "$@"
fi
