#include "charts/chart_builders.h"

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
#include <QPainter>
#include <QScatterSeries>
#include <QValueAxis>

#include "analysis/sweep.h"
#include "charts/chart_parts.h"

namespace tllm::ui {
namespace {

const char* kTypes[4] = {"Q", "K", "V", "O"};
const char* kModes[4] = {"d", "head_dim", "QKVO", "heads"};

QFont axis_font(const FigureStyle& s) {
    QFont f;
    f.setPointSizeF(s.font_pt);
    return f;
}

}  // namespace

int tick_decimals(double lo, double step, int count) {
    if (!(step > 0) || !std::isfinite(step) || !std::isfinite(lo)) return 2;
    // Enough to tell neighbouring ticks apart; exact ticks may need fewer.
    const int enough = std::clamp(int(std::ceil(-std::log10(step) - 1e-9)), 0, 12);
    for (int d = 0; d <= enough + 2; ++d) {
        const double scale = std::pow(10.0, d);
        bool exact = true;
        for (int k = 0; k < std::max(count, 2) && exact; ++k) {
            const double t = lo + k * step;
            exact = std::abs(std::round(t * scale) / scale - t) <= step * 1e-6;
        }
        if (exact) return d;
    }
    return enough;
}

namespace {
void tidy_value_labels(QValueAxis* a) {
    if (a->tickType() != QValueAxis::TicksFixed) return;
    const int n = std::max(2, a->tickCount());
    const int d = tick_decimals(a->min(), (a->max() - a->min()) / (n - 1), n);
    a->setLabelFormat(QStringLiteral("%.%1f").arg(d));
}
}  // namespace

QValueAxis* value_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool integer) {
    auto* a = new QValueAxis;
    a->setTitleText(title);
    a->setLabelsFont(axis_font(s));
    QFont tf = axis_font(s);
    a->setTitleFont(tf);
    a->setRange(lo, hi);
    if (integer) {
        a->setLabelFormat(QStringLiteral("%d"));
        // Every integer up to 12, else the smallest step of 1, 2 or 5 times a power of ten
        // giving at most about 10 ticks, on its multiples: 0, 5, 10, ... rather than 1, 5, 9, ...
        const double span = hi - lo;
        double step = 1;
        if (span > 12) {
            const double raw = span / 10.0, p = std::pow(10.0, std::floor(std::log10(raw)));
            step = raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
        }
        a->setTickType(QValueAxis::TicksDynamic);
        a->setTickAnchor(std::ceil(lo / step) * step);
        a->setTickInterval(step);
    } else {
        a->applyNiceNumbers();
        tidy_value_labels(a);
        // Zooming changes the ticks: the decimals follow.
        QObject::connect(a, &QValueAxis::rangeChanged, a, [a] { tidy_value_labels(a); });
    }
    a->setGridLineColor(QColor(225, 225, 225));
    return a;
}

QLogValueAxis* log_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool exact) {
    auto* a = new QLogValueAxis;
    a->setTitleText(title);
    a->setLabelsFont(axis_font(s));
    a->setTitleFont(axis_font(s));
    a->setBase(10);
    a->setLabelFormat(QStringLiteral("%g"));
    lo = std::max(lo, 1e-12);
    if (!exact) {
        hi = std::pow(10.0, std::ceil(std::log10(std::max(hi, lo * 10)) - 1e-9));
        lo = std::pow(10.0, std::floor(std::log10(lo) + 1e-9));
    } else {
        hi = std::max(hi, lo * 1.5);
    }
    // QLogValueAxis places its first tick at ceil(ln(min) / ln(base)); for a decade such as
    // 1e-3 that quotient lands just above -3 and the decade would go unlabelled. A minimum a
    // hair below keeps it.
    a->setRange(lo * (1 - 1e-9), hi);
    a->setMinorTickCount(-1);
    a->setGridLineColor(QColor(225, 225, 225));
    return a;
}

