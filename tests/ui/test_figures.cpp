// Every exported chart kind through the one paint path: its text keeps its size and place
// relative to the figure at any resolution (the text's bounding boxes are recorded by a paint
// device that stands in for the PNG's image), selection decorations stay on screen, a flat
// colour scale is drawn as one value, tick labels carry just enough decimals, log axes label
// every decade, and many layers get distinct colours.
#include <QChart>
#include <QImage>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPaintEngine>
#include <QPainter>
#include <QScatterSeries>
#include <QValueAxis>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "charts/chart_builders.h"
#include "charts/chart_parts.h"
#include "charts/figure.h"
#include "charts/heatmap_panel.h"
#include "charts/sweep_charts.h"
#include "main/selection.h"
#include "model/model.h"
#include "ui/ui_test_util.h"

using namespace tllm;
using namespace tllm::ui;

namespace {

// A paint device with the metrics of a PNG of `px` pixels at `dpi` whose engine records where
// each piece of text lands (device pixels) and what colour each filled rectangle has.
struct TextBox {
    QString text;
    QRectF box;
};

class RecordingEngine : public QPaintEngine {
public:
    RecordingEngine() : QPaintEngine(QPaintEngine::AllFeatures) {}
    bool begin(QPaintDevice*) override { return true; }
    bool end() override { return true; }
    void updateState(const QPaintEngineState& s) override {
        if (s.state() & QPaintEngine::DirtyBrush) brush_ = s.brush();
    }
    void drawPixmap(const QRectF&, const QPixmap&, const QRectF&) override {}
    void drawImage(const QRectF&, const QImage&, const QRectF&, Qt::ImageConversionFlags) override {}
    void drawPolygon(const QPointF*, int, PolygonDrawMode) override {}
    void drawPath(const QPainterPath&) override {}
    void drawLines(const QLineF*, int) override {}
    void drawEllipse(const QRectF&) override {}
    void drawRects(const QRectF* r, int n) override {
        for (int i = 0; i < n; ++i)
            if (brush_.style() == Qt::SolidPattern) fills.insert(brush_.color().rgb());
        (void)r;
    }
    void drawTextItem(const QPointF& p, const QTextItem& ti) override {
        if (ti.text().trimmed().isEmpty()) return;
        const QRectF box(p.x(), p.y() - ti.ascent(), ti.width(), ti.ascent() + ti.descent());
        texts.push_back({ti.text(), painter()->combinedTransform().mapRect(box)});
    }
    Type type() const override { return QPaintEngine::User; }

