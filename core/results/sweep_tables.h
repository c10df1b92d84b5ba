#pragma once
// A sweep's results as files (docs/evaluation-in-the-loop.md): results.json (every point,
// the baseline and the options, with a SHA-256 of its canonical content), sweep.csv (one
// row per point) and the set directory that holds them with the figures.

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "edits/sweep.h"
#include "io/output_guard.h"
#include "util/control.h"

namespace tllm::exporting {

/// Marker kind of a sweep set directory (io::write_output_marker).
inline constexpr const char* kSweepKind = "sweep";

/// The sweep as JSON ("format": "tensorllm-sweep"); NaN values are null.
nlohmann::ordered_json sweep_json(const edits::SweepResult& r);
/// Reads what sweep_json() wrote (baseline per-window sums are not stored and stay empty).
/// Throws std::runtime_error naming `source` and the field for a document that is not one.
edits::SweepResult sweep_from_json(const nlohmann::json& j, const std::string& source);
/// One row per point: layer, label, method, ranks, LASER, errors, ratios, loss, deltas, KL,
/// top-1 agreement, accuracy, status, seconds. Empty cells for values a point does not have.
std::string sweep_csv(const edits::SweepResult& r);

/// Writes the set into directory `dir`: results.json, sweep.csv, then whatever `extra`
/// writes into the staging directory it is given (the figures), and the marker. The set
/// replaces an earlier sweep set only when complete; a failure or cancel leaves the earlier
/// one untouched. `dir` is checked against `sources` (io::check_output_dir, option `option`).
void write_sweep_set(const std::string& dir, const io::SourceSet& sources, const std::string& option,
                     const edits::SweepResult& r, const std::function<void(const std::string&)>& extra = {},
                     const util::Control& ctl = {});

}  // namespace tllm::exporting