QColor series_color(int i) {
    static const QColor c[10] = {
        QColor(31, 119, 180), QColor(255, 127, 14),  QColor(44, 160, 44),   QColor(214, 39, 40),  QColor(148, 103, 189),
        QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34), QColor(23, 190, 207)};
    return c[((i % 10) + 10) % 10];
}

Qt::PenStyle series_line_style(int i) {
    static const Qt::PenStyle st[4] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};
    return st[(std::max(i, 0) / 10) % 4];
}

int series_marker_shape(int i) {
    static const QScatterSeries::MarkerShape m[6] = {
        QScatterSeries::MarkerShapeCircle,   QScatterSeries::MarkerShapeRectangle,
        QScatterSeries::MarkerShapeTriangle, QScatterSeries::MarkerShapeRotatedRectangle,
        QScatterSeries::MarkerShapeStar,     QScatterSeries::MarkerShapePentagon};
    return int(m[std::max(i, 0) % 6]);
}

void attach(QChart* c, QAbstractSeries* s, QAbstractAxis* x, QAbstractAxis* y) {
    c->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
}

QChart* new_chart(const QString& title, const FigureStyle& s) {
    auto* c = new QChart;
    style_chart(c, s);
    c->setTitle(title);
    return c;
}

QChart* empty_chart(const QString& title, const QString& message, const FigureStyle& s) {
    QChart* c = new_chart(title, s);
    auto* x = value_axis(QString(), s, 0, 1);
    auto* y = value_axis(message, s, 0, 1);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    c->legend()->hide();
    return c;
}

namespace {

// Indices to plot for a spectrum of n values: all when short, else log-spaced (keeps the head
// and the tail visible with a bounded point count).
std::vector<std::size_t> spectrum_indices(std::size_t n, std::size_t max_points = 600) {
    std::vector<std::size_t> idx;
    if (n <= max_points) {
        for (std::size_t k = 0; k < n; ++k) idx.push_back(k);
        return idx;
    }
    std::size_t last = SIZE_MAX;
    for (std::size_t j = 0; j < max_points; ++j) {
        const auto k = static_cast<std::size_t>(std::llround(std::pow(double(n), double(j) / (max_points - 1)))) - 1;
        if (k != last && k < n) idx.push_back(k);
        last = k;
    }
    return idx;
}

QString num(double v) { return QString::number(v, 'g', 9); }

// Viridis, sampled.
QColor viridis(double t) {
    static const QColor stops[] = {QColor(68, 1, 84), QColor(59, 82, 139), QColor(33, 145, 140), QColor(94, 201, 98),
                                   QColor(253, 231, 37)};
    t = std::clamp(t, 0.0, 1.0) * 4.0;
    const int i = std::min(3, int(t));
    const double f = t - i;
    const QColor a = stops[i], b = stops[i + 1];
    return QColor::fromRgbF(float(a.redF() + f * (b.redF() - a.redF())),
                            float(a.greenF() + f * (b.greenF() - a.greenF())),
                            float(a.blueF() + f * (b.blueF() - a.blueF())));
}

double heat_value(const jobs::LayerResult& l, int head, HeatMetric m) {
    return m == HeatMetric::Error ? l.measures.head_error[static_cast<std::size_t>(head)] : l.measures.head_ratio;
}

}  // namespace

QColor type_color(int t) {
    static const QColor c[5] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44), QColor(214, 39, 40),
                                QColor(20, 20, 20)};
    return c[std::clamp(t, 0, 4)];
}

