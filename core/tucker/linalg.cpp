#include "tucker/linalg.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include <cblas.h>
#include <lapacke.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>

namespace tllm::tucker {
namespace {

using tensor::Tensor4;

// Grams are accumulated in double: each block of the float data is widened to double (exact)
// and multiplied with DGEMM (DSYRK for the modes with P > 1). Float accumulation rotates the
// singular vectors of close singular-value pairs by ~3e-4 against a float64 reference; double
// brings it to ~1e-7.
// Blocks of kGramChunk columns bound the widened copies' memory.
constexpr std::int64_t kGramChunk = 1024;
// Output tile edge for the large mode-0 Gram: 512 from this order on, where SGEMM on 512 x 512
// tiles runs about 1.4x faster than on 256 x 256 ones (less packing per FLOP) and the upper
// triangle still has 36 tiles or more to share out; 256 below it, so that a GPT-2-sized Gram
// (d = 768, 6 tiles) keeps both cores busy. The tiling depends only on the problem size.
constexpr std::int64_t kGramTileSmall = 256, kGramTileLarge = 512, kGramLargeTileMinRows = 4096;
// From this order on, top_eigenpairs works in single precision (float_eigenpairs). Below it
// the double-precision path is cheap, and keeps small problems (and their agreement
// with double-precision references, e.g. tests/reference/tucker_reference.py) at double accuracy.
constexpr int kFloatEigenMinOrder = 512;
// From this order on, eigenvalues alone come from the two-stage reduction (all_eigenvalues).
constexpr int kTwoStageMinOrder = 3072;
// Above this many rows the mode-0 Gram multiplies in float chunks summed in double (see
// mode_gram): from the order on which the eigensolver works in float anyway. Several times
// faster than widening to double; on the GPT-2 bench layer (d = 768) the Gram's entries stay
// within 2e-7 of the exact double Gram (relative to the largest entry), the eigenvalues within
// 2.5e-7 lambda_max, and the captured energy at R = 64 and 256 within 1.3e-7 of ||X||^2.
constexpr std::int64_t kDoubleGramMaxRows = kFloatEigenMinOrder - 1;

struct View {
    std::int64_t P, I, Q;  // element (p, i, q) at p + P * (i + I * q)
};

View view_of(const std::array<std::int64_t, 4>& n, int mode) {
    View v{1, n[mode], 1};
    for (int k = 0; k < mode; ++k) v.P *= n[k];
    for (int k = mode + 1; k < 4; ++k) v.Q *= n[k];
    return v;
}

void check_mode(int mode) {
    if (mode < 0 || mode > 3) throw std::invalid_argument("mode must be 0..3, got " + std::to_string(mode));
}

}  // namespace

std::atomic<std::uint64_t>& flop_counter() {
    static std::atomic<std::uint64_t> counter{0};
    return counter;
}

void init_blas() {
    static std::once_flag once;
    std::call_once(once, [] { openblas_set_num_threads(1); });
}

Tensor4 mode_product(const Tensor4& X, int mode, const Eigen::MatrixXf& M, const util::Control& ctl) {
    init_blas();
    check_mode(mode);
    const View v = view_of(X.dim, mode);
    if (M.cols() != v.I)
        throw std::invalid_argument("mode_product: matrix has " + std::to_string(M.cols()) + " columns, mode " +
                                    std::to_string(mode) + " has size " + std::to_string(v.I));
    const std::int64_t J = M.rows();
    flop_counter().fetch_add(std::uint64_t(2) * std::uint64_t(X.size()) * std::uint64_t(std::max<std::int64_t>(J, 0)),
                             std::memory_order_relaxed);
    auto ydim = X.dim;
    ydim[mode] = J;
    Tensor4 Y = Tensor4::uninitialized(ydim);  // every element is written below
    if (J == 0 || v.P * v.Q == 0) return Y;
    const float* x = X.data.data();
    float* y = Y.data.data();
    if (v.P == 1) {
        // Y (J x Q) = M (J x I) * X (I x Q), in fixed column blocks: about 4 MB of X per block,
        // and at least 8 blocks where Q allows (multiples of 64): with only a few large blocks
        // (GPT-2's W x1 U1^T would get 3) one of two threads sits idle for part of the product.
        // A function of the sizes only, the same for any thread count.
        const std::int64_t by_size = std::max<std::int64_t>(64, (1 << 20) / std::max<std::int64_t>(1, v.I));
        const std::int64_t by_tasks = std::max<std::int64_t>(64, ((v.Q + 7) / 8 + 63) / 64 * 64);
        const std::int64_t qb = std::min(by_size, by_tasks);
        const std::int64_t nb = (v.Q + qb - 1) / qb;
        tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
            ctl.check();
            const std::int64_t q0 = b * qb, nq = std::min(qb, v.Q - q0);
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(J), int(nq), int(v.I), 1.0f, M.data(), int(J),
                        x + q0 * v.I, int(v.I), 0.0f, y + q0 * J, int(J));
        });
    } else {
        // For each q: Y_q (P x J) = X_q (P x I) * M^T.
        tbb::parallel_for(std::int64_t(0), v.Q, [&](std::int64_t q) {
            ctl.check();
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(v.P), int(J), int(v.I), 1.0f, x + q * v.P * v.I,
                        int(v.P), M.data(), int(J), 0.0f, y + q * v.P * J, int(v.P));
        });
    }
    return Y;
}

