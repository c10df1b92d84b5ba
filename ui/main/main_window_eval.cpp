// MainWindow: evaluation in the loop. The evaluation panel (a dock beside the decomposition
// panel) starts a baseline or a sweep on the sweep controller's thread; points arrive on the
// GUI thread one by one and fill the table and the Evaluation tab's charts as they finish.
#include <QChartView>
#include <QDockWidget>
#include <QGridLayout>
#include <QHeaderView>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <cmath>

#include "charts/figure_panel.h"
#include "charts/sweep_heatmap_panel.h"
#include "jobs/sweep_controller.h"
#include "main/main_window.h"
#include "main/selection.h"
#include "model/model.h"
#include "panels/eval_panel.h"
#include "panels/run_panel.h"

namespace tllm::ui {

void MainWindow::buildEvaluation() {
    sweeps_ = new SweepController(this);
    eval_panel_ = new EvalPanel(this);
    auto* dock = new QDockWidget(tr("Evaluation"), this);
    dock->setObjectName(QStringLiteral("eval_dock"));
    dock->setWidget(eval_panel_);
    addDockWidget(Qt::LeftDockWidgetArea, dock);
    if (auto* run_dock = findChild<QDockWidget*>(QStringLiteral("run_dock"))) {
        tabifyDockWidget(run_dock, dock);
        run_dock->raise();
    }

    const edits::SweepResult* W = &sweep_;
    Selection* S = selection_;
    sweep_heatmap_ = new SweepHeatmapPanel(&sweep_, selection_, this);
    sweep_heatmap_->installEventFilter(this);
    figures_[sweep_heatmap_->figureName()] = sweep_heatmap_;
    auto add_chart = [this](const QString& name, ChartBuilder b, ChartPanel::CsvFn csv) {
        auto* p = new ChartPanel(name, std::move(b), std::move(csv), this);
        figures_[name] = p;
        p->view()->installEventFilter(this);
        p->view()->viewport()->installEventFilter(this);
        return p;
    };
    EvalPanel* E = eval_panel_;
    auto* pareto = add_chart(
        QStringLiteral("sweep_quality_compression"),
        [W, S, E](const FigureStyle& s) {
            return build_sweep_pareto_chart(*W, E->ratioAxis(), s.screen ? S->layer() : -1, s);
        },
        [W, E] { return sweep_pareto_csv(*W, E->ratioAxis()); });
    auto* per_layer = add_chart(
        QStringLiteral("sweep_loss_and_error_per_layer"),
        [this](const FigureStyle& s) {
            return build_sweep_layer_chart(sweep_, sweepColumn(), s.screen ? selection_->layer() : -1, s);
        },
        [this] { return sweep_layer_csv(sweep_, sweepColumn()); });

    sweep_table_ = new QTableWidget(0, 11, this);
    sweep_table_->setObjectName(QStringLiteral("sweep_table"));
    sweep_table_->setHorizontalHeaderLabels({tr("layer"), tr("edit"), tr("ranks"), tr("weight error"), tr("layer ×"),
                                             tr("Δ loss"), tr("± s.e."), tr("KL mean"), tr("top-1"), tr("accuracy"),
                                             tr("status")});
    sweep_table_->verticalHeader()->hide();
    sweep_table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    sweep_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    sweep_table_->setSelectionMode(QAbstractItemView::SingleSelection);
    sweep_table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    sweep_table_->horizontalHeader()->setStretchLastSection(true);

    auto* page = new QWidget(tabs_);
    auto* grid = new QGridLayout(page);
    grid->setContentsMargins(2, 2, 2, 2);
    grid->addWidget(sweep_heatmap_, 0, 0);
    grid->addWidget(pareto, 0, 1);
    grid->addWidget(per_layer, 1, 0);
    grid->addWidget(sweep_table_, 1, 1);
    tabs_->addTab(page, tr("Evaluation"));

    connect(sweep_heatmap_, &SweepHeatmapPanel::cellClicked, this, &MainWindow::selectSweepCell);
    connect(pareto, &ChartPanel::pointClicked, this, [this](const QString&, QPointF p) {
        const SweepRatio ratio = eval_panel_->ratioAxis();
        const SweepTable t = sweep_table(sweep_);
        for (const auto& q : sweep_.points) {
            const double x = ratio == SweepRatio::Layer ? q.layer_ratio : q.model_ratio;
            if (q.ran() && std::abs(x - p.x()) <= 1e-9 * std::max(1.0, x) &&
                std::abs(q.delta_nll - p.y()) <= 1e-12 + 1e-9 * std::abs(q.delta_nll)) {
                selectSweepCell(q.spec.layer, t.column_of(q.spec.choice, q.spec.laser));
                return;
            }
        }
    });
    connect(per_layer, &ChartPanel::pointClicked, this,
            [this](const QString&, QPointF p) { selectSweepCell(int(std::lround(p.x())), sweepColumn()); });
    connect(sweep_table_, &QTableWidget::cellClicked, this, [this](int row, int) {
        const auto* item = sweep_table_->item(row, 0);
        if (item) selectSweepCell(item->data(Qt::UserRole).toInt(), item->data(Qt::UserRole + 1).toInt());
    });
    connect(eval_panel_, &EvalPanel::baselineRequested, this, [this] { startEvaluation(true); });
    connect(eval_panel_, &EvalPanel::sweepRequested, this, [this] { startEvaluation(false); });
    connect(eval_panel_, &EvalPanel::cancelRequested, this, &MainWindow::cancelEvaluation);
    connect(eval_panel_, &EvalPanel::ratioAxisChanged, this, &MainWindow::scheduleRefresh);
    // The per-layer chart follows the decomposition panel's ranks until an edit is clicked.
    connect(run_panel_, &RunPanel::ranksChanged, this, [this] {
        if (sweep_column_ < 0) scheduleRefresh();
    });
    connect(sweeps_, &SweepController::baselineReady, this, [this](std::shared_ptr<const edits::SweepBaseline> b) {
        sweep_.baseline = *b;
        showBaseline();
        scheduleRefresh();
    });
    connect(sweeps_, &SweepController::pointFinished, this, &MainWindow::onSweepPoint);
    connect(sweeps_, &SweepController::finished, this, &MainWindow::onSweepFinished);
    connect(sweeps_, &SweepController::progressTick, this, &MainWindow::onSweepProgress);
}

bool MainWindow::evaluating() const { return sweeps_ && sweeps_->running(); }

int MainWindow::sweepColumn() const {
    return sweep_column_for(sweep_table(sweep_), sweep_, sweep_column_, run_panel_->ranks());
}

bool MainWindow::startEvaluation(bool baseline_only) {
    auto refuse = [this](const QString& m) {
        eval_panel_->showMessage(m, true);
        logLine(m, true);
        return false;
    };
    if (!model_) return refuse(tr("Open a model first."));
    if (evaluating()) return refuse(tr("An evaluation is already running."));
    if (running()) return refuse(tr("Wait for the running decomposition to finish."));
    tucker::TuckerOptions tk;
    try {
        tk = run_panel_->options().tucker;
    } catch (const std::exception&) {
        // The decomposition panel's layer or rank choice is incomplete; its method still counts.
    }
    SweepRequest rq;
    try {
        rq = eval_panel_->request(baseline_only, tk);
    } catch (const std::exception& e) {
        return refuse(QString::fromStdString(e.what()));
    }
    edits::SweepResult live;
    live.model_path = model_->checkpoint().path();
    live.model_type = model_->config().model_type;
    live.text_source = rq.text_path;
    live.mc_source = rq.mc_path;
    live.options = rq.options;
    if (!baseline_only) {
        live.layers = rq.options.layers;
        if (live.layers.empty())
            for (const auto& l : model_->layers()) live.layers.push_back(l.index);
        live.grid_size = edits::sweep_grid(rq.options, live.layers).size();
    }
    const QString err = sweeps_->start(std::move(rq));
    if (!err.isEmpty()) return refuse(err);
    sweep_backup_ = sweep_;
    sweep_column_ = -1;
    sweep_heatmap_->setColumn(-1);
    setSweep(std::move(live));
    eval_panel_->setRunning(true);
    eval_panel_->setBaselineText({});
    // The panel shows the progress and the cancel button: bring it to the front.
    if (auto* dock = findChild<QDockWidget*>(QStringLiteral("eval_dock"))) dock->raise();
    if (baseline_only) {
        eval_panel_->showMessage(tr("Evaluating the unedited model…"));
        logLine(tr("evaluating the unedited model on %1").arg(QString::fromStdString(sweep_.text_source)));
    } else {
        eval_panel_->showMessage(tr("Sweeping %1 point(s)…").arg(sweep_.grid_size));
        logLine(tr("evaluation sweep: %1 point(s), %2 layer(s), %3, on %4")
                    .arg(sweep_.grid_size)
                    .arg(sweep_.layers.size())
                    .arg(QLatin1String(tucker::method_name(sweep_.options.tucker.method)))
                    .arg(QString::fromStdString(sweep_.text_source)));
        tabs_->setCurrentIndex(2);
    }
    return true;
}

void MainWindow::cancelEvaluation() {
    if (!evaluating()) return;
    sweeps_->cancel();
    eval_panel_->showMessage(tr("Cancelling at the next layer…"));
}

void MainWindow::selectSweepCell(int layer, int column) {
    if (column >= 0) {
        sweep_column_ = column;
        sweep_heatmap_->setColumn(column);
        const SweepTable t = sweep_table(sweep_);
        // Fixed ranks of an attention edit become the decomposition panel's ranks.
        const auto [choice, laser] =
            column < int(t.columns.size()) ? t.columns[std::size_t(column)] : std::pair(-1, -1);
        if (choice >= 0 && choice < int(sweep_.options.choices.size())) {
            const auto& spec = sweep_.options.choices[std::size_t(choice)];
            if (spec.kind == tucker::RankSpec::Kind::Fixed)
                run_panel_->setRanks(spec.ranks);
            else if (const auto* q = t.at(layer, column); q && q->ranks[0] > 0)
                run_panel_->setRanks(q->ranks);
        }
    }
    if (layer >= 0) selection_->select(layer);
    scheduleRefresh();
}

void MainWindow::setSweep(edits::SweepResult r) {
    sweep_ = std::move(r);
    rebuildSweepTable();
    showBaseline();
    scheduleRefresh();
}

void MainWindow::showBaseline() {
    const auto& b = sweep_.baseline;
    if (b.ppl.n_tokens <= 0) {
        eval_panel_->setBaselineText({});
        return;
    }
    QString text = tr("Unedited: loss %1 ± %2 nats/token, perplexity %3, %4 tokens in %5 windows (ctx %6)")
                       .arg(b.ppl.mean_nll, 0, 'f', 4)
                       .arg(b.ppl.mean_nll_stderr, 0, 'f', 4)
                       .arg(b.ppl.perplexity, 0, 'f', 3)
                       .arg(b.ppl.n_tokens)
                       .arg(b.ppl.n_windows() > 0 ? QString::number(b.ppl.n_windows()) : QStringLiteral("?"))
                       .arg(b.ppl.ctx);
    if (b.mc)
        text += tr("; accuracy %1 ± %2 (%3 items)")
                    .arg(b.mc->acc, 0, 'f', 4)
                    .arg(b.mc->acc_stderr, 0, 'f', 4)
                    .arg(b.mc->items.size());
    eval_panel_->setBaselineText(text);
}

void MainWindow::rebuildSweepTable() {
    sweep_table_->setRowCount(0);
    for (const auto& p : sweep_.points) addSweepRow(p);
}

void MainWindow::addSweepRow(const edits::SweepPoint& p) {
    const int row = sweep_table_->rowCount();
    sweep_table_->insertRow(row);
    auto num = [](double v, int prec, char f = 'f') {
        return std::isfinite(v) ? QString::number(v, f, prec) : QString();
    };
    const bool ranks = p.ranks[0] > 0;
    const QStringList cells{
        QString::number(p.spec.layer),
        QString::fromStdString(p.label),
        ranks ? QStringLiteral("%1,%2,%3").arg(p.ranks[0]).arg(p.ranks[1]).arg(p.ranks[2]) : QString(),
        num(std::isfinite(p.weight_error) ? p.weight_error : p.laser_error, 4),
        num(p.layer_ratio, 2),
        std::isfinite(p.delta_nll)
            ? (p.delta_nll >= 0 ? QStringLiteral("+") : QString()) + QString::number(p.delta_nll, 'f', 5)
            : QString(),
        num(p.delta_nll_stderr, 5),
        num(p.kl_mean, 3, 'g'),
        num(p.top1_agreement, 4),
        p.mc ? QStringLiteral("%1 (%2)").arg(p.mc->acc, 0, 'f', 3).arg(p.mc->delta_acc, 0, 'f', 3) : QString(),
        p.ran() ? QString::fromLatin1(tucker::status_name(p.status)) : QString::fromStdString(p.message)};
    const int column = sweep_table(sweep_).column_of(p.spec.choice, p.spec.laser);
    for (int c = 0; c < cells.size(); ++c) {
        auto* item = new QTableWidgetItem(cells[c]);
        if (c != 1 && c != 2 && c != 10) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        item->setData(Qt::UserRole, p.spec.layer);
        item->setData(Qt::UserRole + 1, column);
        if (!p.ran()) item->setForeground(QColor(176, 0, 32));
        if (c == 10 && !p.ran()) item->setToolTip(QString::fromStdString(p.message));
        sweep_table_->setItem(row, c, item);
    }
}

void MainWindow::onSweepPoint(std::shared_ptr<const edits::SweepPoint> p) {
    sweep_.points.push_back(*p);
    addSweepRow(sweep_.points.back());
    if (!p->ran())
        logLine(tr("layer %1, %2: %3")
                    .arg(p->spec.layer)
                    .arg(QString::fromStdString(p->label), QString::fromStdString(p->message)),
                true);
    scheduleRefresh();
}

void MainWindow::onSweepProgress() {
    if (!evaluating()) return;
    const double rem = sweeps_->remaining();
    QString text = tr("%1 s elapsed%2")
                       .arg(sweeps_->elapsed(), 0, 'f', 1)
                       .arg(rem >= 0 ? tr(", ~%1 s left").arg(rem, 0, 'f', 1) : QString());
    if (!sweeps_->baselineOnly()) text = tr("%1 of %2 points, ").arg(sweep_.points.size()).arg(sweep_.grid_size) + text;
    eval_panel_->setProgress(sweeps_->progress(), text);
}

void MainWindow::onSweepFinished(std::shared_ptr<const edits::SweepResult> r, const QString& error, bool cancelled) {
    eval_panel_->setRunning(false);
    if (!r) {
        // Nothing ran: the previous evaluation is shown again.
        if (sweep_backup_) setSweep(std::move(*sweep_backup_));
        sweep_backup_.reset();
        if (cancelled) {
            eval_panel_->showMessage(tr("Cancelled; the previous evaluation is shown."));
            logLine(tr("evaluation cancelled"));
        } else {
            eval_panel_->showMessage(error, true);
            logLine(error, true);
            if (isVisible()) {
                auto* box = new QMessageBox(QMessageBox::Warning, tr("Cannot evaluate"), error, QMessageBox::Ok, this);
                box->setAttribute(Qt::WA_DeleteOnClose);
                box->open();
            }
        }
        Q_EMIT evaluationFinished(cancelled, cancelled ? QString() : error);
        return;
    }
    sweep_backup_.reset();
    setSweep(*r);
    int failed = 0;
    for (const auto& p : r->points) failed += !p.ran();
    QString msg;
    if (r->points.empty() && r->grid_size == 0)
        msg = tr("Baseline evaluated in %1 s.").arg(r->seconds, 0, 'f', 1);
    else if (cancelled)
        msg = tr("Cancelled after %1 s: %2 of %3 points kept.")
                  .arg(r->seconds, 0, 'f', 1)
                  .arg(r->points.size())
                  .arg(r->grid_size);
    else
        msg = tr("%1 points in %2 s (%3 failed).").arg(r->points.size()).arg(r->seconds, 0, 'f', 1).arg(failed);
    eval_panel_->showMessage(msg);
    logLine(msg);
    statusBar()->showMessage(msg, 5000);
    Q_EMIT evaluationFinished(cancelled, {});
}

}  // namespace tllm::ui
