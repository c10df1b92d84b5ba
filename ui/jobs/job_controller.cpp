#include "jobs/job_controller.h"

#include <QMetaObject>
#include <QPointer>

namespace tllm::ui {

JobController::JobController(QObject* parent) : QObject(parent) {
    timer_.setInterval(50);
    connect(&timer_, &QTimer::timeout, this, &JobController::progressTick);
}

JobController::~JobController() {
    if (runner_) runner_->cancel();
    runner_.reset();  // joins the dispatcher thread
}

QString JobController::start(std::shared_ptr<const model::Model> model, jobs::JobOptions options) {
    if (running_) return tr("a decomposition is already running");
    std::unique_ptr<jobs::JobRunner> runner;
    options.background_priority = true;  // the GUI thread shares the cores: serve it first
    try {
        runner = std::make_unique<jobs::JobRunner>(std::move(model), std::move(options));
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    runner_.reset();  // the previous run's thread has finished; join it
    runner_ = std::move(runner);
    running_ = true;
    clock_.start();
    timer_.start();
    QPointer<JobController> self(this);
    runner_->start(
        [self](const jobs::LayerResult& r) {
            if (!r.complete() && r.status != tucker::Status::Failed) return;
            auto copy = std::make_shared<const jobs::LayerResult>(r);
            QMetaObject::invokeMethod(
                self.data(),
                [self, copy] {
                    if (self) Q_EMIT self->layerFinished(copy);
                },
                Qt::QueuedConnection);
        },
        [self](std::shared_ptr<const jobs::JobSummary> s) {
            QMetaObject::invokeMethod(
                self.data(),
                [self, s] {
                    if (!self) return;
                    self->running_ = false;
                    self->timer_.stop();
                    Q_EMIT self->progressTick();
                    Q_EMIT self->finished(s);
                },
                Qt::QueuedConnection);
        });
    return {};
}

void JobController::cancel() {
    if (runner_) runner_->cancel();
}

double JobController::elapsed() const { return clock_.isValid() ? clock_.elapsed() / 1000.0 : 0.0; }

float JobController::progress() const { return runner_ ? runner_->progress() : 0.0f; }

double JobController::remaining() const {
    const double p = progress();
    if (!running_ || p < 0.02) return -1;
    return elapsed() * (1.0 - p) / p;
}

std::vector<std::pair<int, float>> JobController::layerProgress() const {
    std::vector<std::pair<int, float>> out;
    if (!runner_) return out;
    for (std::size_t k = 0; k < runner_->layers().size(); ++k)
        out.emplace_back(runner_->layers()[k], runner_->layer_progress(k));
    return out;
}

}  // namespace tllm::ui