QChart* build_error_chart(const ResultSet& r, const FigureStyle& s) {
    if (r.empty()) return empty_chart(QStringLiteral("Relative error per layer"), QStringLiteral("no results yet"), s);
    QChart* c = new_chart(QStringLiteral("Relative error per layer"), s);
    const int lo = r.layers.begin()->first, hi = r.layers.rbegin()->first;
    double ymax = 0;
    for (const auto& [l, res] : r.layers) {
        ymax = std::max(ymax, res->measures.rel_error);
        for (double e : res->measures.type_error) ymax = std::max(ymax, e);
    }
    auto* x = value_axis(QStringLiteral("layer"), s, lo - 0.5, hi + 0.5, true);
    auto* y = value_axis(QStringLiteral("relative error  ||W - Ŵ||_F / ||W||_F"), s, 0, std::max(1e-3, ymax * 1.08));
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    for (int t = 0; t < 5; ++t) {
        auto* line = new QLineSeries;
        line->setName(t < 4 ? QString::fromLatin1(kTypes[t]) : QStringLiteral("layer (all)"));
        QPen pen(type_color(t));
        pen.setWidthF(t == 4 ? 2.2 : 1.4);
        if (t < 4) pen.setStyle(Qt::DashLine);
        line->setPen(pen);
        line->setPointsVisible(true);
        line->setMarkerSize(t == 4 ? 7 : 5);
        for (const auto& [l, res] : r.layers)
            line->append(l, t < 4 ? res->measures.type_error[t] : res->measures.rel_error);
        attach(c, line, x, y);
    }
    return c;
}

QString error_csv(const ResultSet& r) {
    QString o = QStringLiteral("layer,R1,R2,R3,rel_error,error_Q,error_K,error_V,error_O\n");
    for (const auto& [l, res] : r.layers) {
        o += QStringLiteral("%1,%2,%3,%4,%5")
                 .arg(l)
                 .arg(res->ranks[0])
                 .arg(res->ranks[1])
                 .arg(res->ranks[2])
                 .arg(num(res->measures.rel_error));
        for (int t = 0; t < 4; ++t) o += QLatin1Char(',') + num(res->measures.type_error[t]);
        o += QLatin1Char('\n');
    }
    return o;
}

QChart* build_compression_chart(const ResultSet& r, const FigureStyle& s) {
    if (r.empty())
        return empty_chart(QStringLiteral("Compression ratio per layer"), QStringLiteral("no results yet"), s);
    QChart* c = new_chart(QStringLiteral("Compression ratio per layer"), s);
    auto* set = new QBarSet(QStringLiteral("N_orig / N_comp"));
    set->setColor(type_color(0));
    set->setBorderColor(type_color(0).darker(130));
    QStringList cats;
    double ymax = 0;
    for (const auto& [l, res] : r.layers) {
        *set << res->measures.ratio;
        cats << QString::number(l);
        ymax = std::max(ymax, res->measures.ratio);
    }
    auto* bars = new QBarSeries;
    bars->append(set);
    bars->setLabelsVisible(r.layers.size() <= 16);
    bars->setLabelsFormat(QStringLiteral("@value"));
    bars->setLabelsPrecision(3);
    auto* x = new QBarCategoryAxis;
    x->append(cats);
    x->setTitleText(QStringLiteral("layer"));
    x->setLabelsFont(axis_font(s));
    x->setTitleFont(axis_font(s));
    auto* y = value_axis(QStringLiteral("compression ratio (×)"), s, 0, ymax * 1.15);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    attach(c, bars, x, y);
    c->legend()->hide();
    return c;
}

QString compression_csv(const ResultSet& r) {
    QString o =
        QStringLiteral("layer,R1,R2,R3,original_params,compressed_params,compression_ratio,head_compression_ratio\n");
    for (const auto& [l, res] : r.layers)
        o += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8\n")
                 .arg(l)
                 .arg(res->ranks[0])
                 .arg(res->ranks[1])
                 .arg(res->ranks[2])
                 .arg(res->measures.original_params)
                 .arg(res->measures.compressed_params)
                 .arg(num(res->measures.ratio), num(res->measures.head_ratio));
    return o;
}

