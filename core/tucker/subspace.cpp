#include "tucker/subspace.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <cblas.h>
#include <lapacke.h>
#include <tbb/parallel_for.h>

#include "tucker/linalg.h"

namespace tllm::tucker {
namespace {

using tensor::Tensor4;

constexpr std::int64_t kRowBlock = 256;   // rows of X per task in Y = X Z
constexpr std::int64_t kColBlock = 512;   // columns of X per task in Z = X^T Q
constexpr std::int64_t kGramRows = 1024;  // rows per float SSYRK chunk in A^T A
// Cholesky QR's second Gram must be this close to the identity (max entry of G - I), or the
// Householder QR answers (orthonormalize).
constexpr double kCholeskyQrMaxDeviation = 1e-2;

void count(double flop) { flop_counter().fetch_add(std::uint64_t(flop), std::memory_order_relaxed); }

// Uniform in [-1, 1) from a hash of (seed, index): no generator state, so any block of the
// random matrix can be filled by any thread with the same values.
float hashed_uniform(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return float(double(z >> 40) * (2.0 / double(1ULL << 24)) - 1.0);
}

void fill_random(Eigen::MatrixXf& A, Eigen::Index col0, std::uint64_t seed) {
    const std::int64_t rows = A.rows();
    tbb::parallel_for(Eigen::Index(col0), A.cols(), [&](Eigen::Index j) {
        for (std::int64_t i = 0; i < rows; ++i) A(i, j) = hashed_uniform(seed, std::uint64_t(j) * rows + i);
    });
}

// Y (I x s) = X (I x M) * Z (M x s), X column-major with leading dimension I, in row blocks
// of X. Also serves the small products by the s x s rotations (X = Z or Q there).
void times(const float* x, std::int64_t I, std::int64_t M, const Eigen::MatrixXf& Z, Eigen::MatrixXf& Y,
           const util::Control& ctl) {
    const std::int64_t s = Z.cols();
    Y.resize(I, s);
    count(2.0 * double(I) * M * s);
    const std::int64_t nb = (I + kRowBlock - 1) / kRowBlock;
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        ctl.check();
        const std::int64_t r0 = b * kRowBlock, nr = std::min(kRowBlock, I - r0);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(nr), int(s), int(M), 1.0f, x + r0, int(I), Z.data(),
                    int(M), 0.0f, Y.data() + r0, int(I));
    });
}

// Z (M x s) = X^T (M x I) * Q (I x s), in column blocks of X.
void times_t(const float* x, std::int64_t I, std::int64_t M, const Eigen::MatrixXf& Q, Eigen::MatrixXf& Z,
             const util::Control& ctl) {
    const std::int64_t s = Q.cols();
    Z.resize(M, s);
    count(2.0 * double(I) * M * s);
    const std::int64_t nb = (M + kColBlock - 1) / kColBlock;
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        ctl.check();
        const std::int64_t c0 = b * kColBlock, nc = std::min(kColBlock, M - c0);
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, int(nc), int(s), int(I), 1.0f, x + c0 * I, int(I),
                    Q.data(), int(I), 0.0f, Z.data() + c0, int(M));
    });
}

// A^T A (s x s) in double: float SSYRK over fixed row chunks, each chunk's result widened and
// the chunks added in order (deterministic for any thread count).
Eigen::MatrixXd gram_of_columns(const Eigen::MatrixXf& A, const util::Control& ctl) {
    const std::int64_t n = A.rows(), s = A.cols();
    count(double(n) * s * (s + 1));
    const std::int64_t nchunks = (n + kGramRows - 1) / kGramRows;
    // At most 16 partial sums: chunks are grouped into consecutive runs by index only.
    const std::int64_t ngroups = std::min<std::int64_t>(nchunks, 16);
    std::vector<Eigen::MatrixXd> partial(static_cast<std::size_t>(ngroups));
    tbb::parallel_for(std::int64_t(0), ngroups, [&](std::int64_t g) {
        Eigen::MatrixXd acc = Eigen::MatrixXd::Zero(s, s);
        Eigen::MatrixXf part(s, s);
        for (std::int64_t c = nchunks * g / ngroups; c < nchunks * (g + 1) / ngroups; ++c) {
            ctl.check();
            const std::int64_t r0 = c * kGramRows, nr = std::min(kGramRows, n - r0);
            cblas_ssyrk(CblasColMajor, CblasUpper, CblasTrans, int(s), int(nr), 1.0f, A.data() + r0, int(n), 0.0f,
                        part.data(), int(s));
            acc.triangularView<Eigen::Upper>() += part.cast<double>();
        }
        partial[static_cast<std::size_t>(g)] = std::move(acc);
    });
    Eigen::MatrixXd C = Eigen::MatrixXd::Zero(s, s);
    for (const auto& p : partial) C += p;
    C.triangularView<Eigen::StrictlyLower>() = C.transpose();
    return C;
}

