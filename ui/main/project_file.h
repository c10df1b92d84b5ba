#pragma once
// Project files (*.tllm.json): the model path, the run options, the displayed results and
// the evaluation (baseline and sweep), so work survives a restart. Format: {"format":
// "tensorllm-project/1", "model_path": ..., "options": {...}, "results": <results.json
// document>, "sweep": <sweep results.json document, optional>}.

#include <QString>
#include <memory>
#include <optional>

#include "edits/sweep.h"
#include "jobs/job_runner.h"
#include "main/result_set.h"

namespace tllm::ui {

struct ProjectData {
    QString model_path;
    std::optional<jobs::JobOptions> options;
    std::vector<jobs::LayerResult> layers;  ///< filled by load when the model is known
    nlohmann::json results_doc;
    std::optional<edits::SweepResult> sweep;  ///< the saved evaluation, when there is one
};

/// Writes a project atomically, with `sweep` when not null. Throws std::runtime_error naming
/// the file.
void save_project(const QString& path, const model::Model& m, const jobs::JobOptions& options, const ResultSet& results,
                  const edits::SweepResult* sweep = nullptr);
/// Reads a project's model path, options, raw results (layers are parsed once the model is
/// open, see parse_project_results) and sweep. Throws std::runtime_error naming the file and
/// field.
ProjectData load_project(const QString& path);
/// The results of a loaded project, checked against the opened model's shape.
std::vector<jobs::LayerResult> parse_project_results(const ProjectData& p, const model::Model& m, const QString& path);

}  // namespace tllm::ui