QChart* build_spectra_chart(const ResultSet& r, int layer, const FigureStyle& s) {
    const auto* res = r.layer(layer);
    const QString title = QStringLiteral("Mode spectra, layer %1").arg(layer);
    if (!res || !res->spectra) return empty_chart(title, QStringLiteral("select a layer with results"), s);
    QChart* c = new_chart(title, s);
    std::size_t nmax = 1;
    double vmin = 1;
    for (int n = 0; n < 3; ++n) {
        const auto& sv = res->spectra->singular_values[n];
        nmax = std::max(nmax, sv.size());
        if (!sv.empty() && sv[0] > 0)
            for (double v : sv)
                if (v > 0) vmin = std::min(vmin, v / sv[0]);
    }
    auto* x = log_axis(QStringLiteral("index k"), s, 0.9, double(nmax) * 1.1, true);
    auto* y = log_axis(QStringLiteral("s_k / s_1 (legend: rank, energy kept)"), s, std::max(vmin, 1e-8), 1);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    for (int n = 0; n < 3; ++n) {
        const auto& sv = res->spectra->singular_values[n];
        if (sv.empty() || sv[0] <= 0) continue;
        auto* line = new QLineSeries;
        line->setName(QStringLiteral("%1: R=%2, %3%")
                          .arg(QString::fromLatin1(kModes[n]))
                          .arg(res->ranks[n])
                          .arg(100.0 * res->spectra->captured(n, res->ranks[n]), 0, 'f', 1));
        QPen pen(type_color(n));
        pen.setWidthF(1.6);
        line->setPen(pen);
        line->setPointsVisible(sv.size() <= 64);
        for (std::size_t k : spectrum_indices(sv.size()))
            if (sv[k] > 0) line->append(double(k + 1), std::max(sv[k] / sv[0], 1e-12));
        attach(c, line, x, y);
        // The chosen rank: a marker on the curve.
        auto* mark = new QScatterSeries;
        mark->setName(QString());
        mark->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
        mark->setMarkerSize(9);
        mark->setColor(type_color(n));
        mark->setBorderColor(Qt::black);
        const std::size_t k = std::min<std::size_t>(std::max(res->ranks[n], 1), sv.size()) - 1;
        mark->append(double(k + 1), std::max(sv[k] / sv[0], 1e-12));
        attach(c, mark, x, y);
    }
    // Hide the legend entries of the rank markers.
    const auto markers = c->legend()->markers();
    for (auto* m : markers)
        if (m->series()->name().isEmpty()) m->setVisible(false);
    return c;
}

QString spectra_csv(const ResultSet& r, int layer) {
    QString o = QStringLiteral("layer,mode,index,singular_value,captured_energy,chosen_rank\n");
    const auto* res = r.layer(layer);
    if (!res || !res->spectra) return o;
    for (int n = 0; n < 4; ++n) {
        const auto& sv = res->spectra->singular_values[n];
        for (std::size_t k = 0; k < sv.size(); ++k)
            o += QStringLiteral("%1,%2,%3,%4,%5,%6\n")
                     .arg(layer)
                     .arg(n + 1)
                     .arg(k + 1)
                     .arg(num(sv[k]), num(res->spectra->captured(n, int(k + 1))),
                          n < 3 ? QString::number(res->ranks[n]) : QString());
    }
    return o;
}

QChart* build_head_spectra_chart(const ResultSet& r, int layer, int head, const FigureStyle& s) {
    const auto* res = r.layer(layer);
    const QString title = QStringLiteral("Slice spectra, layer %1, head %2").arg(layer).arg(head);
    if (!res || head < 0 || std::size_t(head) >= res->measures.head_type_sv.size())
        return empty_chart(title, QStringLiteral("select a layer and head with results"), s);
    QChart* c = new_chart(title, s);
    const auto& sv = res->measures.head_type_sv[std::size_t(head)];
    double vmax = 0, vmin = 1e300;
    std::size_t n = 1;
    for (const auto& v : sv) {
        n = std::max(n, v.size());
        for (double x : v)
            if (x > 0) {
                vmax = std::max(vmax, x);
                vmin = std::min(vmin, x);
            }
    }
    if (vmax <= 0) vmax = 1, vmin = 0.1;
    auto* x = value_axis(QStringLiteral("index k"), s, 0.5, double(n) + 0.5, true);
    auto* y = log_axis(QStringLiteral("singular value"), s, std::max(vmin, vmax * 1e-8), vmax);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    for (int t = 0; t < 4; ++t) {
        auto* line = new QLineSeries;
        line->setName(QStringLiteral("%1 (error %2)")
                          .arg(QString::fromLatin1(kTypes[t]))
                          .arg(res->measures.head_type_error[std::size_t(head)][t], 0, 'f', 3));
        QPen pen(type_color(t));
        pen.setWidthF(1.6);
        line->setPen(pen);
        line->setPointsVisible(true);
        line->setMarkerSize(5);
        for (std::size_t k = 0; k < sv[t].size(); ++k)
            if (sv[t][k] > 0) line->append(double(k + 1), sv[t][k]);
        attach(c, line, x, y);
    }
    return c;
}

