// tensorllm-studio: the desktop application.
#include <QApplication>
#include <QCommandLineParser>

#include "main/main_window.h"
#include "util/allocator.h"
#include "util/resources.h"

int main(int argc, char** argv) {
    tllm::util::configure_allocator();
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("TensorLLM Studio"));
    QApplication::setOrganizationName(QStringLiteral("TensorLLM"));
    QApplication::setApplicationVersion(QStringLiteral(TENSORLLM_VERSION));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Shared-factor Tucker decomposition of transformer attention"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("model"),
                                 QStringLiteral("checkpoint directory, .safetensors file, .tllm.json project or .h5 "
                                                "results file (default: the bundled demo model)"));
    QCommandLineOption run(QStringLiteral("run"),
                           QStringLiteral("start the decomposition as soon as the model is open"));
    parser.addOption(run);
    QCommandLineOption sweep(QStringLiteral("sweep"),
                             QStringLiteral("start the evaluation panel's sweep as soon as the model is open"));
    parser.addOption(sweep);
    QCommandLineOption compare(QStringLiteral("compare"),
                               QStringLiteral("compare with FILE (a project, results.json or HDF5 results file) in the "
                                              "Compare tab: the opened results file against FILE, or with --run the "
                                              "finished run's results"),
                               QStringLiteral("FILE"));
    parser.addOption(compare);
    parser.process(app);

    tllm::ui::MainWindow w;
    QString path = parser.positionalArguments().value(0);
    if (path.isEmpty()) {
        try {
            path = QString::fromStdString(tllm::util::default_model_dir());
        } catch (const std::exception&) {}
    }
    if (parser.isSet(run))
        QObject::connect(
            &w, &tllm::ui::MainWindow::modelOpened, &w, [&w] { w.startRun(); }, Qt::SingleShotConnection);
    if (parser.isSet(sweep))
        QObject::connect(
            &w, &tllm::ui::MainWindow::modelOpened, &w, [&w] { w.startEvaluation(false); }, Qt::SingleShotConnection);
    if (parser.isSet(compare)) {
        const QString other = parser.value(compare);
        if (parser.isSet(run))
            QObject::connect(
                &w, &tllm::ui::MainWindow::runFinished, &w,
                [&w, other](bool cancelled) {
                    if (!cancelled) w.compareWith(other);
                },
                Qt::SingleShotConnection);
        else
            w.compareFiles(path, other);
    }
    if (path.endsWith(QLatin1String(".tllm.json")))
        w.openProject(path);
    else if (path.endsWith(QLatin1String(".h5")))
        w.openResults(path);
    else if (!path.isEmpty())
        w.openModel(path);
    w.show();
    return app.exec();
}
