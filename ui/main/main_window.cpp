#include "main/main_window.h"

#include <QAction>
#include <QApplication>
#include <QChartView>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTime>

#include "analysis/compression.h"
#include "analysis/measures.h"
#include "analysis/ranks.h"
#include "analysis/sweep.h"
#include "charts/figure_panel.h"
#include "charts/heatmap_panel.h"
#include "jobs/job_controller.h"
#include "jobs/spectra_service.h"
#include "main/background.h"
#include "main/project_file.h"
#include "main/selection.h"
#include "model/model.h"
#include "panels/compare_panel.h"
#include "panels/eval_panel.h"
#include "panels/model_panel.h"
#include "panels/run_panel.h"
#include "util/resources.h"

namespace tllm::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(QStringLiteral("TensorLLM Studio"));
    setAcceptDrops(true);
    selection_ = new Selection(this);
    jobs_ = new JobController(this);
    spectra_ = new SpectraService(this);

    // Left: model and run panels.
    model_panel_ = new ModelPanel(this);
    run_panel_ = new RunPanel(this);
    auto* model_dock = new QDockWidget(tr("Model"), this);
    model_dock->setObjectName(QStringLiteral("model_dock"));
    model_dock->setWidget(model_panel_);
    auto* run_dock = new QDockWidget(tr("Decomposition"), this);
    run_dock->setObjectName(QStringLiteral("run_dock"));
    run_dock->setWidget(run_panel_);
    addDockWidget(Qt::LeftDockWidgetArea, model_dock);
    addDockWidget(Qt::LeftDockWidgetArea, run_dock);
    resizeDocks({model_dock}, {420}, Qt::Horizontal);

    // Centre: the charts.
    auto add_chart = [this](const QString& name, ChartBuilder b, ChartPanel::CsvFn csv) {
        auto* p = new ChartPanel(name, std::move(b), std::move(csv), this);
        figures_[name] = p;
        p->view()->installEventFilter(this);
        p->view()->viewport()->installEventFilter(this);
        return p;
    };
    const ResultSet* R = &results_;
    Selection* S = selection_;
    auto* errors = add_chart(
        QStringLiteral("errors_per_layer"), [R](const FigureStyle& s) { return build_error_chart(*R, s); },
        [R] { return error_csv(*R); });
    auto* spectra = add_chart(
        QStringLiteral("mode_spectra"), [R, S](const FigureStyle& s) { return build_spectra_chart(*R, S->layer(), s); },
        [R, S] { return spectra_csv(*R, S->layer()); });
    auto* head_spectra = add_chart(
        QStringLiteral("head_spectra"),
        [R, S](const FigureStyle& s) { return build_head_spectra_chart(*R, S->layer(), S->head(), s); },
        [R, S] { return head_spectra_csv(*R, S->layer(), S->head()); });
    auto* compression = add_chart(
        QStringLiteral("compression_per_layer"), [R](const FigureStyle& s) { return build_compression_chart(*R, s); },
        [R] { return compression_csv(*R); });
    auto* convergence = add_chart(
        QStringLiteral("hooi_convergence"),
        [R, S](const FigureStyle& s) { return build_convergence_chart(*R, s.screen ? S->layer() : -1, s); },
        [R] { return convergence_csv(*R); });
    const ExplorerData* E = &explorer_;
    explorer_panel_ = add_chart(
        QStringLiteral("rank_explorer"), [E](const FigureStyle& s) { return build_pareto_chart(*E, s); },
        [E] { return pareto_csv(*E); });
    heatmap_ = new HeatmapPanel(&results_, selection_, this);
    heatmap_->installEventFilter(this);
    figures_[heatmap_->figureName()] = heatmap_;

    tabs_ = new QTabWidget(this);
    auto* overview = new QWidget(tabs_);
    auto* grid = new QGridLayout(overview);
    grid->setContentsMargins(2, 2, 2, 2);
    grid->addWidget(errors, 0, 0);
    grid->addWidget(heatmap_, 0, 1);
    grid->addWidget(spectra, 1, 0);
    grid->addWidget(explorer_panel_, 1, 1);
    auto* details = new QWidget(tabs_);
    auto* dgrid = new QGridLayout(details);
    dgrid->setContentsMargins(2, 2, 2, 2);
    dgrid->addWidget(head_spectra, 0, 0);
    dgrid->addWidget(compression, 0, 1);
    dgrid->addWidget(convergence, 1, 0, 1, 2);
    tabs_->addTab(overview, tr("Overview"));
    tabs_->addTab(details, tr("Heads, compression, convergence"));
    setCentralWidget(tabs_);
    buildEvaluation();
    buildCompare();
    connect(tabs_, &QTabWidget::currentChanged, this, [this] {
        for (auto* f : stale_)
            if (f->isVisible()) f->refresh();
        std::erase_if(stale_, [](FigurePanel* f) { return f->isVisible(); });
    });

    // Bottom: the log.
    log_ = new QPlainTextEdit(this);
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    auto* log_dock = new QDockWidget(tr("Log"), this);
    log_dock->setObjectName(QStringLiteral("log_dock"));
    log_dock->setWidget(log_);
    addDockWidget(Qt::BottomDockWidgetArea, log_dock);

    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(260);
    progress_->setTextVisible(true);
    progress_->hide();
    progress_label_ = new QLabel(this);
    statusBar()->addPermanentWidget(progress_label_);
    statusBar()->addPermanentWidget(progress_);

    // Linked selection: clicks in any chart select a layer or a head everywhere.
    auto select_layer = [this](const QString&, QPointF p) {
        const int l = int(std::lround(p.x()));
        if (results_.layer(l)) selection_->select(l);
    };
    connect(errors, &ChartPanel::pointClicked, this, select_layer);
    connect(convergence, &ChartPanel::pointClicked, this, [this](const QString& series, QPointF) {
        bool ok = false;
        const int l = QString(series).remove(QStringLiteral("layer ")).toInt(&ok);
        if (ok) selection_->select(l);
    });
    connect(head_spectra, &ChartPanel::pointClicked, this, [](const QString&, QPointF) {});
    connect(heatmap_, &HeatmapPanel::cellClicked, this, [this](int l, int h) { selection_->select(l, h); });
    connect(explorer_panel_, &ChartPanel::pointClicked, this, [this](const QString&, QPointF p) {
        // Clicking an estimate point adopts its ranks.
        for (const auto& q : explorer_.grid)
            if (std::abs(q.ratio - p.x()) < 1e-9 * std::max(1.0, q.ratio) && std::abs(q.error_upper - p.y()) < 1e-9) {
                run_panel_->setRanks(q.ranks);
                return;
            }
    });
    connect(selection_, &Selection::changed, this, [this] {
        scheduleRefresh();
        if (selection_->layer() >= 0)
            statusBar()->showMessage(tr("layer %1, head %2").arg(selection_->layer()).arg(selection_->head()), 3000);
    });

    connect(run_panel_, &RunPanel::runRequested, this, &MainWindow::startRun);
    connect(run_panel_, &RunPanel::cancelRequested, this, &MainWindow::cancelRun);
    connect(run_panel_, &RunPanel::ranksChanged, this, [this] { updateExplorer(); });
    connect(jobs_, &JobController::layerFinished, this, &MainWindow::onLayerFinished);
    connect(jobs_, &JobController::finished, this, &MainWindow::onRunFinished);
    connect(jobs_, &JobController::progressTick, this, &MainWindow::onProgress);
    connect(spectra_, &SpectraService::ready, this, [this](int layer) {
        if (layer == selection_->layer()) updateExplorer();
    });
    connect(spectra_, &SpectraService::failed, this, [this](int layer, const QString& m) {
        logLine(tr("spectra of layer %1: %2").arg(layer).arg(m), true);
        spectra_errors_[layer] = m;
        if (layer == selection_->layer()) updateExplorer();
    });

    // Chart updates are coalesced: many layer results in a burst cause one redraw.
    refresh_timer_.setSingleShot(true);
    refresh_timer_.setInterval(60);
    connect(&refresh_timer_, &QTimer::timeout, this, &MainWindow::refreshCharts);

    buildMenus();
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    if (!restoreState(settings.value(QStringLiteral("window/state")).toByteArray())) {
        // First start: the Model panel tall enough for the summary and the load report. Sizes
        // given before the window is laid out are lost, hence once the event loop runs.
        QTimer::singleShot(0, this, [this, model_dock, run_dock, log_dock] {
            resizeDocks({log_dock}, {90}, Qt::Vertical);
            resizeDocks({model_dock, run_dock}, {210, 500}, Qt::Vertical);
            resizeDocks({model_dock}, {440}, Qt::Horizontal);
        });
    }
    if (!settings.contains(QStringLiteral("window/geometry"))) resize(1500, 920);
    FigureStyle& st = FigurePanel::exportStyle();
    st.width_mm = settings.value(QStringLiteral("export/width_mm"), st.width_mm).toDouble();
    st.height_mm = settings.value(QStringLiteral("export/height_mm"), st.height_mm).toDouble();
    st.dpi = settings.value(QStringLiteral("export/dpi"), st.dpi).toInt();
    st.font_pt = settings.value(QStringLiteral("export/font_pt"), st.font_pt).toDouble();
    refreshCharts();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open model…"), QKeySequence::Open, this, [this] {
        QSettings s;
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open checkpoint directory"),
                                                              s.value(QStringLiteral("last_dir")).toString());
        if (!dir.isEmpty()) openModel(dir);
    });
    file->addAction(tr("Open model &file…"), QKeySequence(tr("Ctrl+Alt+O")), this, [this] {
        QSettings s;
        const QString f = QFileDialog::getOpenFileName(this, tr("Open checkpoint file"),
                                                       s.value(QStringLiteral("last_dir")).toString(),
                                                       tr("Models (*.safetensors *.safetensors.index.json *.gguf);;"
                                                          "safetensors (*.safetensors *.safetensors.index.json);;"
                                                          "GGUF (*.gguf)"));
        if (!f.isEmpty()) openModel(f);
    });
    file->addAction(tr("Open &project…"), QKeySequence(tr("Ctrl+Shift+O")), this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open project"), QString(),
                                                       tr("TensorLLM project (*.tllm.json *.json)"));
        if (!f.isEmpty()) openProject(f);
    });
    recent_menu_ = file->addMenu(tr("Recent"));
    rebuildRecentMenu();
    file->addSeparator();
    file->addAction(tr("&Save project"), QKeySequence::Save, this, [this] {
        if (project_path_.isEmpty()) {
            const QString f = QFileDialog::getSaveFileName(
                this, tr("Save project"), QStringLiteral("project.tllm.json"), tr("TensorLLM project (*.tllm.json)"));
            if (!f.isEmpty()) saveProject(f);
        } else {
            saveProject(project_path_);
        }
    });
    file->addAction(tr("Save project &as…"), QKeySequence::SaveAs, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Save project"), QStringLiteral("project.tllm.json"),
                                                       tr("TensorLLM project (*.tllm.json)"));
        if (!f.isEmpty()) saveProject(f);
    });
    file->addSeparator();
    file->addAction(tr("&Compare with…"), QKeySequence(tr("Ctrl+Shift+C")), this, [this] {
        const QString filter =
            tr("Results (*.tllm.json *.json *.h5 *.hdf5);;Projects (*.tllm.json);;results.json (results.json);;HDF5 "
               "results or sweeps (*.h5 *.hdf5)");
        QString a;
        if (results_.empty() && sweep_.points.empty()) {
            // Nothing in the window: the first result is chosen too.
            a = QFileDialog::getOpenFileName(this, tr("Compare: first result (A)"), QString(), filter);
            if (a.isEmpty()) return;
        }
        const QString b = QFileDialog::getOpenFileName(this, tr("Compare with (B)"), QString(), filter);
        if (b.isEmpty()) return;
        if (a.isEmpty())
            compareWith(b);
        else
            compareFiles(a, b);
    });
    file->addAction(tr("Compare with previous &run"), QKeySequence(tr("Ctrl+Alt+C")), this,
                    [this] { compareWithPrevious(); });
    file->addSeparator();
    buildExportMenu(file);
    file->addAction(tr("&Export figure…"), QKeySequence(tr("Ctrl+E")), this, [this] {
        if (auto* f = currentFigure()) f->exportFigureInteractive();
    });
    file->addAction(tr("Export figure &data (CSV)…"), QKeySequence(tr("Ctrl+Shift+E")), this, [this] {
        if (auto* f = currentFigure()) f->exportCsvInteractive();
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    auto* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(tr("&Decompose selected layers"), QKeySequence(tr("Ctrl+R")), this, &MainWindow::startRun);
    run->addAction(tr("Evaluate &baseline"), QKeySequence(tr("Ctrl+Alt+B")), this, [this] { startEvaluation(true); });
    run->addAction(tr("Run evaluation &sweep"), QKeySequence(tr("Ctrl+Alt+R")), this,
                   [this] { startEvaluation(false); });
    run->addAction(tr("&Cancel"), QKeySequence(Qt::Key_Escape), this, [this] {
        cancelRun();
        cancelEvaluation();
    });

    auto* view = menuBar()->addMenu(tr("&View"));
    view->addAction(tr("&Overview"), QKeySequence(tr("Ctrl+1")), this, [this] { tabs_->setCurrentIndex(0); });
    view->addAction(tr("&Heads, compression, convergence"), QKeySequence(tr("Ctrl+2")), this,
                    [this] { tabs_->setCurrentIndex(1); });
    view->addAction(tr("&Evaluation"), QKeySequence(tr("Ctrl+3")), this, [this] { tabs_->setCurrentIndex(2); });
    view->addAction(tr("&Compare"), QKeySequence(tr("Ctrl+4")), this, [this] { tabs_->setCurrentWidget(compare_); });
    view->addAction(tr("Next layer"), QKeySequence(tr("Ctrl+Down")), this, [this] {
        auto it = results_.layers.upper_bound(selection_->layer());
        if (it != results_.layers.end()) selection_->select(it->first);
    });
    view->addAction(tr("Previous layer"), QKeySequence(tr("Ctrl+Up")), this, [this] {
        auto it = results_.layers.lower_bound(selection_->layer());
        if (it != results_.layers.begin()) selection_->select(std::prev(it)->first);
    });
    view->addAction(tr("Next head"), QKeySequence(tr("Ctrl+Right")), this, [this] {
        if (model_ && selection_->head() + 1 < model_->shape().h) selection_->setHead(selection_->head() + 1);
    });
    view->addAction(tr("Previous head"), QKeySequence(tr("Ctrl+Left")), this, [this] {
        if (selection_->head() > 0) selection_->setHead(selection_->head() - 1);
    });

    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About"), this, [this] {
        QMessageBox::about(this, tr("About TensorLLM Studio"),
                           tr("<b>TensorLLM Studio %1</b><p>Shared-factor Tucker decomposition of multi-head attention "
                              "(Gu, Zhou, Iacovides, Mandic, <i>TensorLLM</i>, arXiv 2501.15674).</p>")
                               .arg(QStringLiteral(TENSORLLM_VERSION)));
    });
}

