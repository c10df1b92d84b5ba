// The real main window, offscreen: open a model, choose layers and ranks, run, check the
// charts, export figures, measure responsiveness, save and reopen a project.
#include <QAbstractSeries>
#include <QApplication>
#include <QBarSeries>
#include <QBarSet>
#include <QLabel>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QPlainTextEdit>
#include <QTimer>
#include <QKeyEvent>
#include <QLineSeries>
#include <QTreeWidget>
#include <QValueAxis>
#include <QXYSeries>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>
#include <functional>

#include <gtest/gtest.h>

#include "charts/figure_panel.h"
#include "main/main_window.h"
#include "analysis/measures.h"
#include "main/selection.h"
#include "model/synthetic.h"
#include "panels/model_panel.h"
#include "panels/run_panel.h"
#include "ui/ui_test_util.h"

using namespace tllm;
using namespace tllm::ui;
using tllm::test::stories;
using tllm::test::wait_for;

namespace {

ChartPanel* chart(MainWindow& w, const char* name) {
    return qobject_cast<ChartPanel*>(w.figures().at(QString::fromLatin1(name)));
}

std::vector<QXYSeries*> xy_series(ChartPanel* p) {
    std::vector<QXYSeries*> out;
    for (auto* s : p->chart()->series())
        if (auto* xy = qobject_cast<QXYSeries*>(s)) out.push_back(xy);
    return out;
}

QByteArray read_all(const QString& path) {
    QFile f(path);
    f.open(QIODevice::ReadOnly);
    return f.readAll();
}

// Fraction of pixels that differ from the corner colour: a blank image gives ~0.
double ink_fraction(const QImage& img) {
    const QRgb bg = img.pixel(0, 0);
    qint64 n = 0;
    for (int y = 0; y < img.height(); y += 2)
        for (int x = 0; x < img.width(); x += 2) n += img.pixel(x, y) != bg;
    return double(n) / ((img.width() / 2) * (img.height() / 2));
}

}  // namespace

