#include "charts/sweep_charts.h"

#include <algorithm>
#include <cmath>

#include <QChart>
#include <QFontMetricsF>
#include <QLegend>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPainter>
#include <QScatterSeries>
#include <QValueAxis>

#include "charts/chart_builders.h"
#include "charts/chart_parts.h"

namespace tllm::ui {
namespace {

QString num(double v) { return std::isfinite(v) ? QString::number(v, 'g', 9) : QString(); }

QString signed_short(double v) { return (v >= 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'g', 3); }

// The error of what a point edits: the attention's weight error, else the LASER matrix's.
double edit_error(const edits::SweepPoint& p) { return std::isfinite(p.weight_error) ? p.weight_error : p.laser_error; }

double ratio_of(const edits::SweepPoint& p, SweepRatio r) {
    return r == SweepRatio::Layer ? p.layer_ratio : p.model_ratio;
}

bool plotted(const edits::SweepPoint& p, SweepRatio r) {
    return p.ran() && std::isfinite(p.delta_nll) && std::isfinite(ratio_of(p, r)) && ratio_of(p, r) > 0;
}

// The colour scale maps a Δloss v to t = sign(v) sqrt(|v| / vmax): small changes, the
// improvements in particular, stay visible next to a badly damaged layer.
double scale_t(double v, double vmax) { return std::copysign(std::sqrt(std::min(1.0, std::abs(v) / vmax)), v); }

struct SweepHeatLayout {
    QRectF grid, bar;
};
SweepHeatLayout sweep_heat_layout(const QRectF& rect) {
    SweepHeatLayout h;
    const double left = 46, right = 92, top = 26, bottom = 40;
    h.grid = QRectF(rect.left() + left, rect.top() + top, std::max(10.0, rect.width() - left - right),
                    std::max(10.0, rect.height() - top - bottom));
    h.bar = QRectF(h.grid.right() + 14, h.grid.top(), 12, h.grid.height());
    return h;
}

}  // namespace

int SweepTable::column_of(int choice, int laser) const {
    for (std::size_t c = 0; c < columns.size(); ++c)
        if (columns[c] == std::pair<int, int>(choice, laser)) return int(c);
    return -1;
}

int SweepTable::row_of(int layer) const {
    auto it = std::find(layers.begin(), layers.end(), layer);
    return it == layers.end() ? -1 : int(it - layers.begin());
}

const edits::SweepPoint* SweepTable::at(int layer, int column) const {
    const int row = row_of(layer);
    if (row < 0 || column < 0 || column >= int(columns.size())) return nullptr;
    return cell[std::size_t(row)][std::size_t(column)];
}

SweepTable sweep_table(const edits::SweepResult& r) {
    SweepTable t;
    const auto& o = r.options;
    for (int c = 0; c < int(o.choices.size()); ++c) t.columns.emplace_back(c, -1);
    for (int l = 0; l < int(o.laser.size()); ++l) t.columns.emplace_back(-1, l);
    if (o.combine)
        for (int c = 0; c < int(o.choices.size()); ++c)
            for (int l = 0; l < int(o.laser.size()); ++l) t.columns.emplace_back(c, l);
    t.layers = r.layers;
    for (const auto& p : r.points) {
        if (t.column_of(p.spec.choice, p.spec.laser) < 0) t.columns.emplace_back(p.spec.choice, p.spec.laser);
        if (t.row_of(p.spec.layer) < 0) t.layers.push_back(p.spec.layer);
    }
    for (const auto& [c, l] : t.columns) {
        QString label;
        if ((c < 0 || c < int(o.choices.size())) && (l < 0 || l < int(o.laser.size())))
            label = QString::fromStdString(edits::point_label(o, edits::PointSpec{0, c, l}));
        t.labels.push_back(label);
    }
    t.cell.assign(t.layers.size(), std::vector<const edits::SweepPoint*>(t.columns.size(), nullptr));
    for (const auto& p : r.points) {
        const int row = t.row_of(p.spec.layer), col = t.column_of(p.spec.choice, p.spec.laser);
        t.cell[std::size_t(row)][std::size_t(col)] = &p;
        if (t.labels[std::size_t(col)].isEmpty()) t.labels[std::size_t(col)] = QString::fromStdString(p.label);
    }
    return t;
}

int sweep_column_for(const SweepTable& t, const edits::SweepResult& r, int preferred, const std::array<int, 3>& ranks) {
    if (t.columns.empty()) return -1;
    if (preferred >= 0 && preferred < int(t.columns.size())) return preferred;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
        const auto [choice, laser] = t.columns[c];
        if (laser < 0 && choice >= 0 && choice < int(r.options.choices.size())) {
            const auto& spec = r.options.choices[std::size_t(choice)];
            if (spec.kind == tucker::RankSpec::Kind::Fixed && spec.ranks == ranks) return int(c);
        }
    }
    for (std::size_t c = 0; c < t.columns.size(); ++c)
        if (t.columns[c].first >= 0) return int(c);
    return 0;
}