void MainWindow::logLine(const QString& text, bool error) {
    const QString stamp = QTime::currentTime().toString(QStringLiteral("HH:mm:ss"));
    log_->appendHtml(
        QStringLiteral("<span style='color:%1'>%2 %3</span>")
            .arg(error ? QStringLiteral("#b00020") : QStringLiteral("#202020"), stamp, text.toHtmlEscaped()));
}

void MainWindow::openModel(const QString& path) {
    if (running() || evaluating()) {
        QMessageBox::information(this, tr("Busy"),
                                 tr("Cancel the running decomposition or evaluation before opening another model."));
        return;
    }
    opening_ = true;
    statusBar()->showMessage(tr("Opening %1…").arg(path));
    load_in_background(
        this, [path] { return std::make_shared<const model::Model>(path.toStdString()); },
        [this, path](const std::shared_ptr<const model::Model>& m, const QString& error) {
            opening_ = false;
            if (!m) {
                logLine(error, true);
                statusBar()->showMessage(tr("Could not open %1").arg(path), 5000);
                pending_project_.clear();
                Q_EMIT modelOpenFailed(error);
                if (isVisible()) QMessageBox::warning(this, tr("Cannot open model"), error);
                return;
            }
            setModel(m, path);
        });
}

void MainWindow::setModel(std::shared_ptr<const model::Model> m, const QString& path) {
    model_ = std::move(m);
    results_ = ResultSet{};
    results_.shape = model_->shape();
    backup_ = results_;
    exact_history_.clear();
    spectra_errors_.clear();
    spectra_->reset(model_);
    model_panel_->setModel(model_.get());
    run_panel_->setModel(model_);
    {
        // The bundled text belongs to the bundled model: preselected when that one is open.
        bool demo = false;
        try {
            demo = QFileInfo(QString::fromStdString(util::default_model_dir())).canonicalFilePath() ==
                   QFileInfo(QString::fromStdString(model_->checkpoint().directory())).canonicalFilePath();
        } catch (const std::exception&) {}
        eval_panel_->setModel(model_, demo, run_panel_->ranks());
    }
    sweep_backup_.reset();
    setSweep(edits::SweepResult{});
    project_path_.clear();
    selection_->select(model_->layers().empty() ? -1 : model_->layers().front().index, 0);
    setWindowTitle(tr("TensorLLM Studio — %1").arg(QFileInfo(path).fileName()));
    addRecent(path);
    QSettings().setValue(QStringLiteral("last_dir"), QFileInfo(path).absolutePath());
    logLine(tr("opened %1: %2, %3 layers, d=%4, %5 heads (%6 kv), head_dim %7, %8 tensors not mapped")
                .arg(path, QString::fromStdString(model_->config().model_type))
                .arg(model_->layers().size())
                .arg(model_->shape().d)
                .arg(model_->shape().h)
                .arg(model_->shape().n_kv)
                .arg(model_->shape().dv)
                .arg(model_->unmapped().size()));
    for (const auto& w : model_->warnings()) logLine(QString::fromStdString(w), true);
    statusBar()->showMessage(tr("Opened %1").arg(path), 4000);
    if (!pending_project_.isEmpty()) {
        const QString project = pending_project_;
        pending_project_.clear();
        try {
            const ProjectData d = load_project(project);
            if (d.options) run_panel_->setOptions(*d.options);
            last_options_ = d.options;
            for (auto& r : parse_project_results(d, *model_, project)) {
                addResult(std::make_shared<const jobs::LayerResult>(std::move(r)));
            }
            project_path_ = project;
            setWindowTitle(tr("TensorLLM Studio — %1").arg(QFileInfo(project).fileName()));
            if (d.sweep) {
                eval_panel_->setFromSweep(*d.sweep);
                setSweep(*d.sweep);
                logLine(tr("project %1: evaluation restored (%2 sweep points)").arg(project).arg(sweep_.points.size()));
            }
            logLine(tr("project %1: %2 layer results restored").arg(project).arg(results_.layers.size()));
        } catch (const std::exception& e) {
            logLine(QString::fromStdString(e.what()), true);
            QMessageBox::warning(this, tr("Cannot read project"), QString::fromStdString(e.what()));
        }
    }
    if (pending_results_) {
        auto f = std::move(pending_results_);
        pending_results_.reset();
        applyResultsFile(f);
    }
    refreshCharts();
    updateExplorer();
    Q_EMIT modelOpened();
}

