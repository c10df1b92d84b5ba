#include "report/report.h"

#include <QDir>
#include <stdexcept>

#include "analysis/measures.h"
#include "analysis/sweep.h"
#include "charts/chart_builders.h"
#include "report/figure_files.h"
#include "report/sweep_figures.h"

namespace tllm::ui {

QStringList write_report(const QString& dir, const ReportInput& in, const FigureStyle& style) {
    if (!QDir().mkpath(dir)) throw std::runtime_error(dir.toStdString() + ": cannot create directory");
    const ResultSet& R = in.results;
    std::vector<NamedFigure> figs;
    auto chart = [&](const QString& name, const QString& caption, ChartBuilder b, QString csv) {
        figs.push_back({name, caption, chart_painter(std::move(b), style), std::move(csv)});
    };
    chart(
        QStringLiteral("errors_per_layer"), QStringLiteral("Relative error per layer, total and per Q/K/V/O."),
        [&R](const FigureStyle& s) { return build_error_chart(R, s); }, error_csv(R));
    for (HeatMetric m : {HeatMetric::Error, HeatMetric::Compression}) {
        const QString name =
            m == HeatMetric::Error ? QStringLiteral("heads_error") : QStringLiteral("heads_compression");
        figs.push_back({name,
                        m == HeatMetric::Error ? QStringLiteral("Per-head relative error (layers × heads).")
                                               : QStringLiteral("Per-head compression ratio (layers × heads)."),
                        [&R, m, style](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, m, -1, -1, style); },
                        heatmap_csv(R, m)});
    }
    chart(
        QStringLiteral("compression_per_layer"), QStringLiteral("Compression ratio N_orig / N_comp per layer."),
        [&R](const FigureStyle& s) { return build_compression_chart(R, s); }, compression_csv(R));
    chart(
        QStringLiteral("hooi_convergence"), QStringLiteral("Relative error per HOOI iteration."),
        [&R](const FigureStyle& s) { return build_convergence_chart(R, -1, s); }, convergence_csv(R));
    std::vector<ExplorerData> explorers;
    explorers.reserve(R.layers.size());
    for (const auto& [l, res] : R.layers) {
        const int layer = l;
        chart(
            QStringLiteral("mode_spectra_layer%1").arg(layer),
            QStringLiteral(
                "Layer %1: normalised singular values of the mode unfoldings; squares mark the chosen ranks.")
                .arg(layer),
            [&R, layer](const FigureStyle& s) { return build_spectra_chart(R, layer, s); }, spectra_csv(R, layer));
        // The head with the largest error: the most interesting one to inspect.
        int worst = 0;
        for (std::size_t i = 0; i < res->measures.head_error.size(); ++i)
            if (res->measures.head_error[i] > res->measures.head_error[std::size_t(worst)]) worst = int(i);
        chart(
            QStringLiteral("head_spectra_layer%1_head%2").arg(layer).arg(worst),
            QStringLiteral("Layer %1, head %2 (largest error): singular values of its Q, K, V, O slices.")
                .arg(layer)
                .arg(worst),
            [&R, layer, worst](const FigureStyle& s) { return build_head_spectra_chart(R, layer, worst, s); },
            head_spectra_csv(R, layer, worst));
        if (res->spectra) {
            ExplorerData e;
            e.layer = layer;
            e.grid = analysis::sweep_estimate(*res->spectra, R.shape, analysis::default_grid(R.shape, 10));
            analysis::SweepPoint exact = analysis::sweep_estimate(*res->spectra, R.shape, {res->ranks}).front();
            exact.error_exact = res->measures.rel_error;
            e.exact = {exact};
            explorers.push_back(std::move(e));
            const ExplorerData* ep = &explorers.back();
            chart(
                QStringLiteral("rank_explorer_layer%1").arg(layer),
                QStringLiteral("Layer %1: error against compression over a rank grid (spectra estimate) and this run.")
                    .arg(layer),
                [ep](const FigureStyle& s) { return build_pareto_chart(*ep, s); }, pareto_csv(*ep));
        }
    }

    if (in.sweep && !in.sweep->points.empty())
        for (auto& f : sweep_figures(*in.sweep, style)) figs.push_back(std::move(f));

    const QDir d(dir);
    QStringList files = write_figure_files(d, figs, style);

