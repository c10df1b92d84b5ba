#include "eval/kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <cblas.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

// Float comparisons may be if-converted (vectorised) only without trapping math; nothing
// here relies on floating-point exception flags. GCC does not inline functions compiled
// with other options (std::max, std::bit_cast) into these, so the hot loops avoid them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

namespace tllm::eval::kernels {
namespace {

// e^x in float32 within about 2 ulp for x in [-80, 80], clamped outside (e^-80 stands for 0;
// the clamp keeps every intermediate a normal float: denormals are slow). A Cephes polynomial
// that the compiler vectorises, unlike the libm call (the activations and softmaxes spend
// most of their time in exp).
inline float fast_exp(float x) {
    x = x < -80.0f ? -80.0f : (x > 80.0f ? 80.0f : x);
    // Round x / ln 2 to an integer by the 1.5 * 2^23 trick (no libm call, vectorises).
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;  // ln 2 split in two for an exact reduction
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int bits = (int(n) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);  // not std::bit_cast: see the pragma above
    return p * scale;
}

// Block sizes of matmul: functions of the shape only (never of the thread count).
constexpr int kRowBlock = 256;
// Many rows and a narrow output: one block of columns, so that each row block's input is
// packed once; otherwise narrower blocks, for parallelism within short inputs.
// Each task packs its row block of x once per column block and its columns of w once per
// row block: from kRowBlock rows on, wide outputs take 512 columns per block (fewer packs).
int col_block(int n, int out) {
    if (n >= 4 * kRowBlock && out <= 1024) return out;
    if (n >= kRowBlock && out > 1024) return 512;
    return out <= 512 ? 64 : out <= 4096 ? 128 : 256;
}
// Query rows per attention task.
constexpr int kQueryBlock = 64;

// The activations, each written for one inlined loop body.
inline float gelu_tanh(float x) {
    // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)).
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);  // sqrt(2 / pi) (...)
    return x / (1.0f + fast_exp(-2.0f * u));
}
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }
inline float silu(float x) { return x / (1.0f + fast_exp(-x)); }
inline float relu(float x) { return x > 0 ? x : 0.0f; }

// Applies f to [0, n) in parallel chunks, then g(i) = f(x[i]) or f(x[i]) * y[i].
template <class F>
void map_blocks(std::size_t n, F&& body) {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 8192),
                      [&](const tbb::blocked_range<std::size_t>& r) { body(r.begin(), r.end()); });
}

// The elementwise loops below are compiled for the baseline ISA and for AVX2 / AVX-512,
// picked at load time by the CPU (GCC function multi-versioning). The clones differ only in
// vector width: no reassociation, no contraction (ISO mode has -ffp-contract=off), so every
// clone gives the same bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TLLM_VECTOR_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define TLLM_VECTOR_CLONES
#endif

#define TLLM_ACTIVATION_RANGE(NAME, F)                                                      \
    TLLM_VECTOR_CLONES void NAME(float* x, const float* up, std::size_t b, std::size_t e) { \
        if (up)                                                                             \
            for (std::size_t i = b; i < e; ++i) x[i] = F(x[i]) * up[i];                     \
        else                                                                                \
            for (std::size_t i = b; i < e; ++i) x[i] = F(x[i]);                             \
    }
TLLM_ACTIVATION_RANGE(gelu_tanh_range, gelu_tanh)
TLLM_ACTIVATION_RANGE(gelu_erf_range, gelu_erf)
TLLM_ACTIVATION_RANGE(silu_range, silu)
TLLM_ACTIVATION_RANGE(relu_range, relu)
#undef TLLM_ACTIVATION_RANGE

void apply_activation(float* x, const float* up, std::size_t n, Activation a) {
    void (*range)(float*, const float*, std::size_t, std::size_t) = nullptr;
    switch (a) {
        case Activation::GeluTanh: range = gelu_tanh_range; break;
        case Activation::GeluErf: range = gelu_erf_range; break;
        case Activation::Silu: range = silu_range; break;
        case Activation::Relu: range = relu_range; break;
    }
    map_blocks(n, [&](std::size_t b, std::size_t e) { range(x, up, b, e); });
}