void MainWindow::openProject(const QString& path) {
    try {
        const ProjectData d = load_project(path);
        pending_project_ = path;
        addRecent(path);
        openModel(d.model_path);
    } catch (const std::exception& e) {
        logLine(QString::fromStdString(e.what()), true);
        QMessageBox::warning(this, tr("Cannot open project"), QString::fromStdString(e.what()));
    }
}

bool MainWindow::saveProject(const QString& path) {
    if (!model_) {
        QMessageBox::information(this, tr("Nothing to save"), tr("Open a model first."));
        return false;
    }
    jobs::JobOptions o;
    try {
        o = run_panel_->options();
    } catch (const std::exception&) {
        o.ranks.ranks = run_panel_->ranks();
    }
    try {
        const bool has_sweep = !sweep_.points.empty() || sweep_.baseline.ppl.n_tokens > 0;
        save_project(path, *model_, o, results_, has_sweep ? &sweep_ : nullptr);
    } catch (const std::exception& e) {
        logLine(QString::fromStdString(e.what()), true);
        QMessageBox::warning(this, tr("Cannot save project"), QString::fromStdString(e.what()));
        return false;
    }
    project_path_ = path;
    addRecent(path);
    logLine(tr("saved project %1").arg(path));
    setWindowTitle(tr("TensorLLM Studio — %1").arg(QFileInfo(path).fileName()));
    return true;
}

