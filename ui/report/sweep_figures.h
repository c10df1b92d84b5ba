#pragma once
// The figures of an evaluation sweep, headless: the Δloss heatmap (layers x edits), quality
// against compression with its Pareto front, and per layer Δloss beside the weight error,
// drawn by the GUI's own chart code. `tensorllm sweep --out DIR` writes them beside
// results.json; the report includes them when it has a sweep.

#include <string>
#include <vector>

#include "edits/sweep.h"
#include "report/figure_files.h"

namespace tllm::ui {

/// The three figures of `r` (the painters hold a copy of it).
std::vector<NamedFigure> sweep_figures(const edits::SweepResult& r, const FigureStyle& style);

/// Writes the three figures into directory `dir` (which must exist) as <name>.png, .svg, .pdf
/// and <name>.csv. Creates an offscreen QApplication when the process has none. Throws
/// std::runtime_error naming the file on failure.
void write_sweep_figures(const std::string& dir, const edits::SweepResult& r, const FigureStyle& style);

}  // namespace tllm::ui