// sum_j x_j (m = 0) or sum_j (x_j - m)^2 (otherwise) in double, in eight interleaved partial
// sums (j mod 8, one vector register of doubles) added pairwise at the end: a fixed order.
TLLM_VECTOR_CLONES double row_sum(const float* x, int d, double m) {
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int d8 = d - d % 8;
    if (m == 0.0) {
        for (int j = 0; j < d8; j += 8)
            for (int k = 0; k < 8; ++k) p[k] += double(x[j + k]);
        for (int j = d8; j < d; ++j) p[j - d8] += double(x[j]);
    } else {
        for (int j = 0; j < d8; j += 8)
            for (int k = 0; k < 8; ++k) {
                const double v = double(x[j + k]) - m;
                p[k] += v * v;
            }
        for (int j = d8; j < d; ++j) {
            const double v = double(x[j]) - m;
            p[j - d8] += v * v;
        }
    }
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// (x - m) * inv * w + b of one row.
TLLM_VECTOR_CLONES void norm_row(float* y, const float* x, float m, float inv, const float* w, const float* b, int d) {
    if (b)
        for (int j = 0; j < d; ++j) y[j] = (x[j] - m) * inv * w[j] + b[j];
    else
        for (int j = 0; j < d; ++j) y[j] = (x[j] - m) * inv * w[j] + 0.0f;
}

// One attention row's scores s[0, nk): exp(s - max) on [a, e), normalised, zero elsewhere.
TLLM_VECTOR_CLONES void softmax_row(float* s, int a, int e, int nk) {
    float mx = s[a];
    for (int j = a + 1; j < e; ++j) mx = s[j] > mx ? s[j] : mx;
    for (int j = a; j < e; ++j) s[j] = fast_exp(s[j] - mx);
    const float inv = float(1.0 / row_sum(s + a, e - a, 0.0));
    for (int j = 0; j < a; ++j) s[j] = 0.0f;
    for (int j = a; j < e; ++j) s[j] *= inv;
    for (int j = e; j < nk; ++j) s[j] = 0.0f;
}

TLLM_VECTOR_CLONES void exp_shifted(float* e, const float* z, int m, float mx) {
    for (int j = 0; j < m; ++j) e[j] = fast_exp(z[j] - mx);
}

TLLM_VECTOR_CLONES void add_range(float* x, const float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

void matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out) {
    const int nb = col_block(n, out);
    const int row_blocks = (n + kRowBlock - 1) / kRowBlock, col_blocks = (out + nb - 1) / nb;
    tbb::parallel_for(0, row_blocks * col_blocks, [&](int task) {
        const int r0 = (task / col_blocks) * kRowBlock, c0 = (task % col_blocks) * nb;
        const int nr = std::min(kRowBlock, n - r0), nc = std::min(nb, out - c0);
        // The bias is the initial C (beta = 1): no separate pass over y.
        if (b)
            for (int r = r0; r < r0 + nr; ++r) std::copy_n(b + c0, nc, y + std::size_t(r) * out + c0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, in, 1.0f, x + std::size_t(r0) * in, in,
                    w + std::size_t(c0) * in, in, b ? 1.0f : 0.0f, y + std::size_t(r0) * out + c0, out);
    });
}

void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps) {
    tbb::parallel_for(tbb::blocked_range<int>(0, n, 16), [&](const tbb::blocked_range<int>& r) {
        for (int i = r.begin(); i < r.end(); ++i) {
            const float* xi = x + std::size_t(i) * d;
            float* yi = y + std::size_t(i) * d;
            const double mean = row_sum(xi, d, 0.0) / d;
            const double var = row_sum(xi, d, mean) / d;
            const float inv = float(1.0 / std::sqrt(var + double(eps)));
            norm_row(yi, xi, float(mean), inv, w, b, d);
        }
    });
}

