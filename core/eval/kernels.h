#pragma once
// The numerical building blocks of the forward pass (eval/forward.h), on row-major float32
// buffers. Work is split into blocks whose shapes depend only on the problem size and run
// with oneTBB, each block one single-threaded cblas_sgemm call or loop: the result is the
// same for any thread count.

#include <cstddef>

#include "eval/forward.h"

namespace tllm::eval::kernels {

/// sum_j exp(z[j] - mx) over j < n, in float64 (the denominator of a softmax).
double sum_exp(const float* z, int n, float mx);
/// y (n, out) = x (n, in) W^T + b, with W (out, in) row-major (nn.Linear) and b (out) or null.
void matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out);
/// LayerNorm of each row of x (n, d): (x - mean) / sqrt(var + eps) * w + b (biased variance).
void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps);
/// RMSNorm of each row: x / sqrt(mean(x^2) + eps) * w.
void rmsnorm(float* y, const float* x, const float* w, int n, int d, float eps);
/// rotate_half RoPE on the first 2*half dims of each head of v (n, heads*dv) in place:
/// (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), cos/sin (n, half) per token.
void rope(float* v, int n, int heads, int dv, int half, const float* cos, const float* sin);
/// Causal (optionally sliding-window) attention for n queries at positions pos..pos+n-1:
/// out (n, h*dv) = softmax(scale q k^T + mask) v per head, keys/values from the layer's
/// cache (positions, n_kv*dv); query head i uses kv head i / (h / n_kv). With window > 0,
/// query position p sees keys j with p - window < j <= p.
void attention(float* out, const float* q, const float* kc, const float* vc, int n, int pos, int h, int n_kv, int dv,
               float scale, int window);
/// x += y elementwise.
void add(float* x, const float* y, std::size_t n);
/// x = act(x) elementwise.
void activate(float* x, std::size_t n, Activation act);
/// gate = act(gate) * up elementwise (SwiGLU).
void activate_mul(float* gate, const float* up, std::size_t n, Activation act);

}  // namespace tllm::eval::kernels
