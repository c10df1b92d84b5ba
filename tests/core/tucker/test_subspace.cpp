// Block subspace iteration (core/tucker/subspace.h) against closed forms (a prescribed
// spectrum) and against the exact Gram + dsyevr path, its fallback, warm starts and
// thread-count determinism.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include "analysis/benchmark.h"
#include "core/tucker/tucker_test_util.h"
#include "tucker/linalg.h"
#include "tucker/subspace.h"
#include "tucker/tucker.h"

using namespace tllm;
using tensor::Tensor4;

namespace {

// A tensor (I, 32, 4, 8) whose mode-0 unfolding is U diag(sigma) V^T exactly (up to float
// rounding): its leading energy is known in closed form.
Tensor4 with_spectrum(std::int64_t I, const Eigen::VectorXd& sigma, unsigned seed) {
    std::mt19937 g(seed);
    const int k = int(sigma.size());
    const std::int64_t M = 32 * 4 * 8;
    const Eigen::MatrixXd U = test::random_orthonormal<double>(int(I), k, g),
                          V = test::random_orthonormal<double>(int(M), k, g);
    const Eigen::MatrixXd X = U * sigma.asDiagonal() * V.transpose();
    Tensor4 T({I, 32, 4, 8});
    for (std::int64_t i = 0; i < T.size(); ++i) T.data[i] = float(X.data()[i]);
    return T;
}

double top_energy(const Eigen::VectorXd& sigma, int r) { return sigma.head(r).squaredNorm(); }

// ||U^T X||^2 for the mode-0 unfolding: the energy a factor actually captures.
double captured(const Tensor4& X, const Eigen::MatrixXf& U) {
    return tucker::norm_sq(tucker::mode_product(X, 0, U.transpose()));
}

}  // namespace

TEST(Subspace, CapturesTheClosedFormEnergyWhenThereIsAGap) {
    // 64 leading singular values in [1, 2], then a tail of 192 at 0.05.
    Eigen::VectorXd sigma(256);
    for (int i = 0; i < 256; ++i) sigma(i) = i < 64 ? 2.0 - i / 64.0 : 0.05;
    const Tensor4 X = with_spectrum(2048, sigma, 1);
    const auto s = tucker::leading_subspace(X, 64);
    ASSERT_TRUE(s.converged);
    EXPECT_LE(s.iterations, 4);
    const double exact = top_energy(sigma, 64), total = sigma.squaredNorm();
    EXPECT_NEAR(s.energy, exact, 1e-5 * total);
    EXPECT_NEAR(captured(X, s.vectors), exact, 1e-5 * total);
    // Orthonormal columns; Ritz values in descending order and equal to sigma^2.
    const Eigen::MatrixXf I = s.vectors.transpose() * s.vectors;
    EXPECT_LT((I - Eigen::MatrixXf::Identity(64, 64)).cwiseAbs().maxCoeff(), 1e-5);
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(s.values(i), sigma(i) * sigma(i), 1e-4) << i;
    // Same subspace as the exact path's eigenvectors: ||U_exact^T U||_F^2 = r when equal.
    const Eigen::MatrixXf E = tucker::top_eigenpairs(tucker::mode_gram(X, 0), 64).vectors.cast<float>();
    EXPECT_NEAR((E.transpose() * s.vectors).squaredNorm(), 64.0, 1e-3);
}

