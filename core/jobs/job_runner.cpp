#include "jobs/job_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <cmath>
#include <condition_variable>
#include <stdexcept>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tensor/tensorize.h"

namespace tllm::jobs {
namespace {

// Frobenius norm of each slice type t (Q, K, V, O) of W (d, dv, 4, h), over all heads; 1 for
// an all-zero type (nothing to scale).
std::array<double, 4> slice_norms(const tensor::Tensor4& W) {
    std::array<double, 4> ss{0, 0, 0, 0};
    const std::int64_t block = W.dim[0] * W.dim[1];
    for (std::int64_t k = 0; k < W.dim[3]; ++k)
        for (std::int64_t t = 0; t < 4; ++t) {
            const float* p = W.data.data() + (k * 4 + t) * block;
            double s = 0;
            for (std::int64_t i = 0; i < block; ++i) s += double(p[i]) * p[i];
            ss[std::size_t(t)] += s;
        }
    for (auto& v : ss) v = v > 0 ? std::sqrt(v) : 1.0;
    return ss;
}

// W with slice type t divided by scale[t].
tensor::Tensor4 balanced(const tensor::Tensor4& W, const std::array<double, 4>& scale) {
    tensor::Tensor4 B = W;
    const std::int64_t block = W.dim[0] * W.dim[1];
    for (std::int64_t k = 0; k < W.dim[3]; ++k)
        for (std::int64_t t = 0; t < 4; ++t) {
            float* p = B.data.data() + (k * 4 + t) * block;
            const float inv = float(1.0 / scale[std::size_t(t)]);
            for (std::int64_t i = 0; i < block; ++i) p[i] *= inv;
        }
    return B;
}
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Lowers the priority of every thread that enters the arena (Linux: nice is per thread), and
// tries to restore it on exit (raising it back needs privileges; workers may stay nicer).
class NiceObserver : public tbb::task_scheduler_observer {
public:
    explicit NiceObserver(tbb::task_arena& a) : tbb::task_scheduler_observer(a) { observe(true); }
    ~NiceObserver() override { observe(false); }
    void on_scheduler_entry(bool) override { set(5); }
    void on_scheduler_exit(bool) override { set(0); }

private:
    static void set(int nice) {
        const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
        (void)::setpriority(PRIO_PROCESS, tid, nice);
    }
};

// The first checkpoint tensor of `layer` holding a non-finite value, or "" when all are finite.
std::string nonfinite_report(const model::Model& m, int layer, const tensor::Tensor4& W) {
    static const char* types[4] = {"Q", "K", "V", "O"};
    const auto& L = m.layer(layer);
    for (int t = 0; t < 4; ++t) {
        std::int64_t bad = 0;
        for (std::int64_t i = 0; i < W.dim[3]; ++i) {
            const float* s = W.slice(t, i);
            for (std::int64_t k = 0; k < W.dim[0] * W.dim[1]; ++k) bad += !std::isfinite(s[k]);
        }
        if (bad)
            return "tensor '" + L.parts[t].tensor + "' (" + types[t] + ") contains " + std::to_string(bad) +
                   " NaN/Inf values (per query head, after grouping); the decomposition refuses non-finite weights";
    }
    return {};
}
}  // namespace

void JobOptions::validate(const model::Model& m) const {
    if (threads < 0) throw std::invalid_argument("threads: must be >= 0, got " + std::to_string(threads));
    for (int l : layers) m.layer(l);  // throws std::out_of_range listing the valid layers
    ranks.validate();
    tucker::TuckerOptions t = tucker;
    t.ranks = {1, 1, 1};
    const auto& S = m.shape();
    t.validate({S.d, S.dv, 4, S.h});
    if (ranks.kind == tucker::RankSpec::Kind::Fixed) {
        std::vector<int> all = layers;
        if (all.empty())
            for (const auto& L : m.layers()) all.push_back(L.index);
        for (int l : all) tucker::choose_ranks(ranks, l, S, nullptr);
    }
}

LayerResult run_layer(const model::Model& m, int layer, const JobOptions& opt, const util::Control& ctl) {
    LayerResult r;
    r.layer = layer;
    const auto t0 = Clock::now();
    double max_abs = 0, safe_abs = 0;
    try {
        ctl.check();
        auto t = Clock::now();
        const tensor::Tensor4 W = tensor::tensorize(m, layer, ctl);
        r.seconds_load = since(t);
        if (!opt.allow_nonfinite)
            if (auto bad = nonfinite_report(m, layer, W); !bad.empty()) throw std::runtime_error(bad);
        // Finite weights can still overflow single precision once squared and summed in the
        // mode Grams; remembered so that a solver failure can say so.
        for (std::int64_t i = 0; i < W.size(); ++i)
            max_abs = std::max<double>(max_abs, std::fabs(W.data[std::size_t(i)]));
        const double widest = double(
            std::max({W.dim[0] * W.dim[1] * W.dim[3], W.dim[2] * W.dim[3] * W.dim[0], W.dim[0] * W.dim[1] * W.dim[2]}));
        safe_abs = std::sqrt(double(std::numeric_limits<float>::max()) / std::max(1.0, widest));
        ctl.report(0.05f);
        ctl.check();
        // With balanced slices everything up to the decomposition sees W with each of Q, K, V,
        // O scaled to unit norm.
        std::array<double, 4> scale{1, 1, 1, 1};
        tensor::Tensor4 balanced_w;
        const tensor::Tensor4* Wd = &W;
        if (opt.balance_slices) {
            scale = slice_norms(W);
            balanced_w = balanced(W, scale);
            Wd = &balanced_w;
        }
        if (opt.spectra || opt.ranks.needs_spectra()) {
            t = Clock::now();
            r.spectra = analysis::mode_spectra(*Wd, ctl.sub(0.05f, 0.25f));
            r.seconds_spectra = since(t);
        }
        auto choice = tucker::choose_ranks_detailed(opt.ranks, layer, m.shape(), r.spectra ? &*r.spectra : nullptr);
        r.ranks = choice.ranks;
        r.warnings = std::move(choice.warnings);
        tucker::TuckerOptions to = opt.tucker;
        to.ranks = r.ranks;
        t = Clock::now();
        r.tucker = tucker::decompose(*Wd, to, ctl.sub(0.25f, 0.85f));
        // W_hat = G x1 U1 x2 U2 x3 (diag(scale) U3): the reconstruction of W itself.
        if (opt.balance_slices)
            for (int k = 0; k < 4; ++k) r.tucker.factors[2].row(k) *= float(scale[std::size_t(k)]);
        r.seconds_decompose = since(t);
        t = Clock::now();
        r.measures = analysis::measure(W, r.tucker, m.shape(), r.spectra ? &*r.spectra : nullptr, opt.slice_spectra,
                                       ctl.sub(0.85f, 1.0f));
        r.seconds_measures = since(t);
        if (!std::isfinite(r.measures.rel_error))
            throw std::runtime_error("the decomposition produced non-finite values (relative error " +
                                     std::to_string(r.measures.rel_error) + ")");
        r.status = r.tucker.status;
    } catch (const util::Cancelled&) {
        r.status = tucker::Status::Cancelled;
        r.message = "cancelled";
    } catch (const std::exception& e) {
        r.status = tucker::Status::Failed;
        r.message = "layer " + std::to_string(layer) + ": " + e.what();
        if (safe_abs > 0 && max_abs > safe_abs) {
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          " (the weights reach |w| = %.3g: sums of their squares overflow single precision, whose "
                          "largest value is %.3g; rescale the weights)",
                          max_abs, double(std::numeric_limits<float>::max()));
            r.message += buf;
        }
    }
    r.seconds_total = since(t0);
    ctl.report(1.0f);
    return r;
}

