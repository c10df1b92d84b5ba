#pragma once
// A dense 4-way float32 tensor in column-major (first index fastest) order.

#include <array>
#include <cstdint>
#include <vector>

namespace tllm::tensor {

/// Dense 4-way tensor, column-major: element (i0, i1, i2, i3) lives at
///   i0 + n0 * (i1 + n1 * (i2 + n2 * i3)).
/// For a layer tensor W_all (d, dv, 4, h) this makes every slice W_i[:, :, t] a contiguous
/// d x dv column-major matrix (slice(t, i)), the mode-1 unfolding a d x (dv*4*h) column-major
/// matrix, and each head's 3-way tensor W_i a contiguous block of d*dv*4 values.
struct Tensor4 {
    std::array<std::int64_t, 4> dim{0, 0, 0, 0};
    std::vector<float> data;

    Tensor4() = default;
    /// Zero-filled tensor of the given dimensions.
    explicit Tensor4(std::array<std::int64_t, 4> dims)
        : dim(dims), data(static_cast<std::size_t>(dims[0] * dims[1] * dims[2] * dims[3]), 0.0f) {}

    std::int64_t size() const { return dim[0] * dim[1] * dim[2] * dim[3]; }
    float& operator()(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t e) {
        return data[static_cast<std::size_t>(a + dim[0] * (b + dim[1] * (c + dim[2] * e)))];
    }
    float operator()(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t e) const {
        return data[static_cast<std::size_t>(a + dim[0] * (b + dim[1] * (c + dim[2] * e)))];
    }
    /// The dim[0] x dim[1] column-major matrix at third index c, fourth index e.
    float* slice(std::int64_t c, std::int64_t e) { return data.data() + dim[0] * dim[1] * (c + dim[2] * e); }
    const float* slice(std::int64_t c, std::int64_t e) const {
        return data.data() + dim[0] * dim[1] * (c + dim[2] * e);
    }
};

}  // namespace tllm::tensor
