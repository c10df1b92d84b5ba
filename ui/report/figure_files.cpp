#include "report/figure_files.h"

#include <QSaveFile>
#include <stdexcept>

namespace tllm::ui {

void write_text_file(const QString& path, const QString& text) {
    QSaveFile out(path);
    const QByteArray data = text.toUtf8();
    if (!out.open(QIODevice::WriteOnly) || out.write(data) != data.size() || !out.commit())
        throw std::runtime_error(path.toStdString() + ": cannot write: " + out.errorString().toStdString());
}

QStringList write_figure_files(const QDir& dir, const std::vector<NamedFigure>& figures, const FigureStyle& style) {
    QStringList files;
    for (const auto& f : figures) {
        for (const char* ext : {"png", "svg", "pdf"}) {
            const QString file = f.name + QLatin1Char('.') + QLatin1String(ext);
            save_figure(f.painter, dir.filePath(file), style);
            files << file;
        }
        const QString file = f.name + QStringLiteral(".csv");
        write_text_file(dir.filePath(file), f.csv);
        files << file;
    }
    return files;
}

std::unique_ptr<QApplication> offscreen_application() {
    if (QCoreApplication::instance()) return nullptr;
    qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "tensorllm";
    static char* argv[] = {name, nullptr};
    return std::make_unique<QApplication>(argc, argv);
}

}  // namespace tllm::ui
