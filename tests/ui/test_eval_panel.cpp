// Evaluation in the loop in the real window, offscreen: a small sweep on the demo model fills
// the table and the charts point by point, clicking a heatmap cell selects its layer and ranks
// everywhere, the sweep survives a project round trip and the headless figures are written;
// bad data and a model without a forward pass give clear messages and decomposition still works.
#include <QApplication>
#include <QChart>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QXYSeries>
#include <cstdlib>

#include <gtest/gtest.h>

#include "charts/figure_panel.h"
#include "charts/sweep_heatmap_panel.h"
#include "jobs/sweep_controller.h"
#include "main/main_window.h"
#include "main/selection.h"
#include "model/synthetic.h"
#include "panels/eval_panel.h"
#include "panels/run_panel.h"
#include "report/sweep_figures.h"
#include "ui/ui_test_util.h"
#include "util/resources.h"

using namespace tllm;
using namespace tllm::ui;
using tllm::test::wait_for;

namespace {

ChartPanel* chart(MainWindow& w, const char* name) {
    return qobject_cast<ChartPanel*>(w.figures().at(QString::fromLatin1(name)));
}

QXYSeries* series(ChartPanel* p, const QString& name) {
    for (auto* s : p->chart()->series())
        if (auto* xy = qobject_cast<QXYSeries*>(s); xy && xy->name() == name) return xy;
    return nullptr;
}

// Points of the quality chart: every evaluated edit, in "edits" or the selected layer's series.
int pareto_points(MainWindow& w) {
    int n = 0;
    for (auto* s : chart(w, "sweep_quality_compression")->chart()->series())
        if (auto* xy = qobject_cast<QXYSeries*>(s);
            xy && (xy->name() == QLatin1String("edits") || xy->name().startsWith(QLatin1String("layer "))))
            n += xy->count();
    return n;
}

void settle() {
    for (int i = 0; i < 5; ++i) {
        QCoreApplication::processEvents();
        QThread::msleep(30);
    }
}

::testing::AssertionResult open(MainWindow& w, const QString& path) {
    w.openModel(path);
    if (!wait_for([&] { return w.model() != nullptr; }, 10000))
        return ::testing::AssertionFailure() << "model not opened";
    return ::testing::AssertionSuccess();
}

// 2 layers x 2 rank choices on the first 4096 tokens of the bundled text.
void small_sweep(EvalPanel* p) {
    p->choicesEdit()->setText(QStringLiteral("32,16,4; 16,8,2"));
    p->layersEdit()->setText(QStringLiteral("0-1"));
    p->maxTokensSpin()->setValue(4096);
    p->methodCombo()->setCurrentIndex(3);  // HOSVD
}

QString run_to_end(MainWindow& w, bool baseline_only, bool* cancelled = nullptr) {
    QString error = QStringLiteral("<not finished>");
    auto c = QObject::connect(&w, &MainWindow::evaluationFinished, [&](bool k, const QString& e) {
        error = e;
        if (cancelled) *cancelled = k;
    });
    if (!w.startEvaluation(baseline_only)) {
        QObject::disconnect(c);
        return w.evalPanel()->messageLabel()->text();
    }
    wait_for([&] { return error != QLatin1String("<not finished>"); }, 60000);
    QObject::disconnect(c);
    settle();
    return error;
}

}  // namespace

