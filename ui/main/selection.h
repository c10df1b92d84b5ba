#pragma once
// The linked selection: clicking a layer or a head in any chart selects it in all.

#include <QObject>

namespace tllm::ui {

class Selection : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    int layer() const { return layer_; }
    int head() const { return head_; }
    /// Selects `layer` (and optionally `head`, -1 keeps the current head); emits changed()
    /// when anything differs.
    void select(int layer, int head = -1) {
        const int h = head < 0 ? head_ : head;
        if (layer == layer_ && h == head_) return;
        layer_ = layer;
        head_ = h;
        Q_EMIT changed();
    }
    void setHead(int head) { select(layer_, head); }

Q_SIGNALS:
    void changed();

private:
    int layer_ = -1;
    int head_ = 0;
};

}  // namespace tllm::ui