TEST(MainWindow, OpenRunChartsExport) {
    const std::string path = stories();
    if (path.empty()) {
        FAIL() << "tests/data/stories260K is missing from the checkout";
    }
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(path));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    EXPECT_EQ(w.model()->layers().size(), 5u);

    RunPanel* rp = w.runPanel();
    rp->layerEdit()->setText(QStringLiteral("1-3"));
    Q_EMIT rp->layerEdit()->editingFinished();
    rp->rankMode()->setCurrentIndex(0);
    rp->setRanks({16, 4, 2});
    EXPECT_TRUE(rp->runButton()->isEnabled()) << rp->previewLabel()->text().toStdString();
    EXPECT_TRUE(rp->previewLabel()->text().contains(QStringLiteral("3 layer(s)")));
    // The live preview: (16,4,2) on d=64, dv=8, h=8, n_kv=4 -> 12288 / (1024+32+8+1024) = 5.88x.
    EXPECT_TRUE(rp->previewLabel()->text().contains(QStringLiteral("5.89")))
        << rp->previewLabel()->text().toStdString();

    ASSERT_TRUE(w.startRun());
    ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
    ASSERT_TRUE(wait_for([&] { return w.results().layers.size() == 3u; }, 2000));
    QCoreApplication::processEvents();
    QThread::msleep(100);
    QCoreApplication::processEvents();

    // Errors per layer: Q, K, V, O and the total, 3 points each (layers 1..3).
    auto err = xy_series(chart(w, "errors_per_layer"));
    ASSERT_EQ(err.size(), 5u);
    for (auto* s : err) EXPECT_EQ(s->count(), 3) << s->name().toStdString();
    EXPECT_EQ(err[4]->at(0).x(), 1.0);
    // Mode spectra of the selected layer: 3 curves (64, 8, 4 values) + 3 rank markers.
    w.selection()->select(2, 5);
    QCoreApplication::processEvents();
    QThread::msleep(100);
    QCoreApplication::processEvents();
    auto spec = xy_series(chart(w, "mode_spectra"));
    ASSERT_EQ(spec.size(), 6u);
    EXPECT_EQ(spec[0]->count(), 64);
    EXPECT_EQ(spec[2]->count(), 8);
    EXPECT_EQ(spec[4]->count(), 4);
    EXPECT_EQ(spec[1]->count(), 1);
    EXPECT_EQ(spec[1]->at(0).x(), 16.0);  // the chosen R1 is marked
    // The second tab's charts are rebuilt when it is shown.
    w.tabs()->setCurrentIndex(1);
    QCoreApplication::processEvents();
    // Head spectra of head 5: Q, K, V, O, each head_dim (8) values.
    auto hs = xy_series(chart(w, "head_spectra"));
    ASSERT_EQ(hs.size(), 4u);
    for (auto* s : hs) EXPECT_EQ(s->count(), 8);
    // Convergence: one trace per layer (a line and its markers).
    int traces = 0;
    for (auto* s : xy_series(chart(w, "hooi_convergence"))) traces += qobject_cast<QLineSeries*>(s) != nullptr;
    EXPECT_EQ(traces, 3);
    // Compression: one bar set with 3 bars.
    auto* bars = qobject_cast<QBarSeries*>(chart(w, "compression_per_layer")->chart()->series().front());
    ASSERT_NE(bars, nullptr);
    EXPECT_EQ(bars->barSets().front()->count(), 3);
    w.tabs()->setCurrentIndex(0);
    QCoreApplication::processEvents();
    // Rank explorer: estimate cloud, Pareto front, exact runs, current point.
    ASSERT_TRUE(wait_for([&] { return !w.explorer().grid.empty(); }, 5000));
    auto ex = xy_series(chart(w, "rank_explorer"));
    ASSERT_EQ(ex.size(), 4u);
    EXPECT_EQ(ex[0]->count(), int(w.explorer().grid.size()));
    EXPECT_EQ(ex[2]->count(), 1);  // one finished run of layer 2
    // Dragging the rank controls moves the current point live.
    const double before = ex[3]->at(0).x();
    rp->setRanks({32, 4, 2});
    QCoreApplication::processEvents();
    ex = xy_series(chart(w, "rank_explorer"));
    EXPECT_LT(ex[3]->at(0).x(), before);  // more parameters, lower ratio
    // The heatmap CSV: 3 layers x 8 heads.
    EXPECT_EQ(w.figures().at(QStringLiteral("heads_heatmap"))->csv().count(QLatin1Char('\n')), 1 + 3 * 8);

    // Export every figure in all three formats through the one paint path.
    QTemporaryDir dir;
    FigureStyle st;
    st.width_mm = 120;
    st.height_mm = 80;
    st.dpi = 150;
    for (const auto& [name, fig] : w.figures()) {
        for (const char* ext : {"png", "svg", "pdf"}) {
            const QString file = dir.filePath(name + QLatin1Char('.') + QLatin1String(ext));
            save_figure(fig->figurePainter(st), file, st);
            const QByteArray data = read_all(file);
            ASSERT_GT(data.size(), 200) << file.toStdString();
            if (QLatin1String(ext) == QLatin1String("png")) {
                EXPECT_TRUE(data.startsWith("\x89PNG\r\n\x1a\n"));
                QImage img;
                ASSERT_TRUE(img.loadFromData(data));
                EXPECT_EQ(img.width(), qRound(120 / 25.4 * 150));
                EXPECT_GT(ink_fraction(img), 0.01) << name.toStdString() << " PNG looks blank";
            } else if (QLatin1String(ext) == QLatin1String("svg")) {
                EXPECT_TRUE(data.contains("<svg"));
                EXPECT_TRUE(data.contains("</svg>"));
            } else {
                EXPECT_TRUE(data.startsWith("%PDF-"));
                EXPECT_TRUE(data.trimmed().endsWith("%%EOF"));
            }
        }
    }
}

