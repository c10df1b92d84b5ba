#pragma once
// The TensorLLM Studio main window: model, decomposition and evaluation panels on the left,
// the charts in the centre, a log at the bottom, progress in the status bar. It owns the
// displayed results, the displayed evaluation sweep and the linked selection; all
// computation runs on core's job runner, the sweep controller's thread or a pool thread.

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <map>
#include <memory>
#include <set>

#include <optional>

#include "charts/chart_builders.h"
#include "charts/sweep_charts.h"
#include "edits/sweep.h"
#include "main/result_set.h"

class QLabel;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QTabWidget;
class QTableWidget;

namespace tllm::exporting {
struct ResultsFile;
}

namespace tllm::ui {

class ChartPanel;
class EvalPanel;
class FigurePanel;
class HeatmapPanel;
class JobController;
class ModelPanel;
class RunPanel;
class Selection;
class SpectraService;
class SweepController;
class SweepHeatmapPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a checkpoint in the background; modelOpened() or a message follows. The previous
    /// model and results stay until the new one has opened.
    void openModel(const QString& path);
    /// Opens a project file (model, options, results).
    void openProject(const QString& path);
    /// Saves the project; returns false (with a message) on failure.
    bool saveProject(const QString& path);
    /// Opens an HDF5 results file: its results are shown without recomputing, and its model
    /// is opened when it is still where it was (checked against the stored fingerprint).
    void openResults(const QString& path);
    enum class ExportKind { Hdf5, Denoised, Factorised };
    /// Exports the displayed results in the background (temporary file + rename in core);
    /// exportFinished() follows. Returns false (with a message) when there is nothing to export.
    bool exportResults(ExportKind kind, const QString& path);
    /// Starts a run with the run panel's options; returns false when they are invalid.
    bool startRun();
    void cancelRun();
    /// Starts the evaluation panel's baseline or sweep; returns false (with a message in the
    /// panel) when its options are invalid or something runs.
    bool startEvaluation(bool baseline_only);
    void cancelEvaluation();
    /// Selects a cell of the sweep: its layer everywhere, its edit in the sweep charts and,
    /// for fixed ranks, those ranks in the decomposition panel.
    void selectSweepCell(int layer, int column);

    const model::Model* model() const { return model_.get(); }
    const ResultSet& results() const { return results_; }
    bool running() const;
    bool evaluating() const;
    RunPanel* runPanel() const { return run_panel_; }
    EvalPanel* evalPanel() const { return eval_panel_; }
    /// The displayed evaluation: baseline and sweep points (empty before any).
    const edits::SweepResult& sweep() const { return sweep_; }
    /// The sweep edit (column of sweep_table) the per-layer chart shows.
    int sweepColumn() const;
    SweepHeatmapPanel* sweepHeatmap() const { return sweep_heatmap_; }
    QTableWidget* sweepTable() const { return sweep_table_; }
    Selection* selection() const { return selection_; }
    /// Every figure panel by name ("errors_per_layer", "heads_heatmap", ...).
    const std::map<QString, FigurePanel*>& figures() const { return figures_; }
    const ExplorerData& explorer() const { return explorer_; }
    QPlainTextEdit* log() const { return log_; }
    QTabWidget* tabs() const { return tabs_; }

Q_SIGNALS:
    void modelOpened();
    void modelOpenFailed(const QString& message);
    void runFinished(bool cancelled);
    void exportFinished(bool ok, const QString& message);
    /// An evaluation ended: `error` is empty when it ran (cancelled or not).
    void evaluationFinished(bool cancelled, const QString& error);

protected:
    void closeEvent(QCloseEvent* e) override;
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void buildMenus();
    void buildExportMenu(QMenu* file);
    void applyResultsFile(const std::shared_ptr<const exporting::ResultsFile>& f);
    void setModel(std::shared_ptr<const model::Model> m, const QString& path);
    /// Shows a complete layer result: the displayed set, the spectra cache, the explorer's
    /// exact points.
    void addResult(std::shared_ptr<const jobs::LayerResult> r);
    void onLayerFinished(std::shared_ptr<const jobs::LayerResult> r);
    void onRunFinished(std::shared_ptr<const jobs::JobSummary> s);
    void onProgress();
    void scheduleRefresh();
    void refreshCharts();
    void updateExplorer();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void logLine(const QString& text, bool error = false);
    FigurePanel* currentFigure() const;
    void buildEvaluation();
    void setSweep(edits::SweepResult r);
    void addSweepRow(const edits::SweepPoint& p);
    void rebuildSweepTable();
    void showBaseline();
    void onSweepPoint(std::shared_ptr<const edits::SweepPoint> p);
    void onSweepFinished(std::shared_ptr<const edits::SweepResult> r, const QString& error, bool cancelled);
    void onSweepProgress();

    std::shared_ptr<const model::Model> model_;
    ResultSet results_, backup_;
    std::map<int, std::vector<analysis::SweepPoint>> exact_history_;
    std::map<int, QString> spectra_errors_;  ///< why a layer's spectra could not be computed
    ExplorerData explorer_;
    Selection* selection_;
    JobController* jobs_;
    SpectraService* spectra_;
    ModelPanel* model_panel_;
    RunPanel* run_panel_;
    QTabWidget* tabs_;
    std::map<QString, FigurePanel*> figures_;
    ChartPanel* explorer_panel_ = nullptr;
    HeatmapPanel* heatmap_ = nullptr;
    FigurePanel* last_figure_ = nullptr;
    std::set<FigurePanel*> stale_;  ///< charts on a hidden tab awaiting a rebuild
    EvalPanel* eval_panel_ = nullptr;
    SweepController* sweeps_ = nullptr;
    SweepHeatmapPanel* sweep_heatmap_ = nullptr;
    QTableWidget* sweep_table_ = nullptr;
    edits::SweepResult sweep_;
    std::optional<edits::SweepResult> sweep_backup_;  ///< shown again when a new evaluation fails
    int sweep_column_ = -1;                           ///< clicked edit; -1: follow the ranks
    QPlainTextEdit* log_;
    QProgressBar* progress_;
    QLabel* progress_label_;
    QMenu* recent_menu_ = nullptr;
    QTimer refresh_timer_;
    QString project_path_;
    QString pending_project_;
    std::shared_ptr<const exporting::ResultsFile> pending_results_;
    std::optional<jobs::JobOptions> last_options_;  ///< options of the displayed results
    std::optional<jobs::JobOptions> backup_options_;
    bool exporting_ = false;
    bool opening_ = false;
};

}  // namespace tllm::ui
