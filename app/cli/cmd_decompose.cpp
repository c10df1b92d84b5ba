// tensorllm decompose: shared-factor Tucker decomposition of selected layers, headless.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "export/results_tables.h"
#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/layer_list.h"

namespace tllm::cli {
namespace {

const char* kHelp =
    "usage: tensorllm decompose MODEL|--demo (--ranks R1,R2,R3 | --tol EPS | --ratio CR | --params N)\n"
    "                           --out DIR [options]\n"
    "\n"
    "Decomposes the attention of the selected layers (W_all, d x head_dim x 4 x heads) by a\n"
    "Tucker decomposition with factors shared across heads, and writes results.json and CSV\n"
    "tables (layers.csv, heads.csv, spectra.csv, head_spectra.csv, trace.csv) into DIR.\n"
    "\n"
    "rank choice (exactly one):\n"
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
    "  --threads N          worker threads (default: all cores); results do not depend on it\n"
    "  --no-spectra         skip the mode spectra (faster with --ranks)\n"
    "  --arch FILE          extra architecture layouts (docs/architectures.md)\n"
    "  --quiet              no progress bar\n"
    "\n"
    "Ctrl-C cancels cleanly: no file in DIR is written or changed.\n"
    "Exit status: 0 all layers done, 1 error, 2 usage error, 3 some layers failed (see\n"
    "layers.csv), 130 cancelled.\n";

std::atomic<bool>* g_cancel = nullptr;
extern "C" void on_sigint(int) {
    if (g_cancel) g_cancel->store(true);
}

void draw_bar(float p, int done, int total, double secs) {
    const int width = 30;
    const int fill = static_cast<int>(p * width + 0.5f);
    std::fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %d/%d layers  %.1fs", fill, "##############################",
                 width - fill, "", 100.0 * p, done, total, secs);
    std::fflush(stderr);
}

}  // namespace

int cmd_decompose(const std::vector<std::string>& argv) {
    Args args(argv, {"help", "demo", "no-spectra", "quiet"},
              {"ranks", "layer-ranks", "tol", "ratio", "params", "layers", "method", "init", "iters", "hooi-tol",
               "threads", "out", "arch"});
    if (args.flag("help")) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    const std::string path = resolve_model_path(args.positional(), args.flag("demo"), "decompose");
    const auto out = args.value("out");
    if (!out) throw std::invalid_argument("--out DIR is required");

    jobs::JobOptions opt;
    int kinds = 0;
    if (auto r = args.value("ranks")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Fixed;
        opt.ranks.ranks = tucker::parse_ranks(*r, "--ranks");
        ++kinds;
    }
    if (auto t = args.value("tol")) {
        opt.ranks.kind = tucker::RankSpec::Kind::Tolerance;
        opt.ranks.tolerance = args.double_value("tol", 0);
        ++kinds;
        (void)t;
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
    if (kinds != 1) throw std::invalid_argument("give exactly one of --ranks, --tol, --ratio, --params");
    if (auto lr = args.value("layer-ranks")) {
        if (opt.ranks.kind != tucker::RankSpec::Kind::Fixed)
            throw std::invalid_argument("--layer-ranks needs --ranks");
        std::string s = *lr;
        std::size_t pos = 0;
        while (pos <= s.size()) {
            const auto end = s.find(';', pos);
            const std::string item = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            const auto colon = item.find(':');
            if (colon == std::string::npos)
                throw std::invalid_argument("--layer-ranks: expected L:R1,R2,R3, got '" + item + "'");
            const auto layers = util::parse_layer_list(item.substr(0, colon));
            const auto r = tucker::parse_ranks(item.substr(colon + 1), "--layer-ranks");
            for (int l : layers) opt.ranks.per_layer[l] = r;
            if (end == std::string::npos) break;
            pos = end + 1;
        }
    }
    opt.layers = util::parse_layer_list(args.value("layers").value_or(""));
    opt.tucker.method = tucker::parse_method(args.value("method").value_or("hooi"));
    opt.tucker.init = tucker::parse_method(args.value("init").value_or("sthosvd"));
    opt.tucker.max_iterations = args.int_value("iters", 100);
    opt.tucker.tolerance = args.double_value("hooi-tol", 1e-4);
    opt.threads = args.int_value("threads", 0);
    opt.spectra = !args.flag("no-spectra");

    std::vector<model::ArchitectureSpec> extra;
    if (auto a = args.value("arch")) extra = model::read_architectures(*a);
    auto model = std::make_shared<const model::Model>(path, extra);
    jobs::JobRunner runner(model, opt);

    std::atomic<bool> interrupted{false};
    g_cancel = &interrupted;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {}, old_term {};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    const bool bar = !args.flag("quiet") && ::isatty(STDERR_FILENO);
    const auto t0 = std::chrono::steady_clock::now();
    runner.start();
    while (!runner.finished()) {
        if (interrupted.load()) runner.cancel();
        if (bar)
            draw_bar(runner.progress(), runner.layers_done(), int(runner.layers().size()),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    runner.wait();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    g_cancel = nullptr;
    const auto summary = runner.summary();
    if (bar) {
        draw_bar(1.0f, runner.layers_done(), int(runner.layers().size()), summary->seconds);
        std::fputc('\n', stderr);
    }
    if (summary->cancelled) {
        std::fprintf(stderr, "tensorllm decompose: cancelled after %.1fs; nothing written to %s\n", summary->seconds,
                     out->c_str());
        return 130;
    }
    exporting::write_results(*out, *model, opt, *summary);
    for (const auto& r : summary->layers) {
        if (r.complete())
            std::printf("layer %-4d ranks %d,%d,%d  error %.4f  ratio %.2f  %s  %.2fs\n", r.layer, r.ranks[0],
                        r.ranks[1], r.ranks[2], r.measures.rel_error, r.measures.ratio, tucker::status_name(r.status),
                        r.seconds_total);
        else
            std::printf("layer %-4d %s: %s\n", r.layer, tucker::status_name(r.status), r.message.c_str());
    }
    std::printf("wrote %s/{results.json,layers.csv,heads.csv,spectra.csv,head_spectra.csv,trace.csv} in %.2fs\n",
                out->c_str(), summary->seconds);
    if (summary->failed > 0) {
        std::fprintf(stderr, "tensorllm decompose: %d layer(s) failed; see layers.csv\n", summary->failed);
        return 3;
    }
    return 0;
}

}  // namespace tllm::cli