// The block is orthonormalised by Cholesky QR twice, with Householder QR where that cannot
// answer (subspace.cpp orthonormalize). Both ends: an unfolding of rank 40 < R + p (the random
// block itself is rank-deficient, its Gram singular: Householder answers), and a spectrum
// falling over four decades within the block's 80 columns (the random block's condition
// about 1e4, its Gram's 1e8, past float rounding; the later, better-conditioned blocks go
// through Cholesky QR). In both the basis comes out orthonormal and captures the closed-form
// energy.
TEST(Subspace, RankDeficientAndIllConditionedBlocksGiveAnOrthonormalBasis) {
    Eigen::VectorXd low(40), steep(256);
    for (int i = 0; i < 40; ++i) low(i) = 2.0 - i / 40.0;
    for (int i = 0; i < 256; ++i) steep(i) = std::pow(10.0, -4.0 * std::min(i, 79) / 79.0) * (i < 80 ? 1.0 : 0.5);
    for (const auto& [sigma, name] : {std::pair{low, "rank 40"}, std::pair{steep, "four decades"}}) {
        SCOPED_TRACE(name);
        const Tensor4 X = with_spectrum(2048, sigma, 7);
        const auto before = tucker::orthonormalize_counts();
        const auto s = tucker::leading_subspace(X, 64);
        const auto after = tucker::orthonormalize_counts();
        ASSERT_TRUE(s.converged);
        const Eigen::MatrixXf I = s.vectors.transpose() * s.vectors;
        EXPECT_LT((I - Eigen::MatrixXf::Identity(64, 64)).cwiseAbs().maxCoeff(), 1e-5);
        const double exact = top_energy(sigma, std::min<int>(64, int(sigma.size()))), total = sigma.squaredNorm();
        EXPECT_NEAR(s.energy, exact, 1e-5 * total);
        EXPECT_NEAR(captured(X, s.vectors), exact, 1e-5 * total);
        std::printf("  %s: %llu Cholesky QR, %llu Householder QR\n", name,
                    static_cast<unsigned long long>(after.cholesky - before.cholesky),
                    static_cast<unsigned long long>(after.householder - before.householder));
        EXPECT_GE(after.householder - before.householder, 1u) << "the first block needs the fallback";
        if (std::string(name) == "four decades") {
            EXPECT_GE(after.cholesky - before.cholesky, 1u);
        }
    }
}

TEST(Subspace, ItsProjectionIsTheModeProductByTheResult) {
    Eigen::VectorXd sigma(80);
    for (int i = 0; i < 80; ++i) sigma(i) = i < 48 ? 10.0 - 0.1 * i : 0.5 * std::pow(0.9, i - 48);
    const Tensor4 X = with_spectrum(1200, sigma, 5);
    const tucker::SubspaceResult s = tucker::leading_subspace(X, 48);
    ASSERT_TRUE(s.converged);
    const Tensor4 Y = tucker::mode_product(X, 0, s.vectors.transpose());  // (48, 32, 4, 8)
    ASSERT_EQ(s.projected.dim, Y.dim);
    double worst = 0;
    for (std::int64_t i = 0; i < Y.size(); ++i)
        worst = std::max(worst, double(std::abs(s.projected.data[i] - Y.data[i])));
    EXPECT_LT(worst, 1e-4 * sigma(0));
}

TEST(Subspace, WithoutAGapItEitherMeetsTheToleranceOrSaysSo) {
    // sigma_i = (i + 1)^-0.25: no gap anywhere near r = 64.
    Eigen::VectorXd sigma(512);
    for (int i = 0; i < 512; ++i) sigma(i) = std::pow(i + 1.0, -0.25);
    const Tensor4 X = with_spectrum(2048, sigma, 2);
    const double exact = top_energy(sigma, 64), total = sigma.squaredNorm();
    const auto s = tucker::leading_subspace(X, 64);
    if (s.converged) {
        EXPECT_NEAR(captured(X, s.vectors), exact, 1e-4 * total);
    }
    // Whatever the subspace solver did, leading_vectors (Auto) returns vectors that capture
    // the exact energy: it falls back to Gram + dsyevr when the iteration does not converge.
    const Eigen::MatrixXf U = tucker::leading_vectors(X, 0, 64, {}, tucker::Solver::Auto);
    EXPECT_NEAR(captured(X, U), exact, 1e-4 * total);
    // A limit of two sweeps cannot pass the stop test from a cold start here.
    tucker::SubspaceOptions few;
    few.max_iterations = 2;
    few.tolerance = 1e-12;
    EXPECT_FALSE(tucker::leading_subspace(X, 64, nullptr, few).converged);
}

TEST(Subspace, WarmStartFromTheAnswerConvergesAtTheFirstCheck) {
    Eigen::VectorXd sigma(256);
    for (int i = 0; i < 256; ++i) sigma(i) = i < 96 ? 3.0 - i / 48.0 : 0.1;
    const Tensor4 X = with_spectrum(1536, sigma, 3);
    const Eigen::MatrixXf exact = tucker::top_eigenpairs(tucker::mode_gram(X, 0), 96).vectors.cast<float>();
    const auto s = tucker::leading_subspace(X, 96, &exact);
    ASSERT_TRUE(s.converged);
    // One product X^T Q; the residuals of its Ritz pairs (read off the next block) certify
    // that another sweep would add nothing.
    EXPECT_EQ(s.iterations, 1);
    EXPECT_NEAR(s.energy, top_energy(sigma, 96), 1e-5 * sigma.squaredNorm());
}

