#pragma once
// A dense 4-way float32 tensor in column-major (first index fastest) order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

#include <sys/mman.h>

namespace tllm::tensor {

/// Allocator for tensor storage. Two things make it faster than std::allocator for the
/// 10^7-10^8-element intermediates of a decomposition, where zero-filling fresh buffers and
/// 4 KiB page faults otherwise take a large share of the time (docs/performance.md):
///  - elements are default-initialised, so a buffer that a kernel overwrites anyway is not
///    zero-filled first (Tensor4(dims) still zero-fills explicitly; Tensor4::uninitialized
///    does not);
///  - blocks of 32 MiB and more are 2 MiB-aligned and advised as transparent huge pages, so
///    the first touch faults once per 2 MiB instead of once per 4 KiB.
template <class T>
struct TensorAllocator {
    using value_type = T;
    static constexpr std::size_t kHuge = std::size_t(2) << 20;
    // Only blocks above glibc's largest mmap threshold (32 MiB): smaller ones come from the
    // malloc heap, which reuses them without faults, and 2 MiB alignment would fragment it.
    static constexpr std::size_t kHugeFrom = std::size_t(32) << 20;
    TensorAllocator() = default;
    template <class U>
    TensorAllocator(const TensorAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        void* p = nullptr;
        if (bytes >= kHugeFrom) {
            p = std::aligned_alloc(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
            if (p) ::madvise(p, (bytes + kHuge - 1) / kHuge * kHuge, MADV_HUGEPAGE);  // advice only
        } else {
            p = std::malloc(bytes ? bytes : 1);
        }
        if (!p) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        if constexpr (sizeof...(Args) == 0)
            ::new (static_cast<void*>(p)) U;  // default-initialise: no zero fill
        else
            ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
    template <class U>
    bool operator==(const TensorAllocator<U>&) const noexcept {
        return true;
    }
};

using FloatBuffer = std::vector<float, TensorAllocator<float>>;

/// Dense 4-way tensor, column-major: element (i0, i1, i2, i3) lives at
///   i0 + n0 * (i1 + n1 * (i2 + n2 * i3)).
/// For a layer tensor W_all (d, dv, 4, h) this makes every slice W_i[:, :, t] a contiguous
/// d x dv column-major matrix (slice(t, i)), the mode-1 unfolding a d x (dv*4*h) column-major
/// matrix, and each head's 3-way tensor W_i a contiguous block of d*dv*4 values.
struct Tensor4 {
    std::array<std::int64_t, 4> dim{0, 0, 0, 0};
    FloatBuffer data;

    Tensor4() = default;
    /// Zero-filled tensor of the given dimensions.
    explicit Tensor4(std::array<std::int64_t, 4> dims)
        : dim(dims), data(static_cast<std::size_t>(dims[0] * dims[1] * dims[2] * dims[3]), 0.0f) {}
    /// A tensor whose elements the caller overwrites (no zero fill).
    static Tensor4 uninitialized(std::array<std::int64_t, 4> dims) {
        Tensor4 t;
        t.dim = dims;
        t.data = FloatBuffer(static_cast<std::size_t>(dims[0] * dims[1] * dims[2] * dims[3]));
        return t;
    }

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
