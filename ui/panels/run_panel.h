#pragma once
// Choosing what to run: layers (all, ranges, individual), ranks (global with per-layer
// overrides, an error tolerance, or a target compression ratio), the method and its options.
// A live preview shows the compression ratio and parameter counts; invalid choices disable
// Run and say why. Also shows per-layer progress while a run is going.

#include <QWidget>
#include <array>
#include <memory>

#include "jobs/job_runner.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTableWidget;
class QTreeWidget;

namespace tllm::ui {

class RunPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunPanel(QWidget* parent = nullptr);
    void setModel(std::shared_ptr<const model::Model> m);
    /// The options as chosen; throws std::invalid_argument when they are not valid.
    jobs::JobOptions options() const;
    /// Restores options (from a saved project).
    void setOptions(const jobs::JobOptions& o);
    /// The current global fixed ranks.
    std::array<int, 3> ranks() const;
    void setRanks(const std::array<int, 3>& r);
    /// While running: Run disabled, Cancel enabled.
    void setRunning(bool running);
    /// Whether every global rank is within its mode's size (the rank explorer shows only
    /// such ranks; larger ones are refused with a message and disable Run).
    bool ranksValid() const;
    /// Per-layer status text in the layer list ("42%", "queued", "failed"); clears the
    /// layer's error columns and warnings.
    void setLayerStatus(int layer, const QString& text, const QString& tooltip = {});
    /// A finished layer in the layer list: status (ok, not converged, or "warning" with the
    /// warnings beneath the layer), the layer error and the worst of its Q/K/V/O errors,
    /// highlighted above analysis::kSliceErrorWarning.
    void setLayerResult(const jobs::LayerResult& r);
    QTreeWidget* layerList() const { return layer_list_; }
    QSpinBox* rankBox(int mode) const { return r_[mode]; }
    /// The live warnings and refusals of the rank controls (empty when there are none).
    QLabel* rankMessage() const { return rank_msg_; }
    /// The QLineEdit with the layer selection (tests drive it).
    QLineEdit* layerEdit() const { return layer_edit_; }
    QPushButton* runButton() const { return run_; }
    QPushButton* cancelButton() const { return cancel_; }
    QComboBox* rankMode() const { return mode_; }
    QLabel* previewLabel() const { return preview_; }

Q_SIGNALS:
    void runRequested();
    void cancelRequested();
    /// The global fixed ranks changed (the rank explorer follows them live).
    void ranksChanged(std::array<int, 3> ranks);
    void optionsChanged();

private:
    void updatePreview();
    /// Why the global fixed ranks are refused (a rank above its mode's size); empty when not.
    QString rankRefusal() const;
    /// The live messages of the rank controls: the refusal, or the warnings (ranks beyond
    /// what the core can use with the equivalent smaller ranks, no compression) of the global
    /// ranks and the per-layer overrides; shown in rank_msg_.
    void checkRanks();
    void applyLayerText();
    std::vector<int> checkedLayers() const;

    std::shared_ptr<const model::Model> model_;
    QTreeWidget* layer_list_;
    QLineEdit* layer_edit_;
    QComboBox* mode_;
    QStackedWidget* mode_stack_;
    QSpinBox* r_[3];
    QTableWidget* overrides_;
    QDoubleSpinBox* tol_;
    QDoubleSpinBox* ratio_;
    QComboBox* method_;
    QComboBox* init_;
    QSpinBox* iters_;
    QDoubleSpinBox* hooi_tol_;
    QSpinBox* threads_;
    QLabel* preview_;
    QLabel* rank_msg_;
    QPushButton* run_;
    QPushButton* cancel_;
    bool running_ = false;
    bool syncing_ = false;
};

}  // namespace tllm::ui
