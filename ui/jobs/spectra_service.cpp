#include "jobs/spectra_service.h"

#include <QPointer>
#include <QThreadPool>

#include "tensor/tensorize.h"

namespace tllm::ui {

void SpectraService::reset(std::shared_ptr<const model::Model> model) {
    model_ = std::move(model);
    cache_.clear();
    pending_.clear();
    ++generation_;
}

void SpectraService::put(int layer, std::shared_ptr<const analysis::ModeSpectra> s) { cache_[layer] = std::move(s); }

std::shared_ptr<const analysis::ModeSpectra> SpectraService::get(int layer) {
    if (auto it = cache_.find(layer); it != cache_.end()) return it->second;
    if (!model_ || pending_.count(layer)) return nullptr;
    pending_.insert(layer);
    QPointer<SpectraService> self(this);
    const int gen = generation_;
    auto model = model_;
    QThreadPool::globalInstance()->start([self, gen, model, layer] {
        std::shared_ptr<const analysis::ModeSpectra> s;
        QString error;
        try {
            s = std::make_shared<const analysis::ModeSpectra>(analysis::mode_spectra(tensor::tensorize(*model, layer)));
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            self.data(),
            [self, gen, layer, s, error] {
                if (!self || gen != self->generation_) return;
                self->pending_.erase(layer);
                if (s) {
                    self->cache_[layer] = s;
                    Q_EMIT self->ready(layer);
                } else {
                    Q_EMIT self->failed(layer, error);
                }
            },
            Qt::QueuedConnection);
    });
    return nullptr;
}

}  // namespace tllm::ui