JobRunner::JobRunner(std::shared_ptr<const model::Model> model, JobOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
    if (!model_) throw std::invalid_argument("JobRunner: no model");
    options_.validate(*model_);
    if (options_.layers.empty())
        for (const auto& L : model_->layers()) options_.layers.push_back(L.index);
    progress_ = std::make_unique<std::atomic<float>[]>(options_.layers.size());
    for (std::size_t k = 0; k < options_.layers.size(); ++k) progress_[k].store(0.0f);
}

JobRunner::~JobRunner() {
    cancel();
    if (thread_.joinable()) thread_.join();
}

void JobRunner::start(LayerCallback on_layer, DoneCallback on_done) {
    if (thread_.joinable()) throw std::logic_error("JobRunner::start called twice");
    thread_ = std::thread([this, on_layer = std::move(on_layer), on_done = std::move(on_done)] {
        const auto t0 = Clock::now();
        auto summary = std::make_shared<JobSummary>();
        const std::size_t n = options_.layers.size();
        summary->layers.resize(n);
        std::mutex cb_mutex;
        try {
            tbb::task_arena arena(options_.threads > 0 ? options_.threads : tbb::task_arena::automatic);
            arena.initialize();
            std::unique_ptr<NiceObserver> nice;
            if (options_.background_priority) nice = std::make_unique<NiceObserver>(arena);
            arena.execute([&] {
                tbb::parallel_for(
                    tbb::blocked_range<std::size_t>(0, n, 1),
                    [&](const tbb::blocked_range<std::size_t>& range) {
                        for (std::size_t k = range.begin(); k != range.end(); ++k) {
                            util::Control ctl;
                            ctl.cancel = &cancel_;
                            ctl.progress = &progress_[k];
                            LayerResult r;
                            tbb::this_task_arena::isolate(
                                [&] { r = run_layer(*model_, options_.layers[k], options_, ctl); });
                            {
                                std::lock_guard<std::mutex> lock(cb_mutex);
                                if (on_layer) {
                                    try {
                                        on_layer(r);
                                    } catch (...) {
                                        // A failing observer must not take the job down.
                                    }
                                }
                            }
                            summary->layers[k] = std::move(r);
                            done_.fetch_add(1);
                        }
                    },
                    tbb::simple_partitioner());
            });
        } catch (const std::exception& e) {
            // Only a failure of the pool itself lands here; mark what did not run.
            for (auto& r : summary->layers)
                if (r.message.empty() && !r.complete()) r.message = std::string("job failed: ") + e.what();
        }
        for (std::size_t k = 0; k < n; ++k)
            if (summary->layers[k].layer != options_.layers[k]) summary->layers[k].layer = options_.layers[k];
        summary->cancelled = cancel_.load();
        for (const auto& r : summary->layers) summary->failed += r.status == tucker::Status::Failed;
        summary->seconds = since(t0);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            summary_ = summary;
        }
        finished_.store(true);
        if (on_done) on_done(summary);
    });
}

void JobRunner::wait() {
    if (thread_.joinable()) thread_.join();
}

float JobRunner::progress() const {
    if (options_.layers.empty()) return 1.0f;
    double s = 0;
    for (std::size_t k = 0; k < options_.layers.size(); ++k) s += progress_[k].load(std::memory_order_relaxed);
    return static_cast<float>(s / options_.layers.size());
}

std::shared_ptr<const JobSummary> JobRunner::summary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return summary_;
}

}  // namespace tllm::jobs
