#pragma once
// results.json and the CSV tables of a decomposition run (tensorllm decompose --out DIR).
//
// The files are written as a set: into a staging directory that replaces DIR only when all
// are complete (an earlier results set in DIR is replaced; any other non-empty DIR, or one
// holding the source model, is refused: io::check_output_dir). results.json carries a
// SHA-256 checksum of its content (util/json_checksum.h).
// Files:
//   results.json      model, options (rank_choice: "ranks 32,16,4", "tolerance 0.2", ...;
//                     method, balance_slices, ...), and per layer: status, message,
//                     warnings, ranks, errors (layer, worst slice, per type, per head x
//                     type), parameters and ratios, captured energy, HOOI trace, timings,
//                     mode spectra
//   layers.csv        one row per layer
//   heads.csv         one row per layer x head x type: error, head compression ratio
//   spectra.csv       one row per layer x mode x index: singular value, captured energy
//   head_spectra.csv  one row per layer x head x type x index: singular value
//   trace.csv         one row per layer x iteration: relative error

#include <string>

#include <nlohmann/json.hpp>

#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/control.h"

namespace tllm::exporting {

/// One layer's status, message and (when complete) ranks, errors, parameters, trace and
/// spectra, as in results.json.
nlohmann::ordered_json layer_result_json(const jobs::LayerResult& r);
/// The layer's timings {load, spectra, decompose, measures, total} in seconds.
nlohmann::ordered_json seconds_json(const jobs::LayerResult& r);

/// The whole run as JSON (the content of results.json).
nlohmann::ordered_json results_json(const model::Model& m, const jobs::JobOptions& opt, const jobs::JobSummary& s);

/// Marker kind of a results directory (io::write_output_marker).
inline constexpr const char* kResultsKind = "results";

/// Writes results.json and the CSV tables as one set into `dir` (its parent created if
/// missing). Throws io::UnsafeOutput when `dir` is or contains the source or is a foreign
/// non-empty directory, std::runtime_error naming the file on a write failure, and
/// util::Cancelled when `ctl` is cancelled; in every case `dir` is left as it was.
void write_results(const std::string& dir, const model::Model& m, const jobs::JobOptions& opt,
                   const jobs::JobSummary& s, const util::Control& ctl = {});

/// The CSV tables as strings (also used by the GUI's "copy data" and report code).
std::string layers_csv(const jobs::JobSummary& s);
std::string heads_csv(const jobs::JobSummary& s);
std::string spectra_csv(const jobs::JobSummary& s);
std::string head_spectra_csv(const jobs::JobSummary& s);
std::string trace_csv(const jobs::JobSummary& s);

/// Writes `text` to `path` atomically (temporary file + rename).
void write_text_file(const std::string& path, const std::string& text);

}  // namespace tllm::exporting
