#pragma once
// Reading a file off the GUI thread: opening a model and opening a results file both run the
// reader on Qt's global thread pool and hand the result (or the reader's error) back to the
// window on the GUI thread.

#include <exception>
#include <memory>
#include <utility>

#include <QMetaObject>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QThreadPool>

namespace tllm::ui {

/// Runs `load()` (returning std::shared_ptr<const T>) on the global thread pool, then
/// `done(result, error)` on `owner`'s thread, unless `owner` was destroyed meanwhile. A
/// std::exception thrown by `load` becomes `error`, with a null result.
template <class Load, class Done>
void load_in_background(QObject* owner, Load load, Done done) {
    QPointer<QObject> guard(owner);
    QThreadPool::globalInstance()->start([guard, load = std::move(load), done = std::move(done)]() mutable {
        decltype(load()) result;
        QString error;
        try {
            result = load();
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            guard.data(),
            [guard, result = std::move(result), error, done = std::move(done)] {
                if (guard) done(result, error);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace tllm::ui
