#include "panels/compare_panel.h"

#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include "charts/chart_parts.h"
#include "charts/figure_panel.h"

namespace tllm::ui {
namespace {

QString cell(double v, int prec) { return std::isnan(v) ? QStringLiteral("–") : QString::number(v, 'f', prec); }
QString ranks(const std::array<int, 3>& r, bool in) {
    return in ? QStringLiteral("%1,%2,%3").arg(r[0]).arg(r[1]).arg(r[2]) : QStringLiteral("–");
}

QTableWidget* new_table(QWidget* parent) {
    auto* t = new QTableWidget(parent);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setSelectionMode(QAbstractItemView::SingleSelection);
    t->verticalHeader()->hide();
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    return t;
}

void set_row(QTableWidget* t, int row, const QStringList& cells) {
    for (int k = 0; k < cells.size(); ++k) {
        auto* it = new QTableWidgetItem(cells[k]);
        if (k > 0) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        t->setItem(row, k, it);
    }
}

}  // namespace

ComparePanel::ComparePanel(QWidget* parent) : QWidget(parent) {
    summary_ = new QLabel(tr("Compare two results: File → Compare with… (Ctrl+Shift+C) opens a project, a "
                             "results.json or an HDF5 results file beside the results in this window."),
                          this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    metric_ = new QComboBox(this);
    metric_->addItem(tr("Relative error"), int(CompareMetric::Error));
    metric_->addItem(tr("Compression ratio"), int(CompareMetric::Ratio));
    metric_->addItem(tr("Change in loss (sweep)"), int(CompareMetric::DeltaLoss));
    diff_ = new QCheckBox(tr("Difference (B − A)"), this);
    diff_->setToolTip(tr("Show the difference of the second result minus the first instead of both overlaid"));
    layer_box_ = new QComboBox(this);
    layer_box_->setToolTip(tr("Layer of the per-head and spectra charts"));
    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Per layer:"), this));
    controls->addWidget(metric_);
    controls->addWidget(diff_);
    controls->addSpacing(16);
    controls->addWidget(new QLabel(tr("Layer:"), this));
    controls->addWidget(layer_box_);
    controls->addStretch(1);

    auto empty = [](const QString& title) {
        return [title](const FigureStyle& s) {
            return empty_chart(title, QStringLiteral("no comparison: File → Compare with…"), s);
        };
    };
    layer_chart_ = new ChartPanel(
        QStringLiteral("compare_per_layer"),
        [this, empty](const FigureStyle& s) {
            return cmp_ ? build_compare_layer_chart(*cmp_, metric(), difference(), s)
                        : empty(QStringLiteral("Per layer"))(s);
        },
        [this] { return cmp_ ? compare_layer_csv(*cmp_, metric()) : QString(); }, this);
    head_chart_ = new ChartPanel(
        QStringLiteral("compare_per_head"),
        [this, empty](const FigureStyle& s) {
            return cmp_ ? build_compare_head_chart(*cmp_, layer_, difference(), s)
                        : empty(QStringLiteral("Per head"))(s);
        },
        [this] { return cmp_ ? compare_head_csv(*cmp_, layer_) : QString(); }, this);
    spectra_chart_ = new ChartPanel(
        QStringLiteral("compare_spectra"),
        [this, empty](const FigureStyle& s) {
            return cmp_ ? build_compare_spectra_chart(*cmp_, layer_, s) : empty(QStringLiteral("Mode spectra"))(s);
        },
        [this] { return cmp_ ? compare_spectra_csv(*cmp_, layer_) : QString(); }, this);

    layer_table_ = new_table(this);
    head_table_ = new_table(this);
    sweep_table_ = new_table(this);
    auto* tables = new QTabWidget(this);
    tables->addTab(layer_table_, tr("Layers"));
    tables->addTab(head_table_, tr("Heads"));
    tables->addTab(sweep_table_, tr("Evaluation (sweep)"));

    // Two by two: the per-layer and per-head charts above, the tables and the spectra below.
    auto* top = new QSplitter(Qt::Horizontal, this);
    top->addWidget(layer_chart_);
    top->addWidget(head_chart_);
    auto* bottom = new QSplitter(Qt::Horizontal, this);
    bottom->addWidget(tables);
    bottom->addWidget(spectra_chart_);
    bottom->setStretchFactor(0, 1);
    bottom->setStretchFactor(1, 1);
    bottom->setSizes({600, 600});
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(bottom);
    auto* lay = new QVBoxLayout(this);
    lay->addWidget(summary_);
    lay->addLayout(controls);
    lay->addWidget(split, 1);

    connect(metric_, &QComboBox::currentIndexChanged, this, [this] { layer_chart_->refresh(); });
    connect(diff_, &QCheckBox::toggled, this, [this] { refreshCharts(); });
    connect(layer_box_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i >= 0) setLayer(layer_box_->itemData(i).toInt());
    });
    connect(layer_chart_, &ChartPanel::pointClicked, this,
            [this](const QString&, QPointF p) { setLayer(int(std::lround(p.x()))); });
    connect(layer_table_, &QTableWidget::cellClicked, this, [this](int row, int) {
        if (auto* it = layer_table_->item(row, 0)) setLayer(it->text().toInt());
    });
}

