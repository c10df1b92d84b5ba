#pragma once
// Decomposes many layers of a model on a oneTBB pool without blocking the caller.
//
// Threads: start() returns at once; a dispatcher thread owns a tbb::task_arena with the
// requested number of threads and runs one task per layer. Each layer's own kernels run
// inside tbb::this_task_arena::isolate, so a thread waiting inside a layer never picks up
// another layer: at most `threads` layers are in flight.
// Memory: layers are read from the memory map when their task starts and dropped when it
// ends. Per layer in flight: W_all (4N bytes, N = d*dv*4*h), up to two intermediate tensors
// of at most W's size, and the d x d double Gram (8 d^2 bytes): about 12N + 8d^2 bytes, i.e.
// ~0.9 GiB for a LLaMA-2-7B layer; the results kept per layer are the factors and cores.
// The bound is `threads` x that, independent of the number of layers in the model.
// Cancel: cancel() sets a token that every kernel checks at block boundaries (a block is at
// most one GEMM tile or one eigensolve); layers not yet started are skipped.
// Errors: an exception inside a layer (bad weights, invalid ranks, I/O) becomes that layer's
// result with status Failed and the message; the other layers carry on.

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "analysis/measures.h"
#include "analysis/spectra.h"
#include "model/model.h"
#include "analysis/ranks.h"
#include "tucker/tucker.h"

namespace tllm::jobs {

struct JobOptions {
    std::vector<int> layers;       ///< layer indices; empty = every mapped layer
    tucker::RankSpec ranks;        ///< how to choose (R1, R2, R3) per layer
    tucker::TuckerOptions tucker;  ///< method and iteration options (its ranks are ignored)
    int threads = 0;               ///< worker threads; 0 = all cores
    bool spectra = true;           ///< compute the mode spectra (forced when ranks need them)
    bool slice_spectra = true;     ///< per-head per-type singular values
    /// Balance the slices (docs/method.md section 5.1): decompose W with Q, K, V and O each
    /// scaled to unit Frobenius norm, and fold the scales back into U3's rows, so that the
    /// error is shared by the four projections instead of falling on those with small norms.
    /// The mode spectra, tolerance bounds and HOOI trace then refer to the balanced tensor.
    bool balance_slices = false;
    bool allow_nonfinite = false;  ///< false: a layer with NaN/Inf weights fails with a message
    /// Run the worker threads at a lower scheduling priority (nice +5) so an interactive
    /// thread sharing the cores (the GUI) is served first. Results do not change.
    bool background_priority = false;

    /// Throws std::invalid_argument naming the field: unknown layer indices (listing the
    /// valid ones), invalid rank spec, invalid tucker options, threads < 0.
    void validate(const model::Model& m) const;
};

/// What happened to one layer.
struct LayerResult {
    int layer = 0;
    tucker::Status status = tucker::Status::Failed;
    std::string message;  ///< why it failed or was cancelled; empty when ok
    /// What the user should know about an otherwise complete result: ranks reduced to what
    /// the core can use, no compression at the requested error (tucker::RankChoice).
    std::vector<std::string> warnings;
    std::array<int, 3> ranks{0, 0, 0};
    tucker::TuckerResult tucker;
    analysis::LayerMeasures measures;
    std::optional<analysis::ModeSpectra> spectra;
    double seconds_load = 0, seconds_spectra = 0, seconds_decompose = 0, seconds_measures = 0, seconds_total = 0;
    bool complete() const { return status == tucker::Status::Ok || status == tucker::Status::NotConverged; }
};

struct JobSummary {
    std::vector<LayerResult> layers;  ///< in the order of JobOptions::layers
    bool cancelled = false;
    int failed = 0;
    double seconds = 0;
};

/// Runs the decomposition of one layer synchronously (used by the runner and by tests).
LayerResult run_layer(const model::Model& m, int layer, const JobOptions& opt, const util::Control& ctl);

class JobRunner {
public:
    using LayerCallback = std::function<void(const LayerResult&)>;
    using DoneCallback = std::function<void(std::shared_ptr<const JobSummary>)>;

    /// Validates the options (throws std::invalid_argument) but starts nothing.
    JobRunner(std::shared_ptr<const model::Model> model, JobOptions options);
    /// Cancels and joins.
    ~JobRunner();
    JobRunner(const JobRunner&) = delete;
    JobRunner& operator=(const JobRunner&) = delete;

    /// Starts the work and returns immediately. `on_layer` runs on a worker thread after each
    /// layer (never two at once); `on_done` runs once on the dispatcher thread at the end.
    void start(LayerCallback on_layer = {}, DoneCallback on_done = {});
    /// Requests cancellation; returns at once.
    void cancel() { cancel_.store(true); }
    bool cancel_requested() const { return cancel_.load(); }
    bool finished() const { return finished_.load(); }
    /// Blocks until finished (for the CLI and tests; never call from a GUI thread).
    void wait();

    /// Layer indices in job order.
    const std::vector<int>& layers() const { return options_.layers; }
    /// Progress of job layer k in [0, 1].
    float layer_progress(std::size_t k) const { return progress_[k].load(std::memory_order_relaxed); }
    /// Overall progress in [0, 1] (mean over layers).
    float progress() const;
    /// Layers finished (any status).
    int layers_done() const { return done_.load(); }
    /// The summary once finished, else null.
    std::shared_ptr<const JobSummary> summary() const;

private:
    std::shared_ptr<const model::Model> model_;
    JobOptions options_;
    std::unique_ptr<std::atomic<float>[]> progress_;
    std::atomic<bool> cancel_{false}, finished_{false};
    std::atomic<int> done_{0};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::shared_ptr<const JobSummary> summary_;
};

}  // namespace tllm::jobs