QColor diverging_color(double t) {
    // ColorBrewer RdBu (reversed: blue below zero, red above), 5 stops.
    static const QColor stops[] = {QColor(33, 102, 172), QColor(103, 169, 207), QColor(247, 247, 247),
                                   QColor(239, 138, 98), QColor(178, 24, 43)};
    t = (std::clamp(t, -1.0, 1.0) + 1.0) * 2.0;
    const int i = std::min(3, int(t));
    const double f = t - i;
    const QColor a = stops[i], b = stops[i + 1];
    return QColor::fromRgbF(float(a.redF() + f * (b.redF() - a.redF())),
                            float(a.greenF() + f * (b.greenF() - a.greenF())),
                            float(a.blueF() + f * (b.blueF() - a.blueF())));
}

void paint_sweep_heatmap(QPainter& p, const QRectF& rect, const edits::SweepResult& r, int sel_layer, int sel_column,
                         const FigureStyle& s) {
    p.save();
    p.fillRect(rect, Qt::white);
    const QFont f = painter_font(p, s.font_pt);
    QFont tf = painter_font(p, s.font_pt + 2);
    tf.setBold(true);
    p.setFont(tf);
    p.setPen(Qt::black);
    p.drawText(QRectF(rect.left(), rect.top() + 2, rect.width(), 20), Qt::AlignHCenter | Qt::AlignVCenter,
               QStringLiteral("Δ loss per layer × edit (nats/token)"));
    p.setFont(f);
    const SweepHeatLayout L = sweep_heat_layout(rect);
    const SweepTable T = sweep_table(r);
    if (T.layers.empty() || T.columns.empty()) {
        p.drawText(L.grid, Qt::AlignCenter,
                   r.points.empty() && r.baseline.ppl.n_tokens > 0 ? QStringLiteral("baseline only: run a sweep")
                                                                   : QStringLiteral("no sweep yet"));
        p.restore();
        return;
    }
    double vmax = 0;
    for (const auto& q : r.points)
        if (q.ran() && std::isfinite(q.delta_nll)) vmax = std::max(vmax, std::abs(q.delta_nll));
    if (vmax <= 0) vmax = 1e-6;
    const double cw = L.grid.width() / double(T.columns.size()), ch = L.grid.height() / double(T.layers.size());
    const QFontMetricsF fm(f, p.device());
    const bool values = cw >= fm.horizontalAdvance(QStringLiteral("+0.000")) + 6 && ch >= fm.height() + 2;
    for (std::size_t row = 0; row < T.layers.size(); ++row)
        for (std::size_t col = 0; col < T.columns.size(); ++col) {
            const QRectF cell(L.grid.left() + col * cw, L.grid.top() + row * ch, cw, ch);
            const edits::SweepPoint* q = T.cell[row][col];
            if (!q) {
                p.fillRect(cell, QColor(238, 238, 238));
                continue;
            }
            if (!q->ran() || !std::isfinite(q->delta_nll)) {
                p.fillRect(cell, QColor(200, 200, 200));
                if (values) {
                    p.setPen(QColor(90, 90, 90));
                    p.drawText(cell, Qt::AlignCenter, QStringLiteral("failed"));
                }
                continue;
            }
            const double t = scale_t(q->delta_nll, vmax);
            p.fillRect(cell, diverging_color(t));
            if (values) {
                p.setPen(std::abs(t) > 0.7 ? Qt::white : Qt::black);
                p.drawText(cell, Qt::AlignCenter, signed_short(q->delta_nll));
            }
        }
    p.setPen(QPen(QColor(255, 255, 255), 1.0));
    for (std::size_t col = 1; col < T.columns.size(); ++col)
        p.drawLine(QPointF(L.grid.left() + col * cw, L.grid.top()), QPointF(L.grid.left() + col * cw, L.grid.bottom()));
    for (std::size_t row = 1; row < T.layers.size(); ++row)
        p.drawLine(QPointF(L.grid.left(), L.grid.top() + row * ch), QPointF(L.grid.right(), L.grid.top() + row * ch));
    // Selection: the layer's row, and the cell of the selected edit.
    p.setBrush(Qt::NoBrush);
    const int srow = T.row_of(sel_layer);
    if (srow >= 0) {
        p.setPen(QPen(QColor(60, 60, 60), 1.2, Qt::DashLine));
        p.drawRect(QRectF(L.grid.left(), L.grid.top() + srow * ch, L.grid.width(), ch));
        if (sel_column >= 0 && sel_column < int(T.columns.size())) {
            p.setPen(QPen(Qt::black, 2.5));
            p.drawRect(
                QRectF(L.grid.left() + sel_column * cw, L.grid.top() + srow * ch, cw, ch).adjusted(1, 1, -1, -1));
        }
    }
    p.setPen(Qt::black);
    p.drawRect(L.grid);
    // Edits along x (elided to the cell width), layers along y (thinned when dense).
    for (std::size_t col = 0; col < T.columns.size(); ++col)
        p.drawText(QRectF(L.grid.left() + col * cw, L.grid.bottom() + 2, cw, fm.height()),
                   Qt::AlignHCenter | Qt::AlignTop, fm.elidedText(T.labels[col], Qt::ElideRight, cw - 2));
    p.drawText(QRectF(L.grid.left(), L.grid.bottom() + 4 + fm.height(), L.grid.width(), fm.height()), Qt::AlignHCenter,
               QStringLiteral("edit (ranks R1,R2,R3 / tolerance / ratio / LASER)"));
    const int lstep = std::max(1, int(std::ceil(T.layers.size() / (L.grid.height() / (fm.height() + 1)))));
    for (std::size_t row = 0; row < T.layers.size(); row += lstep)
        p.drawText(QRectF(L.grid.left() - 30, L.grid.top() + row * ch, 26, ch), Qt::AlignRight | Qt::AlignVCenter,
                   QString::number(T.layers[row]));
    p.save();
    p.translate(rect.left() + 10, L.grid.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-60, -8, 120, 16), Qt::AlignCenter, QStringLiteral("layer"));
    p.restore();
    // Colour bar, symmetric about zero (blue: loss down, red: loss up).
    const int n = 64;
    for (int k = 0; k < n; ++k) {
        const double t0 = double(k) / n;
        p.fillRect(QRectF(L.bar.left(), L.bar.bottom() - (t0 + 1.0 / n) * L.bar.height(), L.bar.width(),
                          L.bar.height() / n + 0.5),
                   diverging_color(2.0 * (t0 + 0.5 / n) - 1.0));
    }
    p.setPen(Qt::black);
    p.drawRect(L.bar);
    for (double t : {-1.0, -0.5, 0.0, 0.5, 1.0}) {
        const double v = std::copysign(t * t * vmax, t);
        const double y = L.bar.bottom() - (t + 1.0) / 2.0 * L.bar.height();
        p.drawLine(QPointF(L.bar.right(), y), QPointF(L.bar.right() + 3, y));
        p.drawText(QRectF(L.bar.right() + 5, y - fm.height() / 2, 80, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
                   t == 0.0 ? QStringLiteral("0") : signed_short(v));
    }
    p.restore();
}

