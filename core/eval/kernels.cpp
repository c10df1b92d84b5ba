#include "eval/kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <cblas.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace tllm::eval::kernels {
namespace {

// Block sizes of matmul: functions of the shape only (never of the thread count).
constexpr int kRowBlock = 256;
int col_block(int out) { return out <= 512 ? 64 : out <= 4096 ? 128 : 256; }
// Query rows per attention task.
constexpr int kQueryBlock = 64;

float act1(float x, Activation a) {
    switch (a) {
        case Activation::GeluTanh: {
            const float k = 0.7978845608028654f;  // sqrt(2 / pi)
            return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
        }
        case Activation::GeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
        case Activation::Silu: return x / (1.0f + std::exp(-x));
        case Activation::Relu: return x > 0 ? x : 0.0f;
    }
    return x;
}

}  // namespace

void matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out) {
    const int nb = col_block(out);
    const int row_blocks = (n + kRowBlock - 1) / kRowBlock, col_blocks = (out + nb - 1) / nb;
    tbb::parallel_for(0, row_blocks * col_blocks, [&](int task) {
        const int r0 = (task / col_blocks) * kRowBlock, c0 = (task % col_blocks) * nb;
        const int nr = std::min(kRowBlock, n - r0), nc = std::min(nb, out - c0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, in, 1.0f, x + std::size_t(r0) * in, in,
                    w + std::size_t(c0) * in, in, 0.0f, y + std::size_t(r0) * out + c0, out);
        if (b)
            for (int r = r0; r < r0 + nr; ++r) {
                float* yr = y + std::size_t(r) * out;
                for (int c = c0; c < c0 + nc; ++c) yr[c] += b[c];
            }
    });
}

void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps) {
    tbb::parallel_for(tbb::blocked_range<int>(0, n, 16), [&](const tbb::blocked_range<int>& r) {
        for (int i = r.begin(); i < r.end(); ++i) {
            const float* xi = x + std::size_t(i) * d;
            float* yi = y + std::size_t(i) * d;
            double mean = 0, var = 0;
            for (int j = 0; j < d; ++j) mean += xi[j];
            mean /= d;
            for (int j = 0; j < d; ++j) var += (xi[j] - mean) * (xi[j] - mean);
            var /= d;
            const float inv = float(1.0 / std::sqrt(var + double(eps)));
            const float m = float(mean);
            for (int j = 0; j < d; ++j) yi[j] = (xi[j] - m) * inv * w[j] + (b ? b[j] : 0.0f);
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

void attention(float* out, const float* q, const float* kc, const float* vc, int n, int pos, int h, int n_kv,
               int dv, float scale, int window) {
    const int hd = h * dv, kvd = n_kv * dv, group = h / n_kv;
    const int row_blocks = (n + kQueryBlock - 1) / kQueryBlock;
    tbb::parallel_for(0, h * row_blocks, [&](int task) {
        const int head = task / row_blocks, r0 = (task % row_blocks) * kQueryBlock;
        const int nr = std::min(kQueryBlock, n - r0), g = head / group;
        const int kend = pos + r0 + nr;  // keys [kbeg, kend) cover every row of the block
        const int kbeg = window > 0 ? std::max(0, pos + r0 - window + 1) : 0;
        const int nk = kend - kbeg;
        std::vector<float> S(std::size_t(nr) * nk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, dv, scale, q + std::size_t(r0) * hd + head * dv, hd,
                    kc + std::size_t(kbeg) * kvd + g * dv, kvd, 0.0f, S.data(), nk);
        for (int i = 0; i < nr; ++i) {
            const int p = pos + r0 + i;  // this query's position: keys lo..p
            const int lo = window > 0 ? std::max(kbeg, p - window + 1) : 0;
            float* s = S.data() + std::size_t(i) * nk;
            const int a = lo - kbeg, e = p - kbeg + 1;
            float mx = s[a];
            for (int j = a + 1; j < e; ++j) mx = std::max(mx, s[j]);
            double sum = 0;
            for (int j = a; j < e; ++j) {
                s[j] = std::exp(s[j] - mx);
                sum += s[j];
            }
            const float inv = float(1.0 / sum);
            for (int j = 0; j < a; ++j) s[j] = 0.0f;
            for (int j = a; j < e; ++j) s[j] *= inv;
            for (int j = e; j < nk; ++j) s[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, dv, nk, 1.0f, S.data(), nk,
                    vc + std::size_t(kbeg) * kvd + g * dv, kvd, 0.0f, out + std::size_t(r0) * hd + head * dv, hd);
    });
}

void add(float* x, const float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
}

void activate(float* x, std::size_t n, Activation act) {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4096), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i < r.end(); ++i) x[i] = act1(x[i], act);
    });
}

void activate_mul(float* gate, const float* up, std::size_t n, Activation act) {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4096), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i < r.end(); ++i) gate[i] = act1(gate[i], act) * up[i];
    });
}

}  // namespace tllm::eval::kernels
