#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang; ASan + UBSan) into ./build-fuzz and runs each for
# SECONDS (default 30) of fuzzing, starting from its seed corpus in tests/fuzz/corpus/<name>
# and the inputs earlier runs found (build-fuzz/corpus/<name>). Exits non-zero if any
# harness crashes, leaks, hangs or breaks the error contract (see fuzz_common.h); the input
# is saved as build-fuzz/crashes/<name>/crash-* (replay: build-fuzz/tests/fuzz/<fuzzer> FILE).
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]     NAME: safetensors gguf index config architectures
#                                             results_wire hdf5_results tokenizer (default: all eight)
#
# hdf5_results reaches beyond our reader into Debian's libhdf5 1.10.8, which has memory-safety
# bugs of its own on damaged files (tests/fuzz/README.md). The applications never run libhdf5
# on a results file in their own process (the helper tensorllm-read-results does), so a fault
# inside libhdf5 is contained there and is not a finding of ours: this harness runs in
# libFuzzer's fork mode, carrying on after a crash, and every crash is triaged by
# classify_report.sh, from the fork job's own sanitizer report and a replay of its input. A
# report whose innermost frame outside the sanitizer runtime and the system libraries is in
# libhdf5 is recorded (build-fuzz/known_libhdf5/) and reported, not failed; anything else
# (our code on top of the stack, a contract violation, a leak, a timeout, running out of
# memory) fails as for the other harnesses.
#
# Environment: TENSORLLM_JOBS (build parallelism, default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/fuzz
build=$root/build-fuzz
secs=${1:-30}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(safetensors gguf index config architectures results_wire hdf5_results tokenizer)

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

# Every frame is printed with its module last, which classify_report.sh goes by.
trace_format="stack_trace_format='    #%n %p in %f %s:%l <%m>'"

# The lines that start a sanitizer report or a contract violation, and the first of them with
# the frames that follow, for a finding's message (stdin: a report).
report_start='ERROR:|contract violation|runtime error:'
report_excerpt() { grep -E -A8 "$report_start" | head -24 >&2; }

# Decides whose fault each crash of `name`'s fork-mode run is (see the top). The evidence is
# each fork job's own sanitizer report, which the run keeps (log_path, see fuzz_one): a
# crash of libhdf5's can depend on the state earlier inputs left in the same job (its free
# lists), so a replay of the saved input alone may not crash at all. Each report goes to
# classify_report.sh; each crash-* input is replayed as well, under the run's own limits (so
# a large lazy malloc inside libhdf5 replays as the original report, not as libFuzzer's
# malloc limit), and judged the same way when it does crash. There must be a report for
# every crash-* input: a crash with none (a contract violation, an abort) is a finding, as
# are leak-*, timeout-* and oom-* inputs whatever their stack. Only hdf5_results runs in
# fork mode; for the others a crash already stopped the run with a non-zero status.
triage() {
  local name=$1 bin=$2 stamp=$3 ok=0 f report verdict crashes=0 reports=0
  [ "$name" = hdf5_results ] || return 0
  for f in "$asan_reports"/report.*; do
    # A job's file may hold only warnings (allocator_may_return_null: "failed to allocate").
    [ -f "$f" ] && grep -q -E 'ERROR: |runtime error:' "$f" || continue
    reports=$((reports + 1))
    mkdir -p "$build/reports/$name"
    cp "$f" "$build/reports/$name/$(basename "$f").txt"
    if ! verdict=$("$here/classify_report.sh" "$bin" "$root" <"$f"); then
      echo "   FINDING in a fork job's report (build-fuzz/reports/$name/$(basename "$f").txt):" >&2
      report_excerpt <"$f"
      ok=1
    fi
  done
  while IFS= read -r -d '' f; do
    case $(basename "$f") in
      crash-*) crashes=$((crashes + 1)) ;;
      *) echo "   FINDING ($(basename "$f" | cut -d- -f1)): $f" >&2; ok=1; continue ;;
    esac
    report=$(ASAN_OPTIONS="$ASAN_OPTIONS:$trace_format" "$bin" -runs=1 "${limits[@]}" "$f" 2>&1 || true)
    if ! grep -q -E "$report_start" <<<"$report"; then
      echo "   $(basename "$f"): does not crash when replayed alone (its job's report is judged above)"
    elif verdict=$("$here/classify_report.sh" "$bin" "$root" <<<"$report"); then
      mkdir -p "$build/known_libhdf5"
      cp "$f" "$build/known_libhdf5/"
      echo "   libhdf5's own fault, contained by the helper process: $(basename "$f"): $verdict"
    else
      echo "   FINDING: $f" >&2
      report_excerpt <<<"$report"
      ok=1
    fi
  done < <(find "$build/crashes/$name" -maxdepth 1 -type f -newer "$stamp" -print0 2>/dev/null)
  [ "$reports" -eq 0 ] || echo "   $crashes crash inputs, $reports fork job sanitizer reports (build-fuzz/reports/$name/)"
  if [ "$reports" -lt "$crashes" ]; then
    echo "   FINDING: $crashes crash inputs but $reports sanitizer reports; a job ended without one" \
         "(see build-fuzz/fuzz_$name.log)" >&2
    ok=1
  fi
  return $ok
}