std::pair<int, int> sweep_heatmap_cell_at(const QRectF& rect, const edits::SweepResult& r, const QPointF& pos) {
    const SweepHeatLayout L = sweep_heat_layout(rect);
    const SweepTable T = sweep_table(r);
    if (T.layers.empty() || T.columns.empty() || !L.grid.contains(pos)) return {-1, -1};
    const int col =
        std::clamp(int((pos.x() - L.grid.left()) / (L.grid.width() / T.columns.size())), 0, int(T.columns.size()) - 1);
    const int row =
        std::clamp(int((pos.y() - L.grid.top()) / (L.grid.height() / T.layers.size())), 0, int(T.layers.size()) - 1);
    return {T.layers[std::size_t(row)], col};
}

QRectF sweep_heatmap_cell_rect(const QRectF& rect, const edits::SweepResult& r, int layer, int column) {
    const SweepHeatLayout L = sweep_heat_layout(rect);
    const SweepTable T = sweep_table(r);
    const int row = T.row_of(layer);
    if (row < 0 || column < 0 || column >= int(T.columns.size())) return {};
    const double cw = L.grid.width() / double(T.columns.size()), ch = L.grid.height() / double(T.layers.size());
    return {L.grid.left() + column * cw, L.grid.top() + row * ch, cw, ch};
}