// The stop test's residual norms are estimated from random probes (subspace.cpp
// estimated_gain_bound). A warm start some way off the answer must not pass it at the first
// check, and the answer it stops at must be within the tolerance of the closed-form energy:
// an under-estimate would stop early and leave energy behind.
TEST(Subspace, WarmStartOffTheAnswerIsNotAcceptedUntilTheEnergyIsThere) {
    Eigen::VectorXd sigma(256);
    for (int i = 0; i < 256; ++i) sigma(i) = i < 96 ? 3.0 - i / 48.0 : 0.3 * std::pow(0.99, i - 96);
    const Tensor4 X = with_spectrum(1536, sigma, 8);
    const double exact = top_energy(sigma, 96), total = sigma.squaredNorm();
    Eigen::MatrixXf warm = tucker::top_eigenpairs(tucker::mode_gram(X, 0), 96).vectors.cast<float>();
    std::mt19937 g(9);
    std::normal_distribution<float> n01;
    for (Eigen::Index i = 0; i < warm.size(); ++i) warm.data()[i] += 0.002f * n01(g);
    const Eigen::HouseholderQR<Eigen::MatrixXf> qr(warm);
    warm = qr.householderQ() * Eigen::MatrixXf::Identity(warm.rows(), warm.cols());
    const double start_deficit = exact - captured(X, warm);
    ASSERT_GT(start_deficit, 1e-3 * total) << "the start must be measurably off";
    for (const double tol : {1e-4, 1e-6}) {
        SCOPED_TRACE(tol);
        tucker::SubspaceOptions o;
        o.tolerance = tol;
        const auto s = tucker::leading_subspace(X, 96, &warm, o);
        ASSERT_TRUE(s.converged);
        EXPECT_GE(s.iterations, 2);
        const double deficit = exact - captured(X, s.vectors);
        EXPECT_LE(deficit, (tol + 1e-7) * total);  // 1e-7: float rounding of captured()
        std::printf("  tol %g: %d sweeps, deficit %.2e of ||X||^2 (start %.2e)\n", tol, s.iterations, deficit / total,
                    start_deficit / total);
    }
}

TEST(Subspace, OneAndTwoThreadsGiveBitIdenticalResults) {
    Eigen::VectorXd sigma(200);
    for (int i = 0; i < 200; ++i) sigma(i) = std::exp(-i / 40.0);
    const Tensor4 X = with_spectrum(1280, sigma, 4);
    tucker::SubspaceResult a, b;
    tbb::task_arena(1).execute([&] { a = tucker::leading_subspace(X, 48); });
    tbb::task_arena(2).execute([&] { b = tucker::leading_subspace(X, 48); });
    ASSERT_EQ(a.iterations, b.iterations);
    ASSERT_EQ(a.vectors.size(), b.vectors.size());
    EXPECT_EQ(std::memcmp(a.vectors.data(), b.vectors.data(), sizeof(float) * a.vectors.size()), 0);
    EXPECT_EQ(a.energy, b.energy);
}

TEST(Subspace, DecompositionErrorsMatchTheExactSolver) {
    // A layer of the benchmark's kind (multilinear rank (d/8, dv/2, 4) + 10 % noise), wide
    // enough that Auto takes the subspace path for the d mode.
    const std::array<std::int64_t, 4> dims{1536, 64, 4, 8};
    const std::array<int, 3> ranks{192, 32, 4};
    ASSERT_TRUE(tucker::subspace_pays_off(dims, 0, ranks[0]));
    const Tensor4 W = bench::synthetic_layer(dims, 11);
    for (auto m : {tucker::Method::HOSVD, tucker::Method::STHOSVD, tucker::Method::HOOI}) {
        SCOPED_TRACE(tucker::method_name(m));
        tucker::TuckerOptions o;
        o.method = m;
        o.ranks = ranks;
        o.max_iterations = 3;
        o.tolerance = 0;
        o.solver = tucker::Solver::Exact;
        const auto exact = tucker::decompose(W, o);
        o.solver = tucker::Solver::Auto;
        const auto fast = tucker::decompose(W, o);
        EXPECT_NEAR(fast.rel_error, exact.rel_error, 1e-5);
        // The core is W projected onto the factors, element by element: for HOSVD and
        // ST-HOSVD the d-mode projection comes from the solver's by-product (Z V_r), whose
        // layout a norm comparison alone would not check.
        Tensor4 P = tucker::mode_product(W, 0, fast.factors[0].transpose());
        P = tucker::mode_product(P, 1, fast.factors[1].transpose());
        P = tucker::mode_product(P, 2, fast.factors[2].transpose());
        ASSERT_EQ(P.dim, fast.core.dim);
        double worst = 0, scale = 0;
        for (std::int64_t i = 0; i < P.size(); ++i) {
            worst = std::max(worst, double(std::abs(P.data[i] - fast.core.data[i])));
            scale = std::max(scale, double(std::abs(P.data[i])));
        }
        EXPECT_LT(worst, 1e-4 * scale);
        ASSERT_EQ(fast.trace.size(), exact.trace.size());
        for (std::size_t k = 0; k < exact.trace.size(); ++k) EXPECT_NEAR(fast.trace[k], exact.trace[k], 1e-5) << k;
    }
}

