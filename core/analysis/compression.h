#pragma once
// Parameter counts and compression ratios (docs/method.md section 4; biases excluded).

#include <array>
#include <cstdint>

#include "model/model.h"

namespace tllm::analysis {

/// N_comp = d*R1 + dv*R2 + 4*R3 + h*R1*R2*R3.
std::uint64_t compressed_params(const model::AttentionShape& s, const std::array<int, 3>& r);
/// CR = N_orig / N_comp, N_orig = 2*d*h*dv + 2*d*n_kv*dv (the weights as stored).
double compression_ratio(const model::AttentionShape& s, const std::array<int, 3>& r);
/// Per head (we define): the head's own original parameters N_orig / h (its Q and O slices
/// and its 1/m share of the group's K and V) over R1*R2*R3 + (d*R1 + dv*R2 + 4*R3) / h (its
/// core plus an even share of the shared factors). Equal for every head of a layer since
/// every head's core has the same size.
double head_original_params(const model::AttentionShape& s);
double head_compressed_params(const model::AttentionShape& s, const std::array<int, 3>& r);

}  // namespace tllm::analysis
