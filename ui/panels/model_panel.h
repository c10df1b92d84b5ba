#pragma once
// The opened model: architecture, layers with their attention shapes, heads, kv heads,
// head_dim, dtypes, sizes, and the load report (tensors not mapped and why).

#include <QWidget>

class QLabel;
class QTreeWidget;

namespace tllm::model {
class Model;
}

namespace tllm::ui {

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);
    void setModel(const model::Model* m);
    QTreeWidget* tree() const { return tree_; }

private:
    QLabel* summary_;
    QTreeWidget* tree_;
};

}  // namespace tllm::ui
