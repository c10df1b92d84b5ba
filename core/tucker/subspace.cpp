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

constexpr std::int64_t kRowBlock = 256;  // rows per task in the triangular solve of Cholesky QR
// Rows (Y = X Z) or columns (Z = X^T Q, and the projection) of X per task for a side of n:
// up to 512, fewer where that would leave fewer than 8 tasks. Columns: GPT-2's d-mode
// unfolding in HOOI has M = 1536, and 3 blocks of 512 would keep one of two threads idle for
// part of the product. Rows: every task packs all of Z (M x s, 38 MB on the LLaMA-7B layer)
// for its rows, so larger blocks pack less per FLOP. A multiple of 64 and a function of n
// only: the same for any thread count.
std::int64_t task_block(std::int64_t n) {
    const std::int64_t b = ((n + 7) / 8 + 63) / 64 * 64;
    return std::clamp<std::int64_t>(b, 64, 512);
}
constexpr std::int64_t kGramRows = 1024;  // rows per float SSYRK chunk in A^T A
// Cholesky QR's second Gram must be this close to the identity (max entry of G - I), or the
// Householder QR answers (orthonormalize).
constexpr double kCholeskyQrMaxDeviation = 1e-2;
// Probe vectors of the residual estimate (estimated_gain_bound).
constexpr int kProbes = 16;

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
// of X; y has leading dimension I. Also serves the small products by the s x s rotations
// (X = Z or Q there).
void times(const float* x, std::int64_t I, std::int64_t M, Eigen::Ref<const Eigen::MatrixXf> Z, float* y,
           const util::Control& ctl) {
    const std::int64_t s = Z.cols();
    count(2.0 * double(I) * M * s);
    const std::int64_t rb = task_block(I), nb = (I + rb - 1) / rb;
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        ctl.check();
        const std::int64_t r0 = b * rb, nr = std::min(rb, I - r0);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(nr), int(s), int(M), 1.0f, x + r0, int(I), Z.data(),
                    int(Z.outerStride()), 0.0f, y + r0, int(I));
    });
}

void times(const float* x, std::int64_t I, std::int64_t M, Eigen::Ref<const Eigen::MatrixXf> Z, Eigen::MatrixXf& Y,
           const util::Control& ctl) {
    Y.resize(I, Z.cols());
    times(x, I, M, Z, Y.data(), ctl);
}

// Z (M x s) = X^T (M x I) * Q (I x s), in column blocks of X; z has leading dimension M.
void times_t(const float* x, std::int64_t I, std::int64_t M, Eigen::Ref<const Eigen::MatrixXf> Q, float* z,
             const util::Control& ctl) {
    const std::int64_t s = Q.cols();
    count(2.0 * double(I) * M * s);
    const std::int64_t cb = task_block(M), nb = (M + cb - 1) / cb;
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        ctl.check();
        const std::int64_t c0 = b * cb, nc = std::min(cb, M - c0);
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, int(nc), int(s), int(I), 1.0f, x + c0 * I, int(I),
                    Q.data(), int(Q.outerStride()), 0.0f, z + c0, int(M));
    });
}

void times_t(const float* x, std::int64_t I, std::int64_t M, Eigen::Ref<const Eigen::MatrixXf> Q, Eigen::MatrixXf& Z,
             const util::Control& ctl) {
    Z.resize(M, Q.cols());
    times_t(x, I, M, Q, Z.data(), ctl);
}

// Storage for the M x (s + k) product of a solve (X^T [Q, Gp]: 39 MB on the LLaMA-7B layer),
// allocated once per solve and reused by every sweep. Through tensor::TensorAllocator:
// advised as huge pages and not zero-filled. Fresh Eigen matrices of that size would come from
// mmap every time and pay a 4 KiB page fault per page on first touch, a noticeable share of a
// cold solve.
struct Block {
    tensor::FloatBuffer storage;
    explicit Block(std::int64_t elements) : storage(static_cast<std::size_t>(elements)) {}
    Eigen::Map<Eigen::MatrixXf> view(std::int64_t rows, std::int64_t cols) {
        return {storage.data(), Eigen::Index(rows), Eigen::Index(cols)};
    }
};

