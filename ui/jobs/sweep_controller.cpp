#include "jobs/sweep_controller.h"

#include <QMetaObject>
#include <QPointer>
#include <chrono>

#include "eval/evaluate.h"
#include "eval/tokenizer.h"
#include "io/mapped_file.h"

namespace tllm::ui {

edits::SweepResult run_evaluation(const SweepRequest& rq, const edits::SweepCallbacks& cb, const util::Control& ctl) {
    const auto t0 = std::chrono::steady_clock::now();
    eval::ForwardOptions fo;
    fo.threads = rq.options.threads;
    eval::Transformer t(rq.model, fo);  // throws for a model_type without a forward pass
    const edits::SweepOptions& opt = rq.options;
    if (opt.ppl.ctx > t.config().max_positions)
        throw std::invalid_argument("context " + std::to_string(opt.ppl.ctx) + " is above the model's " +
                                    std::to_string(t.config().max_positions) + " positions");
    if (!rq.baseline_only) opt.validate(*rq.model, t);
    const auto tok = eval::load_tokenizer(rq.model->checkpoint(), t.config().vocab_size);
    const std::string text = io::read_regular_file(rq.text_path, eval::kMaxEvalFileBytes, "evaluation text");
    edits::SweepInput in = edits::make_sweep_input(*tok, text, rq.text_path);
    if (!rq.mc_path.empty()) {
        in.mc = eval::read_mc_jsonl(rq.mc_path);
        in.mc_source = rq.mc_path;
    }
    if (!rq.baseline_only) return edits::run_sweep(*rq.model, t, *tok, in, opt, cb, ctl);

    // The unedited model alone, on the same windows a sweep would use.
    edits::SweepResult r;
    r.model_path = rq.model->checkpoint().path();
    r.model_type = rq.model->config().model_type;
    r.text_source = in.text_source;
    r.mc_source = in.mc_source;
    r.options = opt;
    r.options.choices.clear();
    r.options.laser.clear();
    r.options.layers.clear();
    const bool mc = !in.mc.empty();
    edits::TextComparer cmp(t, in.ids, in.token_bytes, opt.ppl, in.text_source, {}, 0);
    r.baseline.ppl = cmp.baseline(ctl.sub(0, mc ? 0.5f : 1.0f));
    if (mc) r.baseline.mc = eval::multiple_choice(t, *tok, in.mc, in.mc_source, ctl.sub(0.5f, 1.0f));
    ctl.check();
    r.prefix = cmp.stats();
    if (cb.baseline) cb.baseline(r.baseline);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

SweepController::SweepController(QObject* parent) : QObject(parent) {
    timer_.setInterval(100);
    connect(&timer_, &QTimer::timeout, this, &SweepController::progressTick);
}

SweepController::~SweepController() {
    cancel_ = true;
    if (worker_.joinable()) worker_.join();
}

QString SweepController::start(SweepRequest request) {
    if (running_) return tr("an evaluation is already running");
    if (!request.model) return tr("no model is open");
    if (worker_.joinable()) worker_.join();  // the previous evaluation's thread has finished
    cancel_ = false;
    progress_ = 0;
    running_ = true;
    baseline_only_ = request.baseline_only;
    clock_.start();
    timer_.start();
    QPointer<SweepController> self(this);
    worker_ = std::thread([self, this, rq = std::move(request)] {
        edits::SweepCallbacks cb;
        cb.baseline = [self](const edits::SweepBaseline& b) {
            auto copy = std::make_shared<const edits::SweepBaseline>(b);
            QMetaObject::invokeMethod(
                self.data(),
                [self, copy] {
                    if (self) Q_EMIT self->baselineReady(copy);
                },
                Qt::QueuedConnection);
        };
        cb.point = [self](const edits::SweepPoint& p) {
            auto copy = std::make_shared<const edits::SweepPoint>(p);
            QMetaObject::invokeMethod(
                self.data(),
                [self, copy] {
                    if (self) Q_EMIT self->pointFinished(copy);
                },
                Qt::QueuedConnection);
        };
        util::Control ctl;
        ctl.cancel = &cancel_;
        ctl.progress = &progress_;
        std::shared_ptr<const edits::SweepResult> result;
        QString error;
        bool cancelled = false;
        try {
            result = std::make_shared<const edits::SweepResult>(run_evaluation(rq, cb, ctl));
        } catch (const util::Cancelled&) {
            cancelled = true;
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        // `self` may be gone by now (the destructor joins this thread first, so `this` is
        // valid until here; the queued call checks the guard on the GUI thread).
        QMetaObject::invokeMethod(
            self.data(),
            [self, result, error, cancelled] {
                if (!self) return;
                self->running_ = false;
                self->timer_.stop();
                Q_EMIT self->progressTick();
                Q_EMIT self->finished(result, error, cancelled || (result && result->cancelled));
            },
            Qt::QueuedConnection);
    });
    return {};
}

void SweepController::cancel() { cancel_ = true; }

double SweepController::elapsed() const { return clock_.isValid() ? clock_.elapsed() / 1000.0 : 0.0; }

double SweepController::remaining() const {
    const double p = progress();
    if (!running_ || p < 0.02) return -1;
    return elapsed() * (1.0 - p) / p;
}

}  // namespace tllm::ui