Eigen::MatrixXd mode_gram(const Tensor4& X, int mode, const util::Control& ctl) {
    init_blas();
    check_mode(mode);
    const View v = view_of(X.dim, mode);
    const std::int64_t I = v.I;
    // Nominal cost of a symmetric Gram: the useful half of the 2 * N * I of a full product.
    flop_counter().fetch_add(std::uint64_t(X.size()) * std::uint64_t(I + 1), std::memory_order_relaxed);
    Eigen::MatrixXd G = Eigen::MatrixXd::Zero(I, I);
    if (I == 0 || v.P * v.Q == 0) return G;
    const float* x = X.data.data();
    if (v.P == 1) {
        // G = X X^T with X (I x Q) column-major. Upper-triangle tiles, each owned by one task.
        const std::int64_t tile = I >= kGramLargeTileMinRows ? kGramTileLarge : kGramTileSmall;
        const std::int64_t nt = (I + tile - 1) / tile;
        std::vector<std::pair<std::int64_t, std::int64_t>> tiles;
        for (std::int64_t a = 0; a < nt; ++a)
            for (std::int64_t b = a; b < nt; ++b) tiles.emplace_back(a, b);
        // Small modes: widen to double and use DGEMM (exact products). Large modes (I >= 512,
        // the d mode of models from GPT-2 small on): SGEMM over chunks of kGramChunk columns,
        // each chunk's float tile added into the double tile. That is several times faster; the
        // float error per chunk is ~1e-7 * sqrt(kGramChunk) relative, at the level of the
        // single-precision eigensolver these Grams go to.
        const bool wide = I > kDoubleGramMaxRows;
        tbb::parallel_for(std::size_t(0), tiles.size(), [&](std::size_t k) {
            const auto [a, b] = tiles[k];
            const std::int64_t r0 = a * tile, nr = std::min(tile, I - r0);
            const std::int64_t c0 = b * tile, nc = std::min(tile, I - c0);
            Eigen::MatrixXd acc = Eigen::MatrixXd::Zero(nr, nc);
            if (wide) {
                // Diagonal tiles by SSYRK (their upper triangle: half the FLOP), the others by SGEMM.
                Eigen::MatrixXf part(nr, nc);
                for (std::int64_t k0 = 0; k0 < v.Q; k0 += kGramChunk) {
                    ctl.check();
                    const std::int64_t nk = std::min(kGramChunk, v.Q - k0);
                    if (a == b) {
                        cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, int(nr), int(nk), 1.0f, x + r0 + k0 * I,
                                    int(I), 0.0f, part.data(), int(nr));
                        acc.triangularView<Eigen::Upper>() += part.cast<double>();
                    } else {
                        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(nr), int(nc), int(nk), 1.0f,
                                    x + r0 + k0 * I, int(I), x + c0 + k0 * I, int(I), 0.0f, part.data(), int(nr));
                        acc += part.cast<double>();
                    }
                }
                if (a == b) acc.triangularView<Eigen::StrictlyLower>() = acc.transpose();
            } else {
                Eigen::MatrixXd xr(nr, kGramChunk), xc(nc, kGramChunk);
                for (std::int64_t k0 = 0; k0 < v.Q; k0 += kGramChunk) {
                    ctl.check();
                    const std::int64_t nk = std::min(kGramChunk, v.Q - k0);
                    const Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> X(x + k0 * I, I, nk,
                                                                                       Eigen::OuterStride<>(I));
                    xr.leftCols(nk) = X.middleRows(r0, nr).cast<double>();
                    xc.leftCols(nk) = X.middleRows(c0, nc).cast<double>();
                    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(nr), int(nc), int(nk), 1.0, xr.data(),
                                int(nr), xc.data(), int(nc), 1.0, acc.data(), int(nr));
                }
            }
            G.block(r0, c0, nr, nc) = acc;
            if (a != b) G.block(c0, r0, nc, nr) = acc.transpose();
        });
        return G;
    }
    // G = sum_q X_q^T X_q with X_q (P x I). Items are (q, row block of X_q); consecutive items
    // form a fixed number of chunks (a function of the sizes only), each summed into its own
    // double partial; the partials are added in chunk order.
    const std::int64_t pblocks = (v.P + kGramChunk - 1) / kGramChunk;
    const std::int64_t items = v.Q * pblocks;
    const std::int64_t max_chunks_mem = std::max<std::int64_t>(1, (std::int64_t(256) << 20) / (I * I * 8));
    // At least about 2 MFLOP of DSYRK per chunk: small Grams (GPT-2's dv mode in HOOI, 48
    // slices of 64 x 64) otherwise pay more for 48 partial sums than for the products.
    const std::int64_t by_work = std::max<std::int64_t>(1, v.P * v.Q * I * I / 2000000);
    const std::int64_t nchunks = std::min({items, std::int64_t(64), max_chunks_mem, by_work});
    std::vector<Eigen::MatrixXd> partial(static_cast<std::size_t>(nchunks));
    tbb::parallel_for(std::int64_t(0), nchunks, [&](std::int64_t c) {
        const std::int64_t i0 = items * c / nchunks, i1 = items * (c + 1) / nchunks;
        Eigen::MatrixXd acc = Eigen::MatrixXd::Zero(I, I);
        // Only as many rows as a block has: a fixed kGramChunk rows would cost small modes (a
        // GPT-2 HOOI sweep's dv-mode Gram of 64 x 64 slices) a 0.5 MB allocation and its page
        // faults per chunk, more than the products themselves.
        const std::int64_t ld = std::min(kGramChunk, v.P);
        Eigen::MatrixXd blkd(ld, I);
        for (std::int64_t it = i0; it < i1; ++it) {
            ctl.check();
            const std::int64_t q = it / pblocks, pb = it % pblocks;
            const std::int64_t p0 = pb * kGramChunk, np = std::min(kGramChunk, v.P - p0);
            const Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> B(x + q * v.P * I + p0, np, I,
                                                                               Eigen::OuterStride<>(v.P));
            blkd.topRows(np) = B.cast<double>();
            // The upper triangle only: half the FLOP of a full DGEMM, the same exact products.
            // (Float SSYRK in place would be faster still, but float accumulation turns the
            // vectors of close singular-value pairs, see the top of this file.)
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, int(I), int(np), 1.0, blkd.data(), int(ld), 1.0,
                        acc.data(), int(I));
        }
        partial[static_cast<std::size_t>(c)] = std::move(acc);
    });
    for (const auto& p : partial) G.triangularView<Eigen::Upper>() += p;
    G.triangularView<Eigen::StrictlyLower>() = G.transpose();
    return G;
}

