#pragma once
// Building blocks of the chart builders: styled axes, a titled chart, the placeholder chart
// shown before there is data.

#include <QString>

#include "charts/figure.h"

class QAbstractAxis;
class QAbstractSeries;
class QChart;
class QLogValueAxis;
class QValueAxis;

namespace tllm::ui {

/// A linear axis over [lo, hi]: integer ticks (at most about 10) when `integer`, else nice numbers.
QValueAxis* value_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool integer = false);
/// A base-10 log axis; the range is widened to whole decades unless `exact`.
QLogValueAxis* log_axis(const QString& title, const FigureStyle& s, double lo, double hi, bool exact = false);
/// Adds `s` to `c` on axes `x` and `y` (already added to the chart).
void attach(QChart* c, QAbstractSeries* s, QAbstractAxis* x, QAbstractAxis* y);
/// A publication-styled chart with a title.
QChart* new_chart(const QString& title, const FigureStyle& s);
/// A chart without data: `message` where the data will be.
QChart* empty_chart(const QString& title, const QString& message, const FigureStyle& s);

}  // namespace tllm::ui