TEST(MainWindow, StaysResponsiveWhileALargeLayerRuns) {
    QTemporaryDir dir;
    model::SyntheticSpec s;
    s.model_type = "llama";
    s.hidden = 1536;
    s.heads = 12;
    s.layers = 2;
    s.rank = 32;
    s.dtype = io::DType::BF16;
    s.extras = false;
    model::write_synthetic_checkpoint(dir.filePath(QStringLiteral("m")).toStdString(), s);
    MainWindow w;
    w.show();
    w.openModel(dir.filePath(QStringLiteral("m")));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    w.runPanel()->setRanks({256, 64, 4});
    QElapsedTimer clock;
    qint64 last = 0, worst = 0;
    int ticks = 0;
    QTimer timer;
    timer.setInterval(10);
    QObject::connect(&timer, &QTimer::timeout, [&] {
        const qint64 now = clock.elapsed();
        worst = std::max(worst, now - last);
        last = now;
        ++ticks;
    });
    ASSERT_TRUE(w.startRun());
    clock.start();
    timer.start();
    QEventLoop loop;
    QObject::connect(&w, &MainWindow::runFinished, &loop, &QEventLoop::quit);
    QTimer::singleShot(120000, &loop, &QEventLoop::quit);
    loop.exec();
    timer.stop();
    EXPECT_FALSE(w.running());
    EXPECT_EQ(w.results().layers.size(), 2u);
    std::printf("event loop during a %.1f s run of two 1536x128x4x12 layers: %d timer ticks, worst gap %lld ms\n",
                clock.elapsed() / 1000.0, ticks, static_cast<long long>(worst));
    EXPECT_LT(worst, 250) << "the GUI thread was blocked";
}

TEST(MainWindow, CancelKeepsPreviousResultsAndProjectRoundTrip) {
    const std::string path = stories();
    if (path.empty()) {
        FAIL() << "tests/data/stories260K is missing from the checkout";
    }
    QTemporaryDir dir;
    QString project = dir.filePath(QStringLiteral("p.tllm.json"));
    {
        MainWindow w;
        w.openModel(QString::fromStdString(path));
        ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
        w.runPanel()->setRanks({8, 2, 1});
        ASSERT_TRUE(w.startRun());
        ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
        QCoreApplication::processEvents();
        ASSERT_EQ(w.results().layers.size(), 5u);
        const double e2 = w.results().layer(2)->measures.rel_error;
        // A second run cancelled at once leaves the first run's results in place.
        w.runPanel()->setRanks({32, 8, 4});
        ASSERT_TRUE(w.startRun());
        w.cancelRun();
        ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
        QCoreApplication::processEvents();
        ASSERT_EQ(w.results().layers.size(), 5u);
        // Either the run was cancelled (old results) or it had already finished (new ones).
        const auto* l2 = w.results().layer(2);
        EXPECT_TRUE(l2->ranks == (std::array<int, 3>{8, 2, 1}) || l2->ranks == (std::array<int, 3>{32, 8, 4}));
        if (l2->ranks == (std::array<int, 3>{8, 2, 1})) {
            EXPECT_EQ(l2->measures.rel_error, e2);
        }
        ASSERT_TRUE(w.saveProject(project));
    }
    MainWindow w2;
    w2.openProject(project);
    ASSERT_TRUE(wait_for([&] { return w2.model() != nullptr && w2.results().layers.size() == 5u; }, 10000));
    const auto* l = w2.results().layer(3);
    ASSERT_NE(l, nullptr);
    EXPECT_TRUE(l->spectra.has_value());
    EXPECT_EQ(l->measures.head_type_sv.size(), 8u);
}

// Types `text` into a spin box as a user would: select all, then one key press per character.
void type_into(QSpinBox* box, const QString& text) {
    box->setFocus();
    box->selectAll();
    for (QChar c : text) {
        QKeyEvent press(QEvent::KeyPress, Qt::Key_0 + (c.unicode() - '0'), Qt::NoModifier, QString(c));
        QCoreApplication::sendEvent(box, &press);
        QKeyEvent release(QEvent::KeyRelease, Qt::Key_0 + (c.unicode() - '0'), Qt::NoModifier, QString(c));
        QCoreApplication::sendEvent(box, &release);
    }
    QCoreApplication::processEvents();
}

