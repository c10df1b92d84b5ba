#pragma once
// The GUI's handle on a core JobRunner: starts it (the runner's own threads do the work),
// samples its progress on a 50 ms timer and delivers per-layer results and completion to the
// GUI thread through queued invocations. The GUI thread never computes and never waits.

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <memory>

#include "jobs/job_runner.h"

namespace tllm::ui {

class JobController : public QObject {
    Q_OBJECT
public:
    explicit JobController(QObject* parent = nullptr);
    ~JobController() override;

    /// Starts a run; returns an error message (and starts nothing) when the options are invalid.
    QString start(std::shared_ptr<const model::Model> model, jobs::JobOptions options);
    /// Requests cancellation; finished() follows shortly.
    void cancel();
    bool running() const { return running_; }
    /// Seconds since start; estimated seconds left (< 0 while unknown).
    double elapsed() const;
    double remaining() const;
    float progress() const;
    /// (layer, fraction) for every layer of the run.
    std::vector<std::pair<int, float>> layerProgress() const;

Q_SIGNALS:
    void layerFinished(std::shared_ptr<const tllm::jobs::LayerResult> result);
    void finished(std::shared_ptr<const tllm::jobs::JobSummary> summary);
    void progressTick();

private:
    std::unique_ptr<jobs::JobRunner> runner_;
    QTimer timer_;
    QElapsedTimer clock_;
    bool running_ = false;
};

}  // namespace tllm::ui
