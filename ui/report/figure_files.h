#pragma once
// Figures as files: what the report, `tensorllm sweep --out` and `tensorllm compare --out`
// write for each figure (PNG, SVG, PDF and its data as CSV), and the offscreen QApplication
// the chart code needs in a process without one.

#include <QApplication>
#include <QDir>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

#include "charts/figure.h"

namespace tllm::ui {

/// One figure: a file-name-friendly name, a caption, its painter and its data.
struct NamedFigure {
    QString name, caption;
    FigurePainter painter;
    QString csv;
};

/// Writes `text` as UTF-8 to `path` through a temporary file renamed into place. Throws
/// std::runtime_error naming the file on failure.
void write_text_file(const QString& path, const QString& text);

/// Writes each figure into `dir` (which must exist) as <name>.png, .svg, .pdf and <name>.csv,
/// each written to a temporary file and renamed; returns the file names in that order.
/// Throws std::runtime_error naming the file on failure.
QStringList write_figure_files(const QDir& dir, const std::vector<NamedFigure>& figures, const FigureStyle& style);

/// A QApplication on the offscreen platform (no display is used) when the process has none,
/// as in the CLI; null when one exists already. Keep it alive while figures are drawn.
std::unique_ptr<QApplication> offscreen_application();

}  // namespace tllm::ui
