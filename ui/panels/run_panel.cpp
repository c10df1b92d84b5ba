#include "panels/run_panel.h"

#include <algorithm>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScopedValueRollback>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTableWidget>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "analysis/compression.h"
#include "analysis/measures.h"
#include "analysis/ranks.h"
#include "util/layer_list.h"

namespace tllm::ui {
namespace {

// A rank control. The arrows stay within the mode's size, but a typed value is kept as typed:
// a QSpinBox whose maximum is the mode's size drops the keystroke that takes it past it (99
// typed into a box of at most 64 became 9). A value above the size is refused with a message
// (RunPanel::rankRefusal) instead, never changed behind the user's back.
class RankSpinBox : public QSpinBox {
public:
    explicit RankSpinBox(QWidget* parent) : QSpinBox(parent) { setRange(1, 99999); }
    void setLimit(int limit) { limit_ = std::max(1, limit); }
    int limit() const { return limit_; }
    void stepBy(int steps) override { setValue(std::clamp(value() + steps, 1, limit_)); }

protected:
    StepEnabled stepEnabled() const override {
        StepEnabled e = StepNone;
        if (value() > 1) e |= StepDownEnabled;
        if (value() < limit_) e |= StepUpEnabled;
        return e;
    }

private:
    int limit_ = 1;
};

int rank_limit(const QSpinBox* b) { return static_cast<const RankSpinBox*>(b)->limit(); }

QString triple(const std::array<int, 3>& r) { return QStringLiteral("(%1, %2, %3)").arg(r[0]).arg(r[1]).arg(r[2]); }

const QColor kWarnColour(166, 84, 0);
const QColor kBadColour(176, 0, 32);

}  // namespace

RunPanel::RunPanel(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(4, 4, 4, 4);

    auto* layers_box = new QGroupBox(tr("Layers"), this);
    auto* lb = new QVBoxLayout(layers_box);
    layer_edit_ = new QLineEdit(layers_box);
    layer_edit_->setPlaceholderText(tr("all, or e.g. 0-3,7"));
    layer_edit_->setToolTip(tr("Layer selection: 'all', indices and ranges (0-3,7). Press Enter to apply."));
    layer_list_ = new QTreeWidget(layers_box);
    layer_list_->setHeaderLabels({tr("Layer"), tr("Status"), tr("Error"), tr("Worst Q/K/V/O")});
    layer_list_->headerItem()->setToolTip(2, tr("Relative error of the layer ||W - Ŵ||_F / ||W||_F"));
    layer_list_->headerItem()->setToolTip(
        3, tr("The largest of the layer's Q, K, V and O errors; above %1 (more than half of the slice's norm lost) "
              "it is marked !")
               .arg(analysis::kSliceErrorWarning));
    layer_list_->setRootIsDecorated(false);
    layer_list_->setUniformRowHeights(true);
    for (int c = 0; c < 4; ++c) layer_list_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    layer_list_->setMinimumHeight(110);
    auto* sel_row = new QHBoxLayout;
    auto* all = new QPushButton(tr("All"), layers_box);
    auto* none = new QPushButton(tr("None"), layers_box);
    sel_row->addWidget(layer_edit_, 1);
    sel_row->addWidget(all);
    sel_row->addWidget(none);
    lb->addLayout(sel_row);
    lb->addWidget(layer_list_, 1);
    lay->addWidget(layers_box, 1);

    auto* ranks_box = new QGroupBox(tr("Ranks"), this);
    auto* rb = new QVBoxLayout(ranks_box);
    mode_ = new QComboBox(ranks_box);
    mode_->addItems(
        {tr("Fixed ranks (R1, R2, R3)"), tr("Error tolerance ε (guaranteed)"), tr("Target compression ratio")});
    rb->addWidget(mode_);
    mode_stack_ = new QStackedWidget(ranks_box);
    auto* fixed = new QWidget(mode_stack_);
    auto* fl = new QVBoxLayout(fixed);
    fl->setContentsMargins(0, 0, 0, 0);
    auto* rrow = new QHBoxLayout;
    const char* names[3] = {"R1 (d)", "R2 (head_dim)", "R3 (QKVO)"};
    for (int n = 0; n < 3; ++n) {
        r_[n] = new RankSpinBox(fixed);
        r_[n]->setToolTip(tr("Rank of mode %1: %2").arg(n + 1).arg(QLatin1String(names[n])));
        rrow->addWidget(new QLabel(QLatin1String(names[n]), fixed));
        rrow->addWidget(r_[n], 1);
    }
    fl->addLayout(rrow);
    rank_msg_ = new QLabel(fixed);
    rank_msg_->setWordWrap(true);
    rank_msg_->setTextFormat(Qt::RichText);
    rank_msg_->hide();
    fl->addWidget(rank_msg_);
    overrides_ = new QTableWidget(0, 4, fixed);
    overrides_->setHorizontalHeaderLabels({tr("layer"), tr("R1"), tr("R2"), tr("R3")});
    overrides_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    overrides_->verticalHeader()->hide();
    overrides_->setMaximumHeight(90);
    overrides_->setToolTip(tr("Per-layer overrides of the global ranks"));
    auto* orow = new QHBoxLayout;
    auto* add = new QPushButton(tr("Add override"), fixed);
    auto* rem = new QPushButton(tr("Remove"), fixed);
    orow->addWidget(add);
    orow->addWidget(rem);
    orow->addStretch(1);
    fl->addWidget(overrides_);
    fl->addLayout(orow);
    mode_stack_->addWidget(fixed);
    tol_ = new QDoubleSpinBox(mode_stack_);
    tol_->setRange(0.001, 1.0);
    tol_->setDecimals(3);
    tol_->setSingleStep(0.01);
    tol_->setValue(0.2);
    tol_->setPrefix(QStringLiteral("ε = "));
    mode_stack_->addWidget(tol_);
    ratio_ = new QDoubleSpinBox(mode_stack_);
    ratio_->setRange(1.0, 100000.0);
    ratio_->setDecimals(2);
    ratio_->setValue(10.0);
    ratio_->setSuffix(QStringLiteral(" ×"));
    mode_stack_->addWidget(ratio_);
    rb->addWidget(mode_stack_);
    lay->addWidget(ranks_box);

    auto* method_box = new QGroupBox(tr("Method"), this);
    auto* mf = new QFormLayout(method_box);
    method_ = new QComboBox(method_box);
    method_->addItems({QStringLiteral("HOOI"), QStringLiteral("ST-HOSVD"), QStringLiteral("HOSVD")});
    init_ = new QComboBox(method_box);
    init_->addItems({QStringLiteral("ST-HOSVD"), QStringLiteral("HOSVD")});
    iters_ = new QSpinBox(method_box);
    iters_->setRange(0, 10000);
    iters_->setValue(100);
    hooi_tol_ = new QDoubleSpinBox(method_box);
    hooi_tol_->setDecimals(8);
    hooi_tol_->setRange(0, 1);
    hooi_tol_->setValue(1e-4);
    hooi_tol_->setSingleStep(1e-5);
    threads_ = new QSpinBox(method_box);
    threads_->setRange(0, 256);
    threads_->setSpecialValueText(tr("all cores"));
    mf->addRow(tr("Algorithm"), method_);
    mf->addRow(tr("HOOI initialisation"), init_);
    mf->addRow(tr("HOOI max iterations"), iters_);
    mf->addRow(tr("HOOI stop when Δerror <"), hooi_tol_);
    mf->addRow(tr("Threads"), threads_);
    lay->addWidget(method_box);

    preview_ = new QLabel(this);
    preview_->setWordWrap(true);
    preview_->setTextFormat(Qt::RichText);
    lay->addWidget(preview_);
    auto* brow = new QHBoxLayout;
    run_ = new QPushButton(tr("&Run"), this);
    run_->setToolTip(tr("Decompose the selected layers (Ctrl+R)"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setToolTip(tr("Cancel the running decomposition (Esc)"));
    cancel_->setEnabled(false);
    brow->addWidget(run_, 1);
    brow->addWidget(cancel_);
    lay->addLayout(brow);

    connect(mode_, &QComboBox::currentIndexChanged, mode_stack_, &QStackedWidget::setCurrentIndex);
    connect(mode_, &QComboBox::currentIndexChanged, this, &RunPanel::updatePreview);
    for (int n = 0; n < 3; ++n)
        connect(r_[n], &QSpinBox::valueChanged, this, [this] {
            updatePreview();
            Q_EMIT ranksChanged(ranks());
        });
    for (auto* sb : {tol_, ratio_, hooi_tol_})
        connect(sb, &QDoubleSpinBox::valueChanged, this, &RunPanel::updatePreview);
    for (auto* sb : {iters_, threads_}) connect(sb, &QSpinBox::valueChanged, this, &RunPanel::updatePreview);
    connect(method_, &QComboBox::currentIndexChanged, this, [this] {
        const bool hooi = method_->currentIndex() == 0;
        init_->setEnabled(hooi);
        iters_->setEnabled(hooi);
        hooi_tol_->setEnabled(hooi);
        updatePreview();
    });
    connect(overrides_, &QTableWidget::cellChanged, this, &RunPanel::updatePreview);
    connect(add, &QPushButton::clicked, this, [this] {
        const int row = overrides_->rowCount();
        overrides_->insertRow(row);
        const auto r = ranks();
        const QStringList vals{QStringLiteral("0"), QString::number(r[0]), QString::number(r[1]),
                               QString::number(r[2])};
        for (int c = 0; c < 4; ++c) overrides_->setItem(row, c, new QTableWidgetItem(vals[c]));
        updatePreview();
    });
    connect(rem, &QPushButton::clicked, this, [this] {
        if (overrides_->currentRow() >= 0) overrides_->removeRow(overrides_->currentRow());
        updatePreview();
    });
    connect(layer_edit_, &QLineEdit::editingFinished, this, &RunPanel::applyLayerText);
    connect(layer_list_, &QTreeWidget::itemChanged, this, [this] {
        if (syncing_) return;
        syncing_ = true;
        layer_edit_->setText(QString::fromStdString(util::format_layer_list(checkedLayers())));
        syncing_ = false;
        updatePreview();
    });
    connect(all, &QPushButton::clicked, this, [this] {
        layer_edit_->setText(QStringLiteral("all"));
        applyLayerText();
    });
    connect(none, &QPushButton::clicked, this, [this] {
        layer_edit_->clear();
        syncing_ = true;
        for (int i = 0; i < layer_list_->topLevelItemCount(); ++i)
            layer_list_->topLevelItem(i)->setCheckState(0, Qt::Unchecked);
        syncing_ = false;
        updatePreview();
    });
    connect(run_, &QPushButton::clicked, this, &RunPanel::runRequested);
    connect(cancel_, &QPushButton::clicked, this, &RunPanel::cancelRequested);
    setModel(nullptr);
}

void RunPanel::setModel(std::shared_ptr<const model::Model> m) {
    model_ = std::move(m);
    syncing_ = true;
    layer_list_->clear();
    if (model_) {
        const auto& S = model_->shape();
        const int lim[3] = {S.d, S.dv, 4};
        // Defaults: a moderate compression that keeps the structure visible.
        const int def[3] = {std::max(1, S.d / 4), std::max(1, S.dv / 2), 4};
        for (int n = 0; n < 3; ++n) {
            QSignalBlocker b(r_[n]);
            static_cast<RankSpinBox*>(r_[n])->setLimit(lim[n]);
            r_[n]->setValue(std::min(def[n], lim[n]));
            r_[n]->setToolTip(tr("Rank of mode %1 (%2): 1 to %3")
                                  .arg(n + 1)
                                  .arg(QLatin1String(n == 0   ? "d"
                                                     : n == 1 ? "head_dim"
                                                              : "QKVO"))
                                  .arg(lim[n]));
        }
        for (const auto& L : model_->layers()) {
            auto* item = new QTreeWidgetItem(layer_list_, {tr("layer %1").arg(L.index), QString()});
            item->setData(0, Qt::UserRole, L.index);
            item->setCheckState(0, Qt::Checked);
        }
        layer_edit_->setText(QStringLiteral("all"));
    }
    syncing_ = false;
    setEnabled(model_ != nullptr);
    updatePreview();
    if (model_) Q_EMIT ranksChanged(ranks());
}

void RunPanel::applyLayerText() {
    if (syncing_ || !model_) return;
    std::vector<int> wanted;
    try {
        wanted = util::parse_layer_list(layer_edit_->text().trimmed().toStdString());
    } catch (const std::exception& e) {
        preview_->setText(QStringLiteral("<span style='color:#b00020'>%1</span>")
                              .arg(QString::fromStdString(e.what()).toHtmlEscaped()));
        run_->setEnabled(false);
        return;
    }
    const bool all = wanted.empty();
    syncing_ = true;
    for (int i = 0; i < layer_list_->topLevelItemCount(); ++i) {
        auto* item = layer_list_->topLevelItem(i);
        const int l = item->data(0, Qt::UserRole).toInt();
        item->setCheckState(
            0, all || std::find(wanted.begin(), wanted.end(), l) != wanted.end() ? Qt::Checked : Qt::Unchecked);
    }
    syncing_ = false;
    updatePreview();
}

std::vector<int> RunPanel::checkedLayers() const {
    std::vector<int> out;
    for (int i = 0; i < layer_list_->topLevelItemCount(); ++i)
        if (layer_list_->topLevelItem(i)->checkState(0) == Qt::Checked)
            out.push_back(layer_list_->topLevelItem(i)->data(0, Qt::UserRole).toInt());
    return out;
}

std::array<int, 3> RunPanel::ranks() const { return {r_[0]->value(), r_[1]->value(), r_[2]->value()}; }

bool RunPanel::ranksValid() const { return model_ && rankRefusal().isEmpty(); }

QString RunPanel::rankRefusal() const {
    if (!model_) return {};
    const char* names[3] = {"d", "head_dim", "QKVO"};
    QStringList out;
    for (int n = 0; n < 3; ++n)
        if (r_[n]->value() > rank_limit(r_[n]))
            out << tr("R%1 = %2 is above %3 = %4, the size of mode %1: not accepted (R%1 is 1 to %4).")
                       .arg(n + 1)
                       .arg(r_[n]->value())
                       .arg(QLatin1String(names[n]))
                       .arg(rank_limit(r_[n]));
    return out.join(QLatin1Char(' '));
}

void RunPanel::checkRanks() {
    const bool fixed = model_ && mode_->currentIndex() == 0;
    const QString refusal = fixed ? rankRefusal() : QString();
    for (int n = 0; n < 3; ++n)
        r_[n]->setStyleSheet(fixed && r_[n]->value() > rank_limit(r_[n])
                                 ? QStringLiteral("QSpinBox { border: 2px solid #b00020; }")
                                 : QString());
    QStringList warnings;
    if (fixed && refusal.isEmpty()) {
        const auto& S = model_->shape();
        auto check = [&](const std::array<int, 3>& r, const QString& who) {
            const auto u = tucker::usable_ranks(r, S.h);
            if (u != r)
                warnings << tr("%1%2 is beyond what the core can use (each rank ≤ the product of the other two × %3 "
                               "heads): the run uses the equivalent %4.")
                                .arg(who, triple(r))
                                .arg(S.h)
                                .arg(triple(u));
            const double ratio = analysis::compression_ratio(S, u);
            if (ratio <= 1)
                warnings << tr("%1%2 does not compress: ratio %3× (%4 parameters against %5).")
                                .arg(who, triple(u))
                                .arg(ratio, 0, 'f', 2)
                                .arg(analysis::compressed_params(S, u))
                                .arg(S.original_params());
        };
        check(ranks(), QString());
        for (int row = 0; row < overrides_->rowCount(); ++row) {
            std::array<int, 4> v{};
            bool ok = true;
            for (int c = 0; c < 4 && ok; ++c) {
                const auto* item = overrides_->item(row, c);
                v[c] = item ? item->text().toInt(&ok) : 0;
                ok = ok && item;
            }
            if (ok && v[1] >= 1 && v[2] >= 1 && v[3] >= 1 && v[1] <= S.d && v[2] <= S.dv && v[3] <= 4)
                check({v[1], v[2], v[3]}, tr("Layer %1's override ").arg(v[0]));
        }
    }
    QString html;
    if (!refusal.isEmpty())
        html = QStringLiteral("<span style='color:%1'>%2</span>").arg(kBadColour.name(), refusal.toHtmlEscaped());
    for (const QString& w : warnings)
        html += (html.isEmpty() ? QString() : QStringLiteral("<br>")) +
                QStringLiteral("<span style='color:%1'>⚠ %2</span>").arg(kWarnColour.name(), w.toHtmlEscaped());
    rank_msg_->setText(html);
    rank_msg_->setVisible(!html.isEmpty());
}

void RunPanel::setRanks(const std::array<int, 3>& r) {
    for (int n = 0; n < 3; ++n) r_[n]->setValue(r[n]);
}

jobs::JobOptions RunPanel::options() const {
    if (!model_) throw std::invalid_argument("no model is open");
    jobs::JobOptions o;
    o.layers = checkedLayers();
    if (o.layers.empty()) throw std::invalid_argument("no layer selected");
    switch (mode_->currentIndex()) {
        case 0:
            if (const QString refusal = rankRefusal(); !refusal.isEmpty())
                throw std::invalid_argument(refusal.toStdString());
            o.ranks.kind = tucker::RankSpec::Kind::Fixed;
            o.ranks.ranks = ranks();
            for (int row = 0; row < overrides_->rowCount(); ++row) {
                std::array<int, 4> v{};
                for (int c = 0; c < 4; ++c) {
                    bool ok = false;
                    const auto* item = overrides_->item(row, c);
                    v[c] = item ? item->text().toInt(&ok) : 0;
                    if (!ok)
                        throw std::invalid_argument("override row " + std::to_string(row + 1) + ": '" +
                                                    (item ? item->text().toStdString() : std::string()) +
                                                    "' is not an integer");
                }
                o.ranks.per_layer[v[0]] = {v[1], v[2], v[3]};
                model_->layer(v[0]);  // throws naming the valid layers
            }
            break;
        case 1:
            o.ranks.kind = tucker::RankSpec::Kind::Tolerance;
            o.ranks.tolerance = tol_->value();
            break;
        default:
            o.ranks.kind = tucker::RankSpec::Kind::Ratio;
            o.ranks.ratio = ratio_->value();
            break;
    }
    const tucker::Method methods[3] = {tucker::Method::HOOI, tucker::Method::STHOSVD, tucker::Method::HOSVD};
    o.tucker.method = methods[method_->currentIndex()];
    o.tucker.init = init_->currentIndex() == 0 ? tucker::Method::STHOSVD : tucker::Method::HOSVD;
    o.tucker.max_iterations = iters_->value();
    o.tucker.tolerance = hooi_tol_->value();
    o.threads = threads_->value();
    o.validate(*model_);
    return o;
}

void RunPanel::setOptions(const jobs::JobOptions& o) {
    if (!model_) return;
    layer_edit_->setText(o.layers.empty() ? QStringLiteral("all")
                                          : QString::fromStdString(util::format_layer_list(o.layers)));
    applyLayerText();
    mode_->setCurrentIndex(o.ranks.kind == tucker::RankSpec::Kind::Fixed       ? 0
                           : o.ranks.kind == tucker::RankSpec::Kind::Tolerance ? 1
                                                                               : 2);
    setRanks(o.ranks.ranks);
    overrides_->setRowCount(0);
    for (const auto& [l, r] : o.ranks.per_layer) {
        const int row = overrides_->rowCount();
        overrides_->insertRow(row);
        const int v[4] = {l, r[0], r[1], r[2]};
        for (int c = 0; c < 4; ++c) overrides_->setItem(row, c, new QTableWidgetItem(QString::number(v[c])));
    }
    tol_->setValue(o.ranks.tolerance);
    ratio_->setValue(o.ranks.ratio);
    method_->setCurrentIndex(o.tucker.method == tucker::Method::HOOI      ? 0
                             : o.tucker.method == tucker::Method::STHOSVD ? 1
                                                                          : 2);
    init_->setCurrentIndex(o.tucker.init == tucker::Method::STHOSVD ? 0 : 1);
    iters_->setValue(o.tucker.max_iterations);
    hooi_tol_->setValue(o.tucker.tolerance);
    threads_->setValue(o.threads);
    updatePreview();
}

void RunPanel::setRunning(bool running) {
    running_ = running;
    cancel_->setEnabled(running);
    updatePreview();
}

void RunPanel::setLayerStatus(int layer, const QString& text, const QString& tooltip) {
    // Status text is not a change of the layer selection.
    const QScopedValueRollback<bool> quiet(syncing_, true);
    for (int i = 0; i < layer_list_->topLevelItemCount(); ++i) {
        auto* item = layer_list_->topLevelItem(i);
        if (item->data(0, Qt::UserRole).toInt() != layer) continue;
        qDeleteAll(item->takeChildren());
        item->setText(1, text);
        item->setToolTip(1, tooltip);
        item->setForeground(1, QBrush());
        for (int c = 2; c < 4; ++c) {
            item->setText(c, QString());
            item->setToolTip(c, QString());
            item->setForeground(c, QBrush());
            item->setFont(c, layer_list_->font());
        }
    }
}

void RunPanel::setLayerResult(const jobs::LayerResult& r) {
    const QScopedValueRollback<bool> quiet(syncing_, true);
    for (int i = 0; i < layer_list_->topLevelItemCount(); ++i) {
        auto* item = layer_list_->topLevelItem(i);
        if (item->data(0, Qt::UserRole).toInt() != r.layer) continue;
        setLayerStatus(r.layer, QString());
        const bool warn = !r.warnings.empty();
        const QString detail = tr("ranks %1,%2,%3, %4× compression, %5 s")
                                   .arg(r.ranks[0])
                                   .arg(r.ranks[1])
                                   .arg(r.ranks[2])
                                   .arg(r.measures.ratio, 0, 'f', 2)
                                   .arg(r.seconds_total, 0, 'f', 2);
        QStringList tips{detail};
        for (const auto& w : r.warnings) tips << tr("warning: %1").arg(QString::fromStdString(w));
        item->setText(1, warn ? tr("warning") : QLatin1String(tucker::status_name(r.status)));
        item->setToolTip(1, tips.join(QLatin1Char('\n')));
        if (warn) item->setForeground(1, kWarnColour);
        item->setText(2, QString::number(r.measures.rel_error, 'f', 4));
        item->setToolTip(2, detail);
        const int t = analysis::worst_slice(r.measures);
        const double e = r.measures.type_error[std::size_t(t)];
        const bool bad = e > analysis::kSliceErrorWarning;
        item->setText(3, QStringLiteral("%1 %2%3")
                             .arg(QLatin1Char("QKVO"[t]))
                             .arg(e, 0, 'f', 4)
                             .arg(bad ? QStringLiteral("!") : QString()));
        item->setToolTip(3, tr("Q %1, K %2, V %3, O %4%5")
                                .arg(r.measures.type_error[0], 0, 'f', 4)
                                .arg(r.measures.type_error[1], 0, 'f', 4)
                                .arg(r.measures.type_error[2], 0, 'f', 4)
                                .arg(r.measures.type_error[3], 0, 'f', 4)
                                .arg(bad ? tr("\nthe %1 slices lost more than half of their norm (error above %2)")
                                               .arg(QLatin1Char("QKVO"[t]))
                                               .arg(analysis::kSliceErrorWarning)
                                         : QString()));
        if (bad) {
            item->setForeground(3, kBadColour);
            QFont f = layer_list_->font();
            f.setBold(true);
            item->setFont(3, f);
        }
        // The warnings in plain sight, beneath the layer.
        for (const auto& w : r.warnings) {
            auto* child = new QTreeWidgetItem(item, {QStringLiteral("⚠ ") + QString::fromStdString(w)});
            child->setFlags(Qt::ItemIsEnabled);
            child->setFirstColumnSpanned(true);
            child->setForeground(0, kWarnColour);
            child->setToolTip(0, QString::fromStdString(w));
        }
        item->setExpanded(warn);
    }
}

void RunPanel::updatePreview() {
    checkRanks();
    if (!model_) {
        preview_->setText(tr("Open a model to choose layers and ranks."));
        run_->setEnabled(false);
        return;
    }
    QString text;
    bool ok = true;
    try {
        const jobs::JobOptions o = options();
        const auto& S = model_->shape();
        if (o.ranks.kind == tucker::RankSpec::Kind::Fixed) {
            // What the run will use: ranks beyond what the core can use are reduced (the
            // warning under the controls says so).
            const auto r = tucker::usable_ranks(o.ranks.ranks, S.h);
            text = tr("<b>%1 layer(s)</b> at ranks (%2, %3, %4): <b>%5×</b> compression, %6 → %7 parameters per layer")
                       .arg(o.layers.size())
                       .arg(r[0])
                       .arg(r[1])
                       .arg(r[2])
                       .arg(analysis::compression_ratio(S, r), 0, 'f', 2)
                       .arg(S.original_params())
                       .arg(analysis::compressed_params(S, r));
            if (!o.ranks.per_layer.empty()) text += tr("; %1 per-layer override(s)").arg(o.ranks.per_layer.size());
        } else if (o.ranks.kind == tucker::RankSpec::Kind::Tolerance) {
            text = tr("<b>%1 layer(s)</b>: per layer the smallest ranks with relative error ≤ %2 (guaranteed), chosen "
                      "from "
                      "each layer's spectra")
                       .arg(o.layers.size())
                       .arg(o.ranks.tolerance);
        } else {
            text = tr("<b>%1 layer(s)</b>: per layer the ranks keeping the most energy with compression ≥ %2× (≤ %3 "
                      "parameters per layer)")
                       .arg(o.layers.size())
                       .arg(o.ranks.ratio)
                       .arg(std::uint64_t(std::floor(double(S.original_params()) / o.ranks.ratio)));
        }
    } catch (const std::exception& e) {
        ok = false;
        text = QStringLiteral("<span style='color:#b00020'>%1</span>")
                   .arg(QString::fromStdString(e.what()).toHtmlEscaped());
    }
    preview_->setText(text);
    run_->setEnabled(ok && !running_);
    Q_EMIT optionsChanged();
}

}  // namespace tllm::ui