// A^T A (s x s) in double: float SSYRK over fixed row chunks, each chunk's result widened and
// the chunks added in order (deterministic for any thread count).
Eigen::MatrixXd gram_of_columns(Eigen::Ref<const Eigen::MatrixXf> A, const util::Control& ctl) {
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
        cblas_strsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, int(nr), int(n), 1.0f, Rf.data(),
                    int(n), Y.data() + r0, int(m));
    });
    return G;
}

// True when G, a block's Gram as cholesky_qr_step returns it, is within kCholeskyQrMaxDeviation
// of the identity (max entry of G - I); an empty G (no Cholesky factor) is not.
bool near_identity(const Eigen::MatrixXd& G) {
    return G.size() > 0 &&
           (G - Eigen::MatrixXd::Identity(G.rows(), G.cols())).cwiseAbs().maxCoeff() < kCholeskyQrMaxDeviation;
}

// How often each of the two answered orthonormalize() (orthonormalize_counts()).
std::atomic<std::uint64_t> g_cholesky_qr{0}, g_householder_qr{0};

// Replaces Y (I x s, I >= s) by an orthonormal basis of its columns. Cholesky QR twice
// (CholQR2): the Gram (float SSYRK chunks summed in double) and the triangular solve run on the
// oneTBB pool at the GEMM rate, where LAPACK's Householder QR is single-threaded (two per
// cold solve: the range's, and one per sweep that goes on; docs/performance.md has the
// comparison). The first step leaves an orthogonality
// error of about cond(Y)^2 times the Gram's rounding; the second, on a Y whose condition is
// then near 1, brings it to float rounding. When either
// Cholesky factorisation fails, or the second Gram is far from the identity (Y too
// ill-conditioned for the first step), Householder QR on the original Y answers instead.
void orthonormalize(Eigen::MatrixXf& Y, const util::Control& ctl) {
    const Eigen::MatrixXf Y0 = Y;
    const bool ok = cholesky_qr_step(Y, ctl).size() > 0 && near_identity(cholesky_qr_step(Y, ctl));
    if (!ok) {
        Y = Y0;
        householder_orthonormalize(Y);
    }
    (ok ? g_cholesky_qr : g_householder_qr).fetch_add(1, std::memory_order_relaxed);
}

