#pragma once
// Evaluation benchmarks of tensorllm bench --eval.
#include <string>

#include <nlohmann/json.hpp>

namespace tllm::cli {

/// Sizes of the evaluation cases.
struct EvalBenchOptions {
    int windows = 0;    ///< windows of 1024 tokens per throughput case (0: the case's default)
    int layers_7b = 0;  ///< layers of the 7B-layout peak-memory case (0: all 32)
};

/// Runs the evaluation cases whose names contain `filter` (all when empty, except the 7B
/// case): perplexity throughput at ctx 1024 on synthetic GPT-2-124M and Llama-3.2-1B-shaped
/// bf16 checkpoints next to the SGEMM bound; the peak memory of a short evaluation of the
/// LLaMA-2-7B layout in bf16 (only when `filter` is a part of "peak-memory llama-7b bf16");
/// the demo-model sweep (6 layers x 8 rank choices on the bundled 64 KiB text) with the
/// prefix cache and with full passes. Prints a table unless `json`; returns the cases as JSON.
nlohmann::ordered_json run_eval_bench(int threads, const std::string& filter, bool json,
                                      const EvalBenchOptions& opt = {});

}  // namespace tllm::cli