TEST(MainWindow, RankControlsRefuseAndWarnLive) {
    const std::string path = stories();
    if (path.empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(path));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    RunPanel* rp = w.runPanel();
    rp->rankMode()->setCurrentIndex(0);
    rp->setRanks({16, 4, 2});
    EXPECT_FALSE(rp->rankMessage()->isVisible()) << rp->rankMessage()->text().toStdString();

    // 99 typed into R1 (at most d = 64): kept as typed, refused with a message, Run disabled.
    type_into(rp->rankBox(0), QStringLiteral("99"));
    EXPECT_EQ(rp->rankBox(0)->value(), 99);
    EXPECT_EQ(rp->ranks()[0], 99);
    const QString msg = rp->rankMessage()->text();
    EXPECT_TRUE(rp->rankMessage()->isVisible());
    EXPECT_TRUE(msg.contains(QStringLiteral("R1 = 99 is above d = 64"))) << msg.toStdString();
    EXPECT_FALSE(rp->runButton()->isEnabled());
    EXPECT_FALSE(rp->ranksValid());
    EXPECT_THROW(rp->options(), std::invalid_argument);
    EXPECT_FALSE(w.startRun());
    EXPECT_FALSE(w.explorer().has_current);  // no estimate for refused ranks
    // Back within the size: accepted.
    type_into(rp->rankBox(0), QStringLiteral("16"));
    EXPECT_EQ(rp->ranks()[0], 16);
    EXPECT_TRUE(rp->runButton()->isEnabled());
    EXPECT_FALSE(rp->rankMessage()->isVisible());
    // The arrows stop at the mode's size.
    rp->setRanks({64, 4, 2});
    rp->rankBox(0)->stepUp();
    EXPECT_EQ(rp->ranks()[0], 64);

    // A rank beyond what the core can use: R1 <= R2 R3 h = 1 * 1 * 8.
    rp->setRanks({16, 1, 1});
    EXPECT_TRUE(rp->runButton()->isEnabled());
    EXPECT_TRUE(rp->rankMessage()->isVisible());
    EXPECT_TRUE(rp->rankMessage()->text().contains(QStringLiteral("(8, 1, 1)")))
        << rp->rankMessage()->text().toStdString();
    EXPECT_TRUE(rp->rankMessage()->text().contains(QStringLiteral("beyond what the core can use")));
    // No compression: (64, 8, 4) has more parameters than the layer.
    rp->setRanks({64, 8, 4});
    EXPECT_TRUE(rp->rankMessage()->text().contains(QStringLiteral("does not compress")))
        << rp->rankMessage()->text().toStdString();
    EXPECT_TRUE(rp->runButton()->isEnabled());
}

TEST(MainWindow, LayerListShowsWarningsAndTheWorstSlice) {
    const std::string path = stories();
    if (path.empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(path));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    // The selection the user made stays where it is through the run.
    w.selection()->select(1, 5);
    RunPanel* rp = w.runPanel();
    rp->setRanks({16, 1, 1});  // reduced to (8, 1, 1) by the core, with a warning
    ASSERT_TRUE(w.startRun());
    ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
    QCoreApplication::processEvents();
    ASSERT_EQ(w.results().layers.size(), 5u);
    EXPECT_EQ(w.selection()->layer(), 1);
    EXPECT_EQ(w.selection()->head(), 5);
    QTreeWidget* list = rp->layerList();
    ASSERT_EQ(list->topLevelItemCount(), 5);
    for (int i = 0; i < 5; ++i) {
        const auto* item = list->topLevelItem(i);
        const auto* r = w.results().layer(item->data(0, Qt::UserRole).toInt());
        ASSERT_NE(r, nullptr);
        ASSERT_FALSE(r->warnings.empty());
        EXPECT_EQ(item->text(1), QStringLiteral("warning"));
        ASSERT_EQ(item->childCount(), int(r->warnings.size()));
        EXPECT_TRUE(item->child(0)->text(0).contains(QStringLiteral("reduced to (8,1,1)")))
            << item->child(0)->text(0).toStdString();
        EXPECT_TRUE(item->isExpanded());
        EXPECT_EQ(item->text(2), QString::number(r->measures.rel_error, 'f', 4));
        const int t = analysis::worst_slice(r->measures);
        const double e = r->measures.type_error[std::size_t(t)];
        EXPECT_TRUE(item->text(3).startsWith(QStringLiteral("%1 %2").arg(QLatin1Char("QKVO"[t])).arg(e, 0, 'f', 4)))
            << item->text(3).toStdString();
        EXPECT_EQ(item->text(3).endsWith(QLatin1Char('!')), e > analysis::kSliceErrorWarning);
        if (e > analysis::kSliceErrorWarning) {
            EXPECT_EQ(item->foreground(3).color(), QColor(176, 0, 32));
        }
    }
    // A run without warnings: plain status, no warning rows.
    rp->setRanks({16, 4, 2});
    ASSERT_TRUE(w.startRun());
    ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
    QCoreApplication::processEvents();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(list->topLevelItem(i)->text(1), QStringLiteral("ok"));
        EXPECT_EQ(list->topLevelItem(i)->childCount(), 0);
    }
    EXPECT_EQ(w.selection()->layer(), 1);
}