namespace {

// The r largest eigenpairs (ascending) of the symmetric tridiagonal matrix (d, e), for r well
// below n (HOOI's initial d mode: r = 64 of 768): bisection for the r eigenvalues (sstebz) and
// inverse iteration for their vectors (sstein), each split in two halves on the oneTBB pool,
// where divide and conquer computes all n vectors on one core. The
// halves are fixed by the problem (the index range in two; the vectors at the gap nearest the
// middle that is wider than sstein's own reorthogonalisation threshold, 1e-3 of ||T||_1, so no
// cluster is split), the same for any thread count. False where LAPACK reports a failure, the
// matrix splits into blocks, or no such gap exists; divide and conquer answers then.
bool few_tridiagonal_eigenpairs(const Eigen::VectorXf& d, const Eigen::VectorXf& e, int r, Eigen::VectorXf& values,
                                Eigen::MatrixXf& vectors) {
    const int n = int(d.size());
    const int h = r / 2;  // the lower half of the wanted index range: n - r + 1 .. n - r + h
    if (h < 1) return false;
    struct Part {
        lapack_int found = 0, nsplit = 0;
        std::vector<float> w;
        std::vector<lapack_int> iblock, isplit;
        lapack_int info = 0;
    };
    Part lo, hi;
    for (Part* p : {&lo, &hi}) {
        p->w.resize(std::size_t(n));
        p->iblock.resize(std::size_t(n));
        p->isplit.resize(std::size_t(n));
    }
    const auto bisect = [&](Part& p, int il, int iu) {
        p.info = LAPACKE_sstebz('I', 'B', n, 0.0f, 0.0f, il, iu, 0.0f, d.data(), e.data(), &p.found, &p.nsplit,
                                p.w.data(), p.iblock.data(), p.isplit.data());
    };
    tbb::parallel_invoke([&] { bisect(lo, n - r + 1, n - r + h); }, [&] { bisect(hi, n - r + h + 1, n); });
    if (lo.info != 0 || hi.info != 0 || lo.nsplit != 1 || hi.nsplit != 1 || lo.found != h || hi.found != r - h)
        return false;
    values.resize(r);
    for (int k = 0; k < h; ++k) values(k) = lo.w[std::size_t(k)];
    for (int k = h; k < r; ++k) values(k) = hi.w[std::size_t(k - h)];
    // sstein reorthogonalises eigenvectors whose eigenvalues lie within 1e-3 * ||T||_1: split
    // the vectors at the widest such gap nearest the middle, with a factor 2 to spare.
    float norm1 = 0;
    for (int i = 0; i < n; ++i)
        norm1 =
            std::max(norm1, std::abs(d(i)) + (i > 0 ? std::abs(e(i - 1)) : 0.0f) + (i + 1 < n ? std::abs(e(i)) : 0.0f));
    const float gap = 2e-3f * norm1;
    int cut = -1;
    for (int off = 0; off <= r / 4 && cut < 0; ++off)
        for (const int m : {h - off, h + off})
            if (cut < 0 && m >= 1 && m < r && values(m) - values(m - 1) > gap) cut = m;
    if (cut < 0) return false;
    vectors.resize(n, r);
    std::vector<lapack_int> iblock(std::size_t(r), 1), isplit(1, n);
    std::atomic<bool> ok{true};
    const auto invert = [&](int k0, int k1) {
        // LAPACKE checks all n entries of the eigenvalue array for NaN, not only the m used.
        std::vector<float> wk(std::size_t(n), 0.0f);
        std::copy(values.data() + k0, values.data() + k1, wk.begin());
        std::vector<lapack_int> ifail(std::size_t(k1 - k0));
        if (LAPACKE_sstein(LAPACK_COL_MAJOR, n, d.data(), e.data(), k1 - k0, wk.data(), iblock.data(), isplit.data(),
                           vectors.data() + std::int64_t(k0) * n, n, ifail.data()) != 0)
            ok = false;
    };
    tbb::parallel_invoke([&] { invert(0, cut); }, [&] { invert(cut, r); });
    return ok;
}

// The r largest eigenpairs of G (ascending in w, vectors in z: n x r) computed in single
// precision: ssytrd, all eigenvectors of the tridiagonal matrix by divide and conquer
// (sstedc), sormtr on the r wanted ones. False when LAPACK reports a failure.
//
// Why single precision is enough and why it is fast. G is accumulated in double, so its
// entries are accurate; rounding them to float perturbs G by about 6e-8 ||G||, and the factors
// built from these vectors are stored in float anyway. The captured energy tr(U^T G U) agrees
// with the double-precision path to 2e-8 (n = 768, r = 256) and 2e-7 (n = 4096, r = 512)
// relative. dsytrd is bound by memory traffic (its dsymv half streams the trailing matrix once
// per column), so float halves it; divide and conquer deflates most of a low-rank-plus-noise
// spectrum at float tolerance, so computing all n vectors is cheaper than MRRR for r of them.
// The gain over the double path is in docs/performance.md.
// Memory: G in float, the n x n eigenvectors of the tridiagonal matrix and sstedc's n^2
// workspace, 12 n^2 bytes (the double path: 8 n^2), 200 MiB at n = 4096.
// Single-precision MRRR (sstemr) is not used: for n = 4096, r = 2312 it returned vectors whose
// captured energy was 1e14 times the matrix's trace, with no error reported.
bool float_eigenpairs(const Eigen::MatrixXd& G, int r, Eigen::VectorXd& w, Eigen::MatrixXd& z) {
    const int n = static_cast<int>(G.rows());
    // Workspace sizes from sstedc's documentation, as integers: LAPACKE's own workspace query
    // passes them through a float, which rounds 1 + 4n + n^2 down from n = 4096 on, and the
    // call then fails on the workspace size. The size must fit a lapack_int.
    const std::uint64_t lwork = 1 + 4 * std::uint64_t(n) + std::uint64_t(n) * std::uint64_t(n);
    if (lwork > std::uint64_t(std::numeric_limits<lapack_int>::max())) return false;
    Eigen::MatrixXf a = G.cast<float>();
    Eigen::VectorXf d(n), e(std::max(1, n - 1)), tau(std::max(1, n - 1));
    if (LAPACKE_ssytrd(LAPACK_COL_MAJOR, 'U', n, a.data(), n, d.data(), e.data(), tau.data()) != 0) return false;
    Eigen::MatrixXf top;
    Eigen::VectorXf values;
    if (!(4 * r <= n && few_tridiagonal_eigenpairs(d, e, r, values, top))) {
        Eigen::MatrixXf v(n, n);
        std::vector<float> work(lwork);
        std::vector<lapack_int> iwork(3 + 5 * std::size_t(n));
        // d and e are not needed after this (few_tridiagonal_eigenpairs only read them).
        if (LAPACKE_sstedc_work(LAPACK_COL_MAJOR, 'I', n, d.data(), e.data(), v.data(), n, work.data(),
                                lapack_int(work.size()), iwork.data(), lapack_int(iwork.size())) != 0)
            return false;
        top = v.rightCols(r);
        values = d.tail(r);
    }
    // One call for all r vectors. Column blocks on the oneTBB pool were tried: sormtr writes
    // into the reflectors while it works (it sets each one's leading entry to 1 and restores
    // it), so blocks sharing them corrupted each other's vectors now and then, and with a copy
    // per block the copies' fresh pages and each call's own block reflectors (slarft) cost more
    // than the parallel work saved.
    if (LAPACKE_sormtr(LAPACK_COL_MAJOR, 'L', 'U', 'N', n, r, a.data(), n, tau.data(), top.data(), n) != 0)
        return false;
    if (!top.allFinite()) return false;
    w.head(r) = values.cast<double>();
    z = top.cast<double>();
    return true;
}

// The same in double precision: dsytrd, the r largest eigenpairs of the tridiagonal matrix by
// MRRR (dstemr), dormtr on those r vectors. This is dsyevr's own algorithm, but dsyevr uses
// MRRR only when all eigenvalues are wanted; for a subset it falls back to bisection + inverse
// iteration, whose reorthogonalisation of clustered eigenvalues costs O(n r^2) in BLAS1 and is
// slower than this. dsyevr answers should dstemr fail; throws
// std::runtime_error when that fails too.
void double_eigenpairs(const Eigen::MatrixXd& G, int r, Eigen::VectorXd& w, Eigen::MatrixXd& z) {
    const int n = static_cast<int>(G.rows());
    Eigen::MatrixXd a = G;
    std::vector<lapack_int> isuppz(2 * static_cast<std::size_t>(r));
    Eigen::VectorXd d(n), e(n), tau(std::max(1, n - 1));
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'U', n, a.data(), n, d.data(), e.data(), tau.data());
    if (info == 0) {
        lapack_logical tryrac = 1;
        info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d.data(), e.data(), 0.0, 0.0, n - r + 1, n, &found,
                              w.data(), z.data(), n, r, isuppz.data(), &tryrac);
        if (info == 0 && found == r)
            info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'U', 'N', n, r, a.data(), n, tau.data(), z.data(), n);
        else
            info = -1;
    }
    if (info != 0) {
        a = G;
        found = 0;
        info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'U', n, a.data(), n, 0.0, 0.0, n - r + 1, n, 0.0, &found,
                              w.data(), z.data(), n, isuppz.data());
    }
    if (info != 0 || found != r)
        throw std::runtime_error("LAPACK dsyevr failed (info " + std::to_string(info) + ", found " +
                                 std::to_string(found) + " of " + std::to_string(r) + " eigenpairs)");
}

}  // namespace

