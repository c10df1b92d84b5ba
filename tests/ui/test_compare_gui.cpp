// The Compare tab, offscreen: two results made by `tensorllm decompose` of the bundled demo
// model opened side by side; the overlaid per-layer and per-head charts carry each side's
// values from its own results.json, the difference mode shows B − A; two runs held in the
// window compare too; a missing file is an error naming it.
#include <QAbstractSeries>
#include <QApplication>
#include <QChart>
#include <QCheckBox>
#include <QLabel>
#include <QTabWidget>
#include <QTableWidget>
#include <QXYSeries>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "charts/figure_panel.h"
#include "main/main_window.h"
#include "panels/compare_panel.h"
#include "panels/run_panel.h"
#include "results/sweep_tables.h"
#include "util/json_checksum.h"
#include "support/test_util.h"
#include "ui/ui_test_util.h"

using namespace tllm;
using namespace tllm::ui;
using tllm::test::wait_for;

namespace {

int run_cli(const std::string& args) {
    const int st = std::system((std::string(TLLM_CLI) + " " + args + " >/dev/null 2>&1").c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
}

const nlohmann::json& layer_of(const nlohmann::json& doc, int layer) {
    for (const auto& l : doc["layers"])
        if (l["layer"] == layer) return l;
    throw std::runtime_error("layer missing");
}

QXYSeries* named(ChartPanel* p, const QString& name) {
    for (auto* s : p->chart()->series())
        if (s->name() == name) return qobject_cast<QXYSeries*>(s);
    return nullptr;
}

QStringList names(ChartPanel* p) {
    QStringList n;
    for (auto* s : p->chart()->series())
        if (!s->name().isEmpty()) n << s->name();
    return n;
}

}  // namespace

TEST(CompareGui, TwoResultsOverlaidAndTheirDifference) {
    test::TempDir dir;
    const std::string a = dir.file("a"), b = dir.file("b"), bh5 = dir.file("b.h5");
    ASSERT_EQ(run_cli("decompose --demo --layers 0-2 --ranks 32,16,4 --quiet --out " + a), 0);
    ASSERT_EQ(run_cli("decompose --demo --layers 1-3 --ranks 16,8,2 --quiet --out " + b + " --h5 " + bh5), 0);
    const auto ja = read_json(a + "/results.json"), jb = read_json(b + "/results.json");

    MainWindow w;
    QString error = QStringLiteral("(none)");
    QObject::connect(&w, &MainWindow::comparisonFinished, [&](const QString& e) { error = e; });
    w.compareFiles(QString::fromStdString(a), QString::fromStdString(bh5));
    ASSERT_TRUE(wait_for([&] { return error != QStringLiteral("(none)"); }, 30000));
    ASSERT_TRUE(error.isEmpty()) << error.toStdString();
    ComparePanel* cp = w.comparePanel();
    EXPECT_EQ(w.tabs()->currentWidget(), cp);
    ASSERT_NE(cp->comparison(), nullptr);

    // Overlaid: a series per side, named by the sides' labels (the file names), each with the
    // points of the layers it has.
    EXPECT_FALSE(cp->difference());
    EXPECT_EQ(names(cp->layerChart()), (QStringList{QStringLiteral("a"), QStringLiteral("b")}));
    auto* sa = named(cp->layerChart(), QStringLiteral("a"));
    auto* sb = named(cp->layerChart(), QStringLiteral("b"));
    ASSERT_TRUE(sa && sb);
    ASSERT_EQ(sa->count(), 3);
    ASSERT_EQ(sb->count(), 3);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(sa->at(i).x(), i);
        EXPECT_EQ(sa->at(i).y(), layer_of(ja, i)["rel_error"].get<double>());
        EXPECT_EQ(sb->at(i).x(), i + 1);
        EXPECT_EQ(sb->at(i).y(), layer_of(jb, i + 1)["rel_error"].get<double>());
    }
    // Per head, for the first layer in both (1).
    EXPECT_EQ(cp->layer(), 1);
    auto* ha = named(cp->headChart(), QStringLiteral("a"));
    auto* hb = named(cp->headChart(), QStringLiteral("b"));
    ASSERT_TRUE(ha && hb);
    ASSERT_EQ(ha->count(), 4);
    for (int h = 0; h < 4; ++h) {
        EXPECT_EQ(ha->at(h).y(), layer_of(ja, 1)["head_error"][std::size_t(h)].get<double>());
        EXPECT_EQ(hb->at(h).y(), layer_of(jb, 1)["head_error"][std::size_t(h)].get<double>());
    }
    // Spectra of both with their rank cuts: a legend entry per mode with both ranks (A | B).
    const QStringList sn = names(cp->spectraChart());
    ASSERT_EQ(sn.size(), 3) << sn.join(QLatin1Char('|')).toStdString();
    EXPECT_TRUE(sn[0].startsWith(QStringLiteral("d: 32 ("))) << sn[0].toStdString();
    EXPECT_TRUE(sn[0].contains(QStringLiteral("%) | 16 ("))) << sn[0].toStdString();
    EXPECT_TRUE(sn[1].startsWith(QStringLiteral("head_dim: 16 ("))) << sn[1].toStdString();
    EXPECT_TRUE(sn[2].startsWith(QStringLiteral("QKVO: 4 ("))) << sn[2].toStdString();
    EXPECT_EQ(cp->spectraChart()->chart()->series().size(), 12);  // a curve and a rank-cut marker per mode and side