// Replaces Y (I x s, I >= s) by an orthonormal basis of its columns: Householder QR
// (LAPACK sgeqrf + sorgqr), unconditionally stable, also when Y is rank-deficient.
void householder_orthonormalize(Eigen::MatrixXf& Y) {
    const lapack_int m = lapack_int(Y.rows()), n = lapack_int(Y.cols());
    count(4.0 * double(m) * n * n);
    std::vector<float> tau(static_cast<std::size_t>(n));
    lapack_int info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, m, n, Y.data(), m, tau.data());
    if (info == 0) info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, m, n, n, Y.data(), m, tau.data());
    if (info != 0) throw std::runtime_error("LAPACK QR failed (info " + std::to_string(info) + ")");
}

// One Cholesky QR step: Y <- Y R^{-1} with R^T R = Y^T Y (the Gram from gram_of_columns, in
// double). Returns the Gram, or an empty matrix when its Cholesky factor does not exist in
// floating point (Y numerically rank-deficient), Y then unchanged.
Eigen::MatrixXd cholesky_qr_step(Eigen::MatrixXf& Y, const util::Control& ctl) {
    const std::int64_t m = Y.rows(), n = Y.cols();
    Eigen::MatrixXd G = gram_of_columns(Y, ctl);
    Eigen::MatrixXd R = G;
    count(double(n) * n * n / 3.0 + double(m) * n * n);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', lapack_int(n), R.data(), lapack_int(n)) != 0) return {};
    const Eigen::MatrixXf Rf = R.triangularView<Eigen::Upper>().toDenseMatrix().cast<float>();
    // Rows of Y are independent in Y R^{-1}: fixed row blocks, any thread count.
    const std::int64_t nb = (m + kRowBlock - 1) / kRowBlock;
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        const std::int64_t r0 = b * kRowBlock, nr = std::min(kRowBlock, m - r0);
        cblas_strsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, int(nr), int(n), 1.0f,
                    Rf.data(), int(n), Y.data() + r0, int(m));
    });
    return G;
}

// How often each of the two answered orthonormalize() (orthonormalize_counts()).
std::atomic<std::uint64_t> g_cholesky_qr{0}, g_householder_qr{0};

// Replaces Y (I x s, I >= s) by an orthonormal basis of its columns. Cholesky QR twice
// (CholQR2): the Gram (float SSYRK chunks summed in double) and the triangular solve run on the
// oneTBB pool at the GEMM rate, where LAPACK's Householder QR is single-threaded: on the
// LLaMA-7B layer (4096 x 576) 88 ms per QR, two per cold solve there (the range's, and one
// per sweep that goes on; see docs/performance.md). The first step leaves an orthogonality
// error of about cond(Y)^2 times the Gram's rounding; the second, on a Y whose condition is
// then near 1, brings it to float rounding. When either
// Cholesky factorisation fails, or the second Gram is far from the identity (Y too
// ill-conditioned for the first step), Householder QR on the original Y answers instead.
void orthonormalize(Eigen::MatrixXf& Y, const util::Control& ctl) {
    const Eigen::MatrixXf Y0 = Y;
    bool ok = cholesky_qr_step(Y, ctl).size() > 0;
    if (ok) {
        const Eigen::MatrixXd G = cholesky_qr_step(Y, ctl);
        ok = G.size() > 0 &&
             (G - Eigen::MatrixXd::Identity(G.rows(), G.cols())).cwiseAbs().maxCoeff() < kCholeskyQrMaxDeviation;
    }
    if (!ok) {
        Y = Y0;
        householder_orthonormalize(Y);
    }
    (ok ? g_cholesky_qr : g_householder_qr).fetch_add(1, std::memory_order_relaxed);
}

// Eigen-decomposition of a small symmetric matrix, descending.
void small_eig(const Eigen::MatrixXd& C, Eigen::VectorXd& theta, Eigen::MatrixXd& V) {
    const lapack_int s = lapack_int(C.rows());
    count(9.0 * double(s) * s * s);
    V = C;
    Eigen::VectorXd w(s);
    const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', s, V.data(), s, w.data());
    if (info != 0) throw std::runtime_error("LAPACK dsyevd failed (info " + std::to_string(info) + ")");
    theta = w.reverse();
    V = V.rowwise().reverse().eval();
}

