#pragma once
// Computes a layer's mode spectra off the GUI thread (for the rank explorer and live rank
// previews before any run), caching them per model and layer.

#include <QObject>
#include <map>
#include <memory>
#include <set>

#include "analysis/spectra.h"
#include "model/model.h"

namespace tllm::ui {

class SpectraService : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    /// Forgets the cache (a new model was opened).
    void reset(std::shared_ptr<const model::Model> model);
    /// The cached spectra of `layer`, or null (and a computation is started).
    std::shared_ptr<const analysis::ModeSpectra> get(int layer);
    /// Stores spectra computed elsewhere (a finished run).
    void put(int layer, std::shared_ptr<const analysis::ModeSpectra> s);

Q_SIGNALS:
    void ready(int layer);
    void failed(int layer, const QString& message);

private:
    std::shared_ptr<const model::Model> model_;
    std::map<int, std::shared_ptr<const analysis::ModeSpectra>> cache_;
    std::set<int> pending_;
    int generation_ = 0;
};

}  // namespace tllm::ui
