#include "panels/eval_panel.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <cmath>
#include <sstream>

#include "analysis/ranks.h"
#include "eval/forward.h"
#include "util/layer_list.h"
#include "util/resources.h"

namespace tllm::ui {
namespace {

std::string trimmed(const std::string& s) {
    const auto a = s.find_first_not_of(" \t");
    if (a == std::string::npos) return {};
    return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

double parse_positive(const std::string& s, const std::string& what) {
    try {
        std::size_t used = 0;
        const double v = std::stod(s, &used);
        if (used == s.size() && std::isfinite(v) && v > 0) return v;
    } catch (const std::exception&) {}
    throw std::invalid_argument("rank choices: " + what + " '" + s + "' is not a positive number");
}

std::string short_number(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

// The bundled evaluation text, or "" when the installation has none.
QString bundled_text() {
    try {
        return QString::fromStdString(util::default_eval_text());
    } catch (const std::exception&) {
        return {};
    }
}

}  // namespace

std::vector<tucker::RankSpec> parse_choice_list(const std::string& text) {
    std::vector<tucker::RankSpec> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t e = text.find(';', pos);
        if (e == std::string::npos) e = text.size();
        const std::string item = trimmed(text.substr(pos, e - pos));
        pos = e + 1;
        if (item.empty()) continue;
        tucker::RankSpec s;
        if (item.rfind("tol", 0) == 0) {
            s.kind = tucker::RankSpec::Kind::Tolerance;
            s.tolerance = parse_positive(trimmed(item.substr(3)), "tolerance");
            if (s.tolerance > 1)
                throw std::invalid_argument("rank choices: tolerance " + item.substr(3) + " is above 1");
        } else if (item.rfind("ratio", 0) == 0) {
            s.kind = tucker::RankSpec::Kind::Ratio;
            s.ratio = parse_positive(trimmed(item.substr(5)), "ratio");
        } else {
            s.kind = tucker::RankSpec::Kind::Fixed;
            s.ranks = tucker::parse_ranks(item, "rank choices");
        }
        out.push_back(s);
    }
    return out;
}

std::string format_choice_list(const std::vector<tucker::RankSpec>& choices) {
    std::string out;
    for (const auto& c : choices) {
        if (!out.empty()) out += "; ";
        switch (c.kind) {
            case tucker::RankSpec::Kind::Tolerance: out += "tol " + short_number(c.tolerance); break;
            case tucker::RankSpec::Kind::Ratio: out += "ratio " + short_number(c.ratio); break;
            default:
                out += std::to_string(c.ranks[0]) + "," + std::to_string(c.ranks[1]) + "," + std::to_string(c.ranks[2]);
                break;
        }
    }
    return out;
}

EvalPanel::EvalPanel(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(4, 4, 4, 4);

    auto* data = new QGroupBox(tr("Evaluation data"), this);
    auto* df = new QFormLayout(data);
    source_ = new QComboBox(data);
    source_->addItems({tr("Bundled text (demo model)"), tr("Text file")});
    source_->setToolTip(tr("The bundled 64 KiB of the demo model's validation text, or a UTF-8 text file"));
    text_ = new QLineEdit(data);
    text_->setPlaceholderText(tr("UTF-8 text file"));
    browse_text_ = new QPushButton(tr("…"), data);
    browse_text_->setToolTip(tr("Choose the evaluation text"));
    auto* trow = new QHBoxLayout;
    trow->addWidget(text_, 1);
    trow->addWidget(browse_text_);
    mc_ = new QLineEdit(data);
    mc_->setPlaceholderText(tr("optional: multiple-choice .jsonl"));
    mc_->setToolTip(tr("Also measure multiple-choice accuracy: one {\"context\", \"choices\", \"answer\"} per line"));
    auto* browse_mc = new QPushButton(tr("…"), data);
    browse_mc->setToolTip(tr("Choose a multiple-choice JSONL file"));
    auto* mrow = new QHBoxLayout;
    mrow->addWidget(mc_, 1);
    mrow->addWidget(browse_mc);
    df->addRow(tr("Source"), source_);
    df->addRow(tr("Text"), trow);
    df->addRow(tr("Multiple choice"), mrow);
    lay->addWidget(data);

    auto* win = new QGroupBox(tr("Windows"), this);
    auto* wf = new QFormLayout(win);
    ctx_ = new QSpinBox(win);
    ctx_->setRange(0, 1 << 20);
    ctx_->setSpecialValueText(tr("model's (≤ 1024)"));
    ctx_->setToolTip(tr("Tokens per window; at least 2"));
    stride_ = new QSpinBox(win);
    stride_->setRange(0, 1 << 20);
    stride_->setSpecialValueText(tr("= context"));
    stride_->setToolTip(tr("Distance between window starts"));
    max_tokens_ = new QSpinBox(win);
    max_tokens_->setRange(0, 2000000000);
    max_tokens_->setSingleStep(1024);
    max_tokens_->setSpecialValueText(tr("all"));
    max_tokens_->setToolTip(tr("Score only the first N tokens of the text (a faster, noisier sweep)"));
    wf->addRow(tr("Context"), ctx_);
    wf->addRow(tr("Stride"), stride_);
    wf->addRow(tr("Token budget"), max_tokens_);
    lay->addWidget(win);

    auto* edits_box = new QGroupBox(tr("Sweep"), this);
    auto* ef = new QFormLayout(edits_box);
    choices_ = new QLineEdit(edits_box);
    choices_->setToolTip(
        tr("Attention rank choices separated by ';': fixed ranks R1,R2,R3, 'tol ε' (guaranteed error), "
           "'ratio CR' (compression ratio). Each is applied alone to every layer."));
    layers_ = new QLineEdit(edits_box);
    layers_->setPlaceholderText(tr("all, or e.g. 0-3,7"));
    method_ = new QComboBox(edits_box);
    method_->addItems(
        {tr("as in Decomposition"), QStringLiteral("HOOI"), QStringLiteral("ST-HOSVD"), QStringLiteral("HOSVD")});
    laser_ = new QLineEdit(edits_box);
    laser_->setPlaceholderText(tr("optional, e.g. down:16,up:8"));
    laser_->setToolTip(tr("LASER: an MLP matrix (up, down, gate) truncated to a rank, each applied alone"));
    ratio_axis_ = new QComboBox(edits_box);
    ratio_axis_->addItems({tr("edited layer's"), tr("whole model's")});
    ratio_axis_->setToolTip(tr("Compression ratio on the x axis of the quality chart"));
    ef->addRow(tr("Rank choices"), choices_);
    ef->addRow(tr("Layers"), layers_);
    ef->addRow(tr("Method"), method_);
    ef->addRow(tr("LASER"), laser_);
    ef->addRow(tr("Chart compression"), ratio_axis_);
    lay->addWidget(edits_box);

    baseline_text_ = new QLabel(this);
    baseline_text_->setWordWrap(true);
    baseline_text_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    lay->addWidget(baseline_text_);
    message_ = new QLabel(this);
    message_->setWordWrap(true);
    message_->setTextFormat(Qt::RichText);
    message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    lay->addWidget(message_);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setValue(0);
    progress_text_ = new QLabel(this);
    lay->addWidget(progress_);
    lay->addWidget(progress_text_);
    progress_->hide();
    progress_text_->hide();

    auto* brow = new QHBoxLayout;
    baseline_ = new QPushButton(tr("Evaluate &baseline"), this);
    baseline_->setToolTip(tr("Loss of the unedited model on the data (Ctrl+Alt+B)"));
    sweep_ = new QPushButton(tr("Run &sweep"), this);
    sweep_->setToolTip(tr("Each edit applied alone to each layer, against the unedited model (Ctrl+Alt+R)"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setToolTip(tr("Stop at the next layer; the finished points are kept (Esc)"));
    brow->addWidget(baseline_);
    brow->addWidget(sweep_, 1);
    brow->addWidget(cancel_);
    lay->addLayout(brow);
    lay->addStretch(1);

    connect(source_, &QComboBox::currentIndexChanged, this, [this] { updateEnabled(); });
    connect(browse_text_, &QPushButton::clicked, this, [this] {
        const QString f =
            QFileDialog::getOpenFileName(this, tr("Evaluation text"), text_->text(), tr("Text (*.txt);;All files (*)"));
        if (!f.isEmpty()) text_->setText(f);
    });
    connect(browse_mc, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Multiple-choice items"), mc_->text(),
                                                       tr("JSONL (*.jsonl *.json);;All files (*)"));
        if (!f.isEmpty()) mc_->setText(f);
    });
    connect(ratio_axis_, &QComboBox::currentIndexChanged, this, &EvalPanel::ratioAxisChanged);
    connect(baseline_, &QPushButton::clicked, this, &EvalPanel::baselineRequested);
    connect(sweep_, &QPushButton::clicked, this, &EvalPanel::sweepRequested);
    connect(cancel_, &QPushButton::clicked, this, &EvalPanel::cancelRequested);
    setModel(nullptr, false, {1, 1, 1});
}

void EvalPanel::setModel(std::shared_ptr<const model::Model> m, bool demo, const std::array<int, 3>& ranks) {
    model_ = std::move(m);
    unavailable_.clear();
    baseline_text_->clear();
    message_->clear();
    if (model_) {
        try {
            eval::read_eval_config(model_->config());
        } catch (const std::exception& e) {
            unavailable_ = QString::fromStdString(e.what());
        }
        const bool bundled = demo && !bundled_text().isEmpty();
        source_->setCurrentIndex(bundled ? 0 : 1);
        if (bundled) text_->clear();
        const std::array<int, 3> half{std::max(1, ranks[0] / 2), std::max(1, ranks[1] / 2), std::max(1, ranks[2] / 2)};
        std::vector<tucker::RankSpec> c(2);
        c[0].ranks = ranks;
        c[1].ranks = half;
        if (half == ranks) c.pop_back();
        choices_->setText(QString::fromStdString(format_choice_list(c)));
        layers_->setText(QStringLiteral("all"));
        if (!unavailable_.isEmpty()) showMessage(unavailable_, true);
    }
    updateEnabled();
}

SweepRequest EvalPanel::request(bool baseline_only, const tucker::TuckerOptions& tucker) const {
    if (!model_) throw std::invalid_argument("no model is open");
    if (!unavailable_.isEmpty()) throw std::runtime_error(unavailable_.toStdString());
    SweepRequest rq;
    rq.model = model_;
    rq.baseline_only = baseline_only;
    if (source_->currentIndex() == 0) {
        rq.text_path = util::default_eval_text();
    } else {
        rq.text_path = text_->text().trimmed().toStdString();
        if (rq.text_path.empty()) throw std::invalid_argument("choose an evaluation text file (or the bundled text)");
    }
    rq.mc_path = mc_->text().trimmed().toStdString();
    auto& o = rq.options;
    o.ppl.ctx = ctx_->value();
    o.ppl.stride = stride_->value();
    o.ppl.max_tokens = max_tokens_->value();
    if (o.ppl.ctx == 1) throw std::invalid_argument("context: must be at least 2 tokens");
    if (o.ppl.max_tokens == 1) throw std::invalid_argument("token budget: must be at least 2 tokens");
    if (baseline_only) return rq;
    o.choices = parse_choice_list(choices_->text().toStdString());
    if (!laser_->text().trimmed().isEmpty())
        o.laser = edits::parse_laser_list(laser_->text().trimmed().toStdString(), "LASER");
    if (o.choices.empty() && o.laser.empty())
        throw std::invalid_argument("give at least one rank choice or LASER edit");
    o.layers = util::parse_layer_list(layers_->text().trimmed().toStdString());
    o.tucker = tucker;
    const tucker::Method methods[3] = {tucker::Method::HOOI, tucker::Method::STHOSVD, tucker::Method::HOSVD};
    if (method_->currentIndex() > 0) o.tucker.method = methods[method_->currentIndex() - 1];
    return rq;
}

void EvalPanel::setFromSweep(const edits::SweepResult& r) {
    const QString bundled = bundled_text();
    const QString src = QString::fromStdString(r.text_source);
    const bool is_bundled =
        !bundled.isEmpty() && QFileInfo(src).canonicalFilePath() == QFileInfo(bundled).canonicalFilePath();
    source_->setCurrentIndex(is_bundled ? 0 : 1);
    text_->setText(is_bundled ? QString() : src);
    mc_->setText(QString::fromStdString(r.mc_source));
    ctx_->setValue(r.options.ppl.ctx);
    stride_->setValue(r.options.ppl.stride);
    max_tokens_->setValue(int(std::min<std::int64_t>(r.options.ppl.max_tokens, max_tokens_->maximum())));
    if (!r.options.choices.empty()) choices_->setText(QString::fromStdString(format_choice_list(r.options.choices)));
    if (!r.layers.empty() || !r.points.empty())
        layers_->setText(r.options.layers.empty() ? QStringLiteral("all")
                                                  : QString::fromStdString(util::format_layer_list(r.options.layers)));
    std::string laser;
    for (const auto& l : r.options.laser) laser += (laser.empty() ? "" : ",") + l.describe();
    laser_->setText(QString::fromStdString(laser));
}

void EvalPanel::setRunning(bool running) {
    running_ = running;
    progress_->setVisible(running);
    progress_text_->setVisible(running);
    if (running) {
        progress_->setValue(0);
        progress_text_->clear();
    }
    updateEnabled();
}

void EvalPanel::setProgress(float fraction, const QString& text) {
    progress_->setValue(int(fraction * 1000));
    progress_text_->setText(text);
}

void EvalPanel::showMessage(const QString& text, bool error) {
    message_->setText(error ? QStringLiteral("<span style='color:#b00020'>%1</span>").arg(text.toHtmlEscaped())
                            : text.toHtmlEscaped());
}

void EvalPanel::setBaselineText(const QString& text) { baseline_text_->setText(text); }

SweepRatio EvalPanel::ratioAxis() const {
    return ratio_axis_->currentIndex() == 0 ? SweepRatio::Layer : SweepRatio::Model;
}

void EvalPanel::updateEnabled() {
    const bool file = source_->currentIndex() == 1;
    text_->setEnabled(file);
    browse_text_->setEnabled(file);
    const bool can = model_ && unavailable_.isEmpty() && !running_;
    baseline_->setEnabled(can);
    sweep_->setEnabled(can);
    cancel_->setEnabled(running_);
}

}  // namespace tllm::ui
