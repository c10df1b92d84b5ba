#include "charts/heatmap_panel.h"

#include <QMenu>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include "main/selection.h"

namespace tllm::ui {

HeatmapPanel::HeatmapPanel(const ResultSet* results, Selection* selection, QWidget* parent)
    : FigurePanel(QStringLiteral("heads_heatmap"), parent), results_(results), selection_(selection) {
    setMouseTracking(true);
    setMinimumSize(240, 160);
    connect(selection_, &Selection::changed, this, [this] { update(); });
}

FigurePainter HeatmapPanel::figurePainter(const FigureStyle& style) const {
    // Copy the data: the painter may run after the panel changed. The selection outline is
    // an on-screen decoration: exported figures leave it out.
    const ResultSet r = *results_;
    const HeatMetric m = metric_;
    return [r, m, style](QPainter& p, const QRectF& rect) { paint_heatmap(p, rect, r, m, -1, -1, style); };
}

void HeatmapPanel::setMetric(HeatMetric m) {
    metric_ = m;
    update();
}

void HeatmapPanel::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    FigureStyle screen;
    screen.screen = true;
    paint_heatmap(p, rect(), *results_, metric_, selection_->layer(), selection_->head(), screen);
}

void HeatmapPanel::mouseMoveEvent(QMouseEvent* e) {
    const auto [layer, head] = heatmap_cell_at(rect(), *results_, e->position());
    const auto* res = results_->layer(layer);
    if (!res) {
        QToolTip::hideText();
        return;
    }
    const auto& m = res->measures;
    const auto& te = m.head_type_error[std::size_t(head)];
    QToolTip::showText(e->globalPosition().toPoint(),
                       tr("layer %1, head %2\nerror %3 (Q %4, K %5, V %6, O %7)\ncompression %8×")
                           .arg(layer)
                           .arg(head)
                           .arg(m.head_error[std::size_t(head)], 0, 'f', 4)
                           .arg(te[0], 0, 'f', 3)
                           .arg(te[1], 0, 'f', 3)
                           .arg(te[2], 0, 'f', 3)
                           .arg(te[3], 0, 'f', 3)
                           .arg(m.head_ratio, 0, 'f', 2),
                       this);
}

void HeatmapPanel::mousePressEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return;
    const auto [layer, head] = heatmap_cell_at(rect(), *results_, e->position());
    if (layer >= 0) Q_EMIT cellClicked(layer, head);
}

void HeatmapPanel::addContextActions(QMenu& menu) {
    menu.addSeparator();
    auto* a = menu.addAction(tr("Show per-head error"), this, [this] { setMetric(HeatMetric::Error); });
    a->setCheckable(true);
    a->setChecked(metric_ == HeatMetric::Error);
    auto* b = menu.addAction(tr("Show per-head compression"), this, [this] { setMetric(HeatMetric::Compression); });
    b->setCheckable(true);
    b->setChecked(metric_ == HeatMetric::Compression);
}

}  // namespace tllm::ui