QString sweep_heatmap_csv(const edits::SweepResult& r) {
    QString o = QStringLiteral("layer,edit,R1,R2,R3,status,delta_nll,delta_nll_stderr\n");
    const SweepTable T = sweep_table(r);
    for (std::size_t row = 0; row < T.layers.size(); ++row)
        for (std::size_t col = 0; col < T.columns.size(); ++col) {
            const edits::SweepPoint* q = T.cell[row][col];
            if (!q) continue;
            o += QStringLiteral("%1,\"%2\",%3,%4,%5,%6,%7,%8\n")
                     .arg(T.layers[row])
                     .arg(T.labels[col])
                     .arg(q->ranks[0])
                     .arg(q->ranks[1])
                     .arg(q->ranks[2])
                     .arg(QLatin1String(tucker::status_name(q->status)), num(q->delta_nll), num(q->delta_nll_stderr));
        }
    return o;
}

std::vector<std::size_t> sweep_pareto_front(const edits::SweepResult& r, SweepRatio ratio) {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < r.points.size(); ++i)
        if (plotted(r.points[i], ratio)) idx.push_back(i);
    // Most compression first; a point is on the front when its Δloss is below that of every
    // point compressing at least as much.
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        const double ra = ratio_of(r.points[a], ratio), rb = ratio_of(r.points[b], ratio);
        return ra != rb ? ra > rb : r.points[a].delta_nll < r.points[b].delta_nll;
    });
    std::vector<std::size_t> front;
    double best = INFINITY;
    for (std::size_t i : idx)
        if (r.points[i].delta_nll < best) {
            best = r.points[i].delta_nll;
            front.push_back(i);
        }
    std::reverse(front.begin(), front.end());
    return front;
}

