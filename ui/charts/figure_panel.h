#pragma once
// A chart or figure on screen, with export (PNG, SVG, PDF through the one paint path) and
// its data as CSV, from a context menu and keyboard shortcuts.

#include <functional>

#include <QWidget>

#include "charts/figure.h"

class QChart;
class QChartView;
class QMenu;

namespace tllm::ui {

class FigurePanel : public QWidget {
    Q_OBJECT
public:
    explicit FigurePanel(QString name, QWidget* parent = nullptr);
    /// A short file-name-friendly name ("errors_per_layer").
    const QString& figureName() const { return name_; }
    /// The painter of the current figure for export.
    virtual FigurePainter figurePainter(const FigureStyle& style) const = 0;
    /// The data behind the current figure.
    virtual QString csv() const = 0;
    /// Rebuilds from the current data.
    virtual void refresh() = 0;

    /// Asks for a path and size, then saves the figure (the GUI's entry point).
    void exportFigureInteractive();
    /// Asks for a path, then saves the CSV.
    void exportCsvInteractive();

    /// Last-used export settings, shared by all panels (persisted by the main window).
    static FigureStyle& exportStyle();

protected:
    void contextMenuEvent(QContextMenuEvent* e) override;
    virtual void addContextActions(QMenu&) {}

private:
    QString name_;
};

/// A Qt Charts figure: the chart is rebuilt by its builder on refresh(); hover shows values,
/// a rubber band or the mouse wheel zooms, the arrow keys pan, 0 or the context menu resets.
class ChartPanel : public FigurePanel {
    Q_OBJECT
public:
    using CsvFn = std::function<QString()>;
    ChartPanel(QString name, ChartBuilder builder, CsvFn csv, QWidget* parent = nullptr);
    FigurePainter figurePainter(const FigureStyle& style) const override;
    QString csv() const override { return csv_(); }
    void refresh() override;
    QChart* chart() const;
    QChartView* view() const { return view_; }

Q_SIGNALS:
    /// A point of a series was clicked (x, y in data coordinates).
    void pointClicked(const QString& series, QPointF point);

protected:
    void addContextActions(QMenu& menu) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    ChartBuilder builder_;
    CsvFn csv_;
    QChartView* view_;
};

}  // namespace tllm::ui