bool MainWindow::running() const { return jobs_->running(); }

bool MainWindow::startRun() {
    if (!model_ || running() || evaluating() || opening_) return false;
    jobs::JobOptions o;
    try {
        o = run_panel_->options();
    } catch (const std::exception& e) {
        logLine(QString::fromStdString(e.what()), true);
        return false;
    }
    const QString err = jobs_->start(model_, o);
    if (!err.isEmpty()) {
        logLine(err, true);
        return false;
    }
    backup_ = results_;
    backup_options_ = last_options_;
    last_options_ = o;
    run_panel_->setRunning(true);
    for (int l : o.layers) run_panel_->setLayerStatus(l, tr("queued"));
    progress_->setValue(0);
    progress_->show();
    logLine(tr("decomposing %1 layer(s): %2, %3")
                .arg(o.layers.size())
                .arg(QString::fromStdString(o.ranks.describe()), QLatin1String(tucker::method_name(o.tucker.method))));
    return true;
}

void MainWindow::cancelRun() {
    if (!running()) return;
    jobs_->cancel();
    logLine(tr("cancelling…"));
}

void MainWindow::onLayerFinished(std::shared_ptr<const jobs::LayerResult> r) {
    if (!r->complete()) {
        logLine(QString::fromStdString(r->message), true);
        run_panel_->setLayerStatus(r->layer, tr("failed"), QString::fromStdString(r->message));
        return;
    }
    addResult(r);
    const int worst = analysis::worst_slice(r->measures);
    const double we = r->measures.type_error[std::size_t(worst)];
    logLine(tr("layer %1: ranks %2,%3,%4, error %5 (worst %6 %7%8), %9× compression, %10 (%11 s)")
                .arg(r->layer)
                .arg(r->ranks[0])
                .arg(r->ranks[1])
                .arg(r->ranks[2])
                .arg(r->measures.rel_error, 0, 'f', 4)
                .arg(QLatin1Char("QKVO"[worst]))
                .arg(we, 0, 'f', 4)
                .arg(we > analysis::kSliceErrorWarning ? QStringLiteral("!") : QString())
                .arg(r->measures.ratio, 0, 'f', 2)
                .arg(r->warnings.empty() ? QLatin1String(tucker::status_name(r->status)) : QLatin1String("warning"))
                .arg(r->seconds_total, 0, 'f', 2));
    for (const auto& w : r->warnings)
        logLine(tr("layer %1: warning: %2").arg(r->layer).arg(QString::fromStdString(w)), true);
    // The selection stays where the user put it: a selected layer of this run shows its result
    // when it arrives. Only a selection that this run will never fill moves, once, to a result.
    const int sel = selection_->layer();
    const bool in_run = last_options_ && std::find(last_options_->layers.begin(), last_options_->layers.end(), sel) !=
                                             last_options_->layers.end();
    if (sel < 0 || (!in_run && !results_.layer(sel))) selection_->select(r->layer);
    scheduleRefresh();
}

