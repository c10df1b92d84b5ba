#pragma once
// The figures of an evaluation sweep, headless: the Δloss heatmap (layers x edits), quality
// against compression with its Pareto front, and per layer Δloss beside the weight error,
// drawn by the GUI's own chart code. `tensorllm sweep --out DIR` writes them beside
// results.json; the report includes them when it has a sweep.

#include <QString>
#include <string>
#include <vector>

#include "charts/figure.h"
#include "edits/sweep.h"

namespace tllm::ui {

/// One figure of a sweep: a file-name-friendly name, a caption, its painter and its data.
struct SweepFigure {
    QString name, caption;
    FigurePainter painter;
    QString csv;
};
/// The three figures of `r` (the painters hold a copy of it).
std::vector<SweepFigure> sweep_figures(const edits::SweepResult& r, const FigureStyle& style);

/// Writes the three figures into directory `dir` (which must exist) as <name>.png, .svg, .pdf
/// and <name>.csv. Creates an offscreen QApplication when the process has none. Throws
/// std::runtime_error naming the file on failure.
void write_sweep_figures(const std::string& dir, const edits::SweepResult& r, const FigureStyle& style);

}  // namespace tllm::ui
