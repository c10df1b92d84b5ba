#include "report/compare_figures.h"

#include <cmath>
#include <memory>

#include "charts/compare_charts.h"

namespace tllm::ui {

std::vector<NamedFigure> compare_figures(const exporting::Comparison& c, const FigureStyle& style) {
    auto C = std::make_shared<const exporting::Comparison>(c);
    const QString A = QString::fromStdString(c.a.label), B = QString::fromStdString(c.b.label);
    std::vector<NamedFigure> out;
    auto layer_figure = [&](const QString& name, CompareMetric m, bool diff, const QString& caption) {
        out.push_back(
            {name, caption,
             chart_painter([C, m, diff](const FigureStyle& s) { return build_compare_layer_chart(*C, m, diff, s); },
                           style),
             compare_layer_csv(*C, m)});
    };
    if (!c.layers.empty()) {
        layer_figure(QStringLiteral("compare_error_per_layer"), CompareMetric::Error, false,
                     QStringLiteral("Relative error ||W − Ŵ||_F / ||W||_F of each layer's attention tensor, %1 and %2 "
                                    "overlaid; a side without a layer has no point there.")
                         .arg(A, B));
        layer_figure(QStringLiteral("compare_error_difference"), CompareMetric::Error, true,
                     QStringLiteral("Difference of the relative errors per layer, %1 − %2: above zero, %1 reconstructs "
                                    "the layer worse.")
                         .arg(B, A));
        layer_figure(
            QStringLiteral("compare_ratio_per_layer"), CompareMetric::Ratio, false,
            QStringLiteral("Compression ratio (original / Tucker parameters) per layer, %1 and %2.").arg(A, B));
        bool loss = false;
        for (const auto& r : c.layers) loss = loss || std::isfinite(r.delta_nll_a) || std::isfinite(r.delta_nll_b);
        if (loss)
            layer_figure(QStringLiteral("compare_loss_per_layer"), CompareMetric::DeltaLoss, false,
                         QStringLiteral("Change in loss of the sweep point that edited each layer at the ranks of the "
                                        "decomposition, %1 and %2.")
                             .arg(A, B));
    }
    for (const auto& r : c.layers) {
        if (!r.in_a || !r.in_b || !c.a.layers.at(r.layer).spectra || !c.b.layers.at(r.layer).spectra) continue;
        const int l = r.layer;
        out.push_back(
            {QStringLiteral("compare_spectra_layer_%1").arg(l),
             QStringLiteral("Normalised mode spectra of layer %1, %2 solid and %3 dashed; the square (%2) and the "
                            "triangle (%3) mark each one's rank cut, the legend gives the rank and the energy kept.")
                 .arg(l)
                 .arg(A, B),
             chart_painter([C, l](const FigureStyle& s) { return build_compare_spectra_chart(*C, l, s); }, style),
             compare_spectra_csv(*C, l)});
    }
    bool both = false;
    for (const auto& r : c.sweep) both = both || (r.in_a && r.in_b);
    if (both)
        out.push_back({QStringLiteral("compare_sweep_delta_loss"),
                       QStringLiteral("Change in loss (nats/token) against each side's unedited model, for every edit "
                                      "evaluated in both sweeps: %1 and %2 side by side.")
                           .arg(A, B),
                       chart_painter([C](const FigureStyle& s) { return build_compare_sweep_chart(*C, s); }, style),
                       compare_sweep_chart_csv(*C)});
    return out;
}

int write_compare_figures(const std::string& dir, const exporting::Comparison& c, const FigureStyle& style) {
    const auto app = offscreen_application();
    const auto figs = compare_figures(c, style);
    write_figure_files(QDir(QString::fromStdString(dir)), figs, style);
    return int(figs.size());
}

}  // namespace tllm::ui