void ComparePanel::setComparison(std::shared_ptr<const exporting::Comparison> c) {
    cmp_ = std::move(c);
    layer_ = -1;
    {
        const QSignalBlocker block(layer_box_);
        layer_box_->clear();
        if (cmp_)
            for (const auto& r : cmp_->layers) {
                layer_box_->addItem(QString::number(r.layer), r.layer);
                if (layer_ < 0 && r.in_a && r.in_b) layer_ = r.layer;
            }
        if (layer_ < 0 && cmp_ && !cmp_->layers.empty()) layer_ = cmp_->layers.front().layer;
        layer_box_->setCurrentIndex(layer_box_->findData(layer_));
    }
    if (!cmp_) {
        summary_->setText(tr("No comparison."));
    } else {
        const auto& C = *cmp_;
        auto side = [](const exporting::CompareSide& s) {
            QString t = QStringLiteral("<b>%1</b>: %2 (%3")
                            .arg(QString::fromStdString(s.label).toHtmlEscaped(),
                                 QString::fromStdString(s.path).toHtmlEscaped(), QString::fromStdString(s.kind));
            if (!s.rank_choice.empty()) t += QStringLiteral("; ") + QString::fromStdString(s.rank_choice);
            t += QStringLiteral("; %1 layer(s)").arg(s.layers.size());
            if (s.sweep) t += QStringLiteral(", sweep of %1 points").arg(s.sweep->points.size());
            return t + QLatin1Char(')');
        };
        QString text = side(C.a) + QStringLiteral("<br>") + side(C.b) + QStringLiteral("<br>");
        const QString note = QString::fromStdString(C.checkpoint_note).toHtmlEscaped();
        text += C.verdict == exporting::CheckpointVerdict::Different
                    ? QStringLiteral("<span style='color:#b35900'><b>Different checkpoints.</b> %1</span>").arg(note)
                    : note;
        auto list = [](const std::vector<int>& v) {
            QStringList s;
            for (int l : v) s << QString::number(l);
            return s.join(QLatin1Char(','));
        };
        if (!C.only_a().empty())
            text += QStringLiteral("<br>layers only in %1: %2")
                        .arg(QString::fromStdString(C.a.label).toHtmlEscaped(), list(C.only_a()));
        if (!C.only_b().empty())
            text += QStringLiteral("<br>layers only in %1: %2")
                        .arg(QString::fromStdString(C.b.label).toHtmlEscaped(), list(C.only_b()));
        summary_->setText(text);
        diff_->setText(
            tr("Difference (%1 − %2)").arg(QString::fromStdString(C.b.label), QString::fromStdString(C.a.label)));
    }
    fillTables();
    refreshCharts();
}

void ComparePanel::setDifference(bool on) { diff_->setChecked(on); }
bool ComparePanel::difference() const { return diff_->isChecked(); }

void ComparePanel::setMetric(CompareMetric m) { metric_->setCurrentIndex(metric_->findData(int(m))); }
CompareMetric ComparePanel::metric() const { return CompareMetric(metric_->currentData().toInt()); }

void ComparePanel::setLayer(int layer) {
    if (layer == layer_) return;
    layer_ = layer;
    {
        const QSignalBlocker block(layer_box_);
        layer_box_->setCurrentIndex(layer_box_->findData(layer));
    }
    head_chart_->refresh();
    spectra_chart_->refresh();
}