    // Difference: one series B − A at the layers both have.
    cp->setDifference(true);
    auto* d = named(cp->layerChart(), QStringLiteral("b − a"));
    ASSERT_NE(d, nullptr) << names(cp->layerChart()).join(QLatin1Char('|')).toStdString();
    ASSERT_EQ(d->count(), 2);
    for (int i = 0; i < 2; ++i) {
        const int l = i + 1;
        EXPECT_EQ(d->at(i).x(), l);
        EXPECT_EQ(d->at(i).y(),
                  layer_of(jb, l)["rel_error"].get<double>() - layer_of(ja, l)["rel_error"].get<double>());
        EXPECT_GT(d->at(i).y(), 0);  // lower ranks, larger error
    }
    auto* hd = named(cp->headChart(), QStringLiteral("b − a"));
    ASSERT_NE(hd, nullptr);
    EXPECT_EQ(hd->count(), 4);
    // Another layer from the table.
    cp->setLayer(2);
    hd = named(cp->headChart(), QStringLiteral("b − a"));
    ASSERT_NE(hd, nullptr);
    EXPECT_EQ(hd->at(0).y(),
              layer_of(jb, 2)["head_error"][0].get<double>() - layer_of(ja, 2)["head_error"][0].get<double>());

    // The tables side by side; the summary names the layers only in one side.
    EXPECT_EQ(cp->layerTable()->rowCount(), 4);
    EXPECT_EQ(cp->layerTable()->item(0, 2)->text(), QStringLiteral("–"));
    EXPECT_EQ(cp->headTable()->rowCount(), 8);
    EXPECT_TRUE(cp->summary()->text().contains(QStringLiteral("layers only in a: 0")))
        << cp->summary()->text().toStdString();
    EXPECT_TRUE(cp->summary()->text().contains(QStringLiteral("layers only in b: 3")));

    // A missing file: an error naming it; the comparison shown stays.
    const QString missing = QString::fromStdString(dir.file("missing.h5"));
    error = QStringLiteral("(none)");
    w.compareFiles(QString::fromStdString(a), missing);
    ASSERT_TRUE(wait_for([&] { return error != QStringLiteral("(none)"); }, 30000));
    EXPECT_TRUE(error.contains(missing)) << error.toStdString();
    EXPECT_NE(cp->comparison(), nullptr);
}

