// Export from the window (HDF5, denoised checkpoint) and reopening HDF5 results without
// recomputing.
#include <QPlainTextEdit>
#include <QTemporaryDir>
#include <filesystem>

#include <gtest/gtest.h>

#include "io/checkpoint.h"
#include "main/main_window.h"
#include "panels/run_panel.h"
#include "ui/ui_test_util.h"

using namespace tllm;
using namespace tllm::ui;
using tllm::test::wait_for;

namespace {
// Opens `model` in `w` and decomposes every layer at `ranks`; fails naming the step that did not
// complete.
::testing::AssertionResult open_and_run(MainWindow& w, const std::string& model, const std::array<int, 3>& ranks) {
    w.openModel(QString::fromStdString(model));
    if (!wait_for([&] { return w.model() != nullptr; }, 10000))
        return ::testing::AssertionFailure() << "model not opened";
    w.runPanel()->setRanks(ranks);
    if (!w.startRun()) return ::testing::AssertionFailure() << "run not started";
    if (!wait_for([&] { return !w.running(); }, 30000)) return ::testing::AssertionFailure() << "run not finished";
    return ::testing::AssertionSuccess();
}
}  // namespace

TEST(ExportGui, Hdf5AndDenoisedFromTheWindowAndReopen) {
    const std::string path = tllm::test::stories();
    if (path.empty()) {
        FAIL() << "tests/data/stories260K is missing from the checkout";
    }
    QTemporaryDir dir;
    const QString h5 = dir.filePath(QStringLiteral("r.h5"));
    const QString den = dir.filePath(QStringLiteral("denoised"));
    std::map<int, double> errors;
    {
        MainWindow w;
        bool done = false, ok = false;
        QString message;
        QObject::connect(&w, &MainWindow::exportFinished, [&](bool k, const QString& m) {
            done = true;
            ok = k;
            message = m;
        });
        // Nothing to export before a run: a clear refusal.
        EXPECT_FALSE(w.exportResults(MainWindow::ExportKind::Hdf5, h5));
        ASSERT_TRUE(open_and_run(w, path, {16, 4, 2}));
        ASSERT_EQ(w.results().layers.size(), 5u);
        for (const auto& [l, r] : w.results().layers) errors[l] = r->measures.rel_error;
        done = false;
        ASSERT_TRUE(w.exportResults(MainWindow::ExportKind::Hdf5, h5));
        ASSERT_TRUE(wait_for([&] { return done; }, 30000));
        EXPECT_TRUE(ok) << message.toStdString();
        EXPECT_TRUE(std::filesystem::exists(h5.toStdString()));
        done = false;
        ASSERT_TRUE(w.exportResults(MainWindow::ExportKind::Denoised, den));
        ASSERT_TRUE(wait_for([&] { return done; }, 30000));
        EXPECT_TRUE(ok) << message.toStdString();
        io::Checkpoint ck(den.toStdString());
        EXPECT_TRUE(ck.config().has_value());
        EXPECT_TRUE(ck.find("model.layers.0.self_attn.q_proj.weight").has_value());
    }
    MainWindow w2;
    w2.openResults(h5);
    ASSERT_TRUE(wait_for([&] { return w2.results().layers.size() == 5u && w2.model() != nullptr; }, 10000));
    for (const auto& [l, r] : w2.results().layers) {
        EXPECT_EQ(r->measures.rel_error, errors[l]) << "layer " << l;
        EXPECT_EQ(r->ranks, (std::array<int, 3>{16, 4, 2}));
        EXPECT_GT(r->tucker.factors[0].size(), 0);  // factors came back: weights can be exported again
    }
}

// A results file on which libhdf5 1.10.8 itself crashes (SIGSEGV inside H5Aexists, found by
// fuzzing; tests/fuzz/known_libhdf5/). The window reads it through the helper process: the
// crash ends the helper, the window logs an error naming the file and keeps the results it
// already showed.
TEST(ExportGui, AResultsFileThatCrashesLibHdf5IsAnErrorAndTheWindowCarriesOn) {
    const std::string path = tllm::test::stories();
    if (path.empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    MainWindow w;
    ASSERT_TRUE(open_and_run(w, path, {16, 4, 2}));
    ASSERT_EQ(w.results().layers.size(), 5u);
    const double before = w.results().layers.begin()->second->measures.rel_error;

    const QString bad = QStringLiteral(TLLM_TEST_DIR "/fuzz/known_libhdf5/segv_in_H5O_msg_iterate.h5");
    const int lines = w.log()->blockCount();
    w.openResults(bad);
    ASSERT_TRUE(wait_for([&] { return w.log()->blockCount() > lines && w.log()->toPlainText().contains(bad); }, 10000));
    const QString log = w.log()->toPlainText();
    EXPECT_TRUE(log.contains(bad + QStringLiteral(": "))) << log.toStdString();
    // In a normal build libhdf5 crashes on this file (SIGSEGV, ending the helper); should its
    // heap layout ever spare it, our reader's own error names an object of the file.
    EXPECT_TRUE(log.contains(QStringLiteral("the HDF5 library failed while reading this file")) ||
                log.contains(bad + QStringLiteral(": /layers/")))
        << log.toStdString();
    ASSERT_EQ(w.results().layers.size(), 5u);
    EXPECT_EQ(w.results().layers.begin()->second->measures.rel_error, before);
    EXPECT_NE(w.model(), nullptr);
}