void ComparePanel::refreshCharts() {
    layer_chart_->refresh();
    head_chart_->refresh();
    spectra_chart_->refresh();
}

void ComparePanel::fillTables() {
    layer_table_->clear();
    head_table_->clear();
    sweep_table_->clear();
    layer_table_->setRowCount(0);
    head_table_->setRowCount(0);
    sweep_table_->setRowCount(0);
    if (!cmp_) return;
    const auto& C = *cmp_;
    const QString A = QString::fromStdString(C.a.label), B = QString::fromStdString(C.b.label);
    const QString D = QStringLiteral("%1 − %2").arg(B, A);
    layer_table_->setColumnCount(12);
    layer_table_->setHorizontalHeaderLabels({tr("layer"), tr("ranks %1").arg(A), tr("ranks %1").arg(B),
                                             tr("error %1").arg(A), tr("error %1").arg(B), tr("error %1").arg(D),
                                             tr("ratio %1").arg(A), tr("ratio %1").arg(B), tr("ratio %1").arg(D),
                                             tr("Δloss %1").arg(A), tr("Δloss %1").arg(B), tr("Δloss %1").arg(D)});
    layer_table_->setRowCount(int(C.layers.size()));
    for (std::size_t i = 0; i < C.layers.size(); ++i) {
        const auto& r = C.layers[i];
        QString ra = ranks(r.ranks_a, r.in_a), rb = ranks(r.ranks_b, r.in_b);
        if (!r.in_a && r.status_a != "absent") ra = QString::fromStdString(r.status_a);
        if (!r.in_b && r.status_b != "absent") rb = QString::fromStdString(r.status_b);
        set_row(layer_table_, int(i),
                {QString::number(r.layer), ra, rb, cell(r.error_a, 5), cell(r.error_b, 5), cell(r.error_diff(), 5),
                 cell(r.ratio_a, 2), cell(r.ratio_b, 2), cell(r.ratio_diff(), 2), cell(r.delta_nll_a, 5),
                 cell(r.delta_nll_b, 5), cell(r.delta_nll_diff(), 5)});
    }
    head_table_->setColumnCount(5);
    head_table_->setHorizontalHeaderLabels(
        {tr("layer"), tr("head"), tr("error %1").arg(A), tr("error %1").arg(B), tr("error %1").arg(D)});
    head_table_->setRowCount(int(C.heads.size()));
    for (std::size_t i = 0; i < C.heads.size(); ++i) {
        const auto& h = C.heads[i];
        set_row(head_table_, int(i),
                {QString::number(h.layer), QString::number(h.head), cell(h.error_a, 5), cell(h.error_b, 5),
                 cell(h.error_diff(), 5)});
    }
    sweep_table_->setColumnCount(14);
    sweep_table_->setHorizontalHeaderLabels(
        {tr("layer"), tr("edit"), tr("Δloss %1").arg(A), tr("Δloss %1").arg(B), tr("Δloss %1").arg(D),
         tr("KL %1").arg(A), tr("KL %1").arg(B), tr("KL %1").arg(D), tr("top-1 %1").arg(A), tr("top-1 %1").arg(B),
         tr("top-1 %1").arg(D), tr("Δacc %1").arg(A), tr("Δacc %1").arg(B), tr("Δacc %1").arg(D)});
    sweep_table_->setRowCount(int(C.sweep.size()));
    for (std::size_t i = 0; i < C.sweep.size(); ++i) {
        const auto& r = C.sweep[i];
        set_row(sweep_table_, int(i),
                {QString::number(r.layer), QString::fromStdString(r.label + " (" + r.method + ")"),
                 cell(r.delta_nll_a, 5), cell(r.delta_nll_b, 5), cell(r.delta_nll_diff(), 5), cell(r.kl_mean_a, 5),
                 cell(r.kl_mean_b, 5), cell(r.kl_mean_diff(), 5), cell(r.top1_a, 4), cell(r.top1_b, 4),
                 cell(r.top1_diff(), 4), cell(r.delta_acc_a, 4), cell(r.delta_acc_b, 4), cell(r.delta_acc_diff(), 4)});
    }
}

}  // namespace tllm::ui
