#pragma once
// Reading a results file without running libhdf5 in this process.
//
// libhdf5 1.10.8 (Debian 12) has memory-safety bugs of its own on damaged files; fuzzing found
// a use-after-free inside H5Aexists that no check of ours before the call can rule out
// (tests/fuzz/README.md). A results file is untrusted input, so the GUI and the CLI read it in
// a helper process, `tensorllm-read-results`, which runs read_results_hdf5 and writes the
// results to a pipe as the byte stream of results/results_wire.h. This process decodes and
// validates that stream. A fault in libhdf5 ends the helper; the caller gets a
// std::runtime_error naming the file, and whatever else it holds is untouched.

#include <optional>
#include <string>

#include "edits/sweep.h"
#include "results/hdf5_results.h"
#include "util/control.h"

namespace tllm::exporting {

/// The helper executable's file name.
inline constexpr const char* kResultsReaderName = "tensorllm-read-results";

/// Where the helper is: $TENSORLLM_RESULTS_READER when set; else, beside this process's
/// executable (the build tree, where tensorllm, tensorllm-studio and the helper share
/// build/app/), else <exe dir>/../libexec/tensorllm/ (the installed layout). Empty when none
/// of these exists.
std::string default_results_reader();

/// read_results_hdf5(path, ropt), run in the helper `reader` (empty = default_results_reader()).
/// Same result and the same error messages for a file libhdf5 reads without fault; besides:
/// - the helper ends with a signal or an unexpected exit status: std::runtime_error
///   "<path>: the HDF5 library failed while reading this file (reader process ended by
///   signal 11, SIGSEGV); the file is damaged";
/// - the helper cannot be started: std::runtime_error naming it and the reason;
/// - its output is not a valid results stream (decode_results's errors), or is larger than
///   the file could hold (1100 x the file size + 16 MiB, the reader's own bound on compressed
///   datasets), in which case the helper is killed;
/// - `ctl` cancelled: the helper is killed and util::Cancelled thrown (checked every 100 ms);
/// - the helper still running after 30 minutes (blocked, e.g. on a stalled network file
///   system): killed, std::runtime_error;
/// - a usage error reported by the helper (exit status 2): std::runtime_error saying so.
/// The helper limits its own address space and CPU time (tensorllm-read-results --help).
/// Cost: a process start (a few ms) plus a copy of the results through a pipe; memory: the
/// stream and the decoded results (about twice the results' size) at the end.
ResultsFile read_results_isolated(const std::string& path, const Hdf5ReadOptions& ropt = {},
                                  const util::Control& ctl = {}, const std::string& reader = {});

/// What an HDF5 file of this project holds: a decomposition results file or a sweep file
/// (exactly one of the two is set).
struct Hdf5Contents {
    std::optional<ResultsFile> results;
    std::optional<edits::SweepResult> sweep;
};

/// Reads a results file (as read_results_isolated with `ropt`) or a sweep file (as
/// read_sweep_hdf5; `ropt` does not apply), whichever the root attribute `format` says, in
/// one run of the helper (tensorllm-read-results --any). A file of neither format:
/// std::runtime_error naming both. Other errors as read_results_isolated.
Hdf5Contents read_hdf5_isolated(const std::string& path, const Hdf5ReadOptions& ropt = {},
                                const util::Control& ctl = {}, const std::string& reader = {});

}  // namespace tllm::exporting