    std::vector<TextBox> texts;
    std::set<QRgb> fills;

private:
    QBrush brush_;
};

class RecordingDevice : public QPaintDevice {
public:
    RecordingDevice(QSize px, int dpi) : px_(px), dpi_(dpi) {}
    QPaintEngine* paintEngine() const override { return &engine_; }
    RecordingEngine& engine() const { return engine_; }

protected:
    int metric(PaintDeviceMetric m) const override {
        switch (m) {
            case PdmWidth: return px_.width();
            case PdmHeight: return px_.height();
            case PdmWidthMM: return qRound(px_.width() * 25.4 / dpi_);
            case PdmHeightMM: return qRound(px_.height() * 25.4 / dpi_);
            case PdmNumColors: return INT_MAX;
            case PdmDepth: return 32;
            case PdmDpiX:
            case PdmDpiY:
            case PdmPhysicalDpiX:
            case PdmPhysicalDpiY: return dpi_;
            case PdmDevicePixelRatio: return 1;
            case PdmDevicePixelRatioScaled: return int(QPaintDevice::devicePixelRatioFScale());
            default: return 0;
        }
    }

private:
    QSize px_;
    int dpi_;
    mutable RecordingEngine engine_;
};

struct Recording {
    QSizeF px;
    std::vector<TextBox> texts;
    std::set<QRgb> fills;
};

// Paints `paint` the way save_figure paints a PNG at `dpi`, recording the text.
Recording record(const FigurePainter& paint, FigureStyle st, int dpi) {
    st.dpi = dpi;
    RecordingDevice dev(figure_pixel_size(st), dpi);
    render_figure(paint, dev, st);
    return {QSizeF(figure_pixel_size(st)), dev.engine().texts, dev.engine().fills};
}

// Layers 0..4 of the bundled stories260K at ranks (16, 4, 2), with spectra and HOOI traces.
const ResultSet& results() {
    static std::unique_ptr<ResultSet> r;
    if (r) return *r;
    r = std::make_unique<ResultSet>();
    const std::string path = tllm::test::stories();
    if (path.empty()) return *r;
    model::Model m(path);
    r->shape = m.shape();
    jobs::JobOptions o;
    o.ranks.ranks = {16, 4, 2};
    o.threads = 1;
    for (const auto& L : m.layers())
        r->layers[L.index] = std::make_shared<const jobs::LayerResult>(jobs::run_layer(m, L.index, o, {}));
    return *r;
}

edits::SweepResult sweep() {
    edits::SweepResult s;
    tucker::RankSpec a, b;
    a.ranks = {16, 4, 2};
    b.ranks = {8, 2, 1};
    s.options.choices = {a, b};
    s.layers = {0, 1, 2, 3};
    for (int l : s.layers)
        for (int c = 0; c < 2; ++c) {
            edits::SweepPoint p;
            p.spec = {l, c, -1};
            p.label = c == 0 ? "16,4,2" : "8,2,1";
            p.status = tucker::Status::Ok;
            p.ranks = c == 0 ? a.ranks : b.ranks;
            p.weight_error = 0.3 + 0.1 * c + 0.02 * l;
            p.layer_ratio = c == 0 ? 5.9 : 15.2;
            p.model_ratio = c == 0 ? 1.05 : 1.08;
            p.delta_nll = (c + 1) * 0.01 * (l + 1) - 0.005;
            p.delta_nll_stderr = 0.001;
            s.points.push_back(p);
        }
    s.grid_size = s.points.size();
    return s;
}

std::map<QString, FigurePainter> every_figure(const FigureStyle& st) {
    const ResultSet& R = results();
    std::map<QString, FigurePainter> f;
    f[QStringLiteral("errors_per_layer")] =
        chart_painter([&R](const FigureStyle& s) { return build_error_chart(R, s); }, st);
    f[QStringLiteral("compression_per_layer")] =
        chart_painter([&R](const FigureStyle& s) { return build_compression_chart(R, s); }, st);
    f[QStringLiteral("hooi_convergence")] =
        chart_painter([&R](const FigureStyle& s) { return build_convergence_chart(R, -1, s); }, st);
    f[QStringLiteral("mode_spectra")] =
        chart_painter([&R](const FigureStyle& s) { return build_spectra_chart(R, 2, s); }, st);
    f[QStringLiteral("head_spectra")] =
        chart_painter([&R](const FigureStyle& s) { return build_head_spectra_chart(R, 2, 1, s); }, st);
    for (HeatMetric m : {HeatMetric::Error, HeatMetric::Compression})
        f[m == HeatMetric::Error ? QStringLiteral("heads_error") : QStringLiteral("heads_compression")] =
            [&R, m, st](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, m, -1, -1, st); };
    auto E = std::make_shared<ExplorerData>();
    E->layer = 2;
    if (const auto* l = R.layer(2); l && l->spectra) {
        E->grid = analysis::sweep_estimate(*l->spectra, R.shape, analysis::default_grid(R.shape, 10));
        E->current = analysis::sweep_estimate(*l->spectra, R.shape, {l->ranks}).front();
        E->has_current = true;
    }
    f[QStringLiteral("rank_explorer")] =
        chart_painter([E](const FigureStyle& s) { return build_pareto_chart(*E, s); }, st);
    auto S = std::make_shared<const edits::SweepResult>(sweep());
    f[QStringLiteral("sweep_heatmap")] = [S, st](QPainter& p, const QRectF& r) {
        paint_sweep_heatmap(p, r, *S, -1, -1, st);
    };
    f[QStringLiteral("sweep_quality")] =
        chart_painter([S](const FigureStyle& s) { return build_sweep_pareto_chart(*S, SweepRatio::Layer, -1, s); }, st);
    f[QStringLiteral("sweep_per_layer")] =
        chart_painter([S](const FigureStyle& s) { return build_sweep_layer_chart(*S, 0, -1, s); }, st);
    return f;
}

}  // namespace