// Replaces Y, whose columns are already orthonormal up to rounding (a previous result, HOOI's
// warm start), by an orthonormal basis of its columns with one Cholesky QR step: its
// orthogonality error is cond(Y)^2 times the Gram's rounding, and cond(Y) is about 1 here. Where
// the Gram is further than kCholeskyQrMaxDeviation from the identity, orthonormalize() answers.
void reorthonormalize(Eigen::MatrixXf& Y, const util::Control& ctl) {
    const Eigen::MatrixXf Y0 = Y;
    if (near_identity(cholesky_qr_step(Y, ctl))) {
        g_cholesky_qr.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Y = Y0;
    orthonormalize(Y, ctl);
}

// Eigen-decomposition of a small symmetric matrix, descending. In double also where the values
// only steer the next block: float eigenvectors of a spectrum spanning many decades mix the weak
// directions, and the next block's condition then defeats Cholesky QR (seen on the four-decade
// spectrum of Subspace.RankDeficientAndIllConditionedBlocksGiveAnOrthonormalBasis).
void small_eig(const Eigen::MatrixXd& C, Eigen::VectorXd& theta, Eigen::MatrixXd& V) {
    const lapack_int s = lapack_int(C.rows());
    count(9.0 * double(s) * s * s);
    if (s <= kDenseEigenMaxOrder) {  // HOOI's warm solves at GPT-2 size, as in top_eigenpairs
        dense_eigen(C, theta, V);
        theta.reverseInPlace();
        V.rowwise().reverseInPlace();
        return;
    }
    V = C;
    Eigen::VectorXd w(s);
    const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', s, V.data(), s, w.data());
    if (info != 0) throw std::runtime_error("LAPACK dsyevd failed (info " + std::to_string(info) + ")");
    theta = w.reverse();
    V = V.rowwise().reverse().eval();
}

// The starting block of a cold start, X S for a sparse sign matrix S (M x s) with one entry
// +-1 per row (a CountSketch of the columns of X): column m of X is added, with a hashed sign,
// into the hashed column of the block. It costs N additions and one read of X, where a dense
// random start X Omega costs a whole pass of 2 * N * s FLOP; the power sweep after it brings the
// subspace to where it gets from a dense start. One task per column of
// the block: it reads its columns of X whole (contiguous, so the read streams at memory
// bandwidth) and adds them in index order into a column that stays in L1; bit-identical for any
// thread count.
void sparse_sketch(const float* x, std::int64_t I, std::int64_t M, std::int64_t s, std::uint64_t seed,
                   Eigen::MatrixXf& Y, const util::Control& ctl) {
    count(double(I) * M);
    // The columns of X that go into each column of the block, in index order, with their signs.
    std::vector<std::vector<std::pair<std::int64_t, float>>> members(static_cast<std::size_t>(s));
    for (std::int64_t m = 0; m < M; ++m) {
        const float h = hashed_uniform(seed ^ 0x5ca1ab1eULL, std::uint64_t(m));
        const auto j = std::min<std::int64_t>(s - 1, std::int64_t((h + 1.0f) * 0.5f * float(s)));
        const float sign = hashed_uniform(seed ^ 0x51d3ULL, std::uint64_t(m)) < 0 ? -1.0f : 1.0f;
        members[std::size_t(j)].emplace_back(m, sign);
    }
    Y.resize(I, s);
    tbb::parallel_for(std::int64_t(0), s, [&](std::int64_t j) {
        ctl.check();
        float* y = Y.data() + j * I;
        std::fill_n(y, I, 0.0f);
        for (const auto& [m, sign] : members[std::size_t(j)]) {
            const float* xc = x + m * I;
            for (std::int64_t i = 0; i < I; ++i) y[i] += sign * xc[i];
        }
    });
}

// Probe vectors for the residual estimate: I x k, entries +-1 from a hash (Rademacher).
Eigen::MatrixXf probes(std::int64_t I, int k, std::uint64_t seed) {
    Eigen::MatrixXf G(I, k);
    tbb::parallel_for(0, k, [&](int j) {
        for (std::int64_t i = 0; i < I; ++i)
            G(i, j) = hashed_uniform(seed ^ 0x9b0be5ULL, std::uint64_t(j) * std::uint64_t(I) + std::uint64_t(i)) < 0
                          ? -1.0f
                          : 1.0f;
    });
    return G;
}

// An estimate (from above, in practice) of the energy one more sweep would add to the R
// leading Ritz values, from the norms of their residuals r_j = A u_j - theta_j u_j (A = X X^T,
// u_j = Q v_j). For one vector, a power step moves the Rayleigh quotient from theta to
// (theta^3 + 2 theta |r|^2 + r^T A r) / (theta^2 + |r|^2), a gain of
// (theta |r|^2 + r^T A r) / (theta^2 + |r|^2) <= |r|^2 (theta + lambda_1) / (theta^2 + |r|^2);
// lambda_1 is taken as theta_1 (the best-converged Ritz value). Summed over j <= R; the sum is
// increasing in every |r_j|^2, so over-estimating a residual only makes the stop later.
//
// |r_j|^2 is estimated without another pass over X: for a probe g with independent +-1 entries
// E[(g^T r)^2] = |r|^2, and g^T r_j = g^T A u_j because r_j is orthogonal to span(Q) (Ritz
// pairs) and the probes were projected off span(Q) before the pass (Gp = (1 - Q Q^T) G,
// so g^T u_j = 0): g^T r_j = (X^T g)^T (X^T u_j) = P^T Z v_j, with P = X^T Gp formed in the same
// pass as Z = X^T Q (k extra columns). Taking the probe off span(Q) also keeps the large
// theta_j g^T u_j out of the difference, which float rounding would otherwise swamp.
// The mean over k probes has a relative spread of sqrt(2 / k) per vector, far less over the
// R vectors summed; on the LLaMA-7B layer the bound it enters reads about 3x the gain the next
// sweep then makes, a margin well above that spread.
double estimated_gain_bound(Eigen::Ref<const Eigen::MatrixXf> P, Eigen::Ref<const Eigen::MatrixXf> Z,
                            const Eigen::MatrixXd& V, const Eigen::VectorXd& theta, int r, const util::Control& ctl) {
    for (int j = 0; j < r; ++j)
        if (!(theta(j) > 0)) return std::numeric_limits<double>::infinity();
    const std::int64_t k = P.cols();
    Eigen::MatrixXf PtZ;  // k x s: (X^T Gp)^T (X^T Q)
    times_t(P.data(), P.rows(), k, Z, PtZ, ctl);
    // (k x s) (s x r) in double: the entries are the projections g^T r_j themselves.
    const Eigen::MatrixXd E = PtZ.cast<double>() * V.leftCols(r);
    double sum = 0;
    for (int j = 0; j < r; ++j) {  // in order: the same for any thread count
        const double r2 = E.col(j).squaredNorm() / double(k), th = theta(j);
        sum += r2 * (th + theta(0)) / (th * th + r2);
    }
    return sum;
}

// The oversampling p when the options do not set one: enough columns beyond R for the gap
// between the R-th and (R+p+1)-th singular values to drive convergence.
int default_oversample(int r) { return std::max(16, r / 8); }

// The tensor whose mode-0 unfolding X (I x M) the iteration runs on. Either given, or (HOOI's
// d-mode step, hooi_subspace) X = W x_1 U2^T x_2 U3^T, left implicit for the first product:
// X^T B = (I (x) U3^T (x) U2^T) W_(0)^T B, W's own product reduced column by column, and formed
// only if a later product needs it. W_(0)^T B also gives W x_0 U^T for the U it certifies.
struct Operand {
    const Tensor4* X = nullptr;  // given, or once formed
    const Tensor4* W = nullptr;  // implicit: X = W x_1 U2^T x_2 U3^T (a null factor: mode left as is)
    const Eigen::MatrixXf* U2 = nullptr;
    const Eigen::MatrixXf* U3 = nullptr;
    Tensor4 formed;
    // Implicit operand: W_(0)^T G for the probes G, kept by the caller across HOOI sweeps (the
    // probes depend only on I and the seed). Filled by the first product that needs it.
    Tensor4* probe_product = nullptr;
    std::int64_t I = 0, M = 0;

    explicit Operand(const Tensor4& x) : X(&x), I(x.dim[0]), M(x.dim[1] * x.dim[2] * x.dim[3]) {}
    Operand(const Tensor4& w, const Eigen::MatrixXf* u2, const Eigen::MatrixXf* u3) : W(&w), U2(u2), U3(u3) {
        I = w.dim[0];
        M = (u2 ? u2->cols() : w.dim[1]) * (u3 ? u3->cols() : w.dim[2]) * w.dim[3];
    }
    Operand(const Operand&) = delete;  // X may point at its own `formed`
    Operand& operator=(const Operand&) = delete;
    bool implicit() const { return X == nullptr; }
    // T x_m U2^T x_{m+1} U3^T for m = first_mode (modes m and m + 1 of T sized like W's modes
    // 1 and 2): X itself for T = W, m = 1; X^T B from W_(0)^T B (as a tensor (d1, d2, d3, s)),
    // m = 0.
    Tensor4 reduce(const Tensor4& T, int first_mode, const util::Control& ctl) const {
        Tensor4 Y;
        const Tensor4* src = &T;
        if (U2) {
            Y = mode_product(*src, first_mode, U2->transpose(), ctl);
            src = &Y;
        }
        if (U3) {
            Tensor4 Z = mode_product(*src, first_mode + 1, U3->transpose(), ctl);
            Y = std::move(Z);
            src = &Y;
        }
        return src == &T ? T : std::move(Y);
    }
    const Tensor4& formed_tensor(const util::Control& ctl) {
        if (!X) {
            formed = reduce(*W, 1, ctl);
            X = &formed;
        }
        return *X;
    }
    const float* data(const util::Control& ctl) { return formed_tensor(ctl).data.data(); }
};

}  // namespace