QString head_spectra_csv(const ResultSet& r, int layer, int head) {
    QString o = QStringLiteral("layer,head,type,index,singular_value\n");
    const auto* res = r.layer(layer);
    if (!res || head < 0 || std::size_t(head) >= res->measures.head_type_sv.size()) return o;
    for (int t = 0; t < 4; ++t) {
        const auto& sv = res->measures.head_type_sv[std::size_t(head)][t];
        for (std::size_t k = 0; k < sv.size(); ++k)
            o += QStringLiteral("%1,%2,%3,%4,%5\n")
                     .arg(layer)
                     .arg(head)
                     .arg(QLatin1String(kTypes[t]))
                     .arg(k + 1)
                     .arg(num(sv[k]));
    }
    return o;
}

QChart* build_convergence_chart(const ResultSet& r, int selected, const FigureStyle& s) {
    std::size_t iters = 0;
    double lo = 1, hi = 0;
    for (const auto& [l, res] : r.layers) {
        iters = std::max(iters, res->tucker.trace.size());
        for (double e : res->tucker.trace) {
            lo = std::min(lo, e);
            hi = std::max(hi, e);
        }
    }
    if (iters == 0) return empty_chart(QStringLiteral("HOOI convergence"), QStringLiteral("no results yet"), s);
    QChart* c = new_chart(QStringLiteral("HOOI convergence"), s);
    auto* x = value_axis(QStringLiteral("iteration (0 = initialisation)"), s, -0.2, double(iters - 1) + 0.2, true);
    const double pad = std::max(1e-6, (hi - lo) * 0.1);
    auto* y = value_axis(QStringLiteral("relative error"), s, std::max(0.0, lo - pad), hi + pad);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    // One colour of a qualitative palette and one marker shape per layer: traces that
    // coincide stay apart by their markers. The legend shows the markers.
    c->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);
    int k = 0;
    for (const auto& [l, res] : r.layers) {
        const QString name = QStringLiteral("layer %1").arg(l);
        const QColor col = series_color(k);
        const bool emph = l == selected;
        auto* line = new QLineSeries;
        line->setName(name);
        QPen pen(col);
        pen.setWidthF(emph ? 3.0 : 1.4);
        pen.setStyle(series_line_style(k));
        line->setPen(pen);
        // Hollow markers: where traces coincide, each outline stays visible through the other.
        auto* marks = new QScatterSeries;
        marks->setName(name);
        marks->setMarkerShape(QScatterSeries::MarkerShape(series_marker_shape(k)));
        marks->setMarkerSize(emph ? 11 : 9);
        marks->setBrush(Qt::NoBrush);
        QPen mp(col);
        mp.setWidthF(emph ? 2.2 : 1.5);
        marks->setPen(mp);
        for (std::size_t i = 0; i < res->tucker.trace.size(); ++i) {
            line->append(double(i), res->tucker.trace[i]);
            marks->append(double(i), res->tucker.trace[i]);
        }
        attach(c, line, x, y);
        attach(c, marks, x, y);
        ++k;
    }
    for (auto* m : c->legend()->markers())
        if (qobject_cast<QLineSeries*>(m->series())) m->setVisible(false);
    if (r.layers.size() > 16) c->legend()->hide();
    return c;
}

