#pragma once
// The TensorLLM Studio main window: model panel and run panel on the left, the charts in the
// centre, a log at the bottom, progress in the status bar. It owns the displayed results and
// the linked selection; all computation runs on core's job runner or a pool thread.

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <map>
#include <memory>
#include <set>

#include <optional>

#include "charts/chart_builders.h"
#include "main/result_set.h"

class QLabel;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QTabWidget;

namespace tllm::exporting {
struct ResultsFile;
}

namespace tllm::ui {

class ChartPanel;
class FigurePanel;
class HeatmapPanel;
class JobController;
class ModelPanel;
class RunPanel;
class Selection;
class SpectraService;

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

    const model::Model* model() const { return model_.get(); }
    const ResultSet& results() const { return results_; }
    bool running() const;
    RunPanel* runPanel() const { return run_panel_; }
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

    std::shared_ptr<const model::Model> model_;
    ResultSet results_, backup_;
    std::map<int, std::vector<analysis::SweepPoint>> exact_history_;
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