void MainWindow::addResult(std::shared_ptr<const jobs::LayerResult> r) {
    if (r->spectra) {
        spectra_->put(r->layer, std::make_shared<const analysis::ModeSpectra>(*r->spectra));
        spectra_errors_.erase(r->layer);
    }
    exact_history_[r->layer].push_back(
        {r->ranks, r->measures.compressed_params, r->measures.ratio, 0, 0, r->measures.rel_error});
    run_panel_->setLayerResult(*r);
    results_.layers[r->layer] = std::move(r);
}

void MainWindow::onRunFinished(std::shared_ptr<const jobs::JobSummary> s) {
    run_panel_->setRunning(false);
    progress_->hide();
    if (s->cancelled) {
        results_ = backup_;
        last_options_ = backup_options_;
        for (const auto& r : s->layers)
            if (!results_.layer(r.layer)) run_panel_->setLayerStatus(r.layer, tr("cancelled"));
        logLine(tr("cancelled after %1 s; the previous results are kept").arg(s->seconds, 0, 'f', 2));
    } else {
        int warned = 0;
        for (const auto& r : s->layers) warned += !r.warnings.empty();
        logLine(
            tr("finished in %1 s (%2 failed, %3 with warnings)").arg(s->seconds, 0, 'f', 2).arg(s->failed).arg(warned));
    }
    // A selected layer that has no result after the run (a failed layer): the first that has.
    if (!results_.empty() && !results_.layer(selection_->layer())) selection_->select(results_.layers.begin()->first);
    progress_label_->setText(s->cancelled ? tr("cancelled") : tr("done in %1 s").arg(s->seconds, 0, 'f', 1));
    scheduleRefresh();
    updateExplorer();
    Q_EMIT runFinished(s->cancelled);
}