QString convergence_csv(const ResultSet& r) {
    QString o = QStringLiteral("layer,iteration,rel_error\n");
    for (const auto& [l, res] : r.layers)
        for (std::size_t i = 0; i < res->tucker.trace.size(); ++i)
            o += QStringLiteral("%1,%2,%3\n").arg(l).arg(i).arg(num(res->tucker.trace[i]));
    return o;
}

QChart* build_pareto_chart(const ExplorerData& d, const FigureStyle& s) {
    const QString title =
        d.layer >= 0 ? QStringLiteral("Rank explorer, layer %1").arg(d.layer) : QStringLiteral("Rank explorer");
    if (d.grid.empty() && d.exact.empty()) return empty_chart(title, d.message, s);
    QChart* c = new_chart(title, s);
    double rmin = 1e300, rmax = 0;
    for (const auto* v : {&d.grid, &d.exact})
        for (const auto& p : *v) {
            rmin = std::min(rmin, p.ratio);
            rmax = std::max(rmax, p.ratio);
        }
    if (d.has_current) {
        rmin = std::min(rmin, d.current.ratio);
        rmax = std::max(rmax, d.current.ratio);
    }
    auto* x = log_axis(QStringLiteral("compression ratio N_orig / N_comp"), s, std::max(rmin, 1e-3),
                       std::max(rmax, rmin * 10));
    auto* y = value_axis(QStringLiteral("relative error"), s, 0, 1.0);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    auto* cloud = new QScatterSeries;
    cloud->setName(QStringLiteral("estimate"));
    cloud->setMarkerSize(5);
    cloud->setColor(QColor(170, 170, 170));
    cloud->setBorderColor(QColor(170, 170, 170));
    for (const auto& p : d.grid) cloud->append(p.ratio, p.error_upper);
    attach(c, cloud, x, y);
    auto* front = new QLineSeries;
    front->setName(QStringLiteral("Pareto front"));
    QPen fp(QColor(90, 90, 90));
    fp.setWidthF(1.5);
    front->setPen(fp);
    for (std::size_t i : analysis::pareto_front(d.grid)) front->append(d.grid[i].ratio, d.grid[i].error_upper);
    attach(c, front, x, y);
    if (!d.exact.empty()) {
        auto* ex = new QScatterSeries;
        ex->setName(QStringLiteral("exact runs"));
        ex->setMarkerSize(9);
        ex->setColor(type_color(0));
        for (const auto& p : d.exact) ex->append(p.ratio, p.error_exact);
        attach(c, ex, x, y);
    }
    if (d.has_current) {
        auto* cur = new QScatterSeries;
        cur->setName(QStringLiteral("(%1,%2,%3): ≤ %4")
                         .arg(d.current.ranks[0])
                         .arg(d.current.ranks[1])
                         .arg(d.current.ranks[2])
                         .arg(d.current.error_upper, 0, 'f', 3));
        cur->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
        cur->setMarkerSize(12);
        cur->setColor(type_color(3));
        cur->append(d.current.ratio, d.current.error_upper);
        attach(c, cur, x, y);
    }
    return c;
}

QString pareto_csv(const ExplorerData& d) {
    QString o = QStringLiteral("layer,kind,R1,R2,R3,params,compression_ratio,error_upper,error_lower,error_exact\n");
    auto row = [&](const char* kind, const analysis::SweepPoint& p) {
        o += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8,%9,%10\n")
                 .arg(d.layer)
                 .arg(QLatin1String(kind))
                 .arg(p.ranks[0])
                 .arg(p.ranks[1])
                 .arg(p.ranks[2])
                 .arg(p.params)
                 .arg(num(p.ratio), num(p.error_upper), num(p.error_lower), num(p.error_exact));
    };
    for (const auto& p : d.grid) row("estimate", p);
    for (const auto& p : d.exact) row("exact", p);
    if (d.has_current) row("current", d.current);
    return o;
}

