#pragma once
// The results the window shows: one LayerResult per layer (the latest complete one), plus
// the shape of the model they belong to.

#include <map>
#include <memory>

#include "jobs/job_runner.h"
#include "model/model.h"

namespace tllm::ui {

struct ResultSet {
    model::AttentionShape shape;
    std::map<int, std::shared_ptr<const jobs::LayerResult>> layers;  ///< complete results only

    bool empty() const { return layers.empty(); }
    /// The result of `layer`, or null.
    const jobs::LayerResult* layer(int index) const {
        auto it = layers.find(index);
        return it == layers.end() ? nullptr : it->second.get();
    }
};

}  // namespace tllm::ui
