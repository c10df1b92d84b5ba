#pragma once
// Building blocks of the chart builders: styled axes, a titled chart, the placeholder chart
// shown before there is data.

#include <QColor>
#include <QString>

#include "charts/figure.h"

class QAbstractAxis;
class QAbstractSeries;
class QChart;
class QLogValueAxis;
class QValueAxis;

namespace tllm::ui {

/// A linear axis over [lo, hi]: integer ticks (at most about 10) when `integer`, else nice
/// numbers labelled with just enough decimals (tick_decimals), also after a zoom.
QValueAxis* value_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool integer = false);
/// A base-10 log axis; the range is widened to whole decades unless `exact`. Every decade in
/// the range is labelled, the lower edge's included.
QLogValueAxis* log_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool exact = false);
/// The fewest decimals that write every tick of a linear axis (first tick `lo`, `count` ticks
/// `step` apart) exactly; for steps that no short decimal writes, enough to tell them apart.
int tick_decimals(double lo, double step, int count);
/// The i-th colour of a qualitative palette (Tableau 10, colour-blind-safe order); with
/// distinct line styles and marker shapes beyond (series_line_style, series_marker_shape).
QColor series_color(int i);
Qt::PenStyle series_line_style(int i);
int series_marker_shape(int i);  ///< a QScatterSeries::MarkerShape
/// Adds `s` to `c` on axes `x` and `y` (already added to the chart).
void attach(QChart* c, QAbstractSeries* s, QAbstractAxis* x, QAbstractAxis* y);
/// A publication-styled chart with a title.
QChart* new_chart(const QString& title, const FigureStyle& s);
/// A chart without data: `message` where the data will be.
QChart* empty_chart(const QString& title, const QString& message, const FigureStyle& s);

}  // namespace tllm::ui