namespace {
struct HeatLayout {
    QRectF grid, bar;
    int heads = 0;
    std::vector<int> layers;
};
HeatLayout heat_layout(const QRectF& rect, const ResultSet& r) {
    HeatLayout h;
    h.heads = r.shape.h;
    for (const auto& [l, _] : r.layers) h.layers.push_back(l);
    const double left = 46, right = 78, top = 26, bottom = 38;
    h.grid = QRectF(rect.left() + left, rect.top() + top, std::max(10.0, rect.width() - left - right),
                    std::max(10.0, rect.height() - top - bottom));
    h.bar = QRectF(h.grid.right() + 14, h.grid.top(), 12, h.grid.height());
    return h;
}
}  // namespace

void paint_heatmap(QPainter& p, const QRectF& rect, const ResultSet& r, HeatMetric metric, int sel_layer, int sel_head,
                   const FigureStyle& s) {
    p.save();
    p.fillRect(rect, Qt::white);
    const QFont f = painter_font(p, s.font_pt);
    QFont tf = painter_font(p, s.font_pt + 2);
    tf.setBold(true);
    const QString title = metric == HeatMetric::Error ? QStringLiteral("Per-head relative error (layers × heads)")
                                                      : QStringLiteral("Per-head compression ratio (layers × heads)");
    p.setFont(tf);
    p.setPen(Qt::black);
    p.drawText(QRectF(rect.left(), rect.top() + 2, rect.width(), 20), Qt::AlignHCenter | Qt::AlignVCenter, title);
    p.setFont(f);
    const HeatLayout L = heat_layout(rect, r);
    if (L.layers.empty() || L.heads <= 0) {
        p.drawText(L.grid, Qt::AlignCenter, QStringLiteral("no results yet"));
        p.restore();
        return;
    }
    double lo = 1e300, hi = -1e300;
    for (const auto& [l, res] : r.layers)
        for (int i = 0; i < L.heads; ++i) {
            const double v = heat_value(*res, i, metric);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    // All values equal (the per-head compression of uniform ranks): one colour, and a colour
    // bar that says so rather than a scale from a value to itself.
    const bool flat = !(hi - lo > 1e-9 * std::max(std::abs(hi), std::abs(lo)));
    auto colour = [&](double v) { return flat ? viridis(0.5) : viridis((v - lo) / (hi - lo)); };
    const double cw = L.grid.width() / L.heads, ch = L.grid.height() / double(L.layers.size());
    for (std::size_t row = 0; row < L.layers.size(); ++row) {
        const auto& res = *r.layers.at(L.layers[row]);
        for (int i = 0; i < L.heads; ++i) {
            const QRectF cell(L.grid.left() + i * cw, L.grid.top() + row * ch, cw, ch);
            p.fillRect(cell, colour(heat_value(res, i, metric)));
        }
    }
    p.setPen(QPen(QColor(255, 255, 255, 120), 0.5));
    for (int i = 1; i < L.heads; ++i)
        p.drawLine(QPointF(L.grid.left() + i * cw, L.grid.top()), QPointF(L.grid.left() + i * cw, L.grid.bottom()));
    for (std::size_t row = 1; row < L.layers.size(); ++row)
        p.drawLine(QPointF(L.grid.left(), L.grid.top() + row * ch), QPointF(L.grid.right(), L.grid.top() + row * ch));
    // Selection outline.
    for (std::size_t row = 0; row < L.layers.size(); ++row)
        if (L.layers[row] == sel_layer && sel_head >= 0 && sel_head < L.heads) {
            p.setPen(QPen(QColor(214, 39, 40), 2.0));
            p.setBrush(Qt::NoBrush);
            p.drawRect(QRectF(L.grid.left() + sel_head * cw, L.grid.top() + row * ch, cw, ch));
        }
    p.setPen(Qt::black);
    p.setBrush(Qt::NoBrush);
    p.drawRect(L.grid);
    // Axis labels: heads along x, layers along y (thinned when dense).
    const int hstep = std::max(1, int(std::ceil(L.heads / (L.grid.width() / 22.0))));
    for (int i = 0; i < L.heads; i += hstep)
        p.drawText(QRectF(L.grid.left() + i * cw, L.grid.bottom() + 2, cw, 14), Qt::AlignHCenter | Qt::AlignTop,
                   QString::number(i));
    p.drawText(QRectF(L.grid.left(), L.grid.bottom() + 16, L.grid.width(), 16), Qt::AlignHCenter,
               QStringLiteral("head"));
    const int lstep = std::max(1, int(std::ceil(L.layers.size() / (L.grid.height() / 14.0))));
    for (std::size_t row = 0; row < L.layers.size(); row += lstep)
        p.drawText(QRectF(L.grid.left() - 30, L.grid.top() + row * ch, 26, ch), Qt::AlignRight | Qt::AlignVCenter,
                   QString::number(L.layers[row]));
    p.save();
    p.translate(rect.left() + 10, L.grid.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-60, -8, 120, 16), Qt::AlignCenter, QStringLiteral("layer"));
    p.restore();
    if (flat) {
        // One swatch, one value.
        const QRectF sw(L.bar.left(), L.bar.center().y() - L.bar.width() / 2, L.bar.width(), L.bar.width());
        p.fillRect(sw, viridis(0.5));
        p.drawRect(sw);
        p.drawText(QRectF(L.bar.right() + 3, sw.center().y() - 7, 70, 14), Qt::AlignLeft | Qt::AlignVCenter,
                   QString::number(lo, 'g', 3));
        p.drawText(QRectF(L.bar.left() - 4, sw.bottom() + 2, 74, 14), Qt::AlignLeft | Qt::AlignTop,
                   QStringLiteral("all equal"));
        p.restore();
        return;
    }
    // Colour bar with min, mid, max.
    for (int k = 0; k < 64; ++k) {
        const double t0 = double(k) / 64;
        p.fillRect(QRectF(L.bar.left(), L.bar.bottom() - (t0 + 1.0 / 64) * L.bar.height(), L.bar.width(),
                          L.bar.height() / 64 + 0.5),
                   viridis(t0 + 0.5 / 64));
    }
    p.drawRect(L.bar);
    for (double t : {0.0, 0.5, 1.0})
        p.drawText(QRectF(L.bar.right() + 3, L.bar.bottom() - t * L.bar.height() - 7, 60, 14),
                   Qt::AlignLeft | Qt::AlignVCenter, QString::number(lo + t * (hi - lo), 'g', 3));
    p.restore();
}

