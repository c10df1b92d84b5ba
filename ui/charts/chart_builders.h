#pragma once
// Builders of every chart from result data. Each returns a fresh QChart (caller owns it),
// styled for publication; the on-screen panels, figure export and the headless report all
// call these, so what is exported is what is shown. The CSV functions give each chart's data.

#include <QColor>
#include <QString>
#include <vector>

#include "analysis/sweep.h"
#include "charts/figure.h"
#include "main/result_set.h"

class QChart;
class QPainter;

namespace tllm::ui {

/// Colours of Q, K, V, O (colour-blind-safe Tableau palette) and of totals.
QColor type_color(int t);

/// Relative error per layer: the layer's total and per Q/K/V/O. X = layer index.
QChart* build_error_chart(const ResultSet& r, const FigureStyle& s);
QString error_csv(const ResultSet& r);

/// Compression ratio per layer (and parameters) as bars over the layer index.
QChart* build_compression_chart(const ResultSet& r, const FigureStyle& s);
QString compression_csv(const ResultSet& r);

/// Normalised singular values s_k / s_1 of the modes of `layer` (log scale), the chosen
/// rank marked, captured energy in the legend.
QChart* build_spectra_chart(const ResultSet& r, int layer, const FigureStyle& s);
QString spectra_csv(const ResultSet& r, int layer);

/// Singular values of the four d x dv slices (Q, K, V, O) of one head of `layer`.
QChart* build_head_spectra_chart(const ResultSet& r, int layer, int head, const FigureStyle& s);
QString head_spectra_csv(const ResultSet& r, int layer, int head);

/// HOOI trace: relative error per iteration, one series per layer (`selected` emphasised).
QChart* build_convergence_chart(const ResultSet& r, int selected, const FigureStyle& s);
QString convergence_csv(const ResultSet& r);

/// Data of the rank explorer of one layer.
struct ExplorerData {
    int layer = -1;
    std::vector<analysis::SweepPoint> grid;   ///< spectra estimates over a rank grid
    std::vector<analysis::SweepPoint> exact;  ///< finished runs (error_exact set)
    bool has_current = false;
    analysis::SweepPoint current;                                       ///< the ranks in the controls, estimated
    QString message = QStringLiteral("open a model to explore ranks");  ///< shown while there are no points
};
/// Error against compression ratio (log x): the estimate grid, its Pareto front, exact
/// points of finished runs, and the current ranks.
QChart* build_pareto_chart(const ExplorerData& d, const FigureStyle& s);
QString pareto_csv(const ExplorerData& d);

/// What the layers x heads heatmap shows.
enum class HeatMetric { Error, Compression };
/// Paints the layers x heads heatmap with axes and a colour bar into `rect`.
void paint_heatmap(QPainter& p, const QRectF& rect, const ResultSet& r, HeatMetric metric, int sel_layer, int sel_head,
                   const FigureStyle& s);
QString heatmap_csv(const ResultSet& r, HeatMetric metric);
/// The cell (layer, head) at `pos` inside a heatmap painted into `rect`; {-1, -1} outside.
std::pair<int, int> heatmap_cell_at(const QRectF& rect, const ResultSet& r, const QPointF& pos);

}  // namespace tllm::ui
