#pragma once
// Running an evaluation from the command line: a progress bar on a terminal and Ctrl-C.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include <unistd.h>

#include "util/control.h"

namespace tllm::cli {

/// Runs f(Control) on a worker thread while the calling thread draws a progress bar on
/// stderr (when it is a terminal and not `quiet`) and forwards `interrupt` as the cancel
/// token. Returns f's result; rethrows its exception (util::Cancelled when cancelled).
template <class F>
auto run_with_progress(const char* what, bool quiet, const std::atomic<bool>& interrupt, F&& f) {
    std::atomic<float> progress{0};
    std::atomic<bool> done{false};
    util::Control ctl;
    ctl.cancel = &interrupt;
    ctl.progress = &progress;
    decltype(f(ctl)) result{};
    std::exception_ptr error;
    std::thread worker([&] {
        try {
            result = f(ctl);
        } catch (...) {
            error = std::current_exception();
        }
        done = true;
    });
    const bool bar = !quiet && ::isatty(STDERR_FILENO);
    const auto t0 = std::chrono::steady_clock::now();
    while (!done.load()) {
        if (bar) {
            const float p = progress.load();
            const int fill = static_cast<int>(p * 30 + 0.5f);
            std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%%  %.1fs", what, fill, "##############################",
                         30 - fill, "", 100.0 * p,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            std::fflush(stderr);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    worker.join();
    if (bar) std::fputs("\r\033[K", stderr);
    if (error) std::rethrow_exception(error);
    return result;
}

}  // namespace tllm::cli