OrthonormalizeCounts orthonormalize_counts() {
    return {g_cholesky_qr.load(std::memory_order_relaxed), g_householder_qr.load(std::memory_order_relaxed)};
}

bool subspace_pays_off(const std::array<std::int64_t, 4>& dims, int mode, int r, bool warm) {
    if (mode != 0) return false;
    const double I = double(dims[0]);
    const double N = I * double(dims[1]) * double(dims[2]) * double(dims[3]);
    // Cold starts only for d > 1024: below that the exact path is fast, and on spectra without a
    // gap just above R (as on GPT-2 shapes) a cold start needs many sweeps before the
    // stop test passes. Warm starts (HOOI) converge at the first check from d = 512 on.
    if (I < (warm ? 512 : 1025) || N <= 0) return false;
    const double s = r + default_oversample(r);
    if (s > I / 2) return false;
    // Passes over X at 2*N*s each (cold: 3 when one power step suffices, 5 with a second, counted
    // as 4; warm: 1, or 3 with a second sweep, counted as 3) against the Gram plus the
    // single-threaded tridiagonalisation, which runs at about a third of the GEMM rate on one core.
    // Grams of up to 1024 rows are charged as DGEMM products (2*N*I, about half the SGEMM rate),
    // although mode_gram takes float chunks from 512 rows on: for warm starts at 512 <= d <= 1024
    // this overstates the exact path's cost.
    const double passes = warm ? 3.0 : 4.0;
    const double gram = I <= 1024 ? 2.0 * N * I : N * I;
    return 2.0 * passes * N * s < gram + 4.0 * I * I * I;
}

