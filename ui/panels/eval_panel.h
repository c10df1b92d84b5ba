#pragma once
// Choosing an evaluation: the data (the bundled text of the demo model, a text file, an
// optional multiple-choice JSONL file), the windows (context, stride, token budget) and, for
// a sweep, the edits (rank choices, layers, method, LASER). Buttons start the baseline or
// the sweep and cancel; progress, the baseline's numbers and errors are shown here.

#include <QWidget>
#include <array>
#include <memory>
#include <vector>

#include "charts/sweep_charts.h"
#include "jobs/sweep_controller.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace tllm::ui {

/// "32,16,4; 16,8,2; tol 0.2; ratio 4": fixed ranks, tolerances and compression ratios,
/// separated by ';'. Throws std::invalid_argument naming the entry.
std::vector<tucker::RankSpec> parse_choice_list(const std::string& text);
/// The inverse of parse_choice_list.
std::string format_choice_list(const std::vector<tucker::RankSpec>& choices);

class EvalPanel : public QWidget {
    Q_OBJECT
public:
    explicit EvalPanel(QWidget* parent = nullptr);
    /// A new model: `demo` preselects the bundled text; the rank choices default to `ranks`
    /// and their halves. A model without a forward pass disables evaluation and says why.
    void setModel(std::shared_ptr<const model::Model> m, bool demo, const std::array<int, 3>& ranks);
    /// The evaluation as chosen; `tucker` is the decomposition panel's method, used unless
    /// another one is chosen here. Throws std::invalid_argument / std::runtime_error naming
    /// the field.
    SweepRequest request(bool baseline_only, const tucker::TuckerOptions& tucker) const;
    /// Restores the choices of a saved sweep.
    void setFromSweep(const edits::SweepResult& r);
    void setRunning(bool running);
    void setProgress(float fraction, const QString& text);
    /// A status line; errors in red.
    void showMessage(const QString& text, bool error = false);
    void setBaselineText(const QString& text);
    SweepRatio ratioAxis() const;

    QComboBox* sourceCombo() const { return source_; }
    QLineEdit* textEdit() const { return text_; }
    QLineEdit* mcEdit() const { return mc_; }
    QLineEdit* choicesEdit() const { return choices_; }
    QLineEdit* layersEdit() const { return layers_; }
    QLineEdit* laserEdit() const { return laser_; }
    QSpinBox* ctxSpin() const { return ctx_; }
    QSpinBox* maxTokensSpin() const { return max_tokens_; }
    QComboBox* methodCombo() const { return method_; }
    QPushButton* baselineButton() const { return baseline_; }
    QPushButton* sweepButton() const { return sweep_; }
    QPushButton* cancelButton() const { return cancel_; }
    QLabel* messageLabel() const { return message_; }

Q_SIGNALS:
    void baselineRequested();
    void sweepRequested();
    void cancelRequested();
    void ratioAxisChanged();

private:
    void updateEnabled();

    std::shared_ptr<const model::Model> model_;
    QString unavailable_;  ///< why this model cannot be evaluated; empty when it can
    QComboBox* source_;
    QLineEdit* text_;
    QPushButton* browse_text_;
    QLineEdit* mc_;
    QSpinBox* ctx_;
    QSpinBox* stride_;
    QSpinBox* max_tokens_;
    QLineEdit* choices_;
    QLineEdit* layers_;
    QComboBox* method_;
    QLineEdit* laser_;
    QComboBox* ratio_axis_;
    QLabel* baseline_text_;
    QLabel* message_;
    QProgressBar* progress_;
    QLabel* progress_text_;
    QPushButton* baseline_;
    QPushButton* sweep_;
    QPushButton* cancel_;
    bool running_ = false;
};

}  // namespace tllm::ui
