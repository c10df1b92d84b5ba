#include "sweep_cli.h"

#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <variant>

#include <unistd.h>

namespace tllm::cli {

edits::SweepResult run_sweep_with_progress(const model::Model& m, eval::Transformer& t, const eval::Tokenizer& tok,
                                           const edits::SweepInput& in, const edits::SweepOptions& opt, bool quiet,
                                           const std::atomic<bool>& interrupt, const SweepProgress& progress) {
    std::atomic<float> frac{0};
    std::atomic<bool> done{false};
    std::mutex mu;
    std::deque<std::variant<edits::SweepBaseline, edits::SweepPoint>> queue;
    edits::SweepCallbacks cb;
    cb.baseline = [&](const edits::SweepBaseline& b) {
        const std::lock_guard<std::mutex> g(mu);
        queue.emplace_back(b);
    };
    cb.point = [&](const edits::SweepPoint& p) {
        const std::lock_guard<std::mutex> g(mu);
        queue.emplace_back(p);
    };
    util::Control ctl;
    ctl.cancel = &interrupt;
    ctl.progress = &frac;
    edits::SweepResult result;
    std::exception_ptr error;
    std::thread worker([&] {
        try {
            result = edits::run_sweep(m, t, tok, in, opt, cb, ctl);
        } catch (...) {
            error = std::current_exception();
        }
        done = true;
    });
    const bool bar = !quiet && ::isatty(STDERR_FILENO);
    const auto t0 = std::chrono::steady_clock::now();
    auto flush = [&] {
        std::deque<std::variant<edits::SweepBaseline, edits::SweepPoint>> items;
        {
            const std::lock_guard<std::mutex> g(mu);
            items.swap(queue);
        }
        if (items.empty()) return;
        if (bar) std::fputs("\r\033[K", stderr);
        for (const auto& it : items) {
            if (const auto* b = std::get_if<edits::SweepBaseline>(&it)) {
                if (progress.header) progress.header(*b);
            } else if (progress.point) {
                progress.point(std::get<edits::SweepPoint>(it));
            }
        }
        std::fflush(stdout);
    };
    while (!done.load()) {
        flush();
        if (bar) {
            const float p = frac.load();
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            char left[32] = "";
            if (p > 0.02f) std::snprintf(left, sizeof left, ", %.0fs left", el * (1.0 - p) / p);
            const int fill = static_cast<int>(p * 30 + 0.5f);
            std::fprintf(stderr, "\rsweep [%.*s%*s] %5.1f%%  %.1fs%s ", fill, "##############################",
                         30 - fill, "", 100.0 * p, el, left);
            std::fflush(stderr);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    worker.join();
    flush();
    if (bar) std::fputs("\r\033[K", stderr);
    if (error) std::rethrow_exception(error);
    return result;
}

}  // namespace tllm::cli
