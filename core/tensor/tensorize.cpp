#include "tensor/tensorize.h"

#include <map>
#include <stdexcept>

namespace tllm::tensor {
namespace {

using model::AttentionLayer;
using model::PartSource;

// Query head i reads head j = i / group of K and V, and head i of Q and O.
int source_head(int t, int i, int group) { return (t == 1 || t == 2) ? i / group : i; }

}  // namespace

Tensor4 tensorize(const model::Model& m, int layer, const util::Control& ctl) {
    const auto& S = m.shape();
    const AttentionLayer& L = m.layer(layer);
    Tensor4 W({S.d, S.dv, 4, S.h});
    const int group = S.group();

    // Group the four parts by checkpoint tensor (a fused qkv tensor feeds three).
    std::map<std::string, std::vector<int>> by_tensor;
    for (int t = 0; t < 4; ++t) by_tensor[L.parts[t].tensor].push_back(t);

    std::vector<float> row;
    for (const auto& [name, types] : by_tensor) {
        const auto ref = m.checkpoint().at(name);
        const auto& info = *ref.info;
        const std::uint64_t rows = info.shape[0], cols = info.shape[1];
        if (L.parts[types.front()].head_axis_rows) {
            // Each slice column b is one stored row of length d: contiguous reads.
            for (int t : types) {
                const PartSource& p = L.parts[t];
                for (int i = 0; i < S.h; ++i) {
                    ctl.check();
                    const int j = source_head(t, i, group);
                    float* dst = W.slice(t, i);
                    for (int b = 0; b < S.dv; ++b) {
                        const std::uint64_t r = p.offset + std::uint64_t(j) * p.stride + b;
                        ref.file->read_f32(info, r * cols, cols, dst + std::int64_t(b) * S.d);
                    }
                }
            }
        } else {
            // Head axis along the columns: convert one stored row (a fixed model dim a) at a
            // time and scatter it to every slice.
            row.resize(cols);
            for (std::uint64_t a = 0; a < rows; ++a) {
                if (a % 64 == 0) ctl.check();
                ref.file->read_f32(info, a * cols, cols, row.data());
                for (int t : types) {
                    const PartSource& p = L.parts[t];
                    for (int i = 0; i < S.h; ++i) {
                        const int j = source_head(t, i, group);
                        float* dst = W.slice(t, i);
                        const float* src = row.data() + p.offset + std::uint64_t(j) * p.stride;
                        for (int b = 0; b < S.dv; ++b) dst[a + std::uint64_t(b) * S.d] = src[b];
                    }
                }
            }
        }
        // Converted: the mapped bf16/f16 pages need not stay in the resident set.
        ref.file->release(info);
    }
    return W;
}

std::vector<RebuiltTensor> detensorize(const model::Model& m, int layer, const Tensor4& w) {
    const auto& S = m.shape();
    if (w.dim != std::array<std::int64_t, 4>{S.d, S.dv, 4, S.h})
        throw std::invalid_argument("detensorize: tensor dimensions (" + std::to_string(w.dim[0]) + ", " +
                                    std::to_string(w.dim[1]) + ", " + std::to_string(w.dim[2]) + ", " +
                                    std::to_string(w.dim[3]) + ") do not match the layer (" + std::to_string(S.d) +
                                    ", " + std::to_string(S.dv) + ", 4, " + std::to_string(S.h) + ")");
    const AttentionLayer& L = m.layer(layer);
    const int group = S.group();
    std::map<std::string, std::vector<int>> by_tensor;
    for (int t = 0; t < 4; ++t) by_tensor[L.parts[t].tensor].push_back(t);

    std::vector<RebuiltTensor> out;
    for (const auto& [name, types] : by_tensor) {
        const auto& info = *m.checkpoint().at(name).info;
        const std::uint64_t rows = info.shape[0], cols = info.shape[1];
        // Accumulate in double: the mean of m identical float copies is then exact.
        std::vector<double> acc(rows * cols, 0.0);
        for (int t : types) {
            const PartSource& p = L.parts[t];
            const double weight = (t == 1 || t == 2) ? 1.0 / group : 1.0;
            const bool kv = (t == 1 || t == 2) && group > 1;
            for (int i = 0; i < S.h; ++i) {
                const int j = source_head(t, i, group);
                const float* src = w.slice(t, i);
                for (int b = 0; b < S.dv; ++b) {
                    const std::uint64_t k = p.offset + std::uint64_t(j) * p.stride + b;
                    for (int a = 0; a < S.d; ++a) {
                        const std::uint64_t idx = p.head_axis_rows ? k * cols + a : std::uint64_t(a) * cols + k;
                        const double v = src[a + std::int64_t(b) * S.d];
                        if (kv)
                            acc[idx] += v;
                        else
                            acc[idx] = v * weight;
                    }
                }
            }
            if (kv) {
                // Divide once after summing (sum of m equal floats is exact in double).
                for (int j = 0; j < p.heads; ++j)
                    for (int b = 0; b < S.dv; ++b) {
                        const std::uint64_t k = p.offset + std::uint64_t(j) * p.stride + b;
                        for (int a = 0; a < S.d; ++a) {
                            const std::uint64_t idx = p.head_axis_rows ? k * cols + a : std::uint64_t(a) * cols + k;
                            acc[idx] /= group;
                        }
                    }
            }
        }
        RebuiltTensor r;
        r.name = name;
        r.dtype = io::dtype_for_rewrite(info.dtype);
        r.shape = info.shape;
        std::vector<float> f(acc.size());
        for (std::size_t i = 0; i < acc.size(); ++i) f[i] = static_cast<float>(acc[i]);
        r.bytes.resize(f.size() * io::dtype_size(r.dtype));
        io::from_float32(r.dtype, f.data(), f.size(), r.bytes.data());
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace tllm::tensor
