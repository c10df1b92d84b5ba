#pragma once
// Cancellation and progress for long computations: kernels check a cancel token at block
// boundaries and publish progress through an atomic, so a GUI or CLI can sample both from
// another thread without locks.

#include <atomic>
#include <exception>

namespace tllm::util {

/// Thrown by Control::check() when the user cancelled; job runners turn it into a status.
struct Cancelled : std::exception {
    const char* what() const noexcept override { return "cancelled"; }
};

/// A cancel token and a progress sink, both optional. Cheap to copy.
struct Control {
    const std::atomic<bool>* cancel = nullptr;  ///< set to true from any thread to cancel
    std::atomic<float>* progress = nullptr;     ///< fraction in [0, 1] of this computation
    float progress_base = 0.0f;                 ///< maps local progress p to base + span * p
    float progress_span = 1.0f;

    bool cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
    /// Throws Cancelled when the token is set.
    void check() const {
        if (cancelled()) throw Cancelled{};
    }
    /// Publishes local progress p in [0, 1].
    void report(float p) const {
        if (progress) progress->store(progress_base + progress_span * p, std::memory_order_relaxed);
    }
    /// A Control for the sub-range [a, b] of this one's progress.
    Control sub(float a, float b) const {
        Control c = *this;
        c.progress_base = progress_base + progress_span * a;
        c.progress_span = progress_span * (b - a);
        return c;
    }
};

}  // namespace tllm::util
