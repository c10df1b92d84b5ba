#pragma once
// Figures of an evaluation sweep (edits::run_sweep): the change in loss of every layer x edit
// as a heatmap on a diverging scale centred on zero, quality against compression with its
// Pareto front, and per layer the change in loss of one edit beside the layer's weight
// error. Built like the decomposition's charts: the on-screen panels, figure export and the
// headless figures (report/sweep_figures.h) all call these.

#include <QColor>
#include <QString>
#include <array>
#include <vector>

#include "charts/figure.h"
#include "edits/sweep.h"

class QChart;
class QPainter;

namespace tllm::ui {

/// A sweep's points as layers (rows) x edits (columns, grid order: the attention choices,
/// the LASER choices, then the pairs when combined). A column is a (choice, laser) pair.
struct SweepTable {
    std::vector<int> layers;
    std::vector<std::pair<int, int>> columns;                 ///< (choice index or -1, LASER index or -1)
    std::vector<QString> labels;                              ///< edits::point_label of each column
    std::vector<std::vector<const edits::SweepPoint*>> cell;  ///< [row][column]; null: not run
    int column_of(int choice, int laser) const;
    int row_of(int layer) const;
    const edits::SweepPoint* at(int layer, int column) const;
};
/// Points into `r`, which must outlive the table.
SweepTable sweep_table(const edits::SweepResult& r);

/// Which edit the per-layer chart shows: `preferred` when valid, else the first column whose
/// fixed ranks are `ranks`, else the first attention column, else 0; -1 for no column.
int sweep_column_for(const SweepTable& t, const edits::SweepResult& r, int preferred, const std::array<int, 3>& ranks);

/// Blue (loss down) - white (zero) - red (loss up); `t` in [-1, 1].
QColor diverging_color(double t);

/// Paints the Δloss heatmap (layers x edits) with axes, values in the cells when they fit and
/// a colour bar symmetric about zero. The selected cell (layer, column) is outlined.
void paint_sweep_heatmap(QPainter& p, const QRectF& rect, const edits::SweepResult& r, int sel_layer, int sel_column,
                         const FigureStyle& s);
/// The cell (layer, column) at `pos` in a heatmap painted into `rect`; {-1, -1} outside.
std::pair<int, int> sweep_heatmap_cell_at(const QRectF& rect, const edits::SweepResult& r, const QPointF& pos);
/// The rectangle of cell (layer, column) in a heatmap painted into `rect`; empty when absent.
QRectF sweep_heatmap_cell_rect(const QRectF& rect, const edits::SweepResult& r, int layer, int column);
QString sweep_heatmap_csv(const edits::SweepResult& r);

/// Which compression ratio the quality chart uses on x.
enum class SweepRatio { Layer, Model };
/// Δloss against compression (log x) of every point that ran, the selected layer's points
/// emphasised, the Pareto front (most compression for the least Δloss) and the baseline
/// (Δloss = 0).
QChart* build_sweep_pareto_chart(const edits::SweepResult& r, SweepRatio ratio, int sel_layer, const FigureStyle& s);
QString sweep_pareto_csv(const edits::SweepResult& r, SweepRatio ratio);
/// Indices into r.points of the Pareto front, in increasing ratio.
std::vector<std::size_t> sweep_pareto_front(const edits::SweepResult& r, SweepRatio ratio);

/// Per layer, Δloss of edit `column` (left axis) beside that edit's weight error (right axis);
/// the selected layer marked.
QChart* build_sweep_layer_chart(const edits::SweepResult& r, int column, int sel_layer, const FigureStyle& s);
QString sweep_layer_csv(const edits::SweepResult& r, int column);

}  // namespace tllm::ui