TEST(CompareGui, TwoRunsHeldInTheWindow) {
    const std::string demo = std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2";
    MainWindow w;
    QString error = QStringLiteral("(none)");
    QObject::connect(&w, &MainWindow::comparisonFinished, [&](const QString& e) { error = e; });
    // Nothing yet: a clear refusal.
    EXPECT_FALSE(w.compareWithPrevious());
    EXPECT_FALSE(error.isEmpty());
    w.openModel(QString::fromStdString(demo));
    ASSERT_TRUE(wait_for([&] { return w.model() != nullptr; }, 20000));
    std::map<int, double> first;
    for (auto r : {std::array<int, 3>{32, 16, 4}, std::array<int, 3>{8, 8, 2}}) {
        w.runPanel()->setRanks(r);
        ASSERT_TRUE(w.startRun());
        ASSERT_TRUE(wait_for([&] { return !w.running(); }, 60000));
        QCoreApplication::processEvents();
        if (first.empty())
            for (const auto& [l, res] : w.results().layers) first[l] = res->measures.rel_error;
    }
    ASSERT_FALSE(first.empty());
    error = QStringLiteral("(none)");
    ASSERT_TRUE(w.compareWithPrevious());
    ASSERT_TRUE(wait_for([&] { return error != QStringLiteral("(none)"); }, 30000));
    ASSERT_TRUE(error.isEmpty()) << error.toStdString();
    auto* cp = w.comparePanel();
    auto* prev = named(cp->layerChart(), QStringLiteral("previous run"));
    auto* last = named(cp->layerChart(), QStringLiteral("latest run"));
    ASSERT_TRUE(prev && last);
    ASSERT_EQ(prev->count(), int(first.size()));
    int i = 0;
    for (const auto& [l, e] : first) {
        EXPECT_EQ(prev->at(i).x(), l);
        EXPECT_EQ(prev->at(i).y(), e);
        EXPECT_EQ(last->at(i).y(), w.results().layer(l)->measures.rel_error);
        ++i;
    }
    // The window's own checkpoint on both sides: the same fingerprint and path.
    EXPECT_EQ(cp->comparison()->verdict, exporting::CheckpointVerdict::Same);

    // The window against its own project file as saved: the same numbers, B − A = 0; the
    // project stores no fingerprint, so the checkpoint is named but not verified.
    test::TempDir dir;
    const QString project = QString::fromStdString(dir.file("p.tllm.json"));
    ASSERT_TRUE(w.saveProject(project));
    error = QStringLiteral("(none)");
    w.compareWith(project);
    ASSERT_TRUE(wait_for([&] { return error != QStringLiteral("(none)"); }, 30000));
    ASSERT_TRUE(error.isEmpty()) << error.toStdString();
    const auto* c = cp->comparison();
    EXPECT_EQ(c->b.kind, "project");
    ASSERT_EQ(c->layers.size(), w.results().layers.size());
    for (const auto& r : c->layers) {
        EXPECT_TRUE(r.in_a && r.in_b);
        EXPECT_EQ(r.error_diff(), 0.0);
        EXPECT_EQ(r.error_b, w.results().layer(r.layer)->measures.rel_error);
    }
    EXPECT_EQ(c->verdict, exporting::CheckpointVerdict::Unknown);
}

TEST(CompareGui, EvaluationSweepsSideBySide) {
    // Two sweep sets as `tensorllm sweep --out` writes them, with known values.
    test::TempDir dir;
    auto write = [&](const std::string& name, double d1, double d2) {
        edits::SweepResult r;
        r.model_path = "/models/m";
        r.model_type = "gpt2";
        tucker::RankSpec fixed;
        fixed.ranks = {8, 4, 2};
        r.options.choices = {fixed};
        r.options.layers = r.layers = {1, 2};
        r.baseline.ppl.mean_nll = 2.0;
        for (int l : {1, 2}) {
            edits::SweepPoint p;
            p.spec = {l, 0, -1};
            p.label = "8,4,2";
            p.status = tucker::Status::Ok;
            p.ranks = {8, 4, 2};
            p.delta_nll = l == 1 ? d1 : d2;
            p.mean_nll = 2.0 + p.delta_nll;
            p.kl_mean = 0.01;
            p.top1_agreement = 0.95;
            r.points.push_back(p);
        }
        r.grid_size = 2;
        auto j = exporting::sweep_json(r);
        util::add_json_checksum(j);
        std::ofstream(dir.file(name)) << j.dump(1);
        return QString::fromStdString(dir.file(name));
    };
    const QString a = write("base.json", 0.25, 0.5), b = write("tuned.json", 0.125, 0.75);
    MainWindow w;
    QString error = QStringLiteral("(none)");
    QObject::connect(&w, &MainWindow::comparisonFinished, [&](const QString& e) { error = e; });
    w.compareFiles(a, b);
    ASSERT_TRUE(wait_for([&] { return error != QStringLiteral("(none)"); }, 30000));
    ASSERT_TRUE(error.isEmpty()) << error.toStdString();
    auto* t = w.comparePanel()->sweepTable();
    ASSERT_EQ(t->rowCount(), 2);
    EXPECT_EQ(t->item(0, 0)->text(), QStringLiteral("1"));
    EXPECT_EQ(t->item(0, 2)->text(), QStringLiteral("0.25000"));
    EXPECT_EQ(t->item(0, 3)->text(), QStringLiteral("0.12500"));
    EXPECT_EQ(t->item(0, 4)->text(), QStringLiteral("-0.12500"));  // B − A
    EXPECT_EQ(t->item(1, 4)->text(), QStringLiteral("0.25000"));
    EXPECT_TRUE(t->horizontalHeaderItem(4)->text().contains(QStringLiteral("tuned − base")));
    EXPECT_EQ(w.comparePanel()->layerTable()->rowCount(), 0);
}
