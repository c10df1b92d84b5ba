#include "main/main_window.h"

#include <QFileDialog>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "model/model.h"
#include "util/resources.h"

namespace tllm::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(QStringLiteral("TensorLLM Studio"));
    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    summary_ = new QLabel(tr("Open a checkpoint (File > Open) to begin."), central);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    tree_ = new QTreeWidget(central);
    tree_->setHeaderLabels({tr("Tensor / layer"), tr("Details")});
    tree_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    layout->addWidget(summary_);
    layout->addWidget(tree_, 1);
    setCentralWidget(central);

    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open..."), QKeySequence::Open, this, &MainWindow::chooseAndOpen);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    resize(1100, 700);
}

MainWindow::~MainWindow() = default;

void MainWindow::chooseAndOpen() {
    const QString path = QFileDialog::getExistingDirectory(this, tr("Open checkpoint directory"));
    if (!path.isEmpty()) openModel(path);
}

bool MainWindow::openModel(const QString& path) {
    try {
        model_ = std::make_unique<model::Model>(path.toStdString());
    } catch (const std::exception& e) {
        statusBar()->showMessage(QString::fromStdString(e.what()));
        QMessageBox::warning(this, tr("Cannot open model"), QString::fromStdString(e.what()));
        return false;
    }
    showModel();
    return true;
}

void MainWindow::showModel() {
    const auto& S = model_->shape();
    summary_->setText(tr("<b>%1</b> &mdash; %2 (%3), %4 layers, %5 heads, %6 kv heads, head_dim %7, d %8")
                          .arg(QString::fromStdString(model_->checkpoint().path()).toHtmlEscaped(),
                               QString::fromStdString(model_->config().model_type),
                               QString::fromStdString(model_->architecture().name))
                          .arg(model_->layers().size())
                          .arg(S.h)
                          .arg(S.n_kv)
                          .arg(S.dv)
                          .arg(S.d));
    tree_->clear();
    auto* layers = new QTreeWidgetItem(tree_, {tr("Attention layers"), QString::number(model_->layers().size())});
    for (const auto& L : model_->layers()) {
        auto* item = new QTreeWidgetItem(layers, {tr("layer %1").arg(L.index),
                                                  tr("%1 parameters, %2").arg(S.original_params())
                                                      .arg(QString::fromUtf8(io::dtype_name(L.dtype).data()))});
        for (const auto& t : L.tensors) new QTreeWidgetItem(item, {QString::fromStdString(t), {}});
    }
    layers->setExpanded(true);
    auto* un = new QTreeWidgetItem(tree_, {tr("Not mapped"), QString::number(model_->unmapped().size())});
    for (const auto& u : model_->unmapped())
        new QTreeWidgetItem(un, {QString::fromStdString(u.name), QString::fromStdString(u.reason)});
    statusBar()->showMessage(tr("Opened %1").arg(QString::fromStdString(model_->checkpoint().path())));
}

}  // namespace tllm::ui
