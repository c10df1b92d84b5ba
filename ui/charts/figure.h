#pragma once
// One paint path for every figure: a figure is a function that paints into a rectangle. The
// window paints it on screen; save_figure() paints it into a PNG (QImage at any DPI), an SVG
// (QSvgGenerator) or a PDF (QPdfWriter, page size in mm). No dialog is opened here, so the
// headless CLI report uses exactly the same code.

#include <functional>
#include <memory>

#include <QRectF>
#include <QString>

class QChart;
class QFont;
class QPainter;
class QPaintDevice;

namespace tllm::ui {

/// Publication settings of an exported figure.
struct FigureStyle {
    double width_mm = 160;   ///< figure width on paper
    double height_mm = 100;  ///< figure height on paper
    int dpi = 300;           ///< raster resolution for PNG
    double font_pt = 9;      ///< base font size in points (titles +2)
    /// On screen: interactive decorations (the selected layer, head or cell) are drawn.
    /// Exported figures leave them out.
    bool screen = false;
};

/// Paints a figure into `rect` (logical units: 1/96 inch).
using FigurePainter = std::function<void(QPainter&, const QRectF&)>;
/// Builds a fresh QChart for a figure (the caller owns it).
using ChartBuilder = std::function<QChart*(const FigureStyle&)>;

enum class FigureFormat { PNG, SVG, PDF };
/// From the file extension (.png, .svg, .pdf); throws std::invalid_argument otherwise.
FigureFormat figure_format(const QString& path);

/// Logical size (1/96 inch units) of a figure of `style`.
QSizeF figure_logical_size(const FigureStyle& style);
/// Size in pixels of the PNG of a figure of `style` (its size on paper at style.dpi).
QSize figure_pixel_size(const FigureStyle& style);

/// Paints `paint` over the whole of `device` (a PNG's image, or any raster-like device of
/// figure_pixel_size()): the painter is scaled from logical units to the device's pixels.
/// What save_figure does for a PNG.
void render_figure(const FigurePainter& paint, QPaintDevice& device, const FigureStyle& style);

/// Renders `paint` to `path` (format from the extension), written to a temporary file and
/// renamed. Throws std::runtime_error naming the file on failure.
void save_figure(const FigurePainter& paint, const QString& path, const FigureStyle& style);

/// A painter that lays out a freshly built chart offscreen (QGraphicsScene, no animation)
/// at the rectangle's size and renders it: what works without a display.
FigurePainter chart_painter(const ChartBuilder& build, const FigureStyle& style);

/// A font of `pt` points on paper for a painter working in logical units (1/96 inch), as the
/// figures' painters do: the size is corrected for the device's resolution, so text keeps
/// its size on screen and in a PNG at any DPI, an SVG and a PDF.
QFont painter_font(const QPainter& p, double pt);

/// Applies the publication style to a chart: white background, no drop shadow, margins,
/// fonts in points, legend at the bottom, no animation.
void style_chart(QChart* chart, const FigureStyle& style);

}  // namespace tllm::ui
