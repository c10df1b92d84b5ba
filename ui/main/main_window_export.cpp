// MainWindow: exports (HDF5 results, denoised and factorised checkpoints) and opening HDF5
// results. The work runs on a pool thread; the GUI thread only starts it and shows the outcome.
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QStatusBar>
#include <QThreadPool>

#include "writeback/denoised_checkpoint.h"
#include "writeback/gguf_export.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "jobs/spectra_service.h"
#include "main/background.h"
#include "main/main_window.h"
#include "main/selection.h"
#include "model/model.h"
#include "panels/run_panel.h"

namespace tllm::ui {

void MainWindow::buildExportMenu(QMenu* file) {
    file->addAction(tr("Open &results (HDF5)…"), QKeySequence(tr("Ctrl+Shift+R")), this, [this] {
        const QString f =
            QFileDialog::getOpenFileName(this, tr("Open results"), QString(), tr("HDF5 results (*.h5 *.hdf5)"));
        if (!f.isEmpty()) openResults(f);
    });
    auto* ex = file->addMenu(tr("Export &results"));
    ex->addAction(tr("Compressed weights (&HDF5)…"), QKeySequence(tr("Ctrl+Shift+H")), this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export compressed weights"),
                                                       QStringLiteral("results.h5"), tr("HDF5 (*.h5)"));
        if (!f.isEmpty()) exportResults(ExportKind::Hdf5, f);
    });
    // A GGUF model's denoised form is one GGUF file; a safetensors model's a new directory.
    auto ask = [this](const QString& title, const QString& name) {
        if (model_ && model_->checkpoint().gguf())
            return QFileDialog::getSaveFileName(this, title + tr(" (GGUF file)"), name + QStringLiteral(".gguf"),
                                                tr("GGUF (*.gguf)"));
        return QFileDialog::getSaveFileName(this, title + tr(" directory (new)"), name);
    };
    ex->addAction(tr("&Denoised checkpoint…"), this, [this, ask] {
        const QString d = ask(tr("Denoised checkpoint"), QStringLiteral("denoised"));
        if (!d.isEmpty()) exportResults(ExportKind::Denoised, d);
    });
    ex->addAction(tr("&Factorised checkpoint…"), this, [this, ask] {
        const QString d = ask(tr("Factorised checkpoint"), QStringLiteral("factorised"));
        if (!d.isEmpty()) exportResults(ExportKind::Factorised, d);
    });
}

