#!/usr/bin/env bash
# Reads a sanitizer report of fuzz_hdf5_results (a fork job's own report, or a replay of a
# saved crash input; printed with the stack_trace_format below) on stdin and decides whose
# fault it is. Exits 0 and prints "AddressSanitizer: KIND in H5F < H5G < ..." when it is
# libhdf5's own fault; exits 1 when it is a finding of ours. Used by run.sh;
# FuzzTriage.* in tests/core/io/test_fuzz_regressions.cpp checks it on the reports in
# tests/fuzz/triage_cases/.
#
#   classify_report.sh HARNESS_BINARY SOURCE_ROOT < report
#
# libhdf5's own: the report is AddressSanitizer's, has no contract violation, UBSan or leak
# report, and in each of its stacks (the faulting access; where the memory was allocated and
# freed; for a stack address, the frame that owns it) the innermost frame that is not skipped
# (below) is in libhdf5, and the memory is not a global variable outside libhdf5. So memory
# of ours that libhdf5 overran or used after we freed it (a buffer, or a stack variable we
# passed with wrong dimensions) is a finding, as is anything our code does on top of a stack.
#
# Frames are told apart by their module, which the format prints last in <...>, and, in the
# harness binary, by their source path:
# - skipped: the system libraries (libc, libstdc++, libgcc_s, libm, the loader) by module
#   path, whether or not the machine has their debug information (symbolized glibc frames
#   read "string/../sysdeps/...S:362");
# - ours: harness frames whose source lies under SOURCE_ROOT (our code always has its path
#   and line);
# - skipped: every other harness frame: the sanitizer runtime (interceptors such as memcpy
#   or strdup, malloc, operator new), libFuzzer's engine and inlined library headers, with or
#   without debug information ("<null>:0", "FuzzerLoop.cpp.o:0", or a compiler-rt path on a
#   toolchain that ships it symbolized);
# - any other module (libhdf5 included) is the top of its stack.
#
# The format run.sh replays and fuzzes with (ASAN_OPTIONS stack_trace_format):
#   #%n %p in %f %s:%l <%m>
set -euo pipefail
bin=$(readlink -m "$1")
src=$(readlink -m "$2")
report=$(cat)
tops=$(awk -v bin="$bin" -v src="$src/" '
  /ERROR: AddressSanitizer|allocated by thread|freed by thread|is located in stack of thread/ { want = 1; next }
  # A global variable: ours unless libhdf5 defines it.
  /is located .* global variable/ { if ($0 !~ /libhdf5/) print "global variable outside libhdf5"; next }
  want && /^ *#[0-9]+ / {
    if (!match($0, /<[^<>]*>$/)) { print "?"; want = 0; next }
    module = substr($0, RSTART + 1, RLENGTH - 2)
    if (module == bin && index($0, " " src) == 0) next
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