# Runs harness `name` for $secs seconds. In fork mode libFuzzer exits with the status of its
# last job, a crash it was told to ignore included, so there the run counts as complete when
# it reached its normal end, and triage() judges every input it saved.
fuzz_one() {
  local name=$1 bin=$2 rc=0 env=()
  # Fork mode: each job's sanitizer report goes to a file of its own (report.PID), which
  # triage() reads; libFuzzer itself keeps only the first line of a job's log.
  [ "$name" = hdf5_results ] && env=(ASAN_OPTIONS="$ASAN_OPTIONS:$trace_format:log_path=$asan_reports/report")
  env "${env[@]}" "$bin" -max_total_time="$secs" "${limits[@]}" -max_len=65536 "${extra[@]}" \
       $([ -f "$here/dict/$name.dict" ] && echo "-dict=$here/dict/$name.dict") -artifact_prefix="$build/crashes/$name/" \
       -print_final_stats=1 "$build/corpus/$name" "$here/corpus/$name" \
       >"$build/fuzz_$name.log" 2>&1 || rc=$?
  if [ "$name" = hdf5_results ]; then
    grep -q '^INFO: exiting: ' "$build/fuzz_$name.log"
  else
    return $rc
  fi
}

failed=()
for name in "${names[@]}"; do
  bin=$build/tests/fuzz/fuzz_$name
  [ -x "$bin" ] || { echo "no harness fuzz_$name" >&2; exit 2; }
  mkdir -p "$build/corpus/$name" "$build/crashes/$name"
  echo "== fuzz_$name: ${secs}s"
  start=$(date +%s)
  # New inputs go to the first corpus dir (the build dir); the seeds stay untouched.
  extra=()
  # Fork mode, going on after a crash, which triage() then attributes (see the top).
  [ "$name" = hdf5_results ] && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=0 -ignore_ooms=0)
  stamp=$(mktemp "$scratch/stamp.XXXXXX")
  asan_reports=$(mktemp -d "$scratch/reports.XXXXXX")
  limits=(-timeout=10 -rss_limit_mb=2048)
  # libhdf5 (not ours, not instrumented) mallocs the size a damaged object header claims,
  # up to 4 GiB, before it reads and rejects the header (H5C_protect); the block is never
  # filled. Single mallocs are not limited for this harness; resident memory still is.
  [ "$name" = hdf5_results ] && limits+=(-malloc_limit_mb=1048576)
  if fuzz_one "$name" "$bin" && triage "$name" "$bin" "$stamp"; then
    # The final stats line: DONE (normal mode) or the last status line (fork mode).
    echo "   ok in $(( $(date +%s) - start ))s: $(grep -m1 -o 'DONE .*' "$build/fuzz_$name.log" ||
                                                 grep -o '#[0-9]*: cov: [0-9]* ft: [0-9]*' "$build/fuzz_$name.log" | tail -1 || true)"
  else
    echo "   FAILED (log: build-fuzz/fuzz_$name.log)" >&2
    grep -E -A3 'ERROR:|contract violation|runtime error:|deadly signal' "$build/fuzz_$name.log" | head -20 >&2 || true
    # Fork mode: how the run ended (its jobs' reports are files of their own, see triage()).
    [ "$name" != hdf5_results ] || grep -v 'NEW_FUNC' "$build/fuzz_$name.log" | tail -6 >&2 || true
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
