// tensorllm bench --eval: evaluation benchmarks (docs/performance.md, "Evaluation").
#include "bench_eval.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include <cblas.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "analysis/benchmark.h"
#include "edits/sweep.h"
#include "eval/evaluate.h"
#include "eval/kernels.h"
#include "eval/tokenizer.h"
#include "io/mapped_file.h"
#include "model/synthetic.h"
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
    for (auto r : {std::array<int, 3>{64, 32, 4},
                   {64, 16, 4},
                   {32, 16, 4},
                   {32, 8, 4},
                   {16, 16, 4},
                   {16, 8, 2},
                   {8, 8, 2},
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

// The dense products of an evaluation replayed alone: every SGEMM a layer pass does (Q, K,
// V, O, the MLP, and the attention's scores and values, causal in blocks of 64 query rows as
// in eval::kernels::attention) over `rows` rows in batches of `batch_rows` (whole windows of
// ctx tokens) run in parallel, as TextComparer runs them, and the lm_head product over
// `logit_rows` rows in blocks of RunState::kLogitRows. Nothing else: no norms, softmax,
// activations, KL or copies. Seconds for one layer pass and for one pass of logits, the best
// of three: what an evaluation cannot go below with this BLAS, measured in the same run.
struct ProductTimes {
    double layer_pass = 0, logit_pass = 0;
};
ProductTimes time_products(const eval::Config& c, int threads, int ctx, std::int64_t rows, int batch_rows,
                           std::int64_t logit_rows) {
    const int d = c.dim, dv = c.head_dim, hd = c.n_heads * dv, kvd = c.n_kv_heads * dv, f = c.hidden_dim;
    const int V = c.vocab_size, group = c.n_heads / c.n_kv_heads;
    const int per = std::max(1, batch_rows / ctx), n = per * ctx;
    const std::int64_t batches = (rows + n - 1) / n;
    auto filled = [](std::size_t k) {
        std::vector<float> v(k);
        for (std::size_t i = 0; i < k; ++i) v[i] = float((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        return v;
    };
    const auto wq = filled(std::size_t(hd) * d), wk = filled(std::size_t(kvd) * d), wv = filled(std::size_t(kvd) * d),
               wo = filled(std::size_t(d) * hd), wu = filled(std::size_t(f) * d), wd = filled(std::size_t(d) * f),
               head = filled(std::size_t(V) * d);
    std::vector<float> wg;
    if (c.family == eval::Family::Llama) wg = filled(std::size_t(f) * d);
    struct Buffers {
        std::vector<float> x, y, q, k, v, att, h, logits;  // x stays constant: no value grows pass by pass
    };
    tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
    tbb::enumerable_thread_specific<Buffers> local([&] {
        Buffers b;
        b.x.assign(std::size_t(n) * d, 0.01f);
        b.y.resize(std::size_t(n) * d);
        b.q.resize(std::size_t(n) * hd);
        b.k.resize(std::size_t(n) * kvd);
        b.v.resize(std::size_t(n) * kvd);
        b.att.resize(std::size_t(n) * hd);
        b.h.resize(std::size_t(n) * f);
        b.logits.resize(std::size_t(eval::RunState::kLogitRows) * V);
        return b;
    });
    auto layer = [&](Buffers& b) {
        namespace k = eval::kernels;
        k::matmul(b.q.data(), b.x.data(), wq.data(), nullptr, n, d, hd);
        k::matmul(b.k.data(), b.x.data(), wk.data(), nullptr, n, d, kvd);
        k::matmul(b.v.data(), b.x.data(), wv.data(), nullptr, n, d, kvd);
        const int blocks = (ctx + 63) / 64;
        tbb::parallel_for(0, per * c.n_heads * blocks, [&](int task) {
            const int j = task / (c.n_heads * blocks), head_i = task / blocks % c.n_heads, r0 = task % blocks * 64;
            const std::size_t r = std::size_t(j) * ctx;
            const int nr = std::min(64, ctx - r0), nk = r0 + nr, g = head_i / group;
            thread_local std::vector<float> S;
            S.resize(std::size_t(64) * ctx);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, dv, 1.0f,
                        b.q.data() + (r + std::size_t(r0)) * hd + head_i * dv, hd, b.k.data() + r * kvd + g * dv, kvd,
                        0.0f, S.data(), nk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dv, nk, 1.0f, S.data(), nk,
                        b.v.data() + r * kvd + g * dv, kvd, 0.0f,
                        b.att.data() + (r + std::size_t(r0)) * hd + head_i * dv, hd);
        });
        k::matmul(b.y.data(), b.att.data(), wo.data(), nullptr, n, hd, d);
        if (!wg.empty()) k::matmul(b.h.data(), b.x.data(), wg.data(), nullptr, n, d, f);
        k::matmul(b.h.data(), b.x.data(), wu.data(), nullptr, n, d, f);
        k::matmul(b.y.data(), b.h.data(), wd.data(), nullptr, n, f, d);
    };
    auto best_of_3 = [&](auto&& body, std::int64_t tasks) {
        double best = 1e300;
        for (int rep = 0; rep < 3; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            arena.execute(
                [&] { tbb::parallel_for(std::int64_t(0), tasks, [&](std::int64_t) { body(local.local()); }); });
            best = std::min(best, seconds_since(t0));
        }
        return best;
    };
    ProductTimes t;
    t.layer_pass = best_of_3(layer, batches);
    const int L = eval::RunState::kLogitRows;
    t.logit_pass = best_of_3(
        [&](Buffers& b) { eval::kernels::matmul(b.logits.data(), b.x.data(), head.data(), nullptr, L, d, V); },
        (logit_rows + L - 1) / L);
    return t;
}

// A synthetic complete checkpoint of a real model's shape, and how many of its windows of
// 1024 tokens the throughput case scores.
struct ShapeCase {
    const char* name;  // the case name after "throughput " / "peak-memory "
    model::SyntheticSpec spec;
    int windows;
};

model::SyntheticSpec complete_spec(const char* type, int hidden, int heads, int kv_heads, int layers, int ffn,
                                   int vocab, int positions, bool tied) {
    model::SyntheticSpec s;
    s.model_type = type;
    s.hidden = hidden;
    s.heads = heads;
    s.kv_heads = kv_heads;
    s.layers = layers;
    s.ffn = ffn;
    s.vocab = vocab;
    s.positions = positions;
    s.tied_embeddings = tied;
    s.dtype = io::DType::BF16;
    return s;
}

// The tensorllm synth options that write the same checkpoint (printed in --json output for
// tests/bench/torch_throughput.py).
std::vector<std::string> synth_args(const model::SyntheticSpec& s) {
    std::vector<std::string> a{"--type",      s.model_type,
                               "--hidden",    std::to_string(s.hidden),
                               "--heads",     std::to_string(s.heads),
                               "--layers",    std::to_string(s.layers),
                               "--ffn",       std::to_string(s.ffn),
                               "--vocab",     std::to_string(s.vocab),
                               "--positions", std::to_string(s.positions),
                               "--dtype",     "BF16"};
    if (s.kv_heads) a.insert(a.end(), {"--kv-heads", std::to_string(s.kv_heads)});
    if (s.tied_embeddings) a.push_back("--tie-embeddings");
    return a;
}

// Fixed token ids: ids[i] = (i * 2654435761 mod 2^32) mod vocab (tests/bench/torch_throughput.py
// uses the same rule).
std::vector<std::int32_t> bench_ids(std::int64_t n, int vocab) {
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
        ids[std::size_t(i)] = std::int32_t((std::uint32_t(i) * 2654435761u) % std::uint32_t(vocab));
    return ids;
}

// A directory under TMPDIR (or /tmp) removed with everything in it when this goes out of scope.
class ScratchDir {
public:
    explicit ScratchDir(const std::string& tag) {
        const char* base = std::getenv("TMPDIR");
        path_ = std::filesystem::path(base && *base ? base : "/tmp") /
                ("tensorllm-bench-" + tag + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::string str() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

// Parameters of the layers (every tensor a layer reads): the "non-embedding" count.
std::uint64_t layer_parameters(const eval::Transformer& t) {
    std::uint64_t n = 0;
    const auto& ck = t.model().checkpoint();
    for (int l = 0; l < t.config().n_layers; ++l)
        for (const auto& name : t.layer_tensor_names(l)) n += ck.at(name).info->numel();
    return n;
}

bool selected(const std::string& name, const std::string& filter) {
    return filter.empty() || name.find(filter) != std::string::npos;
}

// Throughput of perplexity evaluation (windows of 1024 tokens, stride 1024) on a synthetic
// checkpoint of `c`'s shape, next to the SGEMM bound.
nlohmann::ordered_json throughput_case(const ShapeCase& c, int threads, int windows, const bench::MachineLimits& m,
                                       bool json) {
    const std::string name = std::string("throughput ") + c.name + " ctx1024";
    ScratchDir dir(c.name);
    auto t0 = std::chrono::steady_clock::now();
    model::write_synthetic_checkpoint(dir.str(), c.spec);
    const double synth_s = seconds_since(t0);
    bench::reset_peak_rss();
    t0 = std::chrono::steady_clock::now();
    auto mp = std::make_shared<const model::Model>(dir.str());
    eval::ForwardOptions fo;
    fo.threads = threads;
    eval::Transformer t(mp, fo);
    t.preload();  // weight conversion is load time, not scoring
    const double load_s = seconds_since(t0);
    const int ctx = 1024, w = windows > 0 ? windows : c.windows;
    const auto ids = bench_ids(std::int64_t(w) * ctx, t.config().vocab_size);
    eval::PerplexityOptions po;
    po.ctx = ctx;
    po.stride = ctx;
    t0 = std::chrono::steady_clock::now();
    const auto r = eval::perplexity_ids(t, ids, {}, po, "bench ids");
    const double s = seconds_since(t0);
    const auto& cfg = t.config();
    const double params = double(layer_parameters(t));
    const double tps = double(r.n_tokens) / s;
    const double bound_tps = m.gemm_gflops * 1e9 / (2.0 * params);
    // FLOPs actually done per token: the layers' products, lm_head, and causal attention
    // (scores and weighted values over n/2 keys on average: 2 * n * d per layer and token).
    const double flop_per_token = 2.0 * (params + double(cfg.vocab_size) * cfg.dim) +
                                  2.0 * ctx * double(cfg.n_heads * cfg.head_dim) * cfg.n_layers;
    const double gflops = flop_per_token * tps / 1e9;
    const double peak = bench::peak_rss_mib();
    // The same window's products alone (layers, attention, lm_head), in the same run.
    const ProductTimes pt = time_products(cfg, threads, ctx, ctx, ctx, ctx);
    const double products_tps = double(ctx) / (cfg.n_layers * pt.layer_pass + pt.logit_pass);
    if (json)
        return {{"name", name},
                {"synth_args", synth_args(c.spec)},
                {"ids", "ids[i] = (i * 2654435761 mod 2^32) mod vocab"},
                {"ctx", ctx},
                {"windows", r.n_windows()},
                {"tokens", r.n_tokens},
                {"seconds", s},
                {"tokens_per_second", tps},
                {"layer_parameters", params},
                {"sgemm_gflops", m.gemm_gflops},
                {"openblas_coretype", m.blas_coretype},
                {"bound_tokens_per_second", bound_tps},
                {"fraction_of_bound", tps / bound_tps},
                {"gflops_all_products", gflops},
                {"products_alone_tokens_per_second", products_tps},
                {"products_alone_fraction_of_bound", products_tps / bound_tps},
                {"mean_nll", r.mean_nll},
                {"synth_seconds", synth_s},
                {"load_seconds", load_s},
                {"peak_rss_mib", peak}};
    std::printf("%-34s %7lld %8.2f %9.1f %9.1f %7.3f %8.1f %9.5f %9.0f %9.1f %7.3f\n", name.c_str(),
                (long long)r.n_tokens, s, tps, bound_tps, tps / bound_tps, gflops, r.mean_nll, peak, products_tps,
                products_tps / bound_tps);
    std::fflush(stdout);
    return {};
}

// Peak resident memory of a short evaluation of the LLaMA-2-7B layout in bf16 with the
// default ForwardOptions (layers converted to float32 within the 4 GiB cache budget, the
// rest converted on each use), for `layers` of its 32 layers.
nlohmann::ordered_json peak_memory_case(int threads, int layers, bool json) {
    auto spec = complete_spec("llama", 4096, 32, 0, layers, 11008, 32000, 2048, false);
    spec.shards = std::min(8, layers);
    const std::string name = "peak-memory llama-7b bf16 " + std::to_string(layers) + " layers";
    ScratchDir dir("llama-7b");
    auto t0 = std::chrono::steady_clock::now();
    model::write_synthetic_checkpoint(dir.str(), spec);
    const double synth_s = seconds_since(t0);
    std::uint64_t disk = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.str())) disk += e.file_size();
    // Written pages may stay in the page cache, not in this process: the peak below is the
    // evaluation's own.
    bench::reset_peak_rss();
    t0 = std::chrono::steady_clock::now();
    auto mp = std::make_shared<const model::Model>(dir.str());
    eval::ForwardOptions fo;
    fo.threads = threads;
    eval::Transformer t(mp, fo);
    const auto ids = bench_ids(64, t.config().vocab_size);
    eval::PerplexityOptions po;
    po.ctx = 64;
    const auto r = eval::perplexity_ids(t, ids, {}, po, "bench ids");
    const double s = seconds_since(t0);
    const double peak = bench::peak_rss_mib();
    if (json)
        return {{"name", name},
                {"layers", layers},
                {"checkpoint_bytes", disk},
                {"tokens", r.n_tokens},
                {"seconds", s},
                {"cached_bytes", t.cached_bytes()},
                {"synth_seconds", synth_s},
                {"mean_nll", r.mean_nll},
                {"peak_rss_mib", peak}};
    std::printf("%-34s %7lld %8.2f  checkpoint %.2f GB, f32 layers cached %.2f GiB, peak %.0f MiB\n", name.c_str(),
                (long long)r.n_tokens, s, double(disk) / 1e9, double(t.cached_bytes()) / double(1ull << 30), peak);
    std::fflush(stdout);
    return {};
}

}  // namespace

nlohmann::ordered_json run_eval_bench(int threads, const std::string& filter, bool json, const EvalBenchOptions& opt) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    const ShapeCase shapes[] = {
        {"gpt2-124m", complete_spec("gpt2", 768, 12, 0, 12, 3072, 50257, 1024, true), 8},
        {"llama-1b", complete_spec("llama", 2048, 32, 8, 16, 8192, 128256, 2048, true), 2},
    };
    bool any_throughput = false;
    for (const auto& c : shapes) any_throughput |= selected(std::string("throughput ") + c.name + " ctx1024", filter);
    if (any_throughput) {
        const bench::MachineLimits m = bench::measure_machine(threads);
        if (!json) {
            std::printf(
                "machine: %d threads, SGEMM %.1f GFLOP/s, OPENBLAS_CORETYPE=%s; bound = SGEMM rate / (2 x layer "
                "parameters)\n\n",
                m.threads, m.gemm_gflops, m.blas_coretype.empty() ? "(unset)" : m.blas_coretype.c_str());
            std::printf("%-34s %7s %8s %9s %9s %7s %8s %9s %9s %9s %7s\n", "case", "tokens", "seconds", "tokens/s",
                        "bound/s", "x bound", "GFLOP/s", "mean NLL", "peak MiB", "products", "x bound");
        }
        for (const auto& c : shapes)
            if (selected(std::string("throughput ") + c.name + " ctx1024", filter)) {
                auto j = throughput_case(c, threads, opt.windows, m, json);
                if (json) out.push_back(j);
            }
    }
    // The 7B case writes about 13.5 GB: only when the filter asks for it.
    if (!filter.empty() && std::string("peak-memory llama-7b bf16").find(filter) != std::string::npos) {
        auto j = peak_memory_case(threads, opt.layers_7b > 0 ? opt.layers_7b : 32, json);
        if (json) out.push_back(j);
    }
    if (!selected("sweep-demo", filter)) return out;
    auto m = std::make_shared<const model::Model>(util::default_model_dir());
    eval::ForwardOptions fo;
    fo.threads = threads;
    eval::Transformer t(m, fo);
    auto tok = eval::load_tokenizer(m->checkpoint(), t.config().vocab_size);
    const std::string text = io::read_regular_file(util::default_eval_text(), 1 << 20);
    const auto in = edits::make_sweep_input(*tok, text, "kjv-validation-64k.txt");
    const auto& cfg = t.config();
    // Rows and scored rows of the sweep's windows (ctx 128, stride 128).
    const auto wopt = demo_sweep_options(threads, 0);
    eval::PerplexityResult wr;
    const auto windows = eval::perplexity_windows(t, std::int64_t(in.ids.size()), wopt.ppl, "bench", wr);
    std::int64_t rows = 0, scored = 0;
    for (const auto& w : windows) rows += w.end - w.begin, scored += w.end - w.first_scored;
    const ProductTimes pt = time_products(cfg, threads, wr.ctx, rows, 1024, scored);
    if (!json)
        std::printf("%-40s %9s %9s %9s %7s %10s %12s %10s\n", "case", "seconds", "baseline", "per point", "points",
                    "tokens/s", "saved (est.)", "products");
    for (const bool cached : {true, false}) {
        const auto opt = demo_sweep_options(threads, cached ? (2ull << 30) : 0);
        bench::reset_peak_rss();
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = edits::run_sweep(*m, t, *tok, in, opt);
        const double s = seconds_since(t0);
        const std::string name = std::string("sweep-demo 6x8 ") + (cached ? "prefix cache" : "full passes");
        double eval_s = 0;
        for (const auto& p : r.points) eval_s += p.seconds_eval;
        // The products this run did: each pass starts at the deepest kept layer at or below
        // its edited layer; the logits of the scored rows once per pass (twice without the
        // kept unedited distribution), and the baseline's.
        int layer_passes = cfg.n_layers, logit_passes = r.prefix.distribution ? 2 : 1;
        for (const auto& p : r.points) {
            int start = 0;
            for (int k : r.prefix.layers)
                if (k <= p.spec.layer) start = k;
            layer_passes += cfg.n_layers - start;
            logit_passes += r.prefix.distribution ? 1 : 2;
        }
        const double products = layer_passes * pt.layer_pass + logit_passes * pt.logit_pass;
        // Scored tokens through the edited passes per second of evaluation.
        const double tps = double(r.baseline.ppl.n_scored) * double(r.points.size()) / eval_s;
        if (json)
            out.push_back({{"name", name},
                           {"seconds", s},
                           {"baseline_seconds", r.prefix.seconds_baseline},
                           {"points", r.points.size()},
                           {"eval_seconds", eval_s},
                           {"tokens_per_second", tps},
                           {"kept_layers", r.prefix.layers},
                           {"kept_bytes", r.prefix.used_bytes},
                           {"kept_unedited_distribution", r.prefix.distribution},
                           {"saved_seconds_estimate", r.prefix.seconds_saved},
                           {"layer_passes", layer_passes},
                           {"logit_passes", logit_passes},
                           {"products_seconds", products},
                           {"peak_rss_mib", bench::peak_rss_mib()}});
        else
            std::printf("%-40s %9.2f %9.2f %9.3f %7zu %10.0f %12.1f %10.2f\n", name.c_str(), s,
                        r.prefix.seconds_baseline, eval_s / double(r.points.size()), r.points.size(), tps,
                        r.prefix.seconds_saved, products);
        std::fflush(stdout);
    }
    return out;
}

}  // namespace tllm::cli