void MainWindow::onProgress() {
    if (!jobs_->running()) return;
    progress_->setValue(int(jobs_->progress() * 1000));
    const double rem = jobs_->remaining();
    progress_label_->setText(tr("%1 s elapsed%2")
                                 .arg(jobs_->elapsed(), 0, 'f', 1)
                                 .arg(rem >= 0 ? tr(", ~%1 s left").arg(rem, 0, 'f', 1) : QString()));
    for (const auto& [l, p] : jobs_->layerProgress())
        if (p > 0 && p < 1) run_panel_->setLayerStatus(l, tr("%1%").arg(int(p * 100)));
}

void MainWindow::scheduleRefresh() {
    if (!refresh_timer_.isActive()) refresh_timer_.start();
}

void MainWindow::refreshCharts() {
    // Only what is on screen is rebuilt now; the other tab's charts when it is shown.
    for (auto& [name, f] : figures_) {
        if (f == explorer_panel_) continue;
        if (f->isVisible() || !isVisible())
            f->refresh();
        else
            stale_.insert(f);
    }
    updateExplorer();
}

void MainWindow::updateExplorer() {
    explorer_ = ExplorerData{};
    const int layer = selection_->layer();
    if (!model_)
        explorer_.message = tr("open a model to explore ranks");
    else if (layer < 0)
        explorer_.message = tr("select a layer");
    if (model_ && layer >= 0) {
        explorer_.layer = layer;
        // A layer whose spectra failed is not retried on every update (a new model clears it).
        const auto err = spectra_errors_.find(layer);
        std::shared_ptr<const analysis::ModeSpectra> sp = err == spectra_errors_.end() ? spectra_->get(layer) : nullptr;
        if (sp) {
            const auto& S = model_->shape();
            explorer_.grid = analysis::sweep_estimate(*sp, S, analysis::default_grid(S, 10));
            // Ranks the controls refuse (above a mode's size) have no estimate to show; ranks
            // beyond what the core can use are shown as the smaller ones the run will use.
            if (run_panel_->ranksValid()) {
                const auto cur = analysis::sweep_estimate(*sp, S, {tucker::usable_ranks(run_panel_->ranks(), S.h)});
                explorer_.current = cur.front();
                explorer_.has_current = true;
            }
        } else if (err != spectra_errors_.end()) {
            explorer_.message = tr("no spectra: %1").arg(err->second);
        } else {
            explorer_.message = tr("computing spectra…");
        }
        if (auto it = exact_history_.find(layer); it != exact_history_.end()) explorer_.exact = it->second;
    }
    explorer_panel_->refresh();
}

