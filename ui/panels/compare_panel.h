#pragma once
// The Compare tab: two results (results/compare.h) together. Per layer, the chosen value
// (relative error, compression ratio or change in loss) of both sides overlaid, or their
// difference B − A; for the selected layer, the head errors overlaid (or their difference)
// and both sides' mode spectra with each rank cut; below, the tables side by side (layers,
// heads, sweep points). The comparison itself is computed elsewhere (off the GUI thread);
// this panel only shows it.

#include <memory>

#include <QWidget>

#include "charts/compare_charts.h"
#include "results/compare.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QTableWidget;

namespace tllm::ui {

class ChartPanel;

class ComparePanel : public QWidget {
    Q_OBJECT
public:
    explicit ComparePanel(QWidget* parent = nullptr);

    /// Shows `c` (null: nothing); selects its first layer present in both sides.
    void setComparison(std::shared_ptr<const exporting::Comparison> c);
    const exporting::Comparison* comparison() const { return cmp_.get(); }

    /// Overlaid (false) or difference B − A (true), for the per-layer and per-head charts.
    void setDifference(bool on);
    bool difference() const;
    void setMetric(CompareMetric m);
    CompareMetric metric() const;
    /// The layer of the per-head and spectra charts.
    void setLayer(int layer);
    int layer() const { return layer_; }

    ChartPanel* layerChart() const { return layer_chart_; }
    ChartPanel* headChart() const { return head_chart_; }
    ChartPanel* spectraChart() const { return spectra_chart_; }
    QTableWidget* layerTable() const { return layer_table_; }
    QTableWidget* headTable() const { return head_table_; }
    QTableWidget* sweepTable() const { return sweep_table_; }
    QLabel* summary() const { return summary_; }
    QCheckBox* differenceBox() const { return diff_; }

private:
    void refreshCharts();
    void fillTables();

    std::shared_ptr<const exporting::Comparison> cmp_;
    int layer_ = -1;
    QLabel* summary_;
    QComboBox* metric_;
    QCheckBox* diff_;
    QComboBox* layer_box_;
    ChartPanel* layer_chart_;
    ChartPanel* head_chart_;
    ChartPanel* spectra_chart_;
    QTableWidget* layer_table_;
    QTableWidget* head_table_;
    QTableWidget* sweep_table_;
};

}  // namespace tllm::ui
