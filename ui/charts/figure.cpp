#include "charts/figure.h"

#include <QBuffer>
#include <QChart>
#include <QFile>
#include <QFileInfo>
#include <QGraphicsScene>
#include <QImage>
#include <QLegend>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>
#include <QSvgGenerator>
#include <stdexcept>

namespace tllm::ui {

FigureFormat figure_format(const QString& path) {
    const QString ext = QFileInfo(path).suffix().toLower();
    if (ext == QLatin1String("png")) return FigureFormat::PNG;
    if (ext == QLatin1String("svg")) return FigureFormat::SVG;
    if (ext == QLatin1String("pdf")) return FigureFormat::PDF;
    throw std::invalid_argument(path.toStdString() + ": unknown figure format '" + ext.toStdString() +
                                "' (use .png, .svg or .pdf)");
}

QSizeF figure_logical_size(const FigureStyle& s) { return {s.width_mm / 25.4 * 96.0, s.height_mm / 25.4 * 96.0}; }

QSize figure_pixel_size(const FigureStyle& s) {
    return {qRound(s.width_mm / 25.4 * s.dpi), qRound(s.height_mm / 25.4 * s.dpi)};
}

void render_figure(const FigurePainter& paint, QPaintDevice& device, const FigureStyle& style) {
    const QSizeF logical = figure_logical_size(style);
    QPainter p(&device);
    p.setRenderHint(QPainter::Antialiasing);
    p.setRenderHint(QPainter::TextAntialiasing);
    p.scale(device.width() / logical.width(), device.height() / logical.height());
    paint(p, QRectF(QPointF(0, 0), logical));
}

namespace {
void commit(QSaveFile& f, const QString& path) {
    if (!f.commit()) throw std::runtime_error(path.toStdString() + ": cannot write: " + f.errorString().toStdString());
}
}  // namespace

void save_figure(const FigurePainter& paint, const QString& path, const FigureStyle& style) {
    const FigureFormat fmt = figure_format(path);
    const QSizeF logical = figure_logical_size(style);
    QSaveFile out(path);
    if (!out.open(QIODevice::WriteOnly))
        throw std::runtime_error(path.toStdString() + ": cannot open for writing: " + out.errorString().toStdString());
    switch (fmt) {
        case FigureFormat::PNG: {
            QImage img(figure_pixel_size(style), QImage::Format_ARGB32_Premultiplied);
            img.setDotsPerMeterX(qRound(style.dpi / 0.0254));
            img.setDotsPerMeterY(qRound(style.dpi / 0.0254));
            img.fill(Qt::white);
            render_figure(paint, img, style);
            if (!img.save(&out, "PNG")) throw std::runtime_error(path.toStdString() + ": PNG encoding failed");
            break;
        }
        case FigureFormat::SVG: {
            QSvgGenerator gen;
            gen.setOutputDevice(&out);
            gen.setSize(logical.toSize());
            gen.setViewBox(QRectF(QPointF(0, 0), logical));
            gen.setResolution(96);
            gen.setTitle(QFileInfo(path).completeBaseName());
            gen.setDescription(QStringLiteral("TensorLLM Studio figure"));
            QPainter p;
            if (!p.begin(&gen)) throw std::runtime_error(path.toStdString() + ": cannot start the SVG painter");
            p.setRenderHint(QPainter::Antialiasing);
            p.fillRect(QRectF(QPointF(0, 0), logical), Qt::white);
            paint(p, QRectF(QPointF(0, 0), logical));
            p.end();
            break;
        }
        case FigureFormat::PDF: {
            QPdfWriter pdf(&out);
            pdf.setPageSize(QPageSize(QSizeF(style.width_mm, style.height_mm), QPageSize::Millimeter));
            pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
            pdf.setResolution(style.dpi);
            pdf.setTitle(QFileInfo(path).completeBaseName());
            pdf.setCreator(QStringLiteral("TensorLLM Studio"));
            QPainter p;
            if (!p.begin(&pdf)) throw std::runtime_error(path.toStdString() + ": cannot start the PDF painter");
            p.setRenderHint(QPainter::Antialiasing);
            const double sx = pdf.width() / logical.width(), sy = pdf.height() / logical.height();
            p.scale(sx, sy);
            paint(p, QRectF(QPointF(0, 0), logical));
            p.end();
            break;
        }
    }
    commit(out, path);
}

QFont painter_font(const QPainter& p, double pt) {
    QFont f;
    const int dpi = p.device() ? p.device()->logicalDpiY() : 96;
    f.setPointSizeF(pt * 96.0 / (dpi > 0 ? dpi : 96));
    return f;
}

void style_chart(QChart* chart, const FigureStyle& style) {
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->setTheme(QChart::ChartThemeLight);
    chart->setBackgroundBrush(Qt::white);
    chart->setBackgroundRoundness(0);
    chart->setDropShadowEnabled(false);
    chart->setMargins(QMargins(4, 4, 4, 4));
    QFont f = chart->font();
    f.setPointSizeF(style.font_pt);
    QFont title = f;
    title.setPointSizeF(style.font_pt + 2);
    title.setBold(true);
    chart->setTitleFont(title);
    chart->legend()->setFont(f);
    chart->legend()->setAlignment(Qt::AlignBottom);
}

FigurePainter chart_painter(const ChartBuilder& build, const FigureStyle& style) {
    return [build, style](QPainter& p, const QRectF& rect) {
        std::unique_ptr<QChart> chart(build(style));
        chart->setAnimationOptions(QChart::NoAnimation);
        QGraphicsScene scene;
        scene.addItem(chart.get());
        chart->setGeometry(QRectF(QPointF(0, 0), rect.size()));
        scene.setSceneRect(QRectF(QPointF(0, 0), rect.size()));
        scene.render(&p, rect, scene.sceneRect());
        scene.removeItem(chart.get());
    };
}

}  // namespace tllm::ui
