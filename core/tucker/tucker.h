#pragma once
// Partial Tucker decomposition of a layer tensor W_all (d x dv x 4 x h) with the head mode
// uncompressed (docs/method.md section 3):
//   W_i ~= G_i x1 U1 x2 U2 x3 U3 for every head i, with U1 (d x R1), U2 (dv x R2),
//   U3 (4 x R3) orthonormal and shared, and one core G_i (R1 x R2 x R3) per head.
//
// Leading singular vectors (how they are computed, and why):
//   For the wide d mode of large layers (d > 1024, R1 well below d) block subspace iteration
//   on the unfolding itself (subspace.h): passes at the SGEMM rate instead of the d x d Gram
//   and a single-threaded tridiagonalisation; it stops on the captured energy, which is what
//   the error depends on, and falls back to the exact path below if it does not converge.
//   Otherwise the mode-n Gram matrix Y_(n) Y_(n)^T is formed with SGEMM blocks accumulated in double
//   (linalg.h), then its R_n leading eigenvectors come from a partial symmetric eigensolver
//   (linalg.h top_eigenpairs: tridiagonalisation, then only the wanted pairs). This is exact
//   (no sketching error), fast at small and large ranks alike (the eigensolve costs O(I_n^3)
//   with I_n <= d, next to the Gram's O(N I_n)), and avoids Eigen's dense eigensolver, which
//   costs several times the Gram product itself on large modes.
// Sign convention: each column's largest-magnitude entry is positive (linalg.h fix_signs).
// Errors: with orthonormal factors ||W - W_hat||^2 = ||W||^2 - ||G||^2, accumulated in double
// and clamped at 0; no reconstruction is needed.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::tucker {

enum class Method { HOSVD, STHOSVD, HOOI };
/// How leading singular vectors are computed. Auto: block subspace iteration for the wide d
/// mode of large layers where it is cheaper (subspace.h; it falls back to the exact path when
/// it does not converge), Gram + dsyevr elsewhere. Exact: always Gram + dsyevr.
enum class Solver { Auto, Exact };
const char* solver_name(Solver s);
Solver parse_solver(const std::string& s);
/// "hosvd", "sthosvd", "hooi".
const char* method_name(Method m);
/// Parses a method name; throws std::invalid_argument listing the valid names.
Method parse_method(const std::string& s);

/// Options of one decomposition. validate() checks them against a tensor's dimensions.
struct TuckerOptions {
    Method method = Method::HOOI;
    /// (R1, R2, R3): ranks of the d, head-dim and Q/K/V/O modes.
    std::array<int, 3> ranks{1, 1, 1};
    /// HOOI's initialisation: HOSVD or STHOSVD (the cheaper default).
    Method init = Method::STHOSVD;
    /// ST-HOSVD truncation order (a permutation of 0, 1, 2); empty = largest mode first.
    std::vector<int> mode_order;
    /// HOOI: at most this many sweeps (the paper's library default is 100).
    int max_iterations = 100;
    /// HOOI: stop when the relative error changes by less than this between sweeps.
    double tolerance = 1e-4;
    /// Leading-vector solver (see Solver).
    Solver solver = Solver::Auto;

    /// Throws std::invalid_argument naming the field, the limit and the value, e.g.
    /// "ranks[1]: must be <= head_dim (64), got 80".
    void validate(const std::array<std::int64_t, 4>& dims) const;
};

enum class Status { Ok, NotConverged, Cancelled, Failed };
const char* status_name(Status s);

/// The decomposition of one layer tensor.
struct TuckerResult {
    std::array<Eigen::MatrixXf, 3> factors;  ///< U1 (d x R1), U2 (dv x R2), U3 (4 x R3)
    tensor::Tensor4 core;                    ///< G_all (R1 x R2 x R3 x h); head i = core.slice(., i)
    std::array<int, 3> ranks{0, 0, 0};
    double norm_sq = 0;       ///< ||W||^2
    double core_norm_sq = 0;  ///< ||G||^2
    double rel_error = 0;     ///< ||W - W_hat|| / ||W||
    /// Relative error after the initialisation (entry 0) and after every HOOI sweep.
    std::vector<double> trace;
    int iterations = 0;  ///< HOOI sweeps performed
    Status status = Status::Ok;
    double seconds = 0;
};

/// Decomposes W (d x dv x 4 x h). Cost (Gram path): HOSVD about N*(d + dv + 4) FLOP plus
/// the core projections; ST-HOSVD less (later modes act on the truncated tensor); each HOOI
/// sweep about 2*N*R1 + the Grams of the projected tensors. Memory: about 2 extra tensors of
/// W's size at peak. Throws std::invalid_argument for invalid options, util::Cancelled when
/// cancelled. Bit-identical results for any number of threads.
TuckerResult decompose(const tensor::Tensor4& W, const TuckerOptions& opt, const util::Control& ctl = {});

/// W_hat = G x1 U1 x2 U2 x3 U3 (d x dv x 4 x h).
tensor::Tensor4 reconstruct(const TuckerResult& r, const util::Control& ctl = {});

/// The leading r left singular vectors of the mode-`mode` unfolding of Y (I_mode x r, float),
/// with the sign convention applied: Gram + dsyevr, or with Solver::Auto subspace iteration
/// where subspace_pays_off() (seeded with `warm` when given, e.g. the previous HOOI factor).
Eigen::MatrixXf leading_vectors(const tensor::Tensor4& Y, int mode, int r, const util::Control& ctl = {},
                                Solver solver = Solver::Exact, const Eigen::MatrixXf* warm = nullptr);

}  // namespace tllm::tucker
