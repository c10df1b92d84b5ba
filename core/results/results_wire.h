#pragma once
// A results file in memory (exporting::ResultsFile) as a flat byte stream, and back.
//
// Why: libhdf5 (Debian's 1.10.8) has memory-safety bugs of its own on damaged files (fuzzing
// found a use-after-free in H5Aexists; tests/fuzz/README.md). The applications therefore never
// run libhdf5 on a results file in their own process: a helper process
// (tensorllm-read-results) reads the HDF5 file and writes this stream to a pipe, and the
// application decodes it here, with no libhdf5 involved (results/results_reader_process.h).
// A fault inside libhdf5 ends the helper, not the application.
//
// The helper is as untrusted as the file it read, so decoding validates everything: every
// length against the bytes left (no allocation beyond a small multiple of the input), every
// enum and bound, and then every invariant the consumers rely on (check_results). The stream
// is produced and consumed by the same build on the same machine: native byte order, with a
// magic string and a version that change whenever the layout does.

#include <string>
#include <string_view>

#include "edits/sweep.h"
#include "results/hdf5_results.h"

namespace tllm::exporting {

/// The stream's first 8 bytes.
inline constexpr std::string_view kResultsWireMagic = "TLLMRW02";

/// `f` as a byte stream (every field, factors and cores included when loaded).
/// Cost: one copy of the factors and cores.
std::string encode_results(const ResultsFile& f);

/// The ResultsFile encoded in `bytes`, with path = `path`. Throws std::runtime_error
/// "<path>: results from the reader process: <field>: <what>" on a stream that is truncated,
/// has trailing bytes, declares a length beyond the bytes left, holds an unknown enum value
/// or an out-of-range size, or fails check_results. Never allocates more than a small
/// multiple of bytes.size().
ResultsFile decode_results(std::string_view bytes, const std::string& path);

/// The sweep stream's first 8 bytes (tensorllm-read-results --sweep / --any on a sweep file).
inline constexpr std::string_view kSweepWireMagic = "TLLMSW01";

/// A sweep (results/sweep_hdf5.h) as a byte stream: every field, the baseline's per-window
/// sums and multiple-choice items included.
std::string encode_sweep(const edits::SweepResult& r);

/// The sweep encoded in `bytes`. Throws std::runtime_error "<path>: results from the reader
/// process: <field>: <what>" as decode_results does, then check_sweep's errors
/// ("<path>: <field>: <what>"). Never allocates more than a small multiple of bytes.size().
edits::SweepResult decode_sweep(std::string_view bytes, const std::string& path);

/// Checks the invariants every consumer of a ResultsFile relies on, as read_results_hdf5
/// establishes them: model geometry positive and bounded with heads divisible by kv heads,
/// the kv mapping, one layout per layer, distinct layer indices, ranks within (d, dv, 4)
/// (at least 1 for a complete layer), factors d x R1, dv x R2, 4 x R3 and a core
/// (R1, R2, R3, h) when present (all or none), per-head measures of h entries, per-slice
/// singular values h x 4 x dv when present, spectra no longer than their mode, valid rank
/// options. Throws std::runtime_error "<path>: <field>: <what>".
void check_results(const ResultsFile& f);

}  // namespace tllm::exporting
