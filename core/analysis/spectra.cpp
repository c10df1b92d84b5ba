#include "analysis/spectra.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>
#include <cblas.h>

#include "tucker/linalg.h"

namespace tllm::analysis {

double ModeSpectra::discarded(int mode, int r) const {
    const auto& s = singular_values[static_cast<std::size_t>(mode)];
    double sum = 0;
    // Sum the tail from the smallest value up: better rounding for long tails.
    for (std::size_t k = s.size(); k > static_cast<std::size_t>(std::max(r, 0)); --k) sum += s[k - 1] * s[k - 1];
    return sum;
}

double ModeSpectra::captured(int mode, int r) const {
    const auto& s = singular_values[static_cast<std::size_t>(mode)];
    double total = 0;
    for (double x : s) total += x * x;
    if (total <= 0) return 1.0;
    return std::clamp(1.0 - discarded(mode, r) / total, 0.0, 1.0);
}

ModeSpectra mode_spectra(const tensor::Tensor4& W, const util::Control& ctl) {
    ModeSpectra s;
    s.norm_sq = tucker::norm_sq(W);
    for (int n = 0; n < 4; ++n) {
        const Eigen::MatrixXd G = tucker::mode_gram(W, n, ctl.sub(n / 4.0f, (n + 0.9f) / 4.0f));
        ctl.check();
        const Eigen::VectorXd ev = tucker::all_eigenvalues(G);
        auto& sv = s.singular_values[static_cast<std::size_t>(n)];
        sv.resize(static_cast<std::size_t>(ev.size()));
        for (Eigen::Index k = 0; k < ev.size(); ++k) sv[static_cast<std::size_t>(k)] = std::sqrt(std::max(0.0, ev[k]));
        ctl.report((n + 1) / 4.0f);
    }
    return s;
}

std::vector<double> thin_singular_values(const float* data, std::int64_t rows, std::int64_t cols) {
    const Eigen::Map<const Eigen::MatrixXf> X(data, rows, cols);
    const Eigen::MatrixXd Xd = X.cast<double>();
    // C = Xd^T Xd by DSYRK into the lower triangle, the one the eigensolver reads.
    tucker::init_blas();
    Eigen::MatrixXd C = Eigen::MatrixXd::Zero(cols, cols);
    if (rows > 0 && cols > 0)
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, int(cols), int(rows), 1.0, Xd.data(), int(rows), 0.0,
                    C.data(), int(cols));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(C, Eigen::EigenvaluesOnly);
    std::vector<double> sv(static_cast<std::size_t>(cols));
    for (std::int64_t k = 0; k < cols; ++k)
        sv[static_cast<std::size_t>(k)] = std::sqrt(std::max(0.0, es.eigenvalues()[cols - 1 - k]));
    return sv;
}

}  // namespace tllm::analysis