TEST(ExportGui, FigureTextKeepsItsSizeAndPlaceAtAnyDpi) {
    if (tllm::test::stories().empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    FigureStyle st;
    st.width_mm = 160;
    st.height_mm = 100;
    st.font_pt = 9;
    const double pt_mm = st.font_pt * 25.4 / 72.0;
    for (const auto& [name, paint] : every_figure(st)) {
        SCOPED_TRACE(name.toStdString());
        const Recording lo = record(paint, st, 96), hi = record(paint, st, 300);
        ASSERT_GE(lo.texts.size(), 5u) << "no text recorded";
        ASSERT_EQ(lo.texts.size(), hi.texts.size());
        std::vector<double> heights_mm;
        for (std::size_t i = 0; i < lo.texts.size(); ++i) {
            const auto& a = lo.texts[i];
            const auto& b = hi.texts[i];
            ASSERT_EQ(a.text, b.text);
            // Relative to the figure: the same box at both resolutions (a pixel of slack at 96 dpi).
            const QRectF ra(a.box.x() / lo.px.width(), a.box.y() / lo.px.height(), a.box.width() / lo.px.width(),
                            a.box.height() / lo.px.height());
            const QRectF rb(b.box.x() / hi.px.width(), b.box.y() / hi.px.height(), b.box.width() / hi.px.width(),
                            b.box.height() / hi.px.height());
            const double tol_x = 1.5 / lo.px.width() + 0.04 * ra.width(),
                         tol_y = 1.5 / lo.px.height() + 0.04 * ra.height();
            EXPECT_NEAR(ra.height(), rb.height(), tol_y) << a.text.toStdString();
            EXPECT_NEAR(ra.width(), rb.width(), tol_x) << a.text.toStdString();
            EXPECT_NEAR(ra.center().x(), rb.center().x(), tol_x) << a.text.toStdString();
            EXPECT_NEAR(ra.center().y(), rb.center().y(), tol_y) << a.text.toStdString();
            heights_mm.push_back(b.box.height() / 300.0 * 25.4);
        }
        // And the size on paper is that of the font: a line of 9 pt text is about 1.1-1.4 em.
        std::sort(heights_mm.begin(), heights_mm.end());
        const double median = heights_mm[heights_mm.size() / 2];
        EXPECT_GT(median, 0.95 * pt_mm);
        EXPECT_LT(median, 1.6 * pt_mm);
    }
}

TEST(ExportGui, ExportedHeatmapsCarryNoSelection) {
    if (tllm::test::stories().empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    const ResultSet& R = results();
    FigureStyle st;
    st.dpi = 96;
    auto png = [&](const FigurePainter& paint) {
        QImage img(figure_pixel_size(st), QImage::Format_ARGB32);
        img.fill(Qt::white);
        render_figure(paint, img, st);
        return img;
    };
    Selection sel;
    sel.select(2, 3);
    HeatmapPanel panel(&R, &sel);
    const QImage exported = png(panel.figurePainter(st));
    const QImage plain =
        png([&](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, HeatMetric::Error, -1, -1, st); });
    const QImage outlined =
        png([&](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, HeatMetric::Error, 2, 3, st); });
    EXPECT_NE(outlined, plain);  // the outline is visible where it is drawn (on screen) ...
    EXPECT_EQ(exported, plain);  // ... and not in the export
}

