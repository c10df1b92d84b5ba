// The headless report: every figure in three valid, non-blank formats, its CSV, and an
// index.html that links every file; run through the real CLI on the bundled demo model.
#include <QDir>
#include <QFile>
#include <QImage>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <cstdlib>

#include <gtest/gtest.h>

namespace {
QByteArray read_all(const QString& path) {
    QFile f(path);
    f.open(QIODevice::ReadOnly);
    return f.readAll();
}
}  // namespace

TEST(Report, DemoReportThroughTheCli) {
    QTemporaryDir dir;
    const QString out = dir.filePath(QStringLiteral("report"));
    const std::string cmd = std::string(TLLM_CLI) +
                            " report --demo --layers 0-2 --ranks 32,16,4 --dpi 120 --quiet --out '" +
                            out.toStdString() + "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const QString html = QString::fromUtf8(read_all(out + QStringLiteral("/index.html")));
    ASSERT_FALSE(html.isEmpty());
    EXPECT_TRUE(html.contains(QStringLiteral("ranks 32,16,4")));
    // The settings row is labelled by what it is, not "ranks" before "ranks 32,16,4".
    EXPECT_TRUE(html.contains(QStringLiteral("<th>rank choice</th><td>ranks 32,16,4</td>"))) << html.toStdString();
    EXPECT_FALSE(html.contains(QStringLiteral("<th>ranks</th><td>ranks")));
    // The layer table: the worst of the Q/K/V/O errors beside the layer error, slices above
    // 0.5 highlighted (at these ranks the demo's V slices lose more than half their norm).
    EXPECT_TRUE(html.contains(QStringLiteral("<th>worst slice</th>")));
    EXPECT_TRUE(html.contains(QStringLiteral("<td class=\"bad\">"))) << html.toStdString();
    EXPECT_TRUE(html.contains(QStringLiteral("<th>status</th>")));
    const QStringList files = QDir(out).entryList(QDir::Files);
    int png = 0, svg = 0, pdf = 0, csv = 0;
    for (const QString& f : files) {
        if (f == QLatin1String("index.html")) continue;
        EXPECT_TRUE(html.contains(QStringLiteral("href=\"%1\"").arg(f))) << f.toStdString() << " is not linked";
        const QByteArray data = read_all(out + QLatin1Char('/') + f);
        if (f.endsWith(QLatin1String(".png"))) {
            ++png;
            ASSERT_TRUE(data.startsWith("\x89PNG\r\n\x1a\n")) << f.toStdString();
            QImage img;
            ASSERT_TRUE(img.loadFromData(data));
            // Not blank: a good share of the pixels differ from the background.
            const QRgb bg = img.pixel(0, 0);
            int ink = 0, n = 0;
            for (int y = 0; y < img.height(); y += 3)
                for (int x = 0; x < img.width(); x += 3, ++n) ink += img.pixel(x, y) != bg;
            EXPECT_GT(double(ink) / n, 0.01) << f.toStdString() << " looks blank";
        } else if (f.endsWith(QLatin1String(".svg"))) {
            ++svg;
            EXPECT_TRUE(data.contains("<svg") && data.contains("</svg>")) << f.toStdString();
            EXPECT_GT(data.count("<path") + data.count("<polyline") + data.count("<text"), 10) << f.toStdString();
        } else if (f.endsWith(QLatin1String(".pdf"))) {
            ++pdf;
            EXPECT_TRUE(data.startsWith("%PDF-")) << f.toStdString();
            EXPECT_TRUE(data.trimmed().endsWith("%%EOF")) << f.toStdString();
            EXPECT_GT(data.size(), 2000) << f.toStdString();
        } else if (f.endsWith(QLatin1String(".csv"))) {
            ++csv;
            EXPECT_GT(data.count('\n'), 1) << f.toStdString() << " has no data rows";
        }
    }
    // 5 model-wide figures + 3 per layer (spectra, worst head, explorer) for 3 layers.
    EXPECT_EQ(png, 5 + 3 * 3);
    EXPECT_EQ(svg, png);
    EXPECT_EQ(pdf, png);
    EXPECT_EQ(csv, png);
}

TEST(Report, LayersWithWarningsSaySo) {
    QTemporaryDir dir;
    const QString out = dir.filePath(QStringLiteral("report"));
    // R1 = 64 with R2 = R3 = 1 and 4 heads: the core can use R1 <= 4 and says so.
    const std::string cmd = std::string(TLLM_CLI) +
                            " report --demo --layers 0 --ranks 64,1,1 --dpi 60 --quiet --out '" + out.toStdString() +
                            "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const QString html = QString::fromUtf8(read_all(out + QStringLiteral("/index.html")));
    EXPECT_TRUE(html.contains(
        QStringLiteral("<td class=\"warn\">warning<ul class=\"warn\"><li>ranks (64,1,1) reduced to (4,1,1)")))
        << html.toStdString();
    EXPECT_TRUE(html.contains(QStringLiteral("1 layer(s) with warnings")));
}

// A sweep added with --sweep: its three figures in every format, linked from index.html,
// from the set's results.json and from the HDF5 sweep alike.
TEST(Report, SweepFiguresFromResultsJsonAndHdf5) {
    QTemporaryDir dir;
    const std::string d = dir.path().toStdString();
    const std::string sweep = std::string(TLLM_CLI) +
                              " sweep --demo --layers 0,1 --ranks-list \"32,16,4;16,8,2\" --method hosvd" +
                              " --max-tokens 2048 --quiet --out '" + d + "/sw' --h5 '" + d + "/sw.h5' >/dev/null 2>&1";
    ASSERT_EQ(std::system(sweep.c_str()), 0);
    for (const std::string& from : {d + "/sw/results.json", d + "/sw.h5"}) {
        SCOPED_TRACE(from);
        const std::string out = d + "/rep";
        const std::string cmd = std::string(TLLM_CLI) + " report --demo --layers 0 --dpi 100 --quiet --sweep '" + from +
                                "' --out '" + out + "' >/dev/null 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        const QString html = QString::fromUtf8(read_all(QString::fromStdString(out + "/index.html")));
        for (const char* name :
             {"sweep_delta_loss_heatmap", "sweep_quality_compression", "sweep_loss_and_error_per_layer"})
            for (const char* ext : {"png", "svg", "pdf", "csv"}) {
                const QString f = QStringLiteral("%1.%2").arg(QLatin1String(name), QLatin1String(ext));
                EXPECT_TRUE(QFile::exists(QString::fromStdString(out) + QLatin1Char('/') + f)) << f.toStdString();
                EXPECT_TRUE(html.contains(QStringLiteral("href=\"%1\"").arg(f))) << f.toStdString();
            }
    }
}
