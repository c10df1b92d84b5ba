#include "report/sweep_figures.h"

#include <memory>

#include "charts/sweep_charts.h"

namespace tllm::ui {

std::vector<NamedFigure> sweep_figures(const edits::SweepResult& r, const FigureStyle& style) {
    auto R = std::make_shared<const edits::SweepResult>(r);
    const SweepTable t = sweep_table(*R);
    const int column = sweep_column_for(t, *R, -1, {0, 0, 0});
    const QString edit = column >= 0 ? t.labels[std::size_t(column)] : QString();
    std::vector<NamedFigure> out;
    out.push_back({QStringLiteral("sweep_delta_loss_heatmap"),
                   QStringLiteral("Change in loss (nats/token) of each edit applied alone to each layer, against the "
                                  "unedited model; blue: loss down, red: loss up (square-root colour scale)."),
                   [R, style](QPainter& p, const QRectF& rect) { paint_sweep_heatmap(p, rect, *R, -1, -1, style); },
                   sweep_heatmap_csv(*R)});
    out.push_back(
        {QStringLiteral("sweep_quality_compression"),
         QStringLiteral("Change in loss against the edited layer's compression ratio for every point, with "
                        "the Pareto front and the unedited model (Δ = 0)."),
         chart_painter([R](const FigureStyle& s) { return build_sweep_pareto_chart(*R, SweepRatio::Layer, -1, s); },
                       style),
         sweep_pareto_csv(*R, SweepRatio::Layer)});
    out.push_back(
        {QStringLiteral("sweep_loss_and_error_per_layer"),
         QStringLiteral("Per layer, the change in loss of edit %1 beside its relative weight error: where the "
                        "two disagree, weight error is a poor guide to the damage.")
             .arg(edit),
         chart_painter([R, column](const FigureStyle& s) { return build_sweep_layer_chart(*R, column, -1, s); }, style),
         sweep_layer_csv(*R, column)});
    return out;
}

void write_sweep_figures(const std::string& dir, const edits::SweepResult& r, const FigureStyle& style) {
    const auto app = offscreen_application();
    write_figure_files(QDir(QString::fromStdString(dir)), sweep_figures(r, style), style);
}

}  // namespace tllm::ui
