// tensorllm bench --eval: evaluation benchmarks (docs/performance.md, "Evaluation").
#include "bench_eval.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "analysis/benchmark.h"
#include "edits/sweep.h"
#include "eval/tokenizer.h"
#include "io/mapped_file.h"
#include "util/resources.h"

namespace tllm::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The demo-model sweep of the evaluation-in-the-loop benchmark: every layer x 8 rank
// choices on the bundled 64 KiB text, ctx 128, stride 128.
edits::SweepOptions demo_sweep_options(int threads, std::uint64_t cache) {
    edits::SweepOptions o;
    for (auto r : {std::array<int, 3>{64, 32, 4}, {64, 16, 4}, {32, 16, 4}, {32, 8, 4}, {16, 16, 4}, {16, 8, 2}, {8, 8, 2},
                   {8, 4, 1}}) {
        tucker::RankSpec s;
        s.ranks = r;
        o.choices.push_back(s);
    }
    o.tucker.method = tucker::Method::HOOI;
    o.ppl.ctx = 128;
    o.ppl.stride = 128;
    o.threads = threads;
    o.prefix_cache_bytes = cache;
    return o;
}

}  // namespace

nlohmann::ordered_json run_eval_bench(int threads, const std::string& filter, bool json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    if (!filter.empty() && std::string("sweep-demo").find(filter) == std::string::npos) return out;
    auto m = std::make_shared<const model::Model>(util::default_model_dir());
    eval::ForwardOptions fo;
    fo.threads = threads;
    eval::Transformer t(m, fo);
    auto tok = eval::load_tokenizer(m->checkpoint().directory(), t.config().vocab_size);
    const std::string text = io::read_regular_file(util::default_eval_text(), 1 << 20);
    const auto in = edits::make_sweep_input(*tok, text, "kjv-validation-64k.txt");
    if (!json)
        std::printf("%-40s %9s %9s %9s %7s %10s %12s\n", "case", "seconds", "baseline", "per point", "points",
                    "tokens/s", "saved (est.)");
    for (const bool cached : {true, false}) {
        const auto opt = demo_sweep_options(threads, cached ? (2ull << 30) : 0);
        bench::reset_peak_rss();
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = edits::run_sweep(*m, t, *tok, in, opt);
        const double s = seconds_since(t0);
        const std::string name = std::string("sweep-demo 6x8 ") + (cached ? "prefix cache" : "full passes");
        double eval_s = 0;
        for (const auto& p : r.points) eval_s += p.seconds_eval;
        // Scored tokens through the edited passes per second of evaluation.
        const double tps = double(r.baseline.ppl.n_scored) * double(r.points.size()) / eval_s;
        if (json)
            out.push_back({{"name", name}, {"seconds", s}, {"baseline_seconds", r.prefix.seconds_baseline},
                           {"points", r.points.size()}, {"eval_seconds", eval_s}, {"tokens_per_second", tps},
                           {"kept_layers", r.prefix.layers}, {"kept_bytes", r.prefix.used_bytes},
                           {"saved_seconds_estimate", r.prefix.seconds_saved}, {"peak_rss_mib", bench::peak_rss_mib()}});
        else
            std::printf("%-40s %9.2f %9.2f %9.3f %7zu %10.0f %12.1f\n", name.c_str(), s, r.prefix.seconds_baseline,
                        eval_s / double(r.points.size()), r.points.size(), tps, r.prefix.seconds_saved);
        std::fflush(stdout);
    }
    return out;
}

}  // namespace tllm::cli
