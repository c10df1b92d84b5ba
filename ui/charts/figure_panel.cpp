#include "charts/figure_panel.h"

#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QClipboard>
#include <QContextMenuEvent>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QKeyEvent>
#include <QWheelEvent>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QSpinBox>
#include <QToolTip>
#include <QVBoxLayout>
#include <QXYSeries>

namespace tllm::ui {

FigurePanel::FigurePanel(QString name, QWidget* parent) : QWidget(parent), name_(std::move(name)) {}

FigureStyle& FigurePanel::exportStyle() {
    static FigureStyle s;
    return s;
}

void FigurePanel::contextMenuEvent(QContextMenuEvent* e) {
    QMenu menu(this);
    menu.addAction(tr("Export figure (PNG, SVG, PDF)…"), this, &FigurePanel::exportFigureInteractive);
    menu.addAction(tr("Save data as CSV…"), this, &FigurePanel::exportCsvInteractive);
    menu.addAction(tr("Copy data as CSV"), this, [this] { QApplication::clipboard()->setText(csv()); });
    addContextActions(menu);
    menu.exec(e->globalPos());
}

void FigurePanel::exportFigureInteractive() {
    FigureStyle& st = exportStyle();
    QDialog dlg(this);
    dlg.setWindowTitle(tr("Figure size"));
    auto* form = new QFormLayout(&dlg);
    auto* w = new QDoubleSpinBox(&dlg);
    w->setRange(20, 500);
    w->setSuffix(QStringLiteral(" mm"));
    w->setValue(st.width_mm);
    auto* h = new QDoubleSpinBox(&dlg);
    h->setRange(20, 500);
    h->setSuffix(QStringLiteral(" mm"));
    h->setValue(st.height_mm);
    auto* dpi = new QSpinBox(&dlg);
    dpi->setRange(72, 1200);
    dpi->setValue(st.dpi);
    auto* font = new QDoubleSpinBox(&dlg);
    font->setRange(5, 24);
    font->setSuffix(QStringLiteral(" pt"));
    font->setValue(st.font_pt);
    form->addRow(tr("Width"), w);
    form->addRow(tr("Height"), h);
    form->addRow(tr("Resolution (PNG)"), dpi);
    form->addRow(tr("Font size"), font);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    if (dlg.exec() != QDialog::Accepted) return;
    st.width_mm = w->value();
    st.height_mm = h->value();
    st.dpi = dpi->value();
    st.font_pt = font->value();
    const QString path = QFileDialog::getSaveFileName(this, tr("Export figure"), name_ + QStringLiteral(".pdf"),
                                                      tr("PDF (*.pdf);;SVG (*.svg);;PNG (*.png)"));
    if (path.isEmpty()) return;
    try {
        save_figure(figurePainter(st), path, st);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Export failed"), QString::fromStdString(e.what()));
    }
}

void FigurePanel::exportCsvInteractive() {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save data"), name_ + QStringLiteral(".csv"), tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    QSaveFile f(path);
    const QByteArray data = csv().toUtf8();
    if (!f.open(QIODevice::WriteOnly) || f.write(data) != data.size() || !f.commit())
        QMessageBox::warning(this, tr("Save failed"), tr("%1: %2").arg(path, f.errorString()));
}

ChartPanel::ChartPanel(QString name, ChartBuilder builder, CsvFn csv, QWidget* parent)
    : FigurePanel(std::move(name), parent), builder_(std::move(builder)), csv_(std::move(csv)) {
    view_ = new QChartView(this);
    view_->setRenderHint(QPainter::Antialiasing);
    view_->setRubberBand(QChartView::RectangleRubberBand);
    view_->setContextMenuPolicy(Qt::NoContextMenu);  // the panel's menu instead of zoom-out
    view_->setFocusPolicy(Qt::ClickFocus);
    view_->installEventFilter(this);
    view_->viewport()->installEventFilter(this);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(0, 0, 0, 0);
    lay->addWidget(view_);
    refresh();
}

QChart* ChartPanel::chart() const { return view_->chart(); }

FigurePainter ChartPanel::figurePainter(const FigureStyle& style) const { return chart_painter(builder_, style); }

void ChartPanel::refresh() {
    FigureStyle screen;
    screen.font_pt = 9;
    screen.screen = true;
    QChart* c = builder_(screen);
    QChart* old = view_->chart();
    view_->setChart(c);
    delete old;
    for (QAbstractSeries* s : c->series()) {
        auto* xy = qobject_cast<QXYSeries*>(s);
        if (!xy) continue;
        const QString name = xy->name();
        connect(xy, &QXYSeries::hovered, this, [name](const QPointF& p, bool state) {
            if (state)
                QToolTip::showText(QCursor::pos(), QStringLiteral("%1\nx = %2\ny = %3")
                                                       .arg(name.isEmpty() ? QStringLiteral("marker") : name)
                                                       .arg(p.x(), 0, 'g', 6)
                                                       .arg(p.y(), 0, 'g', 6));
            else
                QToolTip::hideText();
        });
        connect(xy, &QXYSeries::clicked, this, [this, name](const QPointF& p) { Q_EMIT pointClicked(name, p); });
    }
}

bool ChartPanel::eventFilter(QObject* watched, QEvent* event) {
    QChart* c = chart();
    if (c && event->type() == QEvent::Wheel) {
        const auto* w = static_cast<QWheelEvent*>(event);
        c->zoom(w->angleDelta().y() > 0 ? 1.25 : 0.8);
        return true;
    }
    if (c && event->type() == QEvent::KeyPress) {
        const auto* k = static_cast<QKeyEvent*>(event);
        const qreal dx = c->plotArea().width() / 10, dy = c->plotArea().height() / 10;
        switch (k->key()) {
            case Qt::Key_Left: c->scroll(-dx, 0); return true;
            case Qt::Key_Right: c->scroll(dx, 0); return true;
            case Qt::Key_Up: c->scroll(0, dy); return true;
            case Qt::Key_Down: c->scroll(0, -dy); return true;
            case Qt::Key_Plus:
            case Qt::Key_Equal: c->zoom(1.25); return true;
            case Qt::Key_Minus: c->zoom(0.8); return true;
            case Qt::Key_0: c->zoomReset(); return true;
            default: break;
        }
    }
    return FigurePanel::eventFilter(watched, event);
}

void ChartPanel::addContextActions(QMenu& menu) {
    menu.addSeparator();
    menu.addAction(tr("Reset zoom"), this, [this] {
        if (chart()) chart()->zoomReset();
    });
}

}  // namespace tllm::ui
