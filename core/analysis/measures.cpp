#include "analysis/measures.h"

#include <cmath>

#include <Eigen/Dense>
#include <cblas.h>
#include <tbb/parallel_for.h>

#include "analysis/compression.h"
#include "tucker/linalg.h"

namespace tllm::analysis {

int worst_slice(const LayerMeasures& m) {
    int w = 0;
    for (int t = 1; t < 4; ++t)
        if (m.type_error[std::size_t(t)] > m.type_error[std::size_t(w)]) w = t;
    return w;
}

LayerMeasures measure(const tensor::Tensor4& W, const tucker::TuckerResult& r, const model::AttentionShape& S,
                      const ModeSpectra* spectra, bool slice_spectra, const util::Control& ctl) {
    const std::int64_t d = W.dim[0], dv = W.dim[1], h = W.dim[3];
    const auto& U1 = r.factors[0];
    const auto& U2 = r.factors[1];
    const auto& U3 = r.factors[2];
    const std::int64_t R1 = r.core.dim[0], R2 = r.core.dim[1], R3 = r.core.dim[2];
    LayerMeasures m;
    m.head_type_error.resize(static_cast<std::size_t>(h));
    m.head_error.resize(static_cast<std::size_t>(h));
    if (slice_spectra) m.head_type_sv.resize(static_cast<std::size_t>(h));
    // Per head: squared differences and squared norms of its four slices.
    std::vector<std::array<double, 4>> diff(static_cast<std::size_t>(h)), norm(static_cast<std::size_t>(h));
    tucker::init_blas();
    tbb::parallel_for(std::int64_t(0), h, [&](std::int64_t i) {
        ctl.check();
        Eigen::MatrixXf M(R1, R2), tmp(d, R2), S_hat(d, dv);
        for (int t = 0; t < 4; ++t) {
            // Slice t of head i: U1 (sum_r3 U3(t, r3) G_i[:, :, r3]) U2^T. The two products
            // (2 d R1 R2 + 2 d R2 dv FLOP, most of a 7B layer's measures) go through SGEMM.
            M.setZero();
            for (std::int64_t r3 = 0; r3 < R3; ++r3)
                M += U3(t, r3) * Eigen::Map<const Eigen::MatrixXf>(r.core.slice(r3, i), R1, R2);
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(d), int(R2), int(R1), 1.0f, U1.data(), int(d),
                        M.data(), int(R1), 0.0f, tmp.data(), int(d));
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(d), int(dv), int(R2), 1.0f, tmp.data(), int(d),
                        U2.data(), int(dv), 0.0f, S_hat.data(), int(d));
            const Eigen::Map<const Eigen::MatrixXf> X(W.slice(t, i), d, dv);
            double dd = 0, nn = 0;
            for (std::int64_t k = 0; k < d * dv; ++k) {
                const double x = X.data()[k], e = x - double(S_hat.data()[k]);
                dd += e * e;
                nn += x * x;
            }
            diff[static_cast<std::size_t>(i)][t] = dd;
            norm[static_cast<std::size_t>(i)][t] = nn;
            if (slice_spectra)
                m.head_type_sv[static_cast<std::size_t>(i)][t] = thin_singular_values(W.slice(t, i), d, dv);
        }
    });
    auto ratio = [](double a, double b) { return b > 0 ? std::sqrt(a / b) : 0.0; };
    std::array<double, 4> tdiff{}, tnorm{};
    double all_diff = 0, all_norm = 0;
    for (std::int64_t i = 0; i < h; ++i) {
        double hd = 0, hn = 0;
        for (int t = 0; t < 4; ++t) {
            const double a = diff[static_cast<std::size_t>(i)][t], b = norm[static_cast<std::size_t>(i)][t];
            m.head_type_error[static_cast<std::size_t>(i)][t] = ratio(a, b);
            hd += a;
            hn += b;
            tdiff[t] += a;
            tnorm[t] += b;
        }
        m.head_error[static_cast<std::size_t>(i)] = ratio(hd, hn);
        all_diff += hd;
        all_norm += hn;
    }
    for (int t = 0; t < 4; ++t) m.type_error[t] = ratio(tdiff[t], tnorm[t]);
    m.rel_error = ratio(all_diff, all_norm);
    if (spectra)
        for (int n = 0; n < 3; ++n) m.captured_energy[n] = spectra->captured(n, r.ranks[n]);
    m.original_params = S.original_params();
    m.compressed_params = compressed_params(S, r.ranks);
    m.ratio = compression_ratio(S, r.ranks);
    m.head_original_params = analysis::head_original_params(S);
    m.head_compressed_params = analysis::head_compressed_params(S, r.ranks);
    m.head_ratio = m.head_original_params / m.head_compressed_params;
    return m;
}

}  // namespace tllm::analysis
