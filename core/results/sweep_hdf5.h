#pragma once
// A sweep (edits::SweepResult, evaluation in the loop) as one self-describing HDF5 file:
// `tensorllm sweep --h5 FILE`, shown by `tensorllm show FILE`.
//
// Its own file kind (root attribute format = "tensorllm-sweep"), not a group inside a
// decomposition results file: docs/hdf5-schema.md, "Sweep files", has the schema and the
// reasons. In brief:
//   /            attrs format, format_version, content_sha256, tool_version, created_utc,
//                model_path, model_type, model_params, text_source, mc_source, grid_size,
//                cancelled, seconds
//   /options     the SweepOptions (method, iterations, windows, combine, ...) as attributes;
//                layers, swept_layers, mode_order, the rank choices (choice_*) and the LASER
//                choices (laser_*) as datasets
//   /baseline    the unedited model: perplexity result as attributes, per-window sums as
//                datasets; /baseline/mc the multiple-choice result when there is one
//   /prefix_cache  edits::PrefixStats
//   /points      one row per point, one 1-D (or n x k) dataset per column: layer, choice,
//                laser, label, status, message, ranks (n, 3), weight_error, type_error (n, 4),
//                iterations, laser_error, layer_ratio, model_ratio, mean_nll, delta_nll,
//                delta_nll_stderr, kl_mean, kl_p99, top1_agreement, has_mc, mc (n, 6),
//                seconds_decompose, seconds_eval; NaN where a point has no value
// Written like the results files: assembled in memory, Fletcher32 on every non-empty
// dataset, a whole-file SHA-256 in `content_sha256`, a temporary file renamed over the target.

#include <string>

#include "edits/sweep.h"
#include "io/output_guard.h"
#include "util/control.h"

namespace tllm::exporting {

/// Value of the root attribute `format` of a sweep file, and the version written and read.
inline constexpr const char* kSweepHdf5Format = "tensorllm-sweep";
inline constexpr int kSweepHdf5FormatVersion = 1;

/// Checks what a file needs to be written and read back: layers, choice and LASER indices,
/// ranks, iterations, statuses and the multiple-choice items within their bounds, valid rank
/// and LASER choices. Throws std::runtime_error "<where>: <field>: <what>".
void check_sweep(const edits::SweepResult& r, const std::string& where);

/// Writes `r` to `path` (schema above). `path` is refused (io::UnsafeOutput, option
/// "HDF5 sweep file") when it is empty or a file of `sources` (the model's files, the
/// evaluation text, ...) under any name, or a loader-visible name in a source directory;
/// std::invalid_argument when `r` fails check_sweep. The file is assembled in memory, its
/// size checked against the free space (std::runtime_error), written to "<path>.tmp-..."
/// beside `path`, synced and renamed over it; on failure or cancel (util::Cancelled, checked
/// before the write and between 64 MiB blocks) no file is left and a previous `path` is
/// untouched.
void write_sweep_hdf5(const std::string& path, const edits::SweepResult& r, const io::SourceSet& sources,
                      const util::Control& ctl = {});

/// Reads a sweep file in a helper process (tensorllm-read-results --sweep; see
/// results/results_reader_process.h: libhdf5 never parses the file in this process), with
/// the same validation and error messages as read_sweep_hdf5_in_process plus the helper's
/// own (a crash of libhdf5, a missing helper, cancel). `reader` empty: default_results_reader().
edits::SweepResult read_sweep_hdf5(const std::string& path, const util::Control& ctl = {},
                                   const std::string& reader = {});

/// Reads a sweep file with libhdf5 in this process: for the helper and for tests only.
/// Validates everything before use: format and version, the content checksum (required),
/// every attribute's and dataset's type class, rank and dims, sizes bounded by the file,
/// known status, method and matrix names, then check_sweep. Throws std::runtime_error naming
/// the file, the object ("/points/ranks") and the value.
edits::SweepResult read_sweep_hdf5_in_process(const std::string& path);

/// The root attribute `format` of a file this project wrote ("tensorllm-results" or
/// "tensorllm-sweep"), read with libhdf5 in this process after the same file and superblock
/// checks as the readers. Throws std::runtime_error for anything else.
std::string hdf5_format_in_process(const std::string& path);

}  // namespace tllm::exporting
