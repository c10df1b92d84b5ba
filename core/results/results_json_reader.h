#pragma once
// Reads back the layers of a results.json (exporting::results_json) so saved projects reopen
// with their results, without recomputing. Factors and cores are not part of results.json
// (they live in the HDF5 export); everything the charts show is.

#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/job_runner.h"

namespace tllm::exporting {

/// The complete layers of a results document. Throws std::runtime_error naming `source`, the
/// layer and the field on malformed input (wrong types, negative ranks, sizes inconsistent
/// with `shape`).
std::vector<jobs::LayerResult> layers_from_results_json(const nlohmann::json& doc, const model::AttentionShape& shape,
                                                        const std::string& source);

/// The rank spec and method options recorded in a results document's "options", when the
/// project file stores them in structured form (see ui project files).
jobs::JobOptions options_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json options_to_json(const jobs::JobOptions& o);

}  // namespace tllm::exporting