TEST(ExportGui, AFlatColourScaleIsDrawnAsOneValue) {
    if (tllm::test::stories().empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    FigureStyle st;
    const ResultSet& R = results();
    // Uniform ranks: every head of every layer has the same compression ratio.
    const auto rec = record(
        [&](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, HeatMetric::Compression, -1, -1, st); }, st, 96);
    QStringList texts;
    for (const auto& t : rec.texts) texts << t.text;
    const QString v = QString::number(R.layers.begin()->second->measures.head_ratio, 'g', 3);
    EXPECT_EQ(texts.count(v), 1) << texts.join(QLatin1Char('|')).toStdString();
    EXPECT_TRUE(texts.contains(QStringLiteral("all equal"))) << texts.join(QLatin1Char('|')).toStdString();
    // The error heatmap's values differ: a colour bar from min to max.
    const auto err =
        record([&](QPainter& p, const QRectF& r) { paint_heatmap(p, r, R, HeatMetric::Error, -1, -1, st); }, st, 96);
    QStringList etexts;
    for (const auto& t : err.texts) etexts << t.text;
    EXPECT_FALSE(etexts.contains(QStringLiteral("all equal")));
}

TEST(ExportGui, TickLabelsCarryJustEnoughDecimals) {
    EXPECT_EQ(tick_decimals(0.60, 0.02, 6), 2);
    EXPECT_EQ(tick_decimals(0.0, 0.25, 5), 2);
    EXPECT_EQ(tick_decimals(0.0, 0.5, 5), 1);
    EXPECT_EQ(tick_decimals(0.0, 10, 5), 0);
    EXPECT_EQ(tick_decimals(0.62, 0.0005, 5), 4);
    FigureStyle st;
    std::unique_ptr<QValueAxis> a(value_axis(QStringLiteral("e"), st, 0.603, 0.641));
    EXPECT_EQ(a->labelFormat(), QStringLiteral("%.2f")) << a->min() << " " << a->max() << " " << a->tickCount();
}

TEST(ExportGui, LogAxesLabelEveryDecade) {
    FigureStyle st;
    st.dpi = 96;
    // A chart whose y axis spans 1e-3..1: labels 0.001, 0.01, 0.1 and 1.
    auto paint = chart_painter(
        [](const FigureStyle& s) {
            QChart* c = new_chart(QStringLiteral("t"), s);
            auto* x = value_axis(QStringLiteral("x"), s, 0, 1);
            auto* y = log_axis(QStringLiteral("y"), s, 2e-3, 0.9);
            c->addAxis(x, Qt::AlignBottom);
            c->addAxis(y, Qt::AlignLeft);
            auto* l = new QLineSeries;
            l->append(0, 2e-3);
            l->append(1, 0.9);
            attach(c, l, x, y);
            return c;
        },
        st);
    QStringList texts;
    for (const auto& t : record(paint, st, 96).texts) texts << t.text;
    for (const char* d : {"0.001", "0.01", "0.1", "1"})
        EXPECT_TRUE(texts.contains(QLatin1String(d)))
            << d << " missing from " << texts.join(QLatin1Char('|')).toStdString();
}

TEST(ExportGui, ManyLayersGetDistinctColoursAndMarkers) {
    std::set<QRgb> colours;
    std::set<std::pair<int, int>> styles;
    for (int i = 0; i < 10; ++i) colours.insert(series_color(i).rgb());
    EXPECT_EQ(colours.size(), 10u);
    for (int i = 0; i < 30; ++i) styles.insert({int(series_color(i).rgb()), series_marker_shape(i)});
    EXPECT_EQ(styles.size(), 30u);
    // Layers 3 and 4 (the pair the old hue wheel drew in nearly the same green) differ clearly.
    const QColor a = series_color(3), b = series_color(4);
    EXPECT_GT(std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) + std::abs(a.blue() - b.blue()), 150);
    if (tllm::test::stories().empty()) FAIL() << "tests/data/stories260K is missing from the checkout";
    FigureStyle st;
    std::unique_ptr<QChart> c(build_convergence_chart(results(), -1, st));
    int lines = 0;
    std::set<int> shapes;
    for (auto* s : c->series()) {
        if (qobject_cast<QLineSeries*>(s)) ++lines;
        if (auto* sc = qobject_cast<QScatterSeries*>(s)) shapes.insert(int(sc->markerShape()));
    }
    EXPECT_EQ(lines, int(results().layers.size()));
    EXPECT_EQ(shapes.size(), results().layers.size());
}
