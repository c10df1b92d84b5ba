#!/usr/bin/env bash
# Reads a sanitizer report (a replay of one crash input of fuzz_hdf5_results, printed with the
# stack_trace_format below) on stdin and decides whose fault it is. Exits 0 and prints
# "AddressSanitizer: KIND in H5F < H5G < ..." when it is libhdf5's own fault; exits 1 when it
# is a finding of ours. Used by run.sh; tests/core/test_fuzz_triage.cpp checks it on the
# reports in tests/fuzz/triage_cases/.
#
#   classify_report.sh HARNESS_BINARY < report
#
# libhdf5's own: the report is AddressSanitizer's, has no contract violation, UBSan or leak
# report, and in each of its stacks (the faulting access, and where the memory was allocated
# and freed) the innermost frame outside the sanitizer runtime and the system libraries is in
# libhdf5. So memory of ours that libhdf5 overran or used after we freed it (a buffer we
# passed with wrong dimensions) is a finding, as is anything our code does on top of a stack.
#
# Frames are told apart by their module, which the format prints last in <...>: the system
# libraries (libc, libstdc++, libgcc_s, libm, the loader) by path, whether or not the machine
# has their debug information (symbolized glibc frames read "string/../sysdeps/...S:362"); the
# sanitizer runtime (interceptors such as memcpy or strdup, malloc, operator new) and
# libFuzzer's engine are linked into the harness binary without debug information, so they are
# the harness's frames without a source path ("<null>:0", or an object file such as
# "FuzzerLoop.cpp.o:0"); our code in the harness always has its absolute source path and line.
#
# The format run.sh replays with (ASAN_OPTIONS stack_trace_format):
#   #%n %p in %f %s:%l <%m>
set -euo pipefail
bin=$(readlink -m "$1")
report=$(cat)
tops=$(awk -v bin="$bin" '
  /ERROR: AddressSanitizer|allocated by thread|freed by thread/ { want = 1; next }
  want && /^ *#[0-9]+ / {
    if (!match($0, /<[^<>]*>$/)) { print "?"; want = 0; next }
    module = substr($0, RSTART + 1, RLENGTH - 2)
    n = split(substr($0, 1, RSTART - 1), word, " ")
    if (module == bin && word[n] !~ /^\//) next
    if (module ~ /libclang_rt|\/libc\.so|\/libstdc\+\+\.so|\/libgcc_s\.so|\/libm\.so|\/ld-linux/) next
    print module; want = 0 }' <<<"$report")
if grep -q 'ERROR: AddressSanitizer' <<<"$report" && [ -n "$tops" ] &&
   ! grep -q -v '/libhdf5[^/]*$' <<<"$tops" &&
   ! grep -q -E 'contract violation|runtime error:|LeakSanitizer' <<<"$report"; then
  # e.g. "AddressSanitizer: SEGV in H5O__msg_iterate_real < H5O__attr_exists < H5Aexists"
  echo "$(grep -m1 -o 'AddressSanitizer: [A-Za-z-]*' <<<"$report") in" \
       "$(sed -n '/ERROR: AddressSanitizer/,/^$/p' <<<"$report" | grep libhdf5 |
          grep -o ' in H5[A-Za-z0-9_]*' | cut -c5- | paste -sd'<' | sed 's/</ < /g')"
  exit 0
fi
exit 1