void dense_eigen(const Eigen::MatrixXd& G, Eigen::VectorXd& values, Eigen::MatrixXd& vectors) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(G);
    if (es.info() != Eigen::Success)
        throw std::runtime_error("symmetric eigensolver failed (order " + std::to_string(G.rows()) + ")");
    values = es.eigenvalues();
    vectors = es.eigenvectors();
}

EigenPairs top_eigenpairs(const Eigen::MatrixXd& G, int r) {
    init_blas();
    const int n = static_cast<int>(G.rows());
    if (G.cols() != n) throw std::invalid_argument("top_eigenpairs: matrix is not square");
    if (r < 0 || r > n)
        throw std::invalid_argument("top_eigenpairs: r must be in 0.." + std::to_string(n) + ", got " +
                                    std::to_string(r));
    EigenPairs out;
    if (r == 0) {
        out.values.resize(0);
        out.vectors.resize(n, 0);
        return out;
    }
    // Householder tridiagonalisation (4/3 n^3) plus back-transformation of r vectors (2 n^2 r).
    flop_counter().fetch_add(std::uint64_t(4.0 / 3.0 * double(n) * n * n + 2.0 * double(n) * n * r),
                             std::memory_order_relaxed);
    Eigen::VectorXd w(n);
    Eigen::MatrixXd z(n, r);
    out.single_precision = n >= kFloatEigenMinOrder && float_eigenpairs(G, r, w, z);
    if (!out.single_precision) {
        if (n <= kDenseEigenMaxOrder) {
            Eigen::VectorXd all;
            Eigen::MatrixXd vectors;
            dense_eigen(G, all, vectors);
            w.head(r) = all.tail(r);  // ascending, as the LAPACK paths
            z = vectors.rightCols(r);
        } else {
            double_eigenpairs(G, r, w, z);
        }
    }
    // Every path returns ascending order; we want descending.
    out.values = w.head(r).reverse();
    out.vectors = z.rowwise().reverse();
    fix_signs(out.vectors);
    return out;
}