TEST(MainWindow, ModelPanelShowsTheLoadReport) {
    const std::string path = stories();
    if (path.empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(path));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    QCoreApplication::processEvents();
    auto* panel = w.findChild<ModelPanel*>();
    ASSERT_NE(panel, nullptr);
    // Several rows of the tree in view, not two, and the load report among them.
    QTreeWidget* tree = panel->tree();
    EXPECT_GE(tree->viewport()->height(), 4 * tree->fontMetrics().height());
    const auto found = tree->findItems(QStringLiteral("Not mapped (load report)"), Qt::MatchExactly);
    ASSERT_EQ(found.size(), 1);
    EXPECT_TRUE(tree->viewport()->rect().contains(tree->visualItemRect(found.front())))
        << "load report row at y = " << tree->visualItemRect(found.front()).y() << " of " << tree->viewport()->height();
}

TEST(MainWindow, BadModelShowsErrorAndKeepsState) {
    MainWindow w;
    QString message;
    QObject::connect(&w, &MainWindow::modelOpenFailed, [&](const QString& m) { message = m; });
    w.openModel(QStringLiteral("/nonexistent/model"));
    ASSERT_TRUE(wait_for([&] { return !message.isEmpty(); }, 5000));
    EXPECT_TRUE(message.contains(QStringLiteral("/nonexistent/model")));
    EXPECT_EQ(w.model(), nullptr);
    EXPECT_TRUE(w.log()->toPlainText().contains(QStringLiteral("/nonexistent/model")));
    // Nothing is being computed: the rank explorer says what to do, not "computing spectra".
    QCoreApplication::processEvents();
    EXPECT_FALSE(w.explorer().message.contains(QStringLiteral("computing"))) << w.explorer().message.toStdString();
    QString shown;
    for (auto* a : chart(w, "rank_explorer")->chart()->axes()) shown += a->titleText();
    EXPECT_TRUE(shown.contains(QStringLiteral("open a model"))) << shown.toStdString();
}

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    // The GUI reads results files through the helper, which sits beside the applications in
    // build/app/, not beside this test binary.
    if (qEnvironmentVariableIsEmpty("TENSORLLM_RESULTS_READER")) qputenv("TENSORLLM_RESULTS_READER", TLLM_READER);
    ::testing::InitGoogleTest(&argc, argv);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("TensorLLM-tests"));
    QApplication::setApplicationName(QStringLiteral("ui-tests"));
    return RUN_ALL_TESTS();
}

namespace {
double resident_mib() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, resident = 0;
    const int n = std::fscanf(f, "%ld %ld", &size, &resident);
    std::fclose(f);
    return n == 2 ? double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0) : -1;
}
}  // namespace

TEST(MainWindow, RepeatedRunsDoNotGrowMemory) {
    // Many runs in one session (each replacing the previous results, charts rebuilt) must
    // not accumulate memory: after a warm-up, 20 more runs may add only the run history
    // (a few numbers per layer and run) and allocator noise.
    const std::string path = stories();
    if (path.empty()) {
        FAIL() << "tests/data/stories260K is missing from the checkout";
    }
    MainWindow w;
    w.openModel(QString::fromStdString(path));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 10000));
    auto one_run = [&](int k) {
        w.runPanel()->setRanks({k % 2 ? 16 : 8, 4, 2});
        ASSERT_TRUE(w.startRun());
        ASSERT_TRUE(wait_for([&] { return !w.running(); }, 30000));
        QCoreApplication::processEvents();
        ASSERT_EQ(w.results().layers.size(), 5u);
    };
    for (int k = 0; k < 4; ++k) one_run(k);
    const double before = resident_mib();
    for (int k = 0; k < 20; ++k) one_run(k);
    const double after = resident_mib();
    ASSERT_GT(before, 0);
    std::printf("resident memory: %.1f MiB after 4 runs, %.1f MiB after 24 (%+.2f MiB)\n", before, after,
                after - before);
    // Under valgrind (the leak check of this test: 0 bytes lost) RSS is valgrind's own too.
    const char* preload = std::getenv("LD_PRELOAD");
    if (preload && std::string(preload).find("vgpreload") != std::string::npos) return;
    EXPECT_LT(after - before, 8.0);
}
