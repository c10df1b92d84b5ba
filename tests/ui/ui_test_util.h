#pragma once
// Helpers for the offscreen widget tests.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>
#include <filesystem>
#include <functional>
#include <string>

namespace tllm::test {

/// Processes events until `cond` holds or `timeout_ms` passes; returns whether it held.
inline bool wait_for(const std::function<bool()>& cond, int timeout_ms) {
    QElapsedTimer t;
    t.start();
    while (!cond()) {
        if (t.elapsed() > timeout_ms) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(2);
    }
    return true;
}

/// The bundled stories260K checkpoint (tests/data/stories260K), or "" when it is missing.
inline std::string stories() {
    const std::string p = std::string(TLLM_TEST_DIR) + "/data/stories260K";
    return std::filesystem::exists(p + "/model.safetensors") ? p : std::string();
}

}  // namespace tllm::test
