#include "main/project_file.h"

#include "results/results_json_reader.h"
#include "results/results_tables.h"
#include "results/sweep_tables.h"
#include "io/model_config.h"
#include "io/output_guard.h"
#include "util/json_checksum.h"

namespace tllm::ui {

void save_project(const QString& path, const model::Model& m, const jobs::JobOptions& options, const ResultSet& results,
                  const edits::SweepResult* sweep) {
    jobs::JobSummary s;
    for (const auto& [l, r] : results.layers) s.layers.push_back(*r);
    nlohmann::ordered_json j;
    j["format"] = "tensorllm-project/1";
    j["model_path"] = m.checkpoint().path();
    j["options"] = exporting::options_to_json(options);
    j["results"] = exporting::results_json(m, options, s);
    if (sweep) j["sweep"] = exporting::sweep_json(*sweep);
    util::add_json_checksum(j);
    io::check_output_file(m.checkpoint().sources(), "project file", path.toStdString());
    exporting::write_text_file(path.toStdString(), j.dump(1) + "\n");
}

ProjectData load_project(const QString& path) {
    const std::string p = path.toStdString();
    const nlohmann::json j = io::read_json_file(p, 512ull << 20);
    if (!j.is_object() || j.value("format", std::string()) != "tensorllm-project/1")
        throw std::runtime_error(p + ": field 'format' is not \"tensorllm-project/1\"");
    util::verify_json_checksum(j, p);
    ProjectData d;
    if (!j.contains("model_path") || !j["model_path"].is_string())
        throw std::runtime_error(p + ": field 'model_path' missing or not a string");
    d.model_path = QString::fromStdString(j["model_path"].get<std::string>());
    if (j.contains("options")) d.options = exporting::options_from_json(j["options"], p);
    if (j.contains("results")) d.results_doc = j["results"];
    if (j.contains("sweep")) d.sweep = exporting::sweep_from_json(j["sweep"], p + ": sweep");
    return d;
}

std::vector<jobs::LayerResult> parse_project_results(const ProjectData& d, const model::Model& m, const QString& path) {
    if (d.results_doc.is_null()) return {};
    return exporting::layers_from_results_json(d.results_doc, m.shape(), path.toStdString());
}

}  // namespace tllm::ui
