#pragma once
// The TensorLLM Studio main window.

#include <QMainWindow>
#include <memory>

class QTreeWidget;
class QLabel;

namespace tllm::model {
class Model;
}

namespace tllm::ui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens a checkpoint; on failure shows the error in the status area and keeps the
    /// previous model. Returns true on success.
    bool openModel(const QString& path);
    const model::Model* model() const { return model_.get(); }

private:
    void chooseAndOpen();
    void showModel();

    std::unique_ptr<model::Model> model_;
    QTreeWidget* tree_ = nullptr;
    QLabel* summary_ = nullptr;
};

}  // namespace tllm::ui