TEST(EvalPanel, SweepFillsChartsSelectsAndRoundTrips) {
    MainWindow w;
    w.resize(1500, 950);
    w.show();
    ASSERT_TRUE(open(w, QString::fromStdString(util::default_model_dir())));
    EvalPanel* p = w.evalPanel();
    // The demo model works out of the box: the bundled text is preselected, the rank choices
    // are the decomposition panel's ranks and their halves.
    EXPECT_EQ(p->sourceCombo()->currentIndex(), 0);
    EXPECT_EQ(p->choicesEdit()->text(), QStringLiteral("32,16,4; 16,8,2"));
    EXPECT_TRUE(p->sweepButton()->isEnabled());
    small_sweep(p);

    // Every point that arrives is in the table and, once the charts are rebuilt, in them.
    std::vector<int> table_rows, chart_points;
    auto* ctl = w.findChild<SweepController*>();
    ASSERT_NE(ctl, nullptr);
    QObject::connect(ctl, &SweepController::pointFinished, &w, [&] {
        table_rows.push_back(w.sweepTable()->rowCount());
        chart(w, "sweep_quality_compression")->refresh();
        chart_points.push_back(pareto_points(w));
    });
    QElapsedTimer clock;
    clock.start();
    ASSERT_EQ(run_to_end(w, false), QString());
    std::printf("sweep of 2 layers x 2 rank choices on 4096 tokens: %.1f s\n", clock.elapsed() / 1000.0);
    EXPECT_EQ(table_rows, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(chart_points, (std::vector<int>{1, 2, 3, 4}));
    const edits::SweepResult& r = w.sweep();
    ASSERT_EQ(r.points.size(), 4u);
    EXPECT_GT(r.baseline.ppl.mean_nll, 0);
    for (const auto& q : r.points) EXPECT_TRUE(q.ran()) << q.message;

    // The charts after the coalesced refresh: all four points, the Pareto front, the
    // baseline line; per layer, Δloss and weight error of the current ranks (32,16,4).
    EXPECT_EQ(pareto_points(w), 4);
    ASSERT_NE(series(chart(w, "sweep_quality_compression"), QStringLiteral("Pareto front")), nullptr);
    EXPECT_GE(series(chart(w, "sweep_quality_compression"), QStringLiteral("Pareto front"))->count(), 1);
    auto* dl = series(chart(w, "sweep_loss_and_error_per_layer"), QStringLiteral("Δ loss"));
    auto* we = series(chart(w, "sweep_loss_and_error_per_layer"), QStringLiteral("weight error"));
    ASSERT_NE(dl, nullptr);
    ASSERT_NE(we, nullptr);
    EXPECT_EQ(dl->count(), 2);
    EXPECT_EQ(we->count(), 2);
    EXPECT_EQ(w.sweepColumn(), 0);
    EXPECT_EQ(w.figures().at(QStringLiteral("sweep_delta_loss_heatmap"))->csv().count(QLatin1Char('\n')), 1 + 4);

    // Clicking the heatmap cell (layer 1, 16,8,2) selects layer 1 and those ranks everywhere.
    SweepHeatmapPanel* hm = w.sweepHeatmap();
    const QPointF at = hm->cellCentre(1, 1);
    ASSERT_GE(at.x(), 0);
    QMouseEvent press(QEvent::MouseButtonPress, at, hm->mapToGlobal(at), Qt::LeftButton, Qt::LeftButton,
                      Qt::NoModifier);
    QApplication::sendEvent(hm, &press);
    settle();
    EXPECT_EQ(w.selection()->layer(), 1);
    EXPECT_EQ(w.sweepColumn(), 1);
    EXPECT_EQ(w.runPanel()->ranks(), (std::array<int, 3>{16, 8, 2}));
    auto* sel = series(chart(w, "sweep_quality_compression"), QStringLiteral("layer 1"));
    ASSERT_NE(sel, nullptr);
    EXPECT_EQ(sel->count(), 2);  // layer 1's two edits emphasised
    auto* mark = series(chart(w, "sweep_loss_and_error_per_layer"), QStringLiteral("layer 1"));
    ASSERT_NE(mark, nullptr);
    EXPECT_EQ(mark->at(0).x(), 1.0);
    const auto* q11 = sweep_table(r).at(1, 1);
    ASSERT_NE(q11, nullptr);
    EXPECT_DOUBLE_EQ(mark->at(0).y(), q11->delta_nll);  // the per-layer chart follows the clicked edit
    // Clicking a point of the quality chart selects its layer too.
    Q_EMIT chart(w, "sweep_quality_compression")
        ->pointClicked(QStringLiteral("edits"), QPointF(r.points[0].layer_ratio, r.points[0].delta_nll));
    settle();
    EXPECT_EQ(w.selection()->layer(), r.points[0].spec.layer);

    // Every sweep figure exports like the others.
    QTemporaryDir dir;
    FigureStyle st;
    st.width_mm = 120;
    st.height_mm = 80;
    st.dpi = 100;
    for (const char* name : {"sweep_delta_loss_heatmap", "sweep_quality_compression", "sweep_loss_and_error_per_layer"})
        for (const char* ext : {"png", "svg", "pdf"}) {
            const QString file = dir.filePath(QString::fromLatin1(name) + QLatin1Char('.') + QLatin1String(ext));
            save_figure(w.figures().at(QString::fromLatin1(name))->figurePainter(st), file, st);
            EXPECT_GT(QFileInfo(file).size(), 200) << file.toStdString();
        }
    // The headless figures: three, each as PNG, SVG, PDF and CSV.
    const QString fig = dir.filePath(QStringLiteral("figures"));
    ASSERT_TRUE(QDir().mkpath(fig));
    write_sweep_figures(fig.toStdString(), r, st);
    EXPECT_EQ(QDir(fig).entryList(QDir::Files).size(), 12);

    // Project round trip: the sweep comes back without recomputing.
    const QString project = dir.filePath(QStringLiteral("p.tllm.json"));
    ASSERT_TRUE(w.saveProject(project));
    const QString csv = w.figures().at(QStringLiteral("sweep_delta_loss_heatmap"))->csv();
    MainWindow w2;
    w2.openProject(project);
    ASSERT_TRUE(wait_for([&] { return w2.model() != nullptr && w2.sweep().points.size() == 4u; }, 10000));
    EXPECT_FALSE(w2.evaluating());
    EXPECT_EQ(w2.figures().at(QStringLiteral("sweep_delta_loss_heatmap"))->csv(), csv);
    EXPECT_EQ(w2.sweepTable()->rowCount(), 4);
    EXPECT_DOUBLE_EQ(w2.sweep().baseline.ppl.mean_nll, r.baseline.ppl.mean_nll);
    EXPECT_EQ(w2.evalPanel()->layersEdit()->text(), QStringLiteral("0-1"));
    EXPECT_EQ(w2.evalPanel()->maxTokensSpin()->value(), 4096);
}

TEST(EvalPanel, BadDataGivesClearMessages) {
    MainWindow w;  // not shown: no message boxes
    ASSERT_TRUE(open(w, QString::fromStdString(util::default_model_dir())));
    EvalPanel* p = w.evalPanel();
    QTemporaryDir dir;
    p->sourceCombo()->setCurrentIndex(1);
    // No file chosen: refused at once.
    p->textEdit()->clear();
    EXPECT_FALSE(w.startEvaluation(true));
    EXPECT_TRUE(p->messageLabel()->text().contains(QStringLiteral("choose an evaluation text file")))
        << p->messageLabel()->text().toStdString();
    // A missing file.
    const QString missing = dir.filePath(QStringLiteral("missing.txt"));
    p->textEdit()->setText(missing);
    QString e = run_to_end(w, true);
    EXPECT_TRUE(e.contains(missing)) << e.toStdString();
    EXPECT_TRUE(p->messageLabel()->text().contains(QStringLiteral("missing.txt")));
    // An empty file.
    const QString empty = dir.filePath(QStringLiteral("empty.txt"));
    QFile(empty).open(QIODevice::WriteOnly);
    p->textEdit()->setText(empty);
    e = run_to_end(w, true);
    EXPECT_TRUE(e.contains(QStringLiteral("empty.txt")) && e.contains(QStringLiteral("empty"))) << e.toStdString();
    // A malformed multiple-choice file: named with its line.
    p->sourceCombo()->setCurrentIndex(0);
    const QString mc = dir.filePath(QStringLiteral("bad.jsonl"));
    {
        QFile f(mc);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write("{\"context\": \"In the beginning\", \"choices\": [\" God\"], \"answer\": 0}\n");
    }
    p->mcEdit()->setText(mc);
    e = run_to_end(w, true);
    EXPECT_TRUE(e.contains(QStringLiteral("bad.jsonl:1"))) << e.toStdString();
    // A bad rank choice: refused before anything runs, naming the entry.
    p->mcEdit()->clear();
    p->choicesEdit()->setText(QStringLiteral("32,16; tol 0.2"));
    EXPECT_FALSE(w.startEvaluation(false));
    EXPECT_TRUE(p->messageLabel()->text().contains(QStringLiteral("32,16"))) << p->messageLabel()->text().toStdString();
    EXPECT_TRUE(w.sweep().points.empty());
    // After all that, a baseline on the bundled text runs.
    p->maxTokensSpin()->setValue(2048);
    EXPECT_EQ(run_to_end(w, true), QString());
    EXPECT_GT(w.sweep().baseline.ppl.n_tokens, 0);
}

TEST(EvalPanel, ModelWithoutForwardPassStillDecomposes) {
    QTemporaryDir dir;
    model::SyntheticSpec s;
    s.model_type = "opt";
    s.layers = 2;
    model::write_synthetic_checkpoint(dir.filePath(QStringLiteral("m")).toStdString(), s);
    MainWindow w;
    ASSERT_TRUE(open(w, dir.filePath(QStringLiteral("m"))));
    EvalPanel* p = w.evalPanel();
    EXPECT_TRUE(p->messageLabel()->text().contains(QStringLiteral("evaluation is not available for model_type opt")))
        << p->messageLabel()->text().toStdString();
    EXPECT_FALSE(p->sweepButton()->isEnabled());
    EXPECT_FALSE(p->baselineButton()->isEnabled());
    EXPECT_FALSE(w.startEvaluation(false));
    EXPECT_EQ(p->sourceCombo()->currentIndex(), 1);  // not the demo model: no bundled text preselected
    w.runPanel()->setRanks({8, 4, 2});
    ASSERT_TRUE(w.startRun());
    ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
    settle();
    EXPECT_EQ(w.results().layers.size(), 2u);
}

TEST(EvalPanel, CancelKeepsFinishedPoints) {
    MainWindow w;
    ASSERT_TRUE(open(w, QString::fromStdString(util::default_model_dir())));
    EvalPanel* p = w.evalPanel();
    p->choicesEdit()->setText(QStringLiteral("32,16,4; 16,8,2; 8,4,1"));
    p->layersEdit()->setText(QStringLiteral("all"));
    p->maxTokensSpin()->setValue(4096);
    p->methodCombo()->setCurrentIndex(3);
    bool cancelled = false;
    QString error = QStringLiteral("<not finished>");
    QObject::connect(&w, &MainWindow::evaluationFinished, [&](bool k, const QString& e) {
        cancelled = k;
        error = e;
    });
    ASSERT_TRUE(w.startEvaluation(false));
    EXPECT_TRUE(p->cancelButton()->isEnabled());
    // Cancel once the first point is in.
    ASSERT_TRUE(wait_for([&] { return !w.sweep().points.empty() || !w.evaluating(); }, 60000));
    w.cancelEvaluation();
    ASSERT_TRUE(wait_for([&] { return error != QLatin1String("<not finished>"); }, 60000));
    settle();
    EXPECT_EQ(error, QString());
    EXPECT_FALSE(p->cancelButton()->isEnabled());
    const std::size_t n = w.sweep().points.size();
    EXPECT_GE(n, 1u);
    EXPECT_EQ(w.sweepTable()->rowCount(), int(n));
    if (cancelled) {
        EXPECT_LT(n, 18u);
        EXPECT_TRUE(w.sweep().cancelled);
    }
}

TEST(EvalPanel, SweepFiguresThroughTheCli) {
    QTemporaryDir dir;
    const QString out = dir.filePath(QStringLiteral("sw"));
    const std::string cmd =
        std::string(TLLM_CLI) +
        " sweep --demo --ranks-list '32,16,4;16,8,2' --layers 0-1 --method hosvd --max-tokens 4096 --quiet --out '" +
        out.toStdString() + "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    for (const char* name : {"sweep_delta_loss_heatmap", "sweep_quality_compression", "sweep_loss_and_error_per_layer"})
        for (const char* ext : {"png", "svg", "pdf", "csv"}) {
            const QString f = out + QLatin1Char('/') + QLatin1String(name) + QLatin1Char('.') + QLatin1String(ext);
            EXPECT_GT(QFileInfo(f).size(), 100) << f.toStdString();
        }
}