QChart* build_sweep_pareto_chart(const edits::SweepResult& r, SweepRatio ratio, int sel_layer, const FigureStyle& s) {
    const QString title = QStringLiteral("Quality against compression");
    double xmin = INFINITY, xmax = 0, ymin = 0, ymax = 0;
    for (const auto& p : r.points)
        if (plotted(p, ratio)) {
            xmin = std::min(xmin, ratio_of(p, ratio));
            xmax = std::max(xmax, ratio_of(p, ratio));
            ymin = std::min(ymin, p.delta_nll);
            ymax = std::max(ymax, p.delta_nll);
        }
    if (xmax <= 0) return empty_chart(title, QStringLiteral("no sweep points yet"), s);
    QChart* c = new_chart(title, s);
    const double lo = xmin / 1.3, hi = std::max(xmax * 1.3, lo * 1.5);
    auto* x = log_axis(ratio == SweepRatio::Layer ? QStringLiteral("compression ratio of the edited layer (×)")
                                                  : QStringLiteral("compression ratio of the model (×)"),
                       s, lo, hi, true);
    if (hi / lo < 100) x->setBase(2);  // ticks at 2, 4, 8, 16, ... where decades would leave one or none
    const double pad = std::max(1e-4, (ymax - ymin) * 0.08);
    auto* y = value_axis(QStringLiteral("Δ loss (nats/token)"), s, ymin - pad, ymax + pad);
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(y, Qt::AlignLeft);
    auto* base = new QLineSeries;
    base->setName(QStringLiteral("baseline (Δ = 0)"));
    QPen bp(QColor(60, 60, 60));
    bp.setStyle(Qt::DashLine);
    bp.setWidthF(1.2);
    base->setPen(bp);
    base->append(lo, 0);
    base->append(hi, 0);
    attach(c, base, x, y);
    auto* all = new QScatterSeries;
    all->setName(QStringLiteral("edits"));
    all->setMarkerSize(8);
    all->setColor(QColor(31, 119, 180, 150));
    all->setBorderColor(QColor(31, 119, 180));
    auto* sel = new QScatterSeries;
    sel->setName(QStringLiteral("layer %1").arg(sel_layer));
    sel->setMarkerSize(11);
    sel->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
    sel->setColor(QColor(214, 39, 40));
    sel->setBorderColor(Qt::black);
    for (const auto& p : r.points)
        if (plotted(p, ratio)) (p.spec.layer == sel_layer ? sel : all)->append(ratio_of(p, ratio), p.delta_nll);
    attach(c, all, x, y);
    auto* front = new QLineSeries;
    front->setName(QStringLiteral("Pareto front"));
    QPen fp(QColor(44, 160, 44));
    fp.setWidthF(1.8);
    front->setPen(fp);
    for (std::size_t i : sweep_pareto_front(r, ratio))
        front->append(ratio_of(r.points[i], ratio), r.points[i].delta_nll);
    attach(c, front, x, y);
    if (sel->count() > 0)
        attach(c, sel, x, y);
    else
        delete sel;
    return c;
}

QString sweep_pareto_csv(const edits::SweepResult& r, SweepRatio ratio) {
    QString o = QStringLiteral("layer,edit,layer_ratio,model_ratio,delta_nll,delta_nll_stderr,pareto\n");
    std::vector<bool> on(r.points.size(), false);
    for (std::size_t i : sweep_pareto_front(r, ratio)) on[i] = true;
    for (std::size_t i = 0; i < r.points.size(); ++i) {
        const auto& p = r.points[i];
        if (!p.ran()) continue;
        o += QStringLiteral("%1,\"%2\",%3,%4,%5,%6,%7\n")
                 .arg(p.spec.layer)
                 .arg(QString::fromStdString(p.label), num(p.layer_ratio), num(p.model_ratio), num(p.delta_nll),
                      num(p.delta_nll_stderr))
                 .arg(on[i] ? 1 : 0);
    }
    return o;
}

