#pragma once
// The Δloss heatmap of a sweep (layers x edits), painted by paint_sweep_heatmap so the screen
// and the exported figure are the same drawing. Clicking a cell selects its layer and edit.

#include "charts/figure_panel.h"
#include "edits/sweep.h"

namespace tllm::ui {

class Selection;

class SweepHeatmapPanel : public FigurePanel {
    Q_OBJECT
public:
    SweepHeatmapPanel(const edits::SweepResult* sweep, Selection* selection, QWidget* parent = nullptr);
    FigurePainter figurePainter(const FigureStyle& style) const override;
    QString csv() const override;
    void refresh() override { update(); }
    /// The selected edit (column of the sweep table), outlined in the selected layer's row.
    void setColumn(int column);
    int column() const { return column_; }
    /// The cell centre of (layer, column) in widget coordinates; (-1, -1) when absent.
    QPointF cellCentre(int layer, int column) const;

Q_SIGNALS:
    void cellClicked(int layer, int column);

protected:
    void paintEvent(QPaintEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mousePressEvent(QMouseEvent*) override;

private:
    const edits::SweepResult* sweep_;
    Selection* selection_;
    int column_ = -1;
};

}  // namespace tllm::ui