FigurePanel* MainWindow::currentFigure() const {
    return last_figure_ ? last_figure_ : figures_.at(QStringLiteral("errors_per_layer"));
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::MouseButtonPress || event->type() == QEvent::FocusIn) {
        for (QObject* o = watched; o; o = o->parent())
            if (auto* f = qobject_cast<FigurePanel*>(o)) {
                last_figure_ = f;
                break;
            }
    }
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::addRecent(const QString& path) {
    QSettings s;
    QStringList list = s.value(QStringLiteral("recent")).toStringList();
    const QString abs = QFileInfo(path).absoluteFilePath();
    list.removeAll(abs);
    list.prepend(abs);
    while (list.size() > 10) list.removeLast();
    s.setValue(QStringLiteral("recent"), list);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    if (!recent_menu_) return;
    recent_menu_->clear();
    const QStringList list = QSettings().value(QStringLiteral("recent")).toStringList();
    for (const QString& p : list)
        recent_menu_->addAction(p, this, [this, p] {
            if (p.endsWith(QLatin1String(".tllm.json")))
                openProject(p);
            else
                openModel(p);
        });
    recent_menu_->setEnabled(!list.isEmpty());
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (running()) jobs_->cancel();
    cancelEvaluation();
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    const FigureStyle& st = FigurePanel::exportStyle();
    s.setValue(QStringLiteral("export/width_mm"), st.width_mm);
    s.setValue(QStringLiteral("export/height_mm"), st.height_mm);
    s.setValue(QStringLiteral("export/dpi"), st.dpi);
    s.setValue(QStringLiteral("export/font_pt"), st.font_pt);
    e->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
    const auto urls = e->mimeData()->urls();
    if (urls.isEmpty() || !urls.front().isLocalFile()) return;
    const QString p = urls.front().toLocalFile();
    if (p.endsWith(QLatin1String(".tllm.json")))
        openProject(p);
    else
        openModel(p);
}

}  // namespace tllm::ui
