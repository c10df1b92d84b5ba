#pragma once
// The GUI's handle on an evaluation: a baseline or a sweep (edits::run_sweep) on a worker
// thread of its own. The worker builds the forward pass, loads the tokenizer and reads the
// evaluation data (so a large model or file never blocks the GUI thread); the baseline, each
// finished point and the end reach the GUI thread through queued invocations, and progress
// is sampled on a 100 ms timer.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "edits/sweep.h"
#include "model/model.h"

namespace tllm::ui {

/// What to evaluate.
struct SweepRequest {
    std::shared_ptr<const model::Model> model;
    std::string text_path;        ///< evaluation text (UTF-8)
    std::string mc_path;          ///< multiple-choice JSONL; empty: none
    edits::SweepOptions options;  ///< windows, and for a sweep the grid
    bool baseline_only = false;   ///< the unedited model only (options' grid ignored)
};

class SweepController : public QObject {
    Q_OBJECT
public:
    explicit SweepController(QObject* parent = nullptr);
    ~SweepController() override;

    /// Starts an evaluation; returns an error message (and starts nothing) when one runs.
    QString start(SweepRequest request);
    /// Requests cancellation: a sweep stops at the next layer boundary and keeps the points
    /// that finished; finished() follows.
    void cancel();
    bool running() const { return running_; }
    bool baselineOnly() const { return baseline_only_; }
    double elapsed() const;
    /// Estimated seconds left (< 0 while unknown).
    double remaining() const;
    float progress() const { return progress_.load(); }

Q_SIGNALS:
    void baselineReady(std::shared_ptr<const tllm::edits::SweepBaseline> baseline);
    void pointFinished(std::shared_ptr<const tllm::edits::SweepPoint> point);
    /// The end: `result` is null when the evaluation failed before any point ran (`error`
    /// says why) or a baseline was cancelled (`cancelled`); a cancelled sweep returns its
    /// finished points with result->cancelled set.
    void finished(std::shared_ptr<const tllm::edits::SweepResult> result, const QString& error, bool cancelled);
    void progressTick();

private:
    std::thread worker_;
    std::atomic<bool> cancel_{false};
    std::atomic<float> progress_{0};
    QTimer timer_;
    QElapsedTimer clock_;
    bool running_ = false;
    bool baseline_only_ = false;
};

/// Runs `request` on the calling thread: what the controller's worker does. Throws
/// std::runtime_error / std::invalid_argument for bad data or options (naming the file or
/// the option) and for a model without a forward pass; util::Cancelled when a baseline-only
/// evaluation is cancelled.
edits::SweepResult run_evaluation(const SweepRequest& request, const edits::SweepCallbacks& cb,
                                  const util::Control& ctl);

}  // namespace tllm::ui