// HOOI's d-mode step takes its first product through W (hooi_subspace): X^T B from W_(0)^T B
// reduced by U2^T and/or U3^T, and W x_0 U^T from the same product. Started from the exact
// answer, so the first product certifies it: the Ritz values it gives (the energy) come from
// the reduced product alone, and are held to the closed form of X; the projection to the mode
// product by the result.
TEST(Subspace, HooiStepThroughWMatchesTheFormedTensor) {
    const std::array<std::int64_t, 4> dims{1024, 32, 4, 8};
    const Tensor4 W = bench::synthetic_layer(dims, 21);
    const Eigen::MatrixXf U2 = tucker::top_eigenpairs(tucker::mode_gram(W, 1), 16).vectors.cast<float>();
    const Eigen::MatrixXf U3 = tucker::top_eigenpairs(tucker::mode_gram(W, 2), 2).vectors.cast<float>();
    for (const int which : {2, 3, 23}) {  // U2 only, U3 only (mode 1 left as is), both
        SCOPED_TRACE("factors " + std::to_string(which));
        const Eigen::MatrixXf* u2 = which != 3 ? &U2 : nullptr;
        const Eigen::MatrixXf* u3 = which != 2 ? &U3 : nullptr;
        Tensor4 X = u2 ? tucker::mode_product(W, 1, U2.transpose()) : W;
        if (u3) X = tucker::mode_product(X, 2, U3.transpose());
        const int r = 96;
        const auto exact = tucker::top_eigenpairs(tucker::mode_gram(X, 0), r);
        const double top = exact.values.sum(), total = tucker::norm_sq(X);
        const Eigen::MatrixXf warm = exact.vectors.cast<float>();
        const auto s = tucker::hooi_subspace(W, u2, u3, r, warm);
        ASSERT_TRUE(s.converged);
        EXPECT_EQ(s.iterations, 1);
        EXPECT_NEAR(s.energy, top, 1e-5 * total);
        EXPECT_NEAR(captured(X, s.vectors), top, 1e-5 * total);
        // The warm solve on X formed explicitly (with oversampling columns) certifies at its
        // first product too, with the same energy.
        const auto f = tucker::leading_subspace(X, r, &warm);
        EXPECT_EQ(f.iterations, 1);
        EXPECT_NEAR(f.energy, s.energy, 1e-6 * total);
        // projected = W x_0 U^T, with W's own dims.
        const Tensor4 T = tucker::mode_product(W, 0, s.vectors.transpose());
        ASSERT_EQ(s.projected.dim, T.dim);
        double worst = 0, scale = 0;
        for (std::int64_t i = 0; i < T.size(); ++i) {
            worst = std::max(worst, double(std::abs(s.projected.data[i] - T.data[i])));
            scale = std::max(scale, double(std::abs(T.data[i])));
        }
        EXPECT_LT(worst, 1e-4 * scale);
    }
}