QChart* build_sweep_layer_chart(const edits::SweepResult& r, int column, int sel_layer, const FigureStyle& s) {
    const SweepTable T = sweep_table(r);
    const QString label = column >= 0 && column < int(T.labels.size()) ? T.labels[std::size_t(column)] : QString();
    const QString title = label.isEmpty() ? QStringLiteral("Δ loss and weight error per layer")
                                          : QStringLiteral("Δ loss and weight error per layer, edit %1").arg(label);
    std::vector<const edits::SweepPoint*> pts;
    for (int l : T.layers)
        if (const auto* q = T.at(l, column); q && q->ran() && std::isfinite(q->delta_nll)) pts.push_back(q);
    if (pts.empty()) return empty_chart(title, QStringLiteral("no sweep points yet"), s);
    QChart* c = new_chart(title, s);
    int lo = pts.front()->spec.layer, hi = lo;
    double dmin = 0, dmax = 0, emax = 0;
    for (const auto* q : pts) {
        lo = std::min(lo, q->spec.layer);
        hi = std::max(hi, q->spec.layer);
        dmin = std::min(dmin, q->delta_nll);
        dmax = std::max(dmax, q->delta_nll);
        if (std::isfinite(edit_error(*q))) emax = std::max(emax, edit_error(*q));
    }
    auto* x = value_axis(QStringLiteral("layer"), s, lo - 0.5, hi + 0.5, true);
    const double pad = std::max(1e-4, (dmax - dmin) * 0.08);
    auto* yd = value_axis(QStringLiteral("Δ loss (nats/token)"), s, dmin - pad, dmax + pad);
    auto* ye = value_axis(QStringLiteral("relative weight error"), s, 0, std::max(1e-3, emax * 1.1));
    ye->setGridLineVisible(false);
    yd->setLinePenColor(type_color(3));
    yd->setLabelsColor(type_color(3).darker(120));
    ye->setLinePenColor(type_color(0));
    ye->setLabelsColor(type_color(0).darker(120));
    c->addAxis(x, Qt::AlignBottom);
    c->addAxis(yd, Qt::AlignLeft);
    c->addAxis(ye, Qt::AlignRight);
    auto* zero = new QLineSeries;
    zero->setName(QStringLiteral("baseline (Δ = 0)"));
    QPen zp(QColor(60, 60, 60));
    zp.setStyle(Qt::DashLine);
    zero->setPen(zp);
    zero->append(lo - 0.5, 0);
    zero->append(hi + 0.5, 0);
    attach(c, zero, x, yd);
    auto* err = new QLineSeries;
    err->setName(QStringLiteral("weight error"));
    QPen ep(type_color(0));
    ep.setWidthF(1.6);
    ep.setStyle(Qt::DashDotLine);
    err->setPen(ep);
    err->setPointsVisible(true);
    err->setMarkerSize(6);
    for (const auto* q : pts)
        if (std::isfinite(edit_error(*q))) err->append(q->spec.layer, edit_error(*q));
    attach(c, err, x, ye);
    auto* dl = new QLineSeries;
    dl->setName(QStringLiteral("Δ loss"));
    QPen dp(type_color(3));
    dp.setWidthF(2.2);
    dl->setPen(dp);
    dl->setPointsVisible(true);
    dl->setMarkerSize(7);
    for (const auto* q : pts) dl->append(q->spec.layer, q->delta_nll);
    attach(c, dl, x, yd);
    for (const auto* q : pts)
        if (q->spec.layer == sel_layer) {
            auto* mark = new QScatterSeries;
            mark->setName(QStringLiteral("layer %1").arg(sel_layer));
            mark->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
            mark->setMarkerSize(12);
            mark->setColor(type_color(3));
            mark->setBorderColor(Qt::black);
            mark->append(q->spec.layer, q->delta_nll);
            attach(c, mark, x, yd);
        }
    return c;
}

QString sweep_layer_csv(const edits::SweepResult& r, int column) {
    QString o = QStringLiteral(
        "layer,edit,R1,R2,R3,weight_error,laser_error,layer_ratio,delta_nll,delta_nll_stderr,kl_mean,top1_agreement\n");
    const SweepTable T = sweep_table(r);
    for (int l : T.layers) {
        const auto* q = T.at(l, column);
        if (!q || !q->ran()) continue;
        o += QStringLiteral("%1,\"%2\",%3,%4,%5,%6,%7,%8,%9,%10,%11,%12\n")
                 .arg(l)
                 .arg(T.labels[std::size_t(column)])
                 .arg(q->ranks[0])
                 .arg(q->ranks[1])
                 .arg(q->ranks[2])
                 .arg(num(q->weight_error), num(q->laser_error), num(q->layer_ratio), num(q->delta_nll),
                      num(q->delta_nll_stderr), num(q->kl_mean), num(q->top1_agreement));
    }
    return o;
}

}  // namespace tllm::ui
