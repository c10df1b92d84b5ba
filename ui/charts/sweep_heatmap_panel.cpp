#include "charts/sweep_heatmap_panel.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <cmath>

#include "charts/sweep_charts.h"
#include "main/selection.h"

namespace tllm::ui {

SweepHeatmapPanel::SweepHeatmapPanel(const edits::SweepResult* sweep, Selection* selection, QWidget* parent)
    : FigurePanel(QStringLiteral("sweep_delta_loss_heatmap"), parent), sweep_(sweep), selection_(selection) {
    setMouseTracking(true);
    setMinimumSize(240, 160);
    connect(selection_, &Selection::changed, this, [this] { update(); });
}

FigurePainter SweepHeatmapPanel::figurePainter(const FigureStyle& style) const {
    // Copy the data: the painter may run after the panel changed. The selection outline is
    // an on-screen decoration: exported figures leave it out.
    const edits::SweepResult r = *sweep_;
    return [r, style](QPainter& p, const QRectF& rect) { paint_sweep_heatmap(p, rect, r, -1, -1, style); };
}

QString SweepHeatmapPanel::csv() const { return sweep_heatmap_csv(*sweep_); }

void SweepHeatmapPanel::setColumn(int column) {
    column_ = column;
    update();
}

QPointF SweepHeatmapPanel::cellCentre(int layer, int column) const {
    const QRectF cell = sweep_heatmap_cell_rect(rect(), *sweep_, layer, column);
    return cell.isEmpty() ? QPointF(-1, -1) : cell.center();
}

void SweepHeatmapPanel::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    FigureStyle screen;
    screen.screen = true;
    paint_sweep_heatmap(p, rect(), *sweep_, selection_->layer(), column_, screen);
}

void SweepHeatmapPanel::mouseMoveEvent(QMouseEvent* e) {
    const auto [layer, column] = sweep_heatmap_cell_at(rect(), *sweep_, e->position());
    const SweepTable t = sweep_table(*sweep_);
    const edits::SweepPoint* q = layer >= 0 ? t.at(layer, column) : nullptr;
    if (!q) {
        QToolTip::hideText();
        return;
    }
    QString text = tr("layer %1, edit %2").arg(layer).arg(QString::fromStdString(q->label));
    if (!q->ran()) {
        text += QLatin1Char('\n') + QLatin1String(tucker::status_name(q->status)) + QStringLiteral(": ") +
                QString::fromStdString(q->message);
    } else {
        text += tr("\nΔ loss %1 ± %2 nats/token\nKL mean %3, p99 %4\ntop-1 agreement %5")
                    .arg(q->delta_nll, 0, 'f', 5)
                    .arg(q->delta_nll_stderr, 0, 'f', 5)
                    .arg(q->kl_mean, 0, 'g', 3)
                    .arg(q->kl_p99, 0, 'g', 3)
                    .arg(q->top1_agreement, 0, 'f', 4);
        if (std::isfinite(q->weight_error))
            text += tr("\nranks %1,%2,%3, weight error %4")
                        .arg(q->ranks[0])
                        .arg(q->ranks[1])
                        .arg(q->ranks[2])
                        .arg(q->weight_error, 0, 'f', 4);
        text +=
            tr("\ncompression %1× (layer), %2× (model)").arg(q->layer_ratio, 0, 'f', 2).arg(q->model_ratio, 0, 'f', 4);
        if (q->mc) text += tr("\naccuracy %1 (%2)").arg(q->mc->acc, 0, 'f', 4).arg(q->mc->delta_acc, 0, 'f', 4);
    }
    QToolTip::showText(e->globalPosition().toPoint(), text, this);
}

void SweepHeatmapPanel::mousePressEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return;
    const auto [layer, column] = sweep_heatmap_cell_at(rect(), *sweep_, e->position());
    if (layer >= 0) Q_EMIT cellClicked(layer, column);
}

}  // namespace tllm::ui
