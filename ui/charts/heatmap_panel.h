#pragma once
// The layers x heads heatmap (per-head error or compression), painted by paint_heatmap so the
// screen and the exported figure are the same drawing.

#include "charts/chart_builders.h"
#include "charts/figure_panel.h"

namespace tllm::ui {

class Selection;

class HeatmapPanel : public FigurePanel {
    Q_OBJECT
public:
    HeatmapPanel(const ResultSet* results, Selection* selection, QWidget* parent = nullptr);
    FigurePainter figurePainter(const FigureStyle& style) const override;
    QString csv() const override { return heatmap_csv(*results_, metric_); }
    void refresh() override { update(); }
    void setMetric(HeatMetric m);
    HeatMetric metric() const { return metric_; }

Q_SIGNALS:
    void cellClicked(int layer, int head);

protected:
    void paintEvent(QPaintEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    void addContextActions(QMenu& menu) override;

private:
    const ResultSet* results_;
    Selection* selection_;
    HeatMetric metric_ = HeatMetric::Error;
};

}  // namespace tllm::ui
