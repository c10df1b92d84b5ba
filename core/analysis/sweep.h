#pragma once
// Error against compression over a grid of ranks, for a Pareto view (docs/method.md section 5).
//
// The estimate, in microseconds per point from the mode spectra s^(n):
//   upper = sqrt(sum_n discarded_n(R_n)) / ||W||   the HOSVD / ST-HOSVD bound (also holds for
//                                                  HOOI started from them)
//   lower = sqrt(max_n discarded_n(R_n)) / ||W||   no Tucker approximation with these ranks can
//                                                  do better: its mode-n unfolding has rank <= R_n
// The exact error lies in [lower, upper]; the tests measure where (upper / exact stays below
// sqrt(3) by construction and is typically within a few percent on real layers).

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "analysis/spectra.h"
#include "model/model.h"
#include "tensor/tensor4.h"
#include "tucker/tucker.h"
#include "util/control.h"

namespace tllm::analysis {

struct SweepPoint {
    std::array<int, 3> ranks{1, 1, 1};
    std::uint64_t params = 0;
    double ratio = 0;
    double error_upper = 0;  ///< the estimate shown (a guaranteed bound)
    double error_lower = 0;
    double error_exact = std::numeric_limits<double>::quiet_NaN();  ///< set by sweep_exact
};

/// A grid: R1 over ~`steps` geometrically spaced values in 1..d, R2 over ~`steps` values in
/// 1..dv, R3 in 1..4. Sorted, without duplicates.
std::vector<std::array<int, 3>> default_grid(const model::AttentionShape& s, int steps = 12);

/// Estimates every grid point from the spectra (no decomposition).
std::vector<SweepPoint> sweep_estimate(const ModeSpectra& spectra, const model::AttentionShape& s,
                                       const std::vector<std::array<int, 3>>& grid);

/// Fills error_exact of every point by decomposing W with `base` (its ranks replaced).
void sweep_exact(const tensor::Tensor4& W, std::vector<SweepPoint>& points, tucker::TuckerOptions base,
                 const util::Control& ctl = {});

/// Indices of the Pareto-optimal points (no other point has both a higher ratio and a lower
/// error), by exact error where known, else the upper estimate; sorted by ratio.
std::vector<std::size_t> pareto_front(const std::vector<SweepPoint>& points);

}  // namespace tllm::analysis
