#pragma once
// The headless report: every figure the GUI shows, rendered offscreen through the same chart
// builders and paint path (PNG, SVG, PDF), the CSV behind each, and an index.html showing
// them with the run's settings. Used by `tensorllm report`; needs a QApplication (the
// offscreen platform is enough) but no display and no window.

#include <QString>
#include <QStringList>
#include <optional>
#include <vector>

#include "charts/figure.h"
#include "edits/sweep.h"
#include "main/result_set.h"

namespace tllm::ui {

struct ReportInput {
    QString title = QStringLiteral("TensorLLM Studio report");
    QString model_path;
    QString model_summary;                              ///< e.g. "llama, 5 layers, d=64, 8 heads (4 kv), head_dim 8"
    std::vector<std::pair<QString, QString>> settings;  ///< shown as a table
    ResultSet results;
    std::optional<edits::SweepResult> sweep;  ///< an evaluation sweep: its figures follow the others
};

/// Writes the report into `dir` (created if needed): figures (with the sweep's, when there
/// is one) as <name>.png/.svg/.pdf,
/// <name>.csv, and index.html linking every file. Returns the files written (relative
/// names). Throws std::runtime_error naming the file on failure.
QStringList write_report(const QString& dir, const ReportInput& in, const FigureStyle& style);

}  // namespace tllm::ui
