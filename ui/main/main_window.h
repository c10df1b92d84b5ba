#pragma once
// The TensorLLM Studio main window: model, decomposition and evaluation panels on the left,
// the charts in the centre, a log at the bottom, progress in the status bar. It owns the
// displayed results, the displayed evaluation sweep and the linked selection; all
// computation runs on core's job runner, the sweep controller's thread or a pool thread.

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <functional>
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
struct CompareSide;
}  // namespace tllm::exporting

namespace tllm::ui {

class ChartPanel;
class ComparePanel;
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
    /// Compares the results and evaluation shown in this window (A) with the result in `path`
    /// (B: a project, results set, results.json, HDF5 results or sweep file), read and matched
    /// on a pool thread; the Compare tab shows it and comparisonFinished() follows.
    void compareWith(const QString& path);
    /// Compares two results files (A = `a`, B = `b`), both read on a pool thread.
    void compareFiles(const QString& a, const QString& b);
    /// Compares the results before the latest decomposition run (A) with the current ones (B).
    /// Returns false (with a message) when there is no earlier run to compare with.
    bool compareWithPrevious();
    ComparePanel* comparePanel() const { return compare_; }
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
    /// A comparison ended: `error` is empty when the Compare tab shows it.
    void comparisonFinished(const QString& error);

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
    void buildCompare();
    /// A maker of one side of a comparison, run on a pool thread.
    using SideMaker = std::function<exporting::CompareSide()>;
    /// The maker of a side holding `results` (and the window's sweep when `with_sweep`), as the
    /// window shows them: what it needs is copied now, the side is built on the pool thread.
    SideMaker windowSide(const ResultSet& results, const std::optional<jobs::JobOptions>& options, const QString& label,
                         bool with_sweep) const;
    /// Makes both sides and matches them on a pool thread, then shows the comparison.
    void startCompare(SideMaker a, SideMaker b);
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
    ComparePanel* compare_ = nullptr;
    bool comparing_ = false;
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
