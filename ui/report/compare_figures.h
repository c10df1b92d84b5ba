#pragma once
// The figures of a comparison of two results, headless (tensorllm compare --out DIR): errors
// per layer of both sides overlaid and their difference, compression ratio per layer, the mode
// spectra of both sides with each one's rank cut (one figure per layer that both store spectra
// for) and the sweeps' change in loss side by side, drawn by the GUI's chart code
// (charts/compare_charts.h).

#include <string>
#include <vector>

#include "report/figure_files.h"
#include "results/compare.h"

namespace tllm::ui {

/// The figures of `c` (the painters hold a copy of it). Figures without data in either side
/// (no sweep in both, no spectra) are left out.
std::vector<NamedFigure> compare_figures(const exporting::Comparison& c, const FigureStyle& style);

/// Writes the figures into directory `dir` (which must exist) as <name>.png, .svg, .pdf and
/// <name>.csv; returns how many figures. Creates an offscreen QApplication when the process
/// has none. Throws std::runtime_error naming the file on failure.
int write_compare_figures(const std::string& dir, const exporting::Comparison& c, const FigureStyle& style);

}  // namespace tllm::ui