// HOOI keeps W_(0)^T G for the probes G across its sweeps (probe_product): the first call fills
// it, a later one takes the probes' part from it and multiplies W by the previous factor alone.
// Both answer as the call without it: the energy to the closed form of X, W x_0 U^T to the mode
// product, and the second call certifies at its first product as the first did.
TEST(Subspace, HooiStepReusesTheProbeProductAcrossCalls) {
    const std::array<std::int64_t, 4> dims{1024, 32, 4, 8};
    const Tensor4 W = bench::synthetic_layer(dims, 23);
    const Eigen::MatrixXf U2 = tucker::top_eigenpairs(tucker::mode_gram(W, 1), 16).vectors.cast<float>();
    const Eigen::MatrixXf U3 = tucker::top_eigenpairs(tucker::mode_gram(W, 2), 2).vectors.cast<float>();
    const Tensor4 X = tucker::mode_product(tucker::mode_product(W, 1, U2.transpose()), 2, U3.transpose());
    const int r = 64;
    const auto exact = tucker::top_eigenpairs(tucker::mode_gram(X, 0), r);
    const double top = exact.values.sum(), total = tucker::norm_sq(X);
    const Eigen::MatrixXf warm = exact.vectors.cast<float>();
    const auto plain = tucker::hooi_subspace(W, &U2, &U3, r, warm);
    Tensor4 cache;
    const auto fill = tucker::hooi_subspace(W, &U2, &U3, r, warm, {}, {}, nullptr, &cache);
    ASSERT_EQ(cache.dim, (std::array<std::int64_t, 4>{32, 4, 8, 16}));
    const auto reuse = tucker::hooi_subspace(W, &U2, &U3, r, warm, {}, {}, nullptr, &cache);
    const Tensor4 T = tucker::mode_product(W, 0, exact.vectors.cast<float>().transpose());
    for (const auto* s : {&plain, &fill, &reuse}) {
        ASSERT_TRUE(s->converged);
        EXPECT_EQ(s->iterations, 1);
        EXPECT_NEAR(s->energy, top, 1e-5 * total);
        EXPECT_NEAR(captured(X, s->vectors), top, 1e-5 * total);
        // The same vectors up to rounding: W x_0 U^T against the product by the exact factor.
        ASSERT_EQ(s->projected.dim, T.dim);
        double worst = 0, scale = 0;
        for (std::int64_t i = 0; i < T.size(); ++i) {
            worst = std::max(worst, double(std::abs(s->projected.data[i] - T.data[i])));
            scale = std::max(scale, double(std::abs(T.data[i])));
        }
        EXPECT_LT(worst, 1e-3 * scale);
    }
    // The cache is W_(0)^T G: a product with W of 16 columns, so each of its columns lies in
    // the row space of W_(0); its norm is bounded by ||W_(0)|| ||g|| = sigma_1 sqrt(d).
    const double sigma1 = std::sqrt(tucker::top_eigenpairs(tucker::mode_gram(W, 0), 1).values(0));
    const Eigen::Map<const Eigen::MatrixXf> C(cache.data.data(), 32 * 4 * 8, 16);
    for (int j = 0; j < 16; ++j) EXPECT_LE(C.col(j).norm(), sigma1 * std::sqrt(1024.0) * (1 + 1e-5));
    EXPECT_GT(C.norm(), 0.0);
}

namespace {

// A start some way off the answer, from which W's product cannot certify it.
struct OffStart {
    Tensor4 W, X;
    Eigen::MatrixXf U2, warm;
    Eigen::VectorXd values;  // the closed-form eigenvalues of X's mode-0 Gram, r leading
    double total = 0;
};
OffStart off_start(int r) {
    Eigen::VectorXd sigma(256);
    for (int i = 0; i < 256; ++i) sigma(i) = i < 96 ? 3.0 - i / 48.0 : 0.3 * std::pow(0.99, i - 96);
    OffStart o;
    o.W = with_spectrum(1536, sigma, 8);  // (1536, 32, 4, 8)
    // A random 31-column factor: X = W x_1 U2^T keeps almost all of W's energy but is a
    // different tensor.
    std::mt19937 g(12);
    o.U2 = test::random_orthonormal<double>(32, 31, g).cast<float>();
    o.X = tucker::mode_product(o.W, 1, o.U2.transpose());
    const auto exact = tucker::top_eigenpairs(tucker::mode_gram(o.X, 0), r);
    o.values = exact.values;
    o.total = tucker::norm_sq(o.X);
    o.warm = exact.vectors.cast<float>();
    std::normal_distribution<float> n01;
    for (Eigen::Index i = 0; i < o.warm.size(); ++i) o.warm.data()[i] += 0.002f * n01(g);
    const Eigen::HouseholderQR<Eigen::MatrixXf> qr(o.warm);
    o.warm = qr.householderQ() * Eigen::MatrixXf::Identity(o.warm.rows(), o.warm.cols());
    return o;
}

}  // namespace