void rmsnorm(float* y, const float* x, const float* w, int n, int d, float eps) {
    tbb::parallel_for(tbb::blocked_range<int>(0, n, 16), [&](const tbb::blocked_range<int>& r) {
        for (int i = r.begin(); i < r.end(); ++i) {
            const float* xi = x + std::size_t(i) * d;
            float* yi = y + std::size_t(i) * d;
            double ss = 0;
            for (int j = 0; j < d; ++j) ss += double(xi[j]) * xi[j];
            const float inv = float(1.0 / std::sqrt(ss / d + double(eps)));
            for (int j = 0; j < d; ++j) yi[j] = w[j] * (xi[j] * inv);
        }
    });
}

void rope(float* v, int n, int heads, int dv, int half, const float* cos, const float* sin) {
    for (int i = 0; i < n; ++i) {
        const float* c = cos + std::size_t(i) * half;
        const float* s = sin + std::size_t(i) * half;
        for (int h = 0; h < heads; ++h) {
            float* p = v + (std::size_t(i) * heads + h) * dv;
            for (int j = 0; j < half; ++j) {
                const float x1 = p[j], x2 = p[j + half];
                p[j] = x1 * c[j] - x2 * s[j];
                p[j + half] = x2 * c[j] + x1 * s[j];
            }
        }
    }
}

void attention(float* out, const float* q, const float* kc, const float* vc, int n, int pos, int h, int n_kv, int dv,
               float scale, int window) {
    const int hd = h * dv, kvd = n_kv * dv, group = h / n_kv;
    const int row_blocks = (n + kQueryBlock - 1) / kQueryBlock;
    tbb::parallel_for(0, h * row_blocks, [&](int task) {
        const int head = task / row_blocks, r0 = (task % row_blocks) * kQueryBlock;
        const int nr = std::min(kQueryBlock, n - r0), g = head / group;
        const int kend = pos + r0 + nr;  // keys [kbeg, kend) cover every row of the block
        const int kbeg = window > 0 ? std::max(0, pos + r0 - window + 1) : 0;
        const int nk = kend - kbeg;
        // Scores in a per-thread buffer kept between tasks (no allocation, no fresh pages).
        thread_local std::vector<float> buffer;
        if (buffer.size() < std::size_t(nr) * nk) buffer.resize(std::size_t(nr) * nk);
        float* S = buffer.data();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, dv, scale, q + std::size_t(r0) * hd + head * dv,
                    hd, kc + std::size_t(kbeg) * kvd + g * dv, kvd, 0.0f, S, nk);
        for (int i = 0; i < nr; ++i) {
            const int p = pos + r0 + i;  // this query's position: keys lo..p
            const int lo = window > 0 ? std::max(kbeg, p - window + 1) : 0;
            softmax_row(S + std::size_t(i) * nk, lo - kbeg, p - kbeg + 1, nk);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dv, nk, 1.0f, S, nk,
                    vc + std::size_t(kbeg) * kvd + g * dv, kvd, 0.0f, out + std::size_t(r0) * hd + head * dv, hd);
    });
}

double sum_exp(const float* z, int n, float mx) {
    double sum = 0;
    constexpr int kChunk = 256;
    float e[kChunk];
    for (int j0 = 0; j0 < n; j0 += kChunk) {
        const int m = std::min(kChunk, n - j0);
        exp_shifted(e, z + j0, m, mx);
        for (int j = 0; j < m; ++j) sum += e[j];
    }
    return sum;
}

void add(float* x, const float* y, std::size_t n) { add_range(x, y, n); }

void activate(float* x, std::size_t n, Activation act) { apply_activation(x, nullptr, n, act); }

void activate_mul(float* gate, const float* up, std::size_t n, Activation act) { apply_activation(gate, up, n, act); }

}  // namespace tllm::eval::kernels