namespace {

// The iteration itself (leading_subspace, hooi_subspace). With an implicit operand and a warm
// start, the first product goes through W; `full`, if given, then receives W x_0 U^T when that
// product certified the answer (left empty otherwise).
SubspaceResult solve(Operand& op, int r, const Eigen::MatrixXf* warm, const SubspaceOptions& opt,
                     const util::Control& ctl, Tensor4* full) {
    init_blas();
    const std::int64_t I = op.I, M = op.M;
    if (r < 1 || r > I) throw std::invalid_argument("leading_subspace: r must be in 1.." + std::to_string(I));
    const int p = opt.oversample >= 0 ? opt.oversample : default_oversample(r);
    const std::int64_t s = std::min<std::int64_t>({I, M, std::int64_t(r) + p});
    SubspaceResult out;
    if (s < r) return out;  // fewer columns than wanted: only the exact path can answer

    // Starting block Q (I x s): the warm factor and random columns, or a sparse sketch of X.
    Eigen::MatrixXf Q(I, s);
    const bool warm_start = warm && warm->rows() == I && warm->cols() > 0 && warm->cols() <= s;
    if (warm_start) {
        Q.leftCols(warm->cols()) = *warm;
        fill_random(Q, warm->cols(), opt.seed);
    } else {
        sparse_sketch(op.data(ctl), I, M, s, opt.seed, Q, ctl);
    }
    if (warm_start && warm->cols() == s)
        reorthonormalize(Q, ctl);
    else
        orthonormalize(Q, ctl);
    const Eigen::MatrixXf G = probes(I, kProbes, opt.seed);

    Eigen::VectorXd theta;
    Eigen::MatrixXd V;
    Eigen::MatrixXf B;            // [Q, Gp]
    Block zb(M * (s + kProbes));  // X^T [Q, Gp] = [Z, P]
    Tensor4 wb;                   // implicit operand: W_(0)^T [Q, Gp]
    double prev = -std::numeric_limits<double>::infinity(), last_gain = 0;
    for (int it = 1; it <= opt.max_iterations; ++it) {
        ctl.check();
        // The probes, taken off span(Q) (estimated_gain_bound), ride along in the pass. Not in
        // the first sweep of a cold start: a sketched range is never converged.
        const int k = it >= 2 || warm_start ? kProbes : 0;
        auto ZB = zb.view(M, s + k);
        Eigen::MatrixXf QtG;  // Q^T G: takes the probes off span(Q), either way below
        if (k > 0) times_t(Q.data(), I, s, G, QtG, ctl);
        if (op.implicit()) {
            // W_(0)^T [Q, G], then each column reduced by U2^T and U3^T: X^T [Q, G] without
            // forming X. The probes' part is X^T Gp = X^T G - (X^T Q)(Q^T G): the same quantity
            // as the product with Gp below, with rounding of the same order (each is a float
            // product over the whole column of X). W_(0)^T G does not change from sweep to
            // sweep, so it comes from the caller's copy where there is one: the sweep's product
            // then has the R columns of Q alone (GPT-2, R = 64: 64 instead of 80 columns).
            const Tensor4& W = *op.W;
            const std::array<std::int64_t, 4> pdim{W.dim[1], W.dim[2], W.dim[3], kProbes};
            const bool cached = k > 0 && op.probe_product && op.probe_product->dim == pdim;
            const std::int64_t kw = k > 0 && !cached ? k : 0;  // probe columns in this product
            Eigen::MatrixXf Bw(I, s + kw);
            Bw.leftCols(s) = Q;
            if (kw > 0) Bw.rightCols(kw) = G;
            Tensor4 WB = Tensor4::uninitialized({W.dim[1], W.dim[2], W.dim[3], s + kw});
            times_t(W.data.data(), I, W.size() / I, Bw, WB.data.data(), ctl);
            const Tensor4 XB = op.reduce(WB, 0, ctl);
            std::copy_n(XB.data.data(), M * (s + kw), ZB.data());
            if (k > 0) {
                if (kw > 0 && op.probe_product) {
                    *op.probe_product = Tensor4::uninitialized(pdim);
                    std::copy_n(WB.data.data() + s * (W.size() / I), op.probe_product->size(),
                                op.probe_product->data.data());
                }
                if (cached) {
                    const Tensor4 XG = op.reduce(*op.probe_product, 0, ctl);
                    std::copy_n(XG.data.data(), M * k, ZB.data() + M * s);
                }
                count(2.0 * double(M) * s * k);
                cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(M), int(k), int(s), -1.0f, ZB.data(), int(M),
                            QtG.data(), int(s), 1.0f, ZB.data() + M * s, int(M));
            }
            if (full) wb = std::move(WB);  // the projection reads its first s columns
        } else {
            B.resize(I, s + k);
            B.leftCols(s) = Q;
            if (k > 0) {
                Eigen::MatrixXf QQtG;
                times(Q.data(), I, s, QtG, QQtG, ctl);
                B.rightCols(k) = G - QQtG;
            }
            times_t(op.data(ctl), I, M, B, ZB.data(), ctl);
        }
        const auto Z = ZB.leftCols(s);
        small_eig(gram_of_columns(Z, ctl), theta, V);  // Ritz values of X X^T on span(Q)
        out.iterations = it;
        const double energy = theta.head(r).sum();
        // The tolerance is relative to the energy of the whole block, ||Q^T X||^2 <= ||X||^2: a
        // slightly stricter stop than relative to ||X||^2, without a pass to compute that.
        const double total = theta.sum();
        if (it >= 2 && energy - prev <= opt.tolerance * total) {
            out.converged = true;
            break;
        }
        // The residuals of the current Ritz pairs bound what one more sweep could add.
        if (k > 0 && estimated_gain_bound(ZB.rightCols(k), Z, V, theta, r, ctl) <= opt.tolerance * total) {
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
        // not lose the small directions; directions with negligible energy are dropped. The
        // rotation is applied after the product, to the I x s block: 2 I s^2 FLOP instead of
        // 2 M s^2 on Z (2.7 against 10.9 GFLOP on the LLaMA-7B layer). X Z carries float rounding
        // of about eps theta_1 in every column, so the direction of Ritz value theta_j comes out
        // with relative error eps theta_1 / theta_j (eps sqrt(theta_1 / theta_j) with the rotation
        // first). That costs at most about eps^2 theta_1^2 / theta_j of energy, far below the
        // tolerance wherever theta_j carries any, and the next Rayleigh-Ritz step and stop test
        // judge the block as it is.
        Eigen::VectorXd scale(s);
        for (std::int64_t j = 0; j < s; ++j)
            scale(j) = theta(j) > theta(0) * 1e-12 && theta(j) > 0 ? 1.0 / std::sqrt(theta(j)) : 0.0;
        const Eigen::MatrixXf T = (V * scale.asDiagonal()).cast<float>();
        Eigen::MatrixXf XZ;
        const float* x = op.data(ctl);  // formed here if the operand was implicit
        wb = Tensor4();
        times(x, I, M, Z, XZ, ctl);
        times(XZ.data(), I, s, T, Q, ctl);
        orthonormalize(Q, ctl);
    }
    if (!out.converged) return out;
    // U = Q V_r, with fix_signs()'s convention; the same flips are applied to V_r, for the
    // projection below.
    Eigen::MatrixXf Vr = V.leftCols(r).cast<float>();
    times(Q.data(), I, s, Vr, out.vectors, ctl);
    for (const Eigen::Index j : fix_signs(out.vectors)) Vr.col(j) = -Vr.col(j);
    // X^T U = X^T Q V_r = Z V_r: the last sweep's product already holds the projection onto
    // the result, so callers that need X x_0 U^T (ST-HOSVD, HOSVD) skip a pass of 2 * N * R.
    // Formed as its mode-0 unfolding V_r^T Z^T (R x M), the layout of the tensor, in column
    // blocks: no transpose afterwards.
    const auto project = [&](const float* z, std::int64_t Mz, std::array<std::int64_t, 4> pdim) {
        pdim[0] = r;
        Tensor4 y = Tensor4::uninitialized(pdim);
        count(2.0 * double(r) * Mz * s);
        const std::int64_t cb = task_block(Mz), nb = (Mz + cb - 1) / cb;
        tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
            const std::int64_t c0 = b * cb, nc = std::min(cb, Mz - c0);
            cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, r, int(nc), int(s), 1.0f, Vr.data(), int(s), z + c0,
                        int(Mz), 0.0f, y.data.data() + c0 * r, r);
        });
        return y;
    };
    if (opt.project && !op.implicit()) out.projected = project(zb.storage.data(), M, op.X->dim);
    // W_(0)^T Q V_r = W_(0)^T U: HOOI's W x_0 U^T from the product that certified U, where a
    // separate mode product would cost 2 * N * R.
    if (full && wb.size() > 0) *full = project(wb.data.data(), op.W->size() / I, op.W->dim);
    out.values = theta.head(r);
    out.energy = out.values.sum();
    return out;
}

}  // namespace