// An estimate (from above, in practice) of the energy one more sweep would add to the R
// leading Ritz values, from their residuals r_j = A u_j - theta_j u_j (A = X X^T, u_j = Q v_j;
// r_j is orthogonal to span(Q)). For one vector, a power step moves the Rayleigh quotient from
// theta to (theta^3 + 2 theta |r|^2 + r^T A r) / (theta^2 + |r|^2), a gain of
// (theta |r|^2 + r^T A r) / (theta^2 + |r|^2) <= |r|^2 (theta + lambda_1) / (theta^2 + |r|^2);
// lambda_1 is taken as theta_1 (the best-converged Ritz value). Summed over j <= R. On the
// LLaMA-7B benchmark layer it reads 2.6-3.2x the gain the next sweep then actually made.
// A u_j comes from the next block Y = A U Theta^{-1/2} (already formed), U (I x R) = Q V_R; the
// residual is formed explicitly, not as |A u|^2 - theta^2, which would lose it to float
// cancellation. Rounding in Y only adds to |r|, i.e. makes the estimate larger. Infinite when a
// leading Ritz value was dropped as negligible (no residual known).
double next_sweep_gain_bound(const Eigen::MatrixXf& U, const Eigen::VectorXd& theta, const Eigen::VectorXd& scale,
                             const Eigen::MatrixXf& Y, int r) {
    for (int j = 0; j < r; ++j)
        if (scale(j) == 0) return std::numeric_limits<double>::infinity();
    std::vector<double> part(static_cast<std::size_t>(r));
    tbb::parallel_for(0, r, [&](int j) {
        const double sq = std::sqrt(theta(j)), th = theta(j);
        double r2 = 0;
        for (Eigen::Index i = 0; i < U.rows(); ++i) {
            const double d = sq * double(Y(i, j)) - th * double(U(i, j));
            r2 += d * d;
        }
        part[static_cast<std::size_t>(j)] = r2 * (th + theta(0)) / (th * th + r2);
    });
    double sum = 0;
    for (double p : part) sum += p;  // in order: the same for any thread count
    return sum;
}

// The oversampling p when the options do not set one: enough columns beyond R for the gap
// between the R-th and (R+p+1)-th singular values to drive convergence.
int default_oversample(int r) { return std::max(16, r / 8); }

}  // namespace

OrthonormalizeCounts orthonormalize_counts() {
    return {g_cholesky_qr.load(std::memory_order_relaxed), g_householder_qr.load(std::memory_order_relaxed)};
}

bool subspace_pays_off(const std::array<std::int64_t, 4>& dims, int mode, int r, bool warm) {
    if (mode != 0) return false;
    const double I = double(dims[0]);
    const double N = I * double(dims[1]) * double(dims[2]) * double(dims[3]);
    // Cold starts only for d > 1024: below that the exact path is fast, and on spectra without a
    // gap just above R (measured on GPT-2 shapes) a cold start needs many sweeps before the
    // stop test passes. Warm starts (HOOI) converge at the first check from d = 512 on.
    if (I < (warm ? 512 : 1025) || N <= 0) return false;
    const double s = r + default_oversample(r);
    if (s > I / 2) return false;
    // Passes over X at 2*N*s each (cold: the range, then two sweeps of two products; warm: one
    // product fewer) against the Gram plus the single-threaded tridiagonalisation, which
    // runs at about a third of the GEMM rate on one core.
    // Grams of up to 1024 rows are accumulated with DGEMM, at about half the SGEMM rate.
    const double passes = warm ? 3.0 : 4.0;
    const double gram = I <= 1024 ? 2.0 * N * I : N * I;
    return 2.0 * passes * N * s < gram + 4.0 * I * I * I;
}

