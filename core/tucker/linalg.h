#pragma once
// The numerical kernels behind the Tucker engine: mode-n products, mode-n Gram matrices and
// partial symmetric eigensolves.
//
// Determinism: every kernel splits its work into blocks whose boundaries depend only on the
// problem size, never on the number of threads; each block is computed by one task with
// single-threaded BLAS, and partial sums are added in block order. Results are therefore
// bit-identical for 1 and N threads.
//
// Speed: the products go to OpenBLAS SGEMM (runtime CPU dispatch, forced single-threaded so
// it does not oversubscribe the oneTBB pool); oneTBB spreads the blocks over the cores.
// Grams accumulate in double: blocks of the float data are widened and multiplied with DGEMM;
// for the wide d mode (512 rows or more) float SGEMM chunks are summed in double.

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::tucker {

/// Floating-point operations performed by the kernels below since start-up (nominal counts:
/// 2*N*J per mode product, N*(I+1) per symmetric Gram, 4/3 n^3 + 2 n^2 r per eigensolve).
/// Benchmarks read it to report the algorithm's FLOP count and the achieved rate.
std::atomic<std::uint64_t>& flop_counter();

/// Makes BLAS/LAPACK single-threaded (idempotent; called by every kernel entry point).
void init_blas();

/// Y = X x_mode M, i.e. Y(.., j, ..) = sum_i M(j, i) X(.., i, ..). M is J x I_mode.
/// Cost: 2 * X.size() * J FLOP. Throws std::invalid_argument on a size mismatch and
/// util::Cancelled when cancelled.
tensor::Tensor4 mode_product(const tensor::Tensor4& X, int mode, const Eigen::MatrixXf& M,
                             const util::Control& ctl = {});

/// The Gram matrix X_(mode) X_(mode)^T (I_mode x I_mode) of the mode unfolding, accumulated in
/// double. Cost: X.size() * I_mode FLOP (symmetry used for the large mode-0 case).
Eigen::MatrixXd mode_gram(const tensor::Tensor4& X, int mode, const util::Control& ctl = {});

/// Leading eigenpairs of a symmetric matrix G (n x n): the `r` largest eigenvalues in
/// descending order and their eigenvectors (n x r). From n = 512 on computed in single
/// precision (G rounded to float; LAPACK ssytrd + sstedc + sormtr: the factors they feed are
/// float; see linalg.cpp for the accuracy): eigenvalues to about
/// 1e-7 * lambda_max, eigenvectors to about 1e-7 * lambda_max / gap. Below that, and as the
/// fallback, in double: Eigen's SelfAdjointEigenSolver up to n = 128 (the head-dim and Q/K/V/O
/// modes), dsytrd + dstemr + dormtr above, then dsyevr.
/// Eigenvectors follow the sign convention of fix_signs().
/// Up to this order symmetric eigenproblems are solved by Eigen's dense solver (dense_eigen):
/// there LAPACK's three calls (tridiagonalisation, MRRR, back-transformation) cost more in call
/// overhead than in arithmetic.
constexpr int kDenseEigenMaxOrder = 128;
/// All eigenpairs of a small symmetric matrix by Eigen's dense solver, in double, ascending.
/// Throws std::runtime_error when the solver fails.
void dense_eigen(const Eigen::MatrixXd& G, Eigen::VectorXd& values, Eigen::MatrixXd& vectors);

struct EigenPairs {
    Eigen::VectorXd values;
    Eigen::MatrixXd vectors;
    bool single_precision = false;  ///< computed by the single-precision path
};
EigenPairs top_eigenpairs(const Eigen::MatrixXd& G, int r);

/// All eigenvalues of a symmetric matrix, descending (values only; cheaper than vectors).
Eigen::VectorXd all_eigenvalues(const Eigen::MatrixXd& G);

/// Sign convention: flips each column so its largest-magnitude entry (the first one on a
/// tie) is positive. Makes factors deterministic and comparable to references up to sign.
/// Returns the columns it flipped (for callers that carry a matrix alongside U).
std::vector<Eigen::Index> fix_signs(Eigen::MatrixXd& U);
std::vector<Eigen::Index> fix_signs(Eigen::MatrixXf& U);

/// Squared Frobenius norm accumulated in double, deterministic.
double norm_sq(const tensor::Tensor4& X);

}  // namespace tllm::tucker
