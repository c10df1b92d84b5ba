#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang; ASan + UBSan) into ./build-fuzz and runs each for
# SECONDS (default 30) of fuzzing, starting from its seed corpus in tests/fuzz/corpus/<name>
# and the inputs earlier runs found (build-fuzz/corpus/<name>). Exits non-zero if any
# harness crashes, leaks, hangs or breaks the error contract (see fuzz_common.h); the input
# is saved as build-fuzz/crashes/<name>/crash-* (replay: build-fuzz/tests/fuzz/<fuzzer> FILE).
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]     NAME: safetensors index config architectures
#                                             hdf5_results
#
# Environment: TENSORLLM_JOBS (build parallelism, default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/fuzz
build=$root/build-fuzz
secs=${1:-30}
shift || true
names=("$@")
# hdf5_results is run on demand, not by default (not in CI): beyond our reader it reaches
# Debian's libhdf5 1.10.8, which has memory-safety bugs of its own on damaged files (a
# use-after-free in H5Aexists; tests/fuzz/README.md). Name it to run it.
[ ${#names[@]} -gt 0 ] || names=(safetensors index config architectures)

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTENSORLLM_FUZZ=ON -DTENSORLLM_BUILD_GUI=OFF -DTENSORLLM_BUILD_BENCHMARKS=OFF \
  -DTENSORLLM_BUILD_TESTS=ON -DTENSORLLM_WERROR=OFF >/dev/null
cmake --build "$build" -j"${TENSORLLM_JOBS:-2}" --target tllm_fuzzers

# The harnesses rewrite their input files on every run: keep them on tmpfs when possible.
scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/tllm-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for name in "${names[@]}"; do
  bin=$build/tests/fuzz/fuzz_$name
  [ -x "$bin" ] || { echo "no harness fuzz_$name" >&2; exit 2; }
  mkdir -p "$build/corpus/$name" "$build/crashes/$name"
  echo "== fuzz_$name: ${secs}s"
  start=$(date +%s)
  # New inputs go to the first corpus dir (the build dir); the seeds stay untouched.
  extra=()
  # libhdf5 (not ours, not instrumented) mallocs the size a damaged object header claims,
  # up to 4 GiB, before it reads and rejects the header (H5C_protect); the block is never
  # filled. Single mallocs are not limited for this harness; resident memory still is.
  [ "$name" = hdf5_results ] && extra+=(-malloc_limit_mb=1048576)
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 "${extra[@]}" \
       $([ -f "$here/dict/$name.dict" ] && echo "-dict=$here/dict/$name.dict") -artifact_prefix="$build/crashes/$name/" \
       -print_final_stats=1 "$build/corpus/$name" "$here/corpus/$name" \
       >"$build/fuzz_$name.log" 2>&1; then
    echo "   ok in $(( $(date +%s) - start ))s: $(grep -m1 -o 'DONE .*' "$build/fuzz_$name.log" || true)"
  else
    echo "   FAILED (log: build-fuzz/fuzz_$name.log)" >&2
    grep -E -A3 'ERROR:|contract violation|runtime error:|deadly signal' "$build/fuzz_$name.log" | head -20 >&2 || true
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