    QString html;
    html += QStringLiteral("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%1</title>\n")
                .arg(in.title.toHtmlEscaped());
    html += QStringLiteral(
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "figure{margin:2em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#444}"
        "td.bad{color:#b00020;font-weight:bold;background:#fde8ec}.warn{color:#a65400}ul.warn{margin:0;padding-left:1."
        "2em}"
        "</style></head><body>\n");
    html += QStringLiteral("<h1>%1</h1>\n<p>Model: <code>%2</code><br>%3</p>\n")
                .arg(in.title.toHtmlEscaped(), in.model_path.toHtmlEscaped(), in.model_summary.toHtmlEscaped());
    html += QStringLiteral("<h2>Settings</h2><table>\n");
    for (const auto& [k, v] : in.settings)
        html += QStringLiteral("<tr><th>%1</th><td>%2</td></tr>\n").arg(k.toHtmlEscaped(), v.toHtmlEscaped());
    // The layer table: the layer error beside the worst of its Q/K/V/O errors (slices above
    // analysis::kSliceErrorWarning highlighted), and the status with any warnings.
    html += QStringLiteral(
        "</table>\n<h2>Layers</h2><table><tr><th>layer</th><th>ranks</th><th>relative error</th>"
        "<th>worst slice</th><th>Q</th><th>K</th><th>V</th><th>O</th><th>compression</th>"
        "<th>iterations</th><th>seconds</th><th>status</th></tr>\n");
    int warned = 0, damaged = 0;
    for (const auto& [l, res] : R.layers) {
        const auto& m = res->measures;
        const int worst = analysis::worst_slice(m);
        auto cls = [](double e) {
            return e > analysis::kSliceErrorWarning ? QStringLiteral(" class=\"bad\"") : QString();
        };
        damaged += m.type_error[std::size_t(worst)] > analysis::kSliceErrorWarning;
        html += QStringLiteral("<tr><td>%1</td><td>%2, %3, %4</td><td>%5</td><td%6>%7 %8</td>")
                    .arg(l)
                    .arg(res->ranks[0])
                    .arg(res->ranks[1])
                    .arg(res->ranks[2])
                    .arg(m.rel_error, 0, 'f', 4)
                    .arg(cls(m.type_error[std::size_t(worst)]))
                    .arg(QLatin1Char("QKVO"[worst]))
                    .arg(m.type_error[std::size_t(worst)], 0, 'f', 4);
        for (int t = 0; t < 4; ++t)
            html += QStringLiteral("<td%1>%2</td>").arg(cls(m.type_error[t])).arg(m.type_error[t], 0, 'f', 4);
        html += QStringLiteral("<td>%1×</td><td>%2</td><td>%3</td>")
                    .arg(m.ratio, 0, 'f', 2)
                    .arg(res->tucker.iterations)
                    .arg(res->seconds_total, 0, 'f', 3);
        if (res->warnings.empty()) {
            html += QStringLiteral("<td>%1</td></tr>\n").arg(QLatin1String(tucker::status_name(res->status)));
        } else {
            ++warned;
            html += QStringLiteral("<td class=\"warn\">warning<ul class=\"warn\">");
            for (const auto& w : res->warnings)
                html += QStringLiteral("<li>%1</li>").arg(QString::fromStdString(w).toHtmlEscaped());
            html += QStringLiteral("</ul></td></tr>\n");
        }
    }
    html += QStringLiteral("</table>\n");
    if (damaged > 0)
        html +=
            QStringLiteral(
                "<p>Highlighted: slice errors above %1 (the slice lost more than half of its norm); %2 layer(s).</p>\n")
                .arg(analysis::kSliceErrorWarning)
                .arg(damaged);
    if (warned > 0)
        html += QStringLiteral("<p class=\"warn\">%1 layer(s) with warnings (status column).</p>\n").arg(warned);
    html += QStringLiteral("<h2>Figures</h2>\n");
    for (const auto& f : figs)
        html += QStringLiteral(
                    "<figure id=\"%1\"><img src=\"%1.png\" alt=\"%2\"><figcaption>%2 "
                    "[<a href=\"%1.png\">PNG</a> · <a href=\"%1.svg\">SVG</a> · <a href=\"%1.pdf\">PDF</a> · "
                    "<a href=\"%1.csv\">CSV</a>]</figcaption></figure>\n")
                    .arg(f.name, f.caption.toHtmlEscaped());
    html += QStringLiteral("<p><small>Generated by TensorLLM Studio %1.</small></p></body></html>\n")
                .arg(QStringLiteral(TENSORLLM_VERSION));
    write_text_file(d.filePath(QStringLiteral("index.html")), html);
    files << QStringLiteral("index.html");
    return files;
}

}  // namespace tllm::ui