// From such a start X is formed and solved as usual from the same start; W x_0 U^T is not
// available from the first product then, and X is handed back for a fallback.
TEST(Subspace, HooiStepOffTheAnswerFormsTheTensorAndStillConverges) {
    const int r = 96;
    const OffStart o = off_start(r);
    ASSERT_GT(o.values.sum() - captured(o.X, o.warm), 1e-3 * o.total) << "the start must be measurably off";
    Tensor4 formed;
    const auto s = tucker::hooi_subspace(o.W, &o.U2, nullptr, r, o.warm, {}, {}, &formed);
    ASSERT_TRUE(s.converged);
    EXPECT_EQ(s.projected.size(), 0);
    EXPECT_LE(o.values.sum() - captured(o.X, s.vectors), (1e-6 + 1e-7) * o.total);
    ASSERT_EQ(formed.dim, o.X.dim);
    EXPECT_EQ(std::memcmp(formed.data.data(), o.X.data.data(), sizeof(float) * o.X.size()), 0);
    // The first product (through W, the previous factor alone) was not enough, and the solve
    // on the formed X took over from the same start.
    const auto f = tucker::leading_subspace(o.X, r, &o.warm);
    EXPECT_EQ(s.iterations, f.iterations + 1);
}

TEST(Subspace, HooiStepIsBitIdenticalForOneAndTwoThreads) {
    const Tensor4 W = bench::synthetic_layer({1024, 32, 4, 8}, 22);
    const Eigen::MatrixXf U2 = tucker::top_eigenpairs(tucker::mode_gram(W, 1), 16).vectors.cast<float>();
    const Eigen::MatrixXf U3 = tucker::top_eigenpairs(tucker::mode_gram(W, 2), 2).vectors.cast<float>();
    const Tensor4 X = tucker::mode_product(tucker::mode_product(W, 1, U2.transpose()), 2, U3.transpose());
    const Eigen::MatrixXf warm = tucker::top_eigenpairs(tucker::mode_gram(X, 0), 64).vectors.cast<float>();
    const OffStart o = off_start(96);
    const auto compare = [](const tucker::SubspaceResult& a, const tucker::SubspaceResult& b) {
        ASSERT_TRUE(a.converged);
        ASSERT_EQ(a.iterations, b.iterations);
        ASSERT_EQ(a.vectors.size(), b.vectors.size());
        EXPECT_EQ(std::memcmp(a.vectors.data(), b.vectors.data(), sizeof(float) * a.vectors.size()), 0);
        ASSERT_EQ(a.projected.size(), b.projected.size());
        if (a.projected.size() > 0) {  // empty on the fallback: no data pointer to compare
            EXPECT_EQ(std::memcmp(a.projected.data.data(), b.projected.data.data(), sizeof(float) * a.projected.size()),
                      0);
        }
    };
    tucker::SubspaceResult a, b;
    tbb::task_arena(1).execute([&] { a = tucker::hooi_subspace(W, &U2, &U3, 64, warm); });
    tbb::task_arena(2).execute([&] { b = tucker::hooi_subspace(W, &U2, &U3, 64, warm); });
    EXPECT_EQ(a.iterations, 1);
    compare(a, b);
    // The fallback: X formed, more than one sweep.
    tbb::task_arena(1).execute([&] { a = tucker::hooi_subspace(o.W, &o.U2, nullptr, 96, o.warm); });
    tbb::task_arena(2).execute([&] { b = tucker::hooi_subspace(o.W, &o.U2, nullptr, 96, o.warm); });
    EXPECT_GE(a.iterations, 2);
    compare(a, b);
    // With the probe product kept across calls: filled by the first call, used by the second.
    Tensor4 ca, cb;
    tbb::task_arena(1).execute([&] {
        tucker::hooi_subspace(W, &U2, &U3, 64, warm, {}, {}, nullptr, &ca);
        a = tucker::hooi_subspace(W, &U2, &U3, 64, warm, {}, {}, nullptr, &ca);
    });
    tbb::task_arena(2).execute([&] {
        tucker::hooi_subspace(W, &U2, &U3, 64, warm, {}, {}, nullptr, &cb);
        b = tucker::hooi_subspace(W, &U2, &U3, 64, warm, {}, {}, nullptr, &cb);
    });
    ASSERT_EQ(ca.dim, cb.dim);
    EXPECT_EQ(std::memcmp(ca.data.data(), cb.data.data(), sizeof(float) * ca.size()), 0);
    compare(a, b);
}

TEST(Subspace, ParseSolverNamesTheChoices) {
    EXPECT_EQ(tucker::parse_solver("exact"), tucker::Solver::Exact);
    EXPECT_EQ(tucker::parse_solver("auto"), tucker::Solver::Auto);
    try {
        tucker::parse_solver("lanczos");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("expected auto or exact, got 'lanczos'"), std::string::npos);
    }
}
