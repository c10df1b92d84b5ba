#pragma once
// Charts of a comparison of two results (results/compare.h): per-layer and per-head values of
// both sides overlaid (two series named by the sides' labels) or as their difference B − A,
// the mode spectra of both with each side's rank cut, and the sweeps' change in loss side by
// side. Used by the GUI's Compare tab and by `tensorllm compare --out` through the same
// builders, like the other charts (chart_builders.h).

#include <QString>

#include "charts/figure.h"
#include "results/compare.h"

class QChart;

namespace tllm::ui {

/// The per-layer value a compare chart shows.
enum class CompareMetric { Error, Ratio, DeltaLoss };
/// "relative error", "compression ratio", "change in loss (nats/token)".
QString compare_metric_name(CompareMetric m);

/// The value of `m` for side A (`side_b` false) or B of a layer row; NaN when absent.
double compare_value(const exporting::CompareLayerRow& r, CompareMetric m, bool side_b);

/// Per layer: A and B as two line series named by their labels (points only at the layers a
/// side has), or with `difference` one series "B − A" at the layers both have.
QChart* build_compare_layer_chart(const exporting::Comparison& c, CompareMetric m, bool difference,
                                  const FigureStyle& s);
QString compare_layer_csv(const exporting::Comparison& c, CompareMetric m);

/// Per head of `layer` (present in both): the head errors of A and B, or their difference.
QChart* build_compare_head_chart(const exporting::Comparison& c, int layer, bool difference, const FigureStyle& s);
QString compare_head_csv(const exporting::Comparison& c, int layer);

/// Normalised mode spectra s_k / s_1 of `layer` for modes 1-3 of both sides (A solid, B
/// dashed, one colour per mode) with each side's rank cut marked on its curve.
QChart* build_compare_spectra_chart(const exporting::Comparison& c, int layer, const FigureStyle& s);
QString compare_spectra_csv(const exporting::Comparison& c, int layer);

/// The sweeps' change in loss per point (layer and edit) as bars of A and B side by side.
QChart* build_compare_sweep_chart(const exporting::Comparison& c, const FigureStyle& s);
QString compare_sweep_chart_csv(const exporting::Comparison& c);

}  // namespace tllm::ui
