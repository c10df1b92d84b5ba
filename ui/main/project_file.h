#pragma once
// Project files (*.tllm.json): the model path, the run options and the displayed results, so
// work survives a restart. Format: {"format": "tensorllm-project/1", "model_path": ...,
// "options": {...}, "results": <results.json document>}.

#include <QString>
#include <memory>
#include <optional>

#include "jobs/job_runner.h"
#include "main/result_set.h"

namespace tllm::ui {

struct ProjectData {
    QString model_path;
    std::optional<jobs::JobOptions> options;
    std::vector<jobs::LayerResult> layers;  ///< filled by load when the model is known
    nlohmann::json results_doc;
};

/// Writes a project atomically. Throws std::runtime_error naming the file.
void save_project(const QString& path, const model::Model& m, const jobs::JobOptions& options, const ResultSet& results);
/// Reads a project's model path, options and raw results (layers are parsed once the model is
/// open, see parse_project_results). Throws std::runtime_error naming the file and field.
ProjectData load_project(const QString& path);
/// The results of a loaded project, checked against the opened model's shape.
std::vector<jobs::LayerResult> parse_project_results(const ProjectData& p, const model::Model& m, const QString& path);

}  // namespace tllm::ui