SubspaceResult leading_subspace(const Tensor4& X, int r, const Eigen::MatrixXf* warm, const SubspaceOptions& opt,
                                const util::Control& ctl) {
    Operand op(X);
    return solve(op, r, warm, opt, ctl, nullptr);
}

bool hooi_subspace_pays_off(const std::array<std::int64_t, 4>& dims, int r, int r2, int r3) {
    const double I = double(dims[0]), N = I * double(dims[1]) * double(dims[2]) * double(dims[3]);
    const double f2 = double(r2) / double(dims[1]), f3 = double(r3) / double(dims[2]);
    // Forming X (the modes that are reduced), the warm solve's first product with it (R + p
    // columns and the probes), and W x_0 U^T afterwards ...
    const double s_formed = std::min(I, double(r + default_oversample(r))) + kProbes;
    const double formed =
        (f2 < 1 ? 2 * N * r2 : 0) + (f3 < 1 ? 2 * N * f2 * r3 : 0) + 2 * N * f2 * f3 * s_formed + 2 * N * r;
    // ... against W's own product (R columns and the probes), its columns reduced the same
    // way, and W x_0 U^T from it (2 * R * R per column of W_(0)).
    const double s_w = r + kProbes, cols = N / I * s_w;
    const double through_w =
        2 * N * s_w + (f2 < 1 ? 2 * cols * r2 : 0) + (f3 < 1 ? 2 * cols * f2 * r3 : 0) + 2 * (N / I) * r * r;
    return through_w < formed;
}

