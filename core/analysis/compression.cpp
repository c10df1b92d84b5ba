#include "analysis/compression.h"

namespace tllm::analysis {

std::uint64_t compressed_params(const model::AttentionShape& s, const std::array<int, 3>& r) {
    return std::uint64_t(s.d) * r[0] + std::uint64_t(s.dv) * r[1] + 4ull * r[2] +
           std::uint64_t(s.h) * r[0] * r[1] * r[2];
}

double compression_ratio(const model::AttentionShape& s, const std::array<int, 3>& r) {
    return double(s.original_params()) / double(compressed_params(s, r));
}

double head_original_params(const model::AttentionShape& s) { return double(s.original_params()) / s.h; }

double head_compressed_params(const model::AttentionShape& s, const std::array<int, 3>& r) {
    return double(r[0]) * r[1] * r[2] + (double(s.d) * r[0] + double(s.dv) * r[1] + 4.0 * r[2]) / s.h;
}

}  // namespace tllm::analysis
