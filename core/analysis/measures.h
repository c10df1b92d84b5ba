#pragma once
// Per-layer, per-head and per-type measures of a decomposition (docs/method.md section 4).

#include <array>
#include <cstdint>
#include <vector>

#include "analysis/spectra.h"
#include "model/model.h"
#include "tensor/tensor4.h"
#include "tucker/tucker.h"
#include "util/control.h"

namespace tllm::analysis {

struct LayerMeasures {
    double rel_error = 0;                                ///< ||W - W_hat||_F / ||W||_F (from the slices, double)
    std::array<double, 4> type_error{};                  ///< per Q, K, V, O over all heads
    std::vector<std::array<double, 4>> head_type_error;  ///< [head][type]
    std::vector<double> head_error;                      ///< [head], over the head's four slices
    /// Singular values of each original slice W_i[:, :, t] (d x dv): [head][type][k].
    std::vector<std::array<std::vector<double>, 4>> head_type_sv;
    std::array<double, 3> captured_energy{};  ///< per mode at the chosen ranks (needs spectra)
    std::uint64_t original_params = 0, compressed_params = 0;
    double ratio = 0;
    double head_original_params = 0, head_compressed_params = 0, head_ratio = 0;
};

/// Index (0..3: Q, K, V, O) of the slice type with the largest relative error.
int worst_slice(const LayerMeasures& m);
/// A slice error above this is highlighted (the slice has lost more than half its norm).
inline constexpr double kSliceErrorWarning = 0.5;

/// Computes every measure of `r` against the original `W`. The per-slice errors reconstruct
/// one d x dv slice at a time (memory: one slice per thread), differences in double.
/// `spectra` may be null (captured_energy is then left at 0). `slice_spectra` computes the
/// per-head per-type singular values. Deterministic for any thread count.
LayerMeasures measure(const tensor::Tensor4& W, const tucker::TuckerResult& r, const model::AttentionShape& shape,
                      const ModeSpectra* spectra, bool slice_spectra = true, const util::Control& ctl = {});

}  // namespace tllm::analysis
