#include "panels/model_panel.h"

#include <QHeaderView>
#include <QLabel>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <map>

#include "model/model.h"
#include "util/resources.h"

namespace tllm::ui {

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(4, 4, 4, 4);
    summary_ =
        new QLabel(tr("No model. Open a checkpoint directory or .safetensors file (Ctrl+O), or drop it here."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    tree_ = new QTreeWidget(this);
    tree_->setHeaderLabels({tr("Item"), tr("Details")});
    tree_->header()->setSectionResizeMode(0, QHeaderView::Interactive);
    tree_->setColumnWidth(0, 230);
    tree_->setUniformRowHeights(true);
    // Room for several rows: the load report (tensors not mapped, warnings) stays in view.
    tree_->setMinimumHeight(tree_->fontMetrics().height() * 6);
    lay->addWidget(summary_);
    lay->addWidget(tree_, 1);
}

void ModelPanel::setModel(const model::Model* m) {
    tree_->clear();
    if (!m) {
        summary_->setText(tr("No model."));
        return;
    }
    const auto& S = m->shape();
    const auto& ck = m->checkpoint();
    summary_->setText(
        tr("<b>%1</b><br>%2 (architecture <i>%3</i>), %4 attention layers, d = %5, %6 heads, %7 kv heads, "
           "head_dim %8, %9 on disk")
            .arg(QString::fromStdString(ck.path()).toHtmlEscaped(), QString::fromStdString(m->config().model_type),
                 QString::fromStdString(m->architecture().name))
            .arg(m->layers().size())
            .arg(S.d)
            .arg(S.h)
            .arg(S.n_kv)
            .arg(S.dv)
            .arg(QString::fromStdString(util::format_bytes(ck.total_bytes()))));
    auto* files =
        new QTreeWidgetItem(tree_, {tr("Files"), ck.gguf() ? tr("GGUF version %1, architecture %2")
                                                                 .arg(ck.gguf()->file().version())
                                                                 .arg(QString::fromStdString(ck.gguf()->architecture()))
                                                           : tr("%1 shard(s)").arg(ck.shards().size())});
    for (const auto* f : ck.files())
        new QTreeWidgetItem(
            files, {QString::fromStdString(f->path()), QString::fromStdString(util::format_bytes(f->file_size()))});
    auto* layers = new QTreeWidgetItem(
        tree_, {tr("Attention layers"), tr("W_all: %1 × %2 × 4 × %3 each").arg(S.d).arg(S.dv).arg(S.h)});
    for (const auto& L : m->layers()) {
        auto* item = new QTreeWidgetItem(
            layers,
            {tr("layer %1").arg(L.index),
             tr("%1 params, %2").arg(S.original_params()).arg(QString::fromUtf8(io::dtype_name(L.dtype).data()))});
        for (const auto& t : L.tensors) {
            const auto* info = ck.at(t).info;
            QString shape;
            for (auto dim : info->shape) shape += (shape.isEmpty() ? "" : " × ") + QString::number(dim);
            new QTreeWidgetItem(item, {QString::fromStdString(t), shape});
        }
    }
    // Collapsed: the per-layer tensors would push the load report out of view.
    layers->setExpanded(false);
    std::map<std::pair<std::string, std::string>, int> groups;
    for (const auto& u : m->unmapped()) groups[{model::layer_wildcard(u.name), u.reason}]++;
    auto* un = new QTreeWidgetItem(tree_, {tr("Not mapped (load report)"), tr("%1 tensors").arg(m->unmapped().size())});
    for (const auto& [key, n] : groups)
        new QTreeWidgetItem(un, {QString::fromStdString(key.first) + (n > 1 ? tr(" (%1)").arg(n) : QString()),
                                 QString::fromStdString(key.second)});
    un->setExpanded(true);
    if (!m->warnings().empty() || !ck.warnings().empty()) {
        auto* w =
            new QTreeWidgetItem(tree_, {tr("Warnings"), QString::number(m->warnings().size() + ck.warnings().size())});
        for (const auto& s : m->warnings()) new QTreeWidgetItem(w, {QString::fromStdString(s), {}});
        for (const auto& s : ck.warnings()) new QTreeWidgetItem(w, {QString::fromStdString(s), {}});
        w->setExpanded(true);
        w->setForeground(0, QColor(180, 60, 0));
    }
}

}  // namespace tllm::ui
