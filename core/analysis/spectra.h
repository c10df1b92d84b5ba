#pragma once
// Singular-value spectra of a layer tensor's unfoldings (docs/method.md section 4).

#include <array>
#include <cstdint>
#include <vector>

#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::analysis {

/// Singular values (descending) of the mode-n unfoldings of W_all for n = 1, 2, 3 (indices
/// 0..2) and the head mode (index 3, for information), with ||W||^2.
struct ModeSpectra {
    std::array<std::vector<double>, 4> singular_values;
    double norm_sq = 0;

    /// Energy discarded by keeping r leading directions of mode n: sum_{k > r} s_k^2.
    double discarded(int mode, int r) const;
    /// Captured energy sum_{k <= r} s_k^2 / sum_k s_k^2, in [0, 1].
    double captured(int mode, int r) const;
};

/// Computes all four spectra from the mode Gram matrices (double accumulation; eigenvalues
/// only). Cost: about N*(d + dv + 4 + h) FLOP plus O(d^3) for the largest eigenproblem.
ModeSpectra mode_spectra(const tensor::Tensor4& W, const util::Control& ctl = {});

/// Singular values (descending) of a column-major rows x cols matrix, from its cols x cols
/// Gram in double. Meant for the thin per-head slices (cols = head_dim).
std::vector<double> thin_singular_values(const float* data, std::int64_t rows, std::int64_t cols);

}  // namespace tllm::analysis