Eigen::VectorXd all_eigenvalues(const Eigen::MatrixXd& G) {
    init_blas();
    const int n = static_cast<int>(G.rows());
    if (n == 0) return {};
    flop_counter().fetch_add(std::uint64_t(4.0 / 3.0 * double(n) * n * n), std::memory_order_relaxed);
    Eigen::MatrixXd a = G;
    Eigen::VectorXd w(n);
    // From n = 3072 on, the two-stage reduction (dense -> band with BLAS3, then band ->
    // tridiagonal) beats dsytrd, whose dsymv half streams the whole trailing matrix from memory
    // once per column; below that order dsyevd is faster. The eigenvalues agree to about
    // 2e-15 * lambda_max.
    const lapack_int info = n >= kTwoStageMinOrder
                                ? LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, 'N', 'U', n, a.data(), n, w.data())
                                : LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'U', n, a.data(), n, w.data());
    if (info != 0) throw std::runtime_error("LAPACK dsyevd failed (info " + std::to_string(info) + ")");
    return w.reverse();
}

namespace {
template <class Matrix>
std::vector<Eigen::Index> fix_signs_impl(Matrix& U) {
    std::vector<Eigen::Index> flipped;
    for (Eigen::Index j = 0; j < U.cols(); ++j) {
        Eigen::Index best = 0;
        double mag = -1;
        for (Eigen::Index i = 0; i < U.rows(); ++i)
            if (std::abs(U(i, j)) > mag) {
                mag = std::abs(U(i, j));
                best = i;
            }
        if (U.rows() > 0 && U(best, j) < 0) {
            U.col(j) = -U.col(j);
            flipped.push_back(j);
        }
    }
    return flipped;
}
}  // namespace

