// MainWindow: comparing two results (results/compare.h) in the Compare tab. Reading the files
// and matching the two sides run on a pool thread; the GUI thread only starts the work and
// shows the outcome.
#include <QChartView>
#include <QDir>
#include <QFileInfo>
#include <cstring>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>

#include "charts/figure_panel.h"
#include "main/background.h"
#include "main/main_window.h"
#include "model/model.h"
#include "panels/compare_panel.h"
#include "results/compare.h"
#include "results/hdf5_results.h"

namespace tllm::ui {
namespace {

// A short name for a side read from `path`: the file name, or the directory's name for a
// results.json (every results set has one).
QString label_for(const QString& path) {
    const QFileInfo f(path);
    if (f.isDir()) return f.fileName();
    if (f.fileName() == QStringLiteral("results.json")) return f.dir().dirName();
    QString name = f.fileName();
    for (const char* ext : {".tllm.json", ".json", ".h5", ".hdf5"})
        if (name.endsWith(QLatin1String(ext))) return name.chopped(int(std::strlen(ext)));
    return name;
}

}  // namespace

void MainWindow::buildCompare() {
    compare_ = new ComparePanel(tabs_);
    for (auto* p : {compare_->layerChart(), compare_->headChart(), compare_->spectraChart()}) {
        p->view()->installEventFilter(this);
        p->view()->viewport()->installEventFilter(this);
    }
    tabs_->addTab(compare_, tr("Compare"));
}

MainWindow::SideMaker MainWindow::windowSide(const ResultSet& results, const std::optional<jobs::JobOptions>& options,
                                             const QString& label, bool with_sweep) const {
    auto model = model_;
    auto layers = results.layers;  // shared pointers: the copies are made on the pool thread
    std::optional<edits::SweepResult> sweep;
    if (with_sweep && !sweep_.points.empty()) sweep = sweep_;
    const std::string path =
        !project_path_.isEmpty() ? project_path_.toStdString() : (model ? model->checkpoint().path() : std::string());
    return [model, layers, sweep, path, label = label.toStdString(), options, shape = results.shape] {
        exporting::CompareSide s;
        s.path = path;
        s.kind = "window";
        s.label = label;
        if (model) {
            s.model_path = model->checkpoint().path();
            s.fingerprint = exporting::source_identity(model->checkpoint()).header_sha256;
            s.model_type = model->config().model_type;
            s.shape = model->shape();
        } else if (shape.d > 0) {
            s.shape = shape;
        }
        if (options) {
            s.rank_choice = options->ranks.describe();
            s.method = tucker::method_name(options->tucker.method);
        }
        for (const auto& [l, r] : layers) {
            jobs::LayerResult c = *r;
            // Factors and cores are not compared; the measures and spectra are.
            c.tucker.factors = {};
            c.tucker.core = {};
            s.layers.emplace(l, std::move(c));
        }
        s.sweep = sweep;
        return s;
    };
}

void MainWindow::startCompare(SideMaker a, SideMaker b) {
    if (comparing_) {
        logLine(tr("a comparison is already being read"), true);
        Q_EMIT comparisonFinished(tr("a comparison is already being read"));
        return;
    }
    comparing_ = true;
    statusBar()->showMessage(tr("Reading the results to compare…"));
    load_in_background(
        this,
        [a = std::move(a), b = std::move(b)] {
            return std::make_shared<const exporting::Comparison>(exporting::compare_results(a(), b()));
        },
        [this](const std::shared_ptr<const exporting::Comparison>& c, const QString& error) {
            comparing_ = false;
            if (!c) {
                logLine(tr("compare: %1").arg(error), true);
                statusBar()->showMessage(tr("Compare failed"), 6000);
                if (isVisible()) QMessageBox::warning(this, tr("Cannot compare"), error);
                Q_EMIT comparisonFinished(error);
                return;
            }
            compare_->setComparison(c);
            tabs_->setCurrentWidget(compare_);
            logLine(tr("comparing %1 with %2: %3")
                        .arg(QString::fromStdString(c->a.label), QString::fromStdString(c->b.label),
                             QString::fromStdString(c->checkpoint_note)),
                    c->verdict == exporting::CheckpointVerdict::Different);
            statusBar()->showMessage(tr("Comparison ready"), 4000);
            Q_EMIT comparisonFinished(QString());
        });
}

void MainWindow::compareWith(const QString& path) {
    if (results_.empty() && sweep_.points.empty()) {
        const QString m = tr("There are no results in this window to compare with %1: open or compute results first, "
                             "or compare two files.")
                              .arg(path);
        logLine(m, true);
        if (isVisible()) QMessageBox::information(this, tr("Nothing to compare"), m);
        Q_EMIT comparisonFinished(m);
        return;
    }
    const QString here = project_path_.isEmpty() ? tr("this window") : label_for(project_path_);
    QString there = label_for(path);
    if (there == here) there += QStringLiteral(" (B)");
    startCompare(windowSide(results_, last_options_, here, true),
                 [p = path.toStdString(), l = there.toStdString()] { return exporting::load_compare_side(p, l); });
}

void MainWindow::compareFiles(const QString& a, const QString& b) {
    QString la = label_for(a), lb = label_for(b);
    if (la == lb) la += QStringLiteral(" (A)"), lb += QStringLiteral(" (B)");
    startCompare([p = a.toStdString(), l = la.toStdString()] { return exporting::load_compare_side(p, l); },
                 [p = b.toStdString(), l = lb.toStdString()] { return exporting::load_compare_side(p, l); });
}

bool MainWindow::compareWithPrevious() {
    if (backup_.empty() || results_.empty() || running()) {
        const QString m = running() ? tr("Wait for the running decomposition to finish.")
                                    : tr("There is no earlier run in this window to compare with.");
        logLine(m, true);
        if (isVisible()) QMessageBox::information(this, tr("Nothing to compare"), m);
        Q_EMIT comparisonFinished(m);
        return false;
    }
    startCompare(windowSide(backup_, backup_options_, tr("previous run"), false),
                 windowSide(results_, last_options_, tr("latest run"), false));
    return true;
}

}  // namespace tllm::ui
