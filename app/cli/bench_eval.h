#pragma once
// Evaluation benchmarks of tensorllm bench --eval.
#include <string>

#include <nlohmann/json.hpp>

namespace tllm::cli {

/// Runs the evaluation cases whose names contain `filter` (all when empty): the demo-model
/// sweep (6 layers x 8 rank choices on the bundled 64 KiB text) with the prefix cache and
/// with full passes. Prints a table unless `json`; returns the cases as JSON.
nlohmann::ordered_json run_eval_bench(int threads, const std::string& filter, bool json);

}  // namespace tllm::cli
