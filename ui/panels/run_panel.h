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
    /// Per-layer status text in the layer list ("42%", "done", "failed").
    void setLayerStatus(int layer, const QString& text, const QString& tooltip = {});
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
    QPushButton* run_;
    QPushButton* cancel_;
    bool running_ = false;
    bool syncing_ = false;
};

}  // namespace tllm::ui