SubspaceResult leading_subspace(const Tensor4& X, int r, const Eigen::MatrixXf* warm, const SubspaceOptions& opt,
                                const util::Control& ctl) {
    init_blas();
    const std::int64_t I = X.dim[0];
    const std::int64_t M = X.dim[1] * X.dim[2] * X.dim[3];
    if (r < 1 || r > I) throw std::invalid_argument("leading_subspace: r must be in 1.." + std::to_string(I));
    const int p = opt.oversample >= 0 ? opt.oversample : default_oversample(r);
    const std::int64_t s = std::min<std::int64_t>({I, M, std::int64_t(r) + p});
    SubspaceResult out;
    if (s < r) return out;  // fewer columns than wanted: only the exact path can answer
    const float* x = X.data.data();
    const double total = norm_sq(X);

    // Starting block Q (I x s).
    Eigen::MatrixXf Q(I, s), Z;
    if (warm && warm->rows() == I && warm->cols() > 0 && warm->cols() <= s) {
        Q.leftCols(warm->cols()) = *warm;
        fill_random(Q, warm->cols(), opt.seed);
    } else {
        Eigen::MatrixXf omega(M, s);
        fill_random(omega, 0, opt.seed);
        times(x, I, M, omega, Q, ctl);
    }
    orthonormalize(Q, ctl);

    Eigen::VectorXd theta;
    Eigen::MatrixXd V;
    Eigen::MatrixXf Ur;  // Q V_R for the current Q and V, once formed (by the residual check)
    double prev = -std::numeric_limits<double>::infinity(), last_gain = 0;
    for (int it = 1; it <= opt.max_iterations; ++it) {
        ctl.check();
        times_t(x, I, M, Q, Z, ctl);  // Z = X^T Q
        small_eig(gram_of_columns(Z, ctl), theta, V);  // Ritz values of X X^T on span(Q)
        out.iterations = it;
        const double energy = theta.head(r).sum();
        if (it >= 2 && energy - prev <= opt.tolerance * total) {
            out.converged = true;
            break;
        }
        // Give up early when the observed rate says the limit will not be reached: the energy
        // gained per sweep shrinks about geometrically (ratio rho) near convergence.
        if (it >= 3 && energy > prev && last_gain > 0) {
            const double gain = energy - prev, rho = gain / last_gain;
            if (rho >= 1.0) break;
            const double needed = std::log(opt.tolerance * total / gain) / std::log(rho);
            if (rho > 0 && it + needed > opt.max_iterations) break;
        }
        if (it >= 2) last_gain = energy - prev;
        prev = energy;
        if (it == opt.max_iterations) break;
        // Next block: X Z V Theta^{-1/2} = X X^T Q V Theta^{-1/2}. The scaling keeps the columns
        // at comparable norms (condition ~ sqrt of the Ritz value spread), so the float QR does
        // not lose the small directions; directions with negligible energy are dropped.
        Eigen::VectorXd scale(s);
        for (std::int64_t j = 0; j < s; ++j)
            scale(j) = theta(j) > theta(0) * 1e-12 && theta(j) > 0 ? 1.0 / std::sqrt(theta(j)) : 0.0;
        const Eigen::MatrixXf T = (V * scale.asDiagonal()).cast<float>();
        Eigen::MatrixXf Zs;
        times(Z.data(), Z.rows(), s, T, Zs, ctl);
        Eigen::MatrixXf Y;
        times(x, I, M, Zs, Y, ctl);
        // The block just formed holds A u_j = sqrt(theta_j) y_j for the current Ritz pairs: their
        // residuals bound what one more sweep could add, without another pass (see header).
        times(Q.data(), I, s, V.leftCols(r).cast<float>(), Ur, ctl);
        if (next_sweep_gain_bound(Ur, theta, scale, Y, r) <= opt.tolerance * total) {
            out.converged = true;
            break;
        }
        Ur.resize(0, 0);  // Q and V change from here on
        Q = std::move(Y);
        orthonormalize(Q, ctl);
    }
    if (!out.converged) return out;
    // U = Q V_r (already formed when the residual check stopped the iteration), with
    // fix_signs()'s convention; the same flips are applied to V_r, for the projection below.
    Eigen::MatrixXf Vr = V.leftCols(r).cast<float>();
    if (Ur.cols() != r) times(Q.data(), I, s, Vr, Ur, ctl);
    out.vectors = std::move(Ur);
    for (const Eigen::Index j : fix_signs(out.vectors)) Vr.col(j) = -Vr.col(j);
    // X^T U = X^T Q V_r = Z V_r: the last sweep's product already holds the projection onto
    // the result, so callers that need X x_0 U^T (ST-HOSVD, HOSVD) skip a pass of 2 * N * R.
    times(Z.data(), M, s, Vr, out.projected, ctl);
    out.values = theta.head(r);
    out.energy = out.values.sum();
    return out;
}

}  // namespace tllm::tucker