bool MainWindow::exportResults(ExportKind kind, const QString& path) {
    auto fail = [this](const QString& m) {
        logLine(m, true);
        if (isVisible()) QMessageBox::information(this, tr("Cannot export"), m);
        Q_EMIT exportFinished(false, m);
        return false;
    };
    if (!model_ || results_.empty()) return fail(tr("There are no results to export: run a decomposition first."));
    if (exporting_) return fail(tr("An export is already running."));
    if (running()) return fail(tr("Wait for the running decomposition to finish."));
    auto summary = std::make_shared<jobs::JobSummary>();
    for (const auto& [l, r] : results_.layers) {
        if (r->tucker.factors[0].size() == 0)
            return fail(tr("Layer %1's results were restored from a project, which stores measures but not the factors "
                           "and cores; run the decomposition again (or open the HDF5 results) to export weights.")
                            .arg(l));
        summary->layers.push_back(*r);
    }
    jobs::JobOptions opt = last_options_.value_or(jobs::JobOptions{});
    opt.layers.clear();
    for (const auto& [l, r] : results_.layers) opt.layers.push_back(l);
    exporting_ = true;
    statusBar()->showMessage(tr("Exporting to %1…").arg(path));
    logLine(tr("exporting %1 layer(s) to %2").arg(results_.layers.size()).arg(path));
    QPointer<MainWindow> self(this);
    auto model = model_;
    QThreadPool::globalInstance()->start([self, model, summary, opt, kind, path] {
        QString message;
        bool ok = true;
        try {
            if (kind == ExportKind::Hdf5) {
                exporting::write_results_hdf5(path.toStdString(), *model, opt, *summary);
                message = tr("wrote %1").arg(path);
            } else if (model->checkpoint().gguf()) {
                const auto form = kind == ExportKind::Denoised ? exporting::CheckpointForm::Dense
                                                               : exporting::CheckpointForm::Factorised;
                QString file = path;
                if (!file.endsWith(QStringLiteral(".gguf"))) file += QStringLiteral(".gguf");
                const auto rep = exporting::write_denoised_gguf(file.toStdString(), *model, opt, *summary, {form});
                message = tr("wrote %1 (GGUF, %2 tensors replaced)").arg(file).arg(rep.replaced_tensors.size());
            } else {
                exporting::DenoisedOptions d;
                d.form = kind == ExportKind::Denoised ? exporting::CheckpointForm::Dense
                                                      : exporting::CheckpointForm::Factorised;
                const auto rep = exporting::write_denoised_checkpoint(path.toStdString(), *model, opt, *summary, d);
                message = tr("wrote %1 (%2 files, %3 tensors replaced)")
                              .arg(path)
                              .arg(rep.files.size())
                              .arg(rep.replaced_tensors.size());
            }
        } catch (const std::exception& e) {
            ok = false;
            message = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            self.data(),
            [self, ok, message] {
                if (!self) return;
                self->exporting_ = false;
                self->logLine(message, !ok);
                self->statusBar()->showMessage(ok ? message : tr("Export failed"), 6000);
                if (!ok && self->isVisible()) QMessageBox::warning(self, tr("Export failed"), message);
                Q_EMIT self->exportFinished(ok, message);
            },
            Qt::QueuedConnection);
    });
    return true;
}

void MainWindow::openResults(const QString& path) {
    if (running()) {
        QMessageBox::information(this, tr("Busy"), tr("Cancel the running decomposition before opening results."));
        return;
    }
    statusBar()->showMessage(tr("Reading %1…").arg(path));
    load_in_background(
        this,
        // In a helper process: libhdf5 never runs on the (untrusted) file in the GUI.
        [path] {
            return std::make_shared<const exporting::ResultsFile>(exporting::read_results_isolated(path.toStdString()));
        },
        [this, path](const std::shared_ptr<const exporting::ResultsFile>& f, const QString& error) {
            if (!f) {
                logLine(error, true);
                if (isVisible()) QMessageBox::warning(this, tr("Cannot open results"), error);
                return;
            }
            addRecent(path);
            const QString model_path = QString::fromStdString(f->meta.source.path);
            if (model_ && model_->checkpoint().path() == f->meta.source.path) {
                applyResultsFile(f);
            } else if (QFileInfo::exists(model_path)) {
                pending_results_ = f;
                openModel(model_path);
            } else {
                logLine(
                    tr("the model of %1 (%2) is not available; showing the stored results only").arg(path, model_path),
                    true);
                applyResultsFile(f);
            }
        });
}

void MainWindow::applyResultsFile(const std::shared_ptr<const exporting::ResultsFile>& f) {
    if (model_) {
        try {
            exporting::verify_source(f->meta, *model_);
        } catch (const std::exception& e) {
            logLine(tr("%1; the results are shown but may not belong to this checkpoint")
                        .arg(QString::fromStdString(e.what())),
                    true);
        }
    }
    results_ = ResultSet{};
    results_.shape = f->meta.shape;
    exact_history_.clear();
    for (const auto& r : f->summary.layers) {
        if (!r.complete()) continue;
        addResult(std::make_shared<const jobs::LayerResult>(r));
    }
    last_options_ = f->meta.options;
    if (model_) run_panel_->setOptions(f->meta.options);
    if (!results_.layers.empty()) selection_->select(results_.layers.begin()->first);
    logLine(tr("results of %1 layer(s) loaded from %2 (no recomputation)")
                .arg(results_.layers.size())
                .arg(QString::fromStdString(f->path)));
    scheduleRefresh();
    updateExplorer();
}

}  // namespace tllm::ui