SubspaceResult hooi_subspace(const Tensor4& W, const Eigen::MatrixXf* U2, const Eigen::MatrixXf* U3, int r,
                             const Eigen::MatrixXf& warm, const SubspaceOptions& opt, const util::Control& ctl,
                             Tensor4* formed, Tensor4* probe_product) {
    SubspaceOptions o = opt;
    if (!U2 && !U3) {  // X = W: the plain solve, whose projection is W x_0 U^T
        o.project = true;
        return leading_subspace(W, r, &warm, o, ctl);
    }
    Operand op(W, U2, U3);
    op.probe_product = probe_product;
    o.project = false;  // the projection of X is not what HOOI needs; W x_0 U^T comes from W's product
    SubspaceResult first;
    if (warm.rows() == op.I && warm.cols() == r && std::min(op.I, op.M) >= r) {
        // One product through W, of the previous factor alone (no oversampling columns: where
        // the first check passes they add nothing but FLOP; 80 instead of 96 columns for
        // GPT-2's R = 64, 528 instead of 592 for LLaMA-7B's R = 512) and the probes.
        SubspaceOptions once = o;
        once.oversample = 0;
        once.max_iterations = 1;
        Tensor4 full;
        first = solve(op, r, &warm, once, ctl, &full);
        if (first.converged) {
            first.projected = std::move(full);
            return first;
        }
    }
    // Not certified (or no start of the right shape): X formed, and the usual solve on it from
    // the same start.
    SubspaceResult out = leading_subspace(op.formed_tensor(ctl), r, &warm, o, ctl);
    out.iterations += first.iterations;
    if (formed) *formed = std::move(op.formed);
    return out;
}

}  // namespace tllm::tucker
