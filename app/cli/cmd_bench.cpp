// tensorllm bench: the standard benchmark set, related to this machine's own limits.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/benchmark.h"
#include "args.h"
#include "bench_eval.h"
#include "commands.h"

namespace tllm::cli {

int cmd_bench(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "json", "quick", "eval"}, {"threads", "filter", "windows", "layers"});
    if (args.flag("help")) {
        std::fputs(
            "usage: tensorllm bench [--quick | --eval] [--json] [--threads N] [--filter TEXT]\n"
            "\n"
            "Decomposes synthetic layers of GPT-2-small (768,64,4,12) and LLaMA-2-7B (4096,128,4,32)\n"
            "shapes (low rank + 10% noise) with HOSVD, ST-HOSVD and HOOI, and prints for each case\n"
            "the time, the FLOP count, GFLOP/s, the relative error, peak memory and the time as a\n"
            "multiple of the lower bound max(2*N*R1 / GEMM rate, 4N bytes / bandwidth). The GEMM rate\n"
            "and bandwidth are measured first, in the same run, with the same threads. Cases that\n"
            "take under a second run five times and report the median (\"first\": the first run).\n"
            "  --quick       GPT-2 shapes only (seconds)\n"
            "  --eval        the evaluation benchmarks instead: perplexity throughput (tokens/s) at ctx\n"
            "                1024 on synthetic GPT-2-124M and Llama-3.2-1B-shaped bf16 checkpoints\n"
            "                (written to a temporary directory, removed afterwards) next to the SGEMM\n"
            "                bound (SGEMM rate / (2 x layer parameters)); a sweep of the demo model\n"
            "                (every layer x 8 rank choices, HOOI, 64 KiB of text, ctx 128) with the\n"
            "                prefix cache and with every edited pass from the embeddings; and, only\n"
            "                with --filter peak-memory, the peak memory of evaluating 64 tokens of the\n"
            "                LLaMA-2-7B layout in bf16 (writes about 13.5 GB to TMPDIR)\n"
            "  --windows N   (--eval) windows of 1024 tokens per throughput case (default 8 / 2)\n"
            "  --layers N    (--eval) layers of the 7B-layout case (default 32)\n"
            "  --json        machine-readable output\n"
            "  --threads N   worker threads (default: all cores)\n"
            "  --filter TEXT only cases whose name contains TEXT\n",
            stdout);
        return 0;
    }
    const int threads = args.int_value("threads", 0);
    const std::string filter = args.value("filter").value_or("");
    const bool json = args.flag("json");
    if (args.flag("eval")) {
        if (args.flag("quick")) throw std::invalid_argument("--quick and --eval exclude each other");
        EvalBenchOptions eo;
        eo.windows = args.int_value("windows", 0);
        eo.layers_7b = args.int_value("layers", 0);
        if (eo.windows < 0 || eo.layers_7b < 0 || eo.layers_7b > 32)
            throw std::invalid_argument("--windows must not be negative, --layers must be in 1..32");
        const auto cases = run_eval_bench(threads, filter, json, eo);
        if (json) std::printf("%s\n", nlohmann::ordered_json({{"eval_cases", cases}}).dump(2).c_str());
        return 0;
    }
    const bench::MachineLimits m = bench::measure_machine(threads);
    if (!json)
        std::printf("machine: %d threads, SGEMM %.1f GFLOP/s, triad bandwidth %.1f GB/s, OPENBLAS_CORETYPE=%s\n\n",
                    m.threads, m.gemm_gflops, m.bandwidth_gbs,
                    m.blas_coretype.empty() ? "(unset)" : m.blas_coretype.c_str());
    if (!json)
        std::printf("%-37s %9s %4s %9s %10s %8s %10s %9s %10s %8s\n", "case", "seconds", "runs", "first", "GFLOP",
                    "GFLOP/s", "rel.error", "peak MiB", "bound (s)", "x bound");
    nlohmann::ordered_json out;
    out["machine"] = {{"threads", m.threads},
                      {"gemm_gflops", m.gemm_gflops},
                      {"bandwidth_gbs", m.bandwidth_gbs},
                      {"openblas_coretype", m.blas_coretype}};
    out["cases"] = nlohmann::json::array();
    std::array<std::int64_t, 4> dims_cached{0, 0, 0, 0};
    tensor::Tensor4 W;
    for (const auto& c : bench::standard_cases(args.flag("quick"))) {
        if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
        if (c.dims != dims_cached) {
            W = bench::synthetic_layer(c.dims, 42);
            dims_cached = c.dims;
        }
        const auto r = bench::run_case_repeated(c, W, m);
        if (json) {
            out["cases"].push_back({{"name", c.name},
                                    {"dims", c.dims},
                                    {"ranks", c.ranks},
                                    {"seconds", r.seconds},
                                    {"runs", r.runs},
                                    {"first_seconds", r.first_seconds},
                                    {"flops", r.flops},
                                    {"gflops", r.gflops},
                                    {"rel_error", r.rel_error},
                                    {"peak_rss_mib", r.peak_rss_mib},
                                    {"lower_bound_s", r.lower_bound_s},
                                    {"x_bound", r.x_bound}});
        } else {
            std::printf("%-37s %9.3f %4d %9.3f %10.1f %8.1f %10.5f %9.0f %10.4f %8.1f\n", c.name.c_str(), r.seconds,
                        r.runs, r.first_seconds, r.flops / 1e9, r.gflops, r.rel_error, r.peak_rss_mib, r.lower_bound_s,
                        r.x_bound);
            std::fflush(stdout);
        }
    }
    if (json) std::printf("%s\n", out.dump(2).c_str());
    return 0;
}

}  // namespace tllm::cli