QString heatmap_csv(const ResultSet& r, HeatMetric metric) {
    QString o = metric == HeatMetric::Error ? QStringLiteral("layer,head,head_error,error_Q,error_K,error_V,error_O\n")
                                            : QStringLiteral("layer,head,head_compression_ratio\n");
    for (const auto& [l, res] : r.layers)
        for (int i = 0; i < r.shape.h && std::size_t(i) < res->measures.head_error.size(); ++i) {
            if (metric == HeatMetric::Error) {
                o += QStringLiteral("%1,%2,%3").arg(l).arg(i).arg(num(res->measures.head_error[std::size_t(i)]));
                for (int t = 0; t < 4; ++t)
                    o += QLatin1Char(',') + num(res->measures.head_type_error[std::size_t(i)][t]);
                o += QLatin1Char('\n');
            } else {
                o += QStringLiteral("%1,%2,%3\n").arg(l).arg(i).arg(num(res->measures.head_ratio));
            }
        }
    return o;
}

std::pair<int, int> heatmap_cell_at(const QRectF& rect, const ResultSet& r, const QPointF& pos) {
    const HeatLayout L = heat_layout(rect, r);
    if (L.layers.empty() || L.heads <= 0 || !L.grid.contains(pos)) return {-1, -1};
    const int head = std::clamp(int((pos.x() - L.grid.left()) / (L.grid.width() / L.heads)), 0, L.heads - 1);
    const int row =
        std::clamp(int((pos.y() - L.grid.top()) / (L.grid.height() / L.layers.size())), 0, int(L.layers.size()) - 1);
    return {L.layers[std::size_t(row)], head};
}

}  // namespace tllm::ui
