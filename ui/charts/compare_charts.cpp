#include "charts/compare_charts.h"

#include <algorithm>
#include <cmath>

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QScatterSeries>
#include <QValueAxis>

#include "charts/chart_builders.h"
#include "charts/chart_parts.h"

namespace tllm::ui {
namespace {

const char* kModes[3] = {"d", "head_dim", "QKVO"};

QString num(double v) { return std::isnan(v) ? QString() : QString::number(v, 'g', 17); }

QString label(const exporting::CompareSide& s) { return QString::fromStdString(s.label); }
QString diff_name(const exporting::Comparison& c) { return QStringLiteral("%1 − %2").arg(label(c.b), label(c.a)); }

// A y range covering `lo`..`hi` (and 0 when `with_zero`), padded.
std::pair<double, double> y_range(double lo, double hi, bool with_zero) {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (with_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
    const double pad = std::max((hi - lo) * 0.08, 1e-6);
    return {lo < 0 ? lo - pad : lo, hi + pad};
}

QLineSeries* side_series(const QString& name, int side, bool diff) {
    auto* line = new QLineSeries;
    line->setName(name);
    QPen pen(diff ? series_color(3) : series_color(side));
    pen.setWidthF(1.8);
    if (side == 1 && !diff) pen.setStyle(Qt::DashLine);
    line->setPen(pen);
    line->setPointsVisible(true);
    line->setMarkerSize(side == 1 ? 6 : 8);
    return line;
}

// A grey line at y = 0 across the x range, without a legend entry.
void zero_line(QChart* c, QAbstractAxis* x, QAbstractAxis* y, double x0, double x1) {
    auto* z = new QLineSeries;
    QPen pen(QColor(150, 150, 150));
    pen.setWidthF(1.0);
    z->setPen(pen);
    z->append(x0, 0);
    z->append(x1, 0);
    attach(c, z, x, y);
    for (auto* m : c->legend()->markers(z)) m->setVisible(false);
}

// Overlay (A, B) or difference of values over integer x positions.
QChart* xy_chart(const exporting::Comparison& c, const QString& title, const QString& xtitle, const QString& ytitle,
                 const std::vector<int>& xs, const std::vector<double>& va, const std::vector<double>& vb,
                 bool difference, bool zero_in_range, const FigureStyle& s) {
    QChart* ch = new_chart(title, s);
    double lo = INFINITY, hi = -INFINITY;
    auto see = [&](double v) {
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    };
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (difference)
            see(vb[i] - va[i]);
        else
            see(va[i]), see(vb[i]);
    }
    const auto [y0, y1] = y_range(lo, hi, difference || zero_in_range);
    const double x0 = xs.empty() ? -0.5 : xs.front() - 0.5, x1 = xs.empty() ? 0.5 : xs.back() + 0.5;
    auto* x = value_axis(xtitle, s, x0, x1, true);
    auto* y = value_axis(difference ? QStringLiteral("%1, %2").arg(ytitle, diff_name(c)) : ytitle, s, y0, y1);
    ch->addAxis(x, Qt::AlignBottom);
    ch->addAxis(y, Qt::AlignLeft);
    if (difference) {
        auto* d = side_series(diff_name(c), 0, true);
        for (std::size_t i = 0; i < xs.size(); ++i)
            if (std::isfinite(vb[i] - va[i])) d->append(xs[i], vb[i] - va[i]);
        attach(ch, d, x, y);
        zero_line(ch, x, y, x0, x1);
    } else {
        auto* a = side_series(label(c.a), 0, false);
        auto* b = side_series(label(c.b), 1, false);
        for (std::size_t i = 0; i < xs.size(); ++i) {
            if (std::isfinite(va[i])) a->append(xs[i], va[i]);
            if (std::isfinite(vb[i])) b->append(xs[i], vb[i]);
        }
        attach(ch, a, x, y);
        attach(ch, b, x, y);
        if (y0 < 0) zero_line(ch, x, y, x0, x1);
    }
    return ch;
}

}  // namespace

QString compare_metric_name(CompareMetric m) {
    switch (m) {
        case CompareMetric::Error: return QStringLiteral("relative error");
        case CompareMetric::Ratio: return QStringLiteral("compression ratio (×)");
        case CompareMetric::DeltaLoss: break;
    }
    return QStringLiteral("change in loss (nats/token)");
}

double compare_value(const exporting::CompareLayerRow& r, CompareMetric m, bool side_b) {
    switch (m) {
        case CompareMetric::Error: return side_b ? r.error_b : r.error_a;
        case CompareMetric::Ratio: return side_b ? r.ratio_b : r.ratio_a;
        case CompareMetric::DeltaLoss: break;
    }
    return side_b ? r.delta_nll_b : r.delta_nll_a;
}

QChart* build_compare_layer_chart(const exporting::Comparison& c, CompareMetric m, bool difference,
                                  const FigureStyle& s) {
    const QString what = compare_metric_name(m);
    // The sides are named in the legend; the title says what and, for a difference, which way.
    QString title = what.split(QStringLiteral(" (")).front();
    title = title.left(1).toUpper() + title.mid(1) + QStringLiteral(" per layer");
    if (difference) title += QStringLiteral(", ") + diff_name(c);
    if (c.layers.empty()) return empty_chart(title, QStringLiteral("no decomposed layers in either result"), s);
    std::vector<int> xs;
    std::vector<double> va, vb;
    for (const auto& r : c.layers) {
        xs.push_back(r.layer);
        va.push_back(compare_value(r, m, false));
        vb.push_back(compare_value(r, m, true));
    }
    return xy_chart(c, title, QStringLiteral("layer"), what, xs, va, vb, difference, true, s);
}

QString compare_layer_csv(const exporting::Comparison& c, CompareMetric m) {
    QString o = QStringLiteral("layer,%1,%2,difference\n").arg(label(c.a), label(c.b));
    for (const auto& r : c.layers) {
        const double a = compare_value(r, m, false), b = compare_value(r, m, true);
        o += QStringLiteral("%1,%2,%3,%4\n").arg(r.layer).arg(num(a), num(b), num(b - a));
    }
    return o;
}

QChart* build_compare_head_chart(const exporting::Comparison& c, int layer, bool difference, const FigureStyle& s) {
    QString title = QStringLiteral("Head errors, layer %1").arg(layer);
    if (difference) title += QStringLiteral(", ") + diff_name(c);
    std::vector<int> xs;
    std::vector<double> va, vb;
    for (const auto& h : c.heads)
        if (h.layer == layer) {
            xs.push_back(h.head);
            va.push_back(h.error_a);
            vb.push_back(h.error_b);
        }
    if (xs.empty()) return empty_chart(title, QStringLiteral("select a layer present in both results"), s);
    return xy_chart(c, title, QStringLiteral("head"), QStringLiteral("relative error (head)"), xs, va, vb, difference,
                    true, s);
}

QString compare_head_csv(const exporting::Comparison& c, int layer) {
    QString o = QStringLiteral("layer,head,%1,%2,difference\n").arg(label(c.a), label(c.b));
    for (const auto& h : c.heads)
        if (h.layer == layer)
            o += QStringLiteral("%1,%2,%3,%4,%5\n")
                     .arg(h.layer)
                     .arg(h.head)
                     .arg(num(h.error_a), num(h.error_b), num(h.error_diff()));
    return o;
}

QChart* build_compare_spectra_chart(const exporting::Comparison& c, int layer, const FigureStyle& s) {
    const QString title =
        QStringLiteral("Mode spectra, layer %1: %2 solid ■, %3 dashed ▲").arg(layer).arg(label(c.a), label(c.b));
    const exporting::CompareSide* sides[2] = {&c.a, &c.b};
    const jobs::LayerResult* res[2] = {nullptr, nullptr};
    std::size_t nmax = 1;
    double vmin = 1;
    for (int k = 0; k < 2; ++k) {
        auto it = sides[k]->layers.find(layer);
        if (it == sides[k]->layers.end() || !it->second.spectra) continue;
        res[k] = &it->second;
        for (int n = 0; n < 3; ++n) {
            const auto& sv = res[k]->spectra->singular_values[std::size_t(n)];
            nmax = std::max(nmax, sv.size());
            if (!sv.empty() && sv[0] > 0)
                for (double v : sv)
                    if (v > 0) vmin = std::min(vmin, v / sv[0]);
        }
    }
    if (!res[0] && !res[1]) return empty_chart(title, QStringLiteral("no spectra stored for this layer"), s);
    QChart* ch = new_chart(title, s);
    auto* x = log_axis(QStringLiteral("index k"), s, 0.9, double(nmax) * 1.1, true);
    auto* y = log_axis(QStringLiteral("s_k / s_1 (legend: ranks, energy kept)"), s, std::max(vmin, 1e-8), 1);
    ch->addAxis(x, Qt::AlignBottom);
    ch->addAxis(y, Qt::AlignLeft);
    // One legend entry per mode, on A's curve (B's when A has none): both ranks and the energy
    // each keeps, A first; B's curve is the dashed one of the same colour.
    const int legend_side = res[0] ? 0 : 1;
    for (int k = 0; k < 2; ++k) {
        if (!res[k]) continue;
        for (int n = 0; n < 3; ++n) {
            const auto& sv = res[k]->spectra->singular_values[std::size_t(n)];
            if (sv.empty() || sv[0] <= 0) continue;
            const int R = res[k]->ranks[std::size_t(n)];
            auto* line = new QLineSeries;
            if (k == legend_side) {
                QStringList parts;
                for (int j = 0; j < 2; ++j)
                    if (res[j]) {
                        const int Rj = res[j]->ranks[std::size_t(n)];
                        parts << QStringLiteral("%1 (%2%)")
                                     .arg(Rj)
                                     .arg(100.0 * res[j]->spectra->captured(n, Rj), 0, 'f', 0);
                    }
                line->setName(
                    QStringLiteral("%1: %2").arg(QString::fromLatin1(kModes[n]), parts.join(QStringLiteral(" | "))));
            }
            QPen pen(type_color(n));
            pen.setWidthF(k == 0 ? 2.2 : 1.6);
            if (k == 1) pen.setStyle(Qt::DashLine);
            line->setPen(pen);
            for (std::size_t i = 0; i < sv.size(); ++i)
                if (sv[i] > 0) line->append(double(i + 1), std::max(sv[i] / sv[0], 1e-12));
            attach(ch, line, x, y);
            if (k != legend_side)
                for (auto* m : ch->legend()->markers(line)) m->setVisible(false);
            auto* mark = new QScatterSeries;
            mark->setMarkerShape(k == 0 ? QScatterSeries::MarkerShapeRectangle : QScatterSeries::MarkerShapeTriangle);
            mark->setMarkerSize(10);
            mark->setColor(type_color(n));
            mark->setBorderColor(Qt::black);
            const std::size_t i = std::min<std::size_t>(std::size_t(std::max(R, 1)), sv.size()) - 1;
            mark->append(double(i + 1), std::max(sv[i] / sv[0], 1e-12));
            attach(ch, mark, x, y);
            for (auto* m : ch->legend()->markers(mark)) m->setVisible(false);
        }
    }
    return ch;
}

QString compare_spectra_csv(const exporting::Comparison& c, int layer) {
    QString o = QStringLiteral("side,layer,mode,index,singular_value,captured_energy,rank\n");
    for (const auto* side : {&c.a, &c.b}) {
        auto it = side->layers.find(layer);
        if (it == side->layers.end() || !it->second.spectra) continue;
        const auto& r = it->second;
        for (int n = 0; n < 3; ++n) {
            const auto& sv = r.spectra->singular_values[std::size_t(n)];
            for (std::size_t k = 0; k < sv.size(); ++k)
                o += QStringLiteral("%1,%2,%3,%4,%5,%6,%7\n")
                         .arg(label(*side))
                         .arg(layer)
                         .arg(n + 1)
                         .arg(k + 1)
                         .arg(num(sv[k]), num(r.spectra->captured(n, int(k + 1))))
                         .arg(r.ranks[std::size_t(n)]);
        }
    }
    return o;
}

QChart* build_compare_sweep_chart(const exporting::Comparison& c, const FigureStyle& s) {
    const QString title = QStringLiteral("Change in loss of each edit");
    QStringList cats;
    auto* sa = new QBarSet(label(c.a));
    auto* sb = new QBarSet(label(c.b));
    double lo = 0, hi = 0;
    for (const auto& r : c.sweep) {
        if (!r.in_a || !r.in_b || !std::isfinite(r.delta_nll_a) || !std::isfinite(r.delta_nll_b)) continue;
        cats << QStringLiteral("L%1 %2").arg(r.layer).arg(QString::fromStdString(r.label));
        *sa << r.delta_nll_a;
        *sb << r.delta_nll_b;
        lo = std::min({lo, r.delta_nll_a, r.delta_nll_b});
        hi = std::max({hi, r.delta_nll_a, r.delta_nll_b});
    }
    if (cats.empty()) {
        delete sa;
        delete sb;
        return empty_chart(title, QStringLiteral("no sweep point evaluated in both results"), s);
    }
    QChart* ch = new_chart(title, s);
    sa->setColor(series_color(0));
    sb->setColor(series_color(1));
    auto* bars = new QBarSeries;
    bars->append(sa);
    bars->append(sb);
    auto* x = new QBarCategoryAxis;
    x->append(cats);
    x->setTitleText(QStringLiteral("layer and edit"));
    QFont f;
    f.setPointSizeF(s.font_pt);
    x->setLabelsFont(f);
    x->setTitleFont(f);
    // Upright labels fit a few categories only; turned, they keep their full text.
    if (cats.size() > 4) x->setLabelsAngle(cats.size() > 8 ? -60 : -40);
    const auto [y0, y1] = y_range(lo, hi, true);
    auto* y = value_axis(QStringLiteral("change in loss (nats/token)"), s, y0, y1);
    ch->addAxis(x, Qt::AlignBottom);
    ch->addAxis(y, Qt::AlignLeft);
    attach(ch, bars, x, y);
    return ch;
}

QString compare_sweep_chart_csv(const exporting::Comparison& c) {
    QString o = QStringLiteral("layer,edit,method,%1,%2,difference\n").arg(label(c.a), label(c.b));
    for (const auto& r : c.sweep)
        o += QStringLiteral("%1,\"%2\",%3,%4,%5,%6\n")
                 .arg(r.layer)
                 .arg(QString::fromStdString(r.label), QString::fromStdString(r.method), num(r.delta_nll_a),
                      num(r.delta_nll_b), num(r.delta_nll_diff()));
    return o;
}

}  // namespace tllm::ui