std::vector<Eigen::Index> fix_signs(Eigen::MatrixXd& U) { return fix_signs_impl(U); }
std::vector<Eigen::Index> fix_signs(Eigen::MatrixXf& U) { return fix_signs_impl(U); }

double norm_sq(const Tensor4& X) {
    const std::int64_t n = X.size();
    constexpr std::int64_t block = 1 << 16;
    const std::int64_t nb = (n + block - 1) / block;
    std::vector<double> part(static_cast<std::size_t>(nb), 0.0);
    // Eight independent sums per block (element i goes to sum i mod 8), so the loop vectorises
    // and is not bound by the latency of one chain of additions; the
    // order of every addition is fixed by the index, the same for any thread count.
    tbb::parallel_for(std::int64_t(0), nb, [&](std::int64_t b) {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const std::int64_t b0 = b * block, e = std::min(n, b0 + block);
        const float* x = X.data.data();
        std::int64_t i = b0;
        for (; i + 8 <= e; i += 8)
            for (int k = 0; k < 8; ++k) acc[k] += double(x[i + k]) * double(x[i + k]);
        for (; i < e; ++i) acc[0] += double(x[i]) * double(x[i]);
        part[static_cast<std::size_t>(b)] =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    });
    double s = 0;
    for (double p : part) s += p;
    return s;
}

}  // namespace tllm::tucker
