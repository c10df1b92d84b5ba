#include <algorithm>
#include "job_cli.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "analysis/ranks.h"
#include "util/layer_list.h"

namespace tllm::cli {
namespace {

std::atomic<bool>* g_interrupt = nullptr;
extern "C" void on_signal(int) {
    if (g_interrupt) g_interrupt->store(true);
}

void draw_bar(float p, int done, int total, double secs) {
    const int width = 30;
    const int fill = static_cast<int>(p * width + 0.5f);
    std::fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %d/%d layers  %.1fs", fill, "##############################",
                 width - fill, "", 100.0 * p, done, total, secs);
    std::fflush(stderr);
}

}  // namespace

std::set<std::string> job_option_names() {
    return {"ranks", "layer-ranks", "tol",      "ratio",   "params", "layers",     "method",
            "init",  "iters",       "hooi-tol", "threads", "solver", "mode-order", "balance"};
}

const char* job_options_help() {
    return "rank choice (one of):\n"
           "  --ranks R1,R2,R3     ranks of the d, head_dim and Q/K/V/O modes, for every layer\n"
           "  --layer-ranks L:R1,R2,R3[;L:...]   per-layer overrides of --ranks\n"
           "  --tol EPS            smallest ranks with relative error <= EPS guaranteed (0 < EPS <= 1)\n"
           "  --ratio CR           least error with compression ratio >= CR\n"
           "  --params N           least error with at most N parameters per layer\n"
           "options:\n"
           "  --layers LIST        e.g. 0-3,7 (default: all mapped layers)\n"
           "  --method M           hosvd | sthosvd | hooi (default hooi)\n"
           "  --init M             HOOI initialisation: hosvd | sthosvd (default sthosvd)\n"
           "  --iters N            HOOI: at most N sweeps (default 100)\n"
           "  --hooi-tol T         HOOI: stop when the error changes by less than T (default 1e-4)\n"
           "  --mode-order A,B,C   ST-HOSVD truncation order of the modes d, dv, qkvo (default\n"
           "                       largest first: d,dv,qkvo; dv,qkvo,d does less work on large layers)\n"
           "  --solver S           leading vectors: auto (subspace iteration for the d mode of large\n"
           "                       layers, exact fallback) | exact (Gram + LAPACK always); default auto\n"
           "  --balance on|off     balance the slices: decompose with Q, K, V and O each scaled to\n"
           "                       unit norm (the error is shared instead of falling on the small\n"
           "                       ones; docs/method.md section 5.1); default off\n"
           "  --threads N          worker threads (default: all cores); results do not depend on it\n";
}

jobs::JobOptions parse_job_options(const Args& args, const model::Model& m, bool default_ranks) {
    jobs::JobOptions opt;
    int kinds = 0;
    if (auto r = args.value("ranks")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Fixed;
        opt.ranks.ranks = tucker::parse_ranks(*r, "--ranks");
        ++kinds;
    }
    if (args.value("tol")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Tolerance;
        opt.ranks.tolerance = args.double_value("tol", 0);
        ++kinds;
    }
    if (args.value("ratio")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Ratio;
        opt.ranks.ratio = args.double_value("ratio", 0);
        ++kinds;
    }
    if (args.value("params")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Params;
        const double p = args.double_value("params", 0);
        if (!(p >= 1)) throw std::invalid_argument("--params: must be a positive count");
        opt.ranks.params = static_cast<std::uint64_t>(p);
        ++kinds;
    }
    if (kinds == 0 && default_ranks) {
        const auto& S = m.shape();
        opt.ranks.kind = tucker::RankSpec::Kind::Fixed;
        opt.ranks.ranks = {std::max(1, S.d / 4), std::max(1, S.dv / 2), 4};
        kinds = 1;
    }
    if (kinds != 1) throw std::invalid_argument("give exactly one of --ranks, --tol, --ratio, --params");
    if (auto lr = args.value("layer-ranks")) {
        if (opt.ranks.kind != tucker::RankSpec::Kind::Fixed) throw std::invalid_argument("--layer-ranks needs --ranks");
        const std::string s = *lr;
        std::size_t pos = 0;
        while (pos <= s.size()) {
            const auto end = s.find(';', pos);
            const std::string item = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            const auto colon = item.find(':');
            if (colon == std::string::npos)
                throw std::invalid_argument("--layer-ranks: expected L:R1,R2,R3, got '" + item + "'");
            const auto r = tucker::parse_ranks(item.substr(colon + 1), "--layer-ranks");
            for (int l : util::parse_layer_list(item.substr(0, colon))) opt.ranks.per_layer[l] = r;
            if (end == std::string::npos) break;
            pos = end + 1;
        }
    }
    opt.layers = util::parse_layer_list(args.value("layers").value_or(""));
    opt.tucker.method = tucker::parse_method(args.value("method").value_or("hooi"));
    opt.tucker.init = tucker::parse_method(args.value("init").value_or("sthosvd"));
    opt.tucker.max_iterations = args.int_value("iters", 100);
    opt.tucker.tolerance = args.double_value("hooi-tol", 1e-4);
    opt.tucker.solver = tucker::parse_solver(args.value("solver").value_or("auto"));
    if (auto b = args.value("balance")) {
        if (*b == "on")
            opt.balance_slices = true;
        else if (*b == "off")
            opt.balance_slices = false;
        else
            throw std::invalid_argument("--balance: expected on or off, got '" + *b + "'");
    }
    if (auto mo = args.value("mode-order")) {
        const std::string s = *mo;
        std::size_t pos = 0;
        while (true) {
            const auto end = s.find(',', pos);
            const std::string name = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            if (name == "d")
                opt.tucker.mode_order.push_back(0);
            else if (name == "dv" || name == "head_dim")
                opt.tucker.mode_order.push_back(1);
            else if (name == "qkvo")
                opt.tucker.mode_order.push_back(2);
            else
                throw std::invalid_argument("--mode-order: expected the names d, dv, qkvo, got '" + name + "'");
            if (end == std::string::npos) break;
            pos = end + 1;
        }
        std::vector<int> sorted = opt.tucker.mode_order;
        std::sort(sorted.begin(), sorted.end());
        if (sorted != std::vector<int>{0, 1, 2})
            throw std::invalid_argument("--mode-order: expected each of d, dv, qkvo once, got '" + s + "'");
    }
    opt.threads = args.int_value("threads", 0);
    return opt;
}

InterruptGuard::InterruptGuard() {
    g_interrupt = &flag_;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    g_interrupt = nullptr;
}

std::shared_ptr<const jobs::JobSummary> run_job(std::shared_ptr<const model::Model> m, const jobs::JobOptions& opt,
                                                bool quiet, const std::atomic<bool>& interrupt) {
    jobs::JobRunner runner(std::move(m), opt);
    const bool bar = !quiet && ::isatty(STDERR_FILENO);
    const auto t0 = std::chrono::steady_clock::now();
    runner.start();
    while (!runner.finished()) {
        if (interrupt.load()) runner.cancel();
        if (bar)
            draw_bar(runner.progress(), runner.layers_done(), int(runner.layers().size()),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    runner.wait();
    auto summary = runner.summary();
    if (bar) {
        draw_bar(1.0f, runner.layers_done(), int(runner.layers().size()), summary->seconds);
        std::fputc('\n', stderr);
    }
    return summary;
}

}  // namespace tllm::cli
