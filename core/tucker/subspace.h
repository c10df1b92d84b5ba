#pragma once
// Leading left singular subspace of a wide mode unfolding by block subspace iteration, for
// the case where the Gram + dsyevr path is slow: the d mode of GPT-2-sized and larger
// layers (d >= 512) with R_n well below d.
//
// Why: for the LLaMA-7B layer (4096, 128, 4, 32) the exact path forms the 4096 x 4096 Gram
// (N * 4096 FLOP, 4-8x the whole ST-HOSVD lower bound 2 * N * R1) and tridiagonalises it with
// a single-threaded dsyevr. Subspace iteration touches the unfolding X (I x M) only
// through the products X^T Q and X Z with a block of s = R + p columns, which run at the
// SGEMM rate on the oneTBB pool; each sweep costs 4 * N * s FLOP.
//
// Accuracy, and when it stops: what the Tucker error depends on is the energy the subspace
// captures, ||U^T X||^2 = sum of the R leading Ritz values (the ST-HOSVD error of this step is
// ||X||^2 minus it). Ritz values only increase from sweep to sweep, so the iteration stops when
// a sweep adds less than `tolerance * ||Q^T X||^2` to that sum, or earlier, when the residuals
// of the current Ritz pairs bound the gain of one more sweep below that. The residual norms are
// estimated from 16 random probe vectors that ride along in the sweep's product X^T Q (k extra
// columns, no extra pass; subspace.cpp estimated_gain_bound), so the sweep that forms the
// answer can also certify it. A cold start is a sparse sketch of X (one read of the data, no
// multiplications), one power step (two passes) and the product X^T Q that both certifies and
// projects: three passes over X in all, where a dense random start with an explicit residual
// check would take five. A warm start (HOOI passes its previous factor) usually stops after its first
// product. If neither stop test passes within `max_iterations` sweeps (no spectral gap near R;
// the observed geometric rate of the gains is used to give up early when the limit cannot be
// reached), the result says so and the caller falls back to the exact Gram + dsyevr path.
//
// Determinism: the random start is a counter-based hash of the element index (no generator
// state), every product is split into blocks by problem size only, and small reductions are
// added in block order, so 1 and N threads give bit-identical results.

#include <cstdint>

#include <Eigen/Dense>

#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::tucker {

struct SubspaceOptions {
    int oversample = -1;      ///< p; -1 = max(16, R / 8)
    int max_iterations = 12;  ///< sweeps before giving up (the caller then falls back)
    double tolerance = 1e-6;  ///< stop when a sweep adds < tolerance * ||Q^T X||^2 (<= ||X||^2) of energy
    bool project = true;      ///< also return X x_0 U^T (SubspaceResult::projected)
    std::uint64_t seed = 0x7e450a11;
};

struct SubspaceResult {
    Eigen::MatrixXf vectors;    ///< I x R, orthonormal, sign convention of fix_signs()
    tensor::Tensor4 projected;  ///< X x_0 U^T, (R, dims 1..3 of X), where options.project
    Eigen::VectorXd values;     ///< R leading Ritz values (estimates of the Gram's eigenvalues)
    double energy = 0;          ///< sum of values = ||U^T X||^2
    int iterations = 0;         ///< sweeps (products X^T Q) performed
    bool converged = false;     ///< false: the caller should use the exact path
};

/// How many block orthonormalisations (process-wide, since start) Cholesky QR answered and
/// how many fell back to Householder QR (a rank-deficient or too ill-conditioned block).
struct OrthonormalizeCounts {
    std::uint64_t cholesky = 0, householder = 0;
};
OrthonormalizeCounts orthonormalize_counts();

/// True when leading_subspace() is the faster path for R leading vectors of mode `mode`
/// (only mode 0, d > 1024, or d >= 512 when warm, and R + p <= d / 2; then by a FLOP model
/// of both paths). `warm`:
/// a previous factor will seed the block (one pass fewer).
bool subspace_pays_off(const std::array<std::int64_t, 4>& dims, int mode, int r, bool warm = false);

/// The R leading left singular vectors of the mode-0 unfolding of X (I x M, contiguous).
/// `warm` (I x R', any R' <= R + p) seeds the block, e.g. the previous HOOI factor.
SubspaceResult leading_subspace(const tensor::Tensor4& X, int r, const Eigen::MatrixXf* warm = nullptr,
                                const SubspaceOptions& opt = {}, const util::Control& ctl = {});

/// HOOI's d-mode step: the R leading left singular vectors of the mode-0 unfolding of
/// X = W x_1 U2^T x_2 U3^T (a null factor leaves that mode as it is), warm-started from the
/// previous factor `warm` (I x R). The first product is taken through W, with the previous
/// factor alone (no oversampling columns) and the probes: W_(0)^T B, 2 * N * (R + 16) FLOP,
/// each of its columns then reduced by U2^T and U3^T to give X^T B, so X is not formed. When
/// that product certifies the answer (the usual case in HOOI after the first sweep),
/// `projected` is W x_0 U^T, taken from it at 2 * R * R FLOP per column of W_(0) instead of a
/// mode product of 2 * N * R. Otherwise X is formed and the usual warm solve runs on it
/// (`opt` as given), `projected` is empty, and X is moved into `*formed` where given (for a
/// fallback to the exact path). The first product counts in `iterations`. With both factors
/// null, X = W: the plain solve, with `projected` = W x_0 U^T.
/// `probe_product`, where given, holds W_(0)^T times the probe vectors across calls with the
/// same W and options (HOOI's sweeps): the first call fills it (an empty tensor), the next ones
/// take the probes' part of X^T [U, Gp] from it, so their product through W has the R columns
/// of the previous factor alone.
SubspaceResult hooi_subspace(const tensor::Tensor4& W, const Eigen::MatrixXf* U2, const Eigen::MatrixXf* U3, int r,
                             const Eigen::MatrixXf& warm, const SubspaceOptions& opt = {},
                             const util::Control& ctl = {}, tensor::Tensor4* formed = nullptr,
                             tensor::Tensor4* probe_product = nullptr);
/// True when hooi_subspace() needs fewer FLOP than forming X, a product with it and W x_0 U^T
/// separately. r2, r3: the ranks of modes 1 and 2 (dims[1], dims[2] where not reduced).
bool hooi_subspace_pays_off(const std::array<std::int64_t, 4>& dims, int r, int r2, int r3);

}  // namespace tllm::tucker
