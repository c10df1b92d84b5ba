// The Tucker engine against closed forms, an independent numpy reference, the paper's
// compression ratios, the rank rules' guarantees, and thread-count determinism.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include "analysis/compression.h"
#include "analysis/measures.h"
#include "analysis/spectra.h"
#include "analysis/sweep.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "support/test_util.h"
#include "core/tucker/tucker_test_util.h"
#include "tensor/tensorize.h"
#include "tucker/linalg.h"
#include "analysis/ranks.h"
#include "tucker/tucker.h"

using namespace tllm;
using tensor::Tensor4;
using tllm::test::random_orthonormal;

namespace {

// G x1 U1 x2 U2 x3 U3 with random G and orthonormal U: multilinear rank exactly `r`.
Tensor4 exact_rank_tensor(std::array<std::int64_t, 4> dims, std::array<int, 3> r, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> N;
    Tensor4 G({r[0], r[1], r[2], dims[3]});
    for (auto& x : G.data) x = N(g);
    Tensor4 Y = tucker::mode_product(G, 0, random_orthonormal(int(dims[0]), r[0], g));
    Y = tucker::mode_product(Y, 1, random_orthonormal(int(dims[1]), r[1], g));
    return tucker::mode_product(Y, 2, random_orthonormal(int(dims[2]), r[2], g));
}

Tensor4 random_tensor(std::array<std::int64_t, 4> dims, unsigned seed, float decay = 0.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> N;
    Tensor4 W(dims);
    for (std::int64_t i = 0; i < W.size(); ++i) W.data[i] = N(g) * std::exp(-decay * float(i % dims[0]));
    return W;
}

double diff_norm_sq(const Tensor4& a, const Tensor4& b) {
    double s = 0;
    for (std::int64_t i = 0; i < a.size(); ++i) {
        const double e = double(a.data[i]) - b.data[i];
        s += e * e;
    }
    return s;
}

const tucker::Method kMethods[] = {tucker::Method::HOSVD, tucker::Method::STHOSVD, tucker::Method::HOOI};

}  // namespace

TEST(Tucker, RecoversExactMultilinearRank) {
    for (auto [dims, r] : {std::pair{std::array<std::int64_t, 4>{40, 12, 4, 6}, std::array<int, 3>{7, 5, 3}},
                           std::pair{std::array<std::int64_t, 4>{64, 8, 4, 8}, std::array<int, 3>{10, 4, 2}},
                           std::pair{std::array<std::int64_t, 4>{300, 16, 4, 4}, std::array<int, 3>{30, 16, 4}}}) {
        const Tensor4 W = exact_rank_tensor(dims, r, 3);
        for (auto m : kMethods) {
            tucker::TuckerOptions o;
            o.method = m;
            o.ranks = r;
            const auto res = tucker::decompose(W, o);
            EXPECT_LT(res.rel_error, 2e-3) << tucker::method_name(m);  // sqrt of a float-level residual
            const Tensor4 W_hat = tucker::reconstruct(res);
            const double direct = std::sqrt(diff_norm_sq(W, W_hat) / res.norm_sq);
            EXPECT_LT(direct, 1e-5) << tucker::method_name(m);
            for (int n = 0; n < 3; ++n) {
                const Eigen::MatrixXd U = res.factors[n].cast<double>();
                EXPECT_LT((U.transpose() * U - Eigen::MatrixXd::Identity(r[n], r[n])).cwiseAbs().maxCoeff(), 1e-5)
                    << "factor " << n << " not orthonormal (" << tucker::method_name(m) << ")";
            }
            EXPECT_EQ(res.core.dim, (std::array<std::int64_t, 4>{r[0], r[1], r[2], dims[3]}));
        }
    }
}

TEST(Tucker, PythagorasHoldsOnTruncatedDecompositions) {
    const Tensor4 W = random_tensor({50, 10, 4, 5}, 7, 0.05f);
    for (auto m : kMethods) {
        tucker::TuckerOptions o;
        o.method = m;
        o.ranks = {12, 6, 2};
        const auto res = tucker::decompose(W, o);
        const double d2 = diff_norm_sq(W, tucker::reconstruct(res));
        // ||W||^2 = ||G||^2 + ||W - W_hat||^2 with orthonormal factors.
        EXPECT_NEAR(res.norm_sq, res.core_norm_sq + d2, 1e-5 * res.norm_sq) << tucker::method_name(m);
        EXPECT_NEAR(res.rel_error, std::sqrt(d2 / res.norm_sq), 1e-5) << tucker::method_name(m);
    }
}

TEST(Tucker, HooiTraceIsNonIncreasingAndBeatsItsInit) {
    const Tensor4 W = random_tensor({60, 16, 4, 6}, 9, 0.02f);
    tucker::TuckerOptions o;
    o.method = tucker::Method::HOOI;
    o.init = tucker::Method::HOSVD;
    o.ranks = {10, 5, 2};
    o.max_iterations = 20;
    o.tolerance = 0;
    const auto res = tucker::decompose(W, o);
    ASSERT_EQ(res.trace.size(), 21u);
    EXPECT_EQ(res.iterations, 20);
    EXPECT_EQ(res.status, tucker::Status::NotConverged);
    for (std::size_t k = 1; k < res.trace.size(); ++k) EXPECT_LE(res.trace[k], res.trace[k - 1] + 1e-6) << k;
    o.tolerance = 1e-4;
    const auto conv = tucker::decompose(W, o);
    EXPECT_EQ(conv.status, tucker::Status::Ok);
    EXPECT_LT(conv.iterations, 20);
}

// With the head-dim and Q/K/V/O modes at full rank (R2 = dv, R3 = 4), the best Tucker
// approximation is the truncation of the d mode alone, whose error is known in closed form:
// ||W - W_hat||^2 = sum of the d-mode Gram's eigenvalues beyond R1 (computed here in double by
// Eigen's own solver). HOOI must reach it, from either initialisation, and stop at the fixed
// point (a sweep that leaves every factor bitwise unchanged) even with tolerance 0. With only
// R3 full, the sweeps skip the products by U3 and must still decrease the error as before.
TEST(Tucker, FullRankModesGiveTheClosedFormOptimumAndAFixedPoint) {
    const Tensor4 W = random_tensor({48, 8, 4, 6}, 21, 0.05f);
    const std::int64_t I = W.dim[0], M = W.size() / I;
    const Eigen::Map<const Eigen::MatrixXf> X(W.data.data(), I, M);
    const Eigen::MatrixXd Xd = X.cast<double>();
    const Eigen::VectorXd lambda =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(Xd * Xd.transpose(), Eigen::EigenvaluesOnly)
            .eigenvalues();  // ascending
    const int r1 = 12;
    const double total = Xd.squaredNorm(), discarded = lambda.head(I - r1).sum();
    for (auto init : {tucker::Method::STHOSVD, tucker::Method::HOSVD}) {
        tucker::TuckerOptions o;
        o.method = tucker::Method::HOOI;
        o.init = init;
        o.ranks = {r1, 8, 4};
        o.max_iterations = 10;
        o.tolerance = 0;
        const auto res = tucker::decompose(W, o);
        EXPECT_NEAR(res.rel_error, std::sqrt(discarded / total), 1e-6) << tucker::method_name(init);
        EXPECT_EQ(res.status, tucker::Status::Ok);
        EXPECT_LE(res.iterations, 2) << "the first sweep re-solves only the full-rank modes' bases";
        // And the factors span what the closed form says: W_hat is W projected on U1.
        const Eigen::MatrixXf& U1 = res.factors[0];
        EXPECT_NEAR((U1.transpose().cast<double>() * Xd).squaredNorm(), total - discarded, 1e-6 * total);
    }
    // Only R3 full: ordinary sweeps, the trace non-increasing to the end.
    tucker::TuckerOptions o;
    o.method = tucker::Method::HOOI;
    o.ranks = {10, 5, 4};
    o.max_iterations = 8;
    o.tolerance = 0;
    const auto res = tucker::decompose(W, o);
    for (std::size_t k = 1; k < res.trace.size(); ++k) EXPECT_LE(res.trace[k], res.trace[k - 1] + 1e-6) << k;
    const Tensor4 What = tucker::reconstruct(res);
    EXPECT_NEAR(std::sqrt(diff_norm_sq(W, What) / total), res.rel_error, 1e-5);
}

TEST(Tucker, InvalidRanksNameRankLimitAndValue) {
    const Tensor4 W({16, 8, 4, 2});
    tucker::TuckerOptions o;
    o.ranks = {4, 9, 2};
    try {
        tucker::decompose(W, o);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "ranks[1]: must be <= head_dim (8), got 9");
    }
    o.ranks = {0, 1, 1};
    EXPECT_THROW(tucker::decompose(W, o), std::invalid_argument);
    o.ranks = {1, 1, 5};
    EXPECT_THROW(tucker::decompose(W, o), std::invalid_argument);
    EXPECT_THROW(tucker::parse_ranks("4,x,2"), std::invalid_argument);
    EXPECT_THROW(tucker::parse_ranks("4,2"), std::invalid_argument);
    EXPECT_EQ(tucker::parse_ranks("64,32,4"), (std::array<int, 3>{64, 32, 4}));
    tucker::RankSpec spec;
    spec.ranks = {65, 4, 2};
    const model::AttentionShape S{64, 8, 8, 4};
    try {
        tucker::choose_ranks(spec, 3, S, nullptr);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("ranks[0]: must be <= d (hidden size) (64), got 65 (layer 3)"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Compression, PaperRatios) {
    // docs/method.md section 4: GPT-J, RoBERTa-base and LLaMA-2-7B at the paper's ranks.
    EXPECT_NEAR(analysis::compression_ratio({4096, 256, 16, 16}, {40, 120, 1}), 247.30, 0.005);
    EXPECT_NEAR(analysis::compression_ratio({768, 64, 12, 12}, {120, 60, 2}), 8.78, 0.005);
    EXPECT_NEAR(analysis::compression_ratio({4096, 128, 32, 32}, {2312, 128, 1}), 3.54, 0.005);
    // Closed form by hand: d=8, dv=2, h=4 (MHA): N_orig = 4*8*8 = 256;
    // N_comp = 8*2 + 2*1 + 4*1 + 4*2*1*1 = 30.
    EXPECT_EQ(analysis::compressed_params({8, 2, 4, 4}, {2, 1, 1}), 30u);
    // GQA counts the real, unrepeated K/V: 2*8*8 + 2*8*2*2 = 192.
    EXPECT_EQ((model::AttentionShape{8, 2, 4, 2}.original_params()), 192u);
}

TEST(Ranks, ToleranceGuaranteeOnRandomLayers) {
    for (unsigned seed : {1u, 2u, 3u}) {
        const Tensor4 W = random_tensor({48, 12, 4, 6}, seed, 0.08f);
        const auto sp = analysis::mode_spectra(W);
        const model::AttentionShape S{48, 12, 6, 6};
        for (double eps : {0.02, 0.1, 0.3, 0.6}) {
            tucker::RankSpec spec;
            spec.kind = tucker::RankSpec::Kind::Tolerance;
            spec.tolerance = eps;
            const auto r = tucker::choose_ranks(spec, 0, S, &sp);
            for (auto m : kMethods) {
                tucker::TuckerOptions o;
                o.method = m;
                o.ranks = r;
                EXPECT_LE(tucker::decompose(W, o).rel_error, eps + 1e-6)
                    << "eps " << eps << " " << tucker::method_name(m);
            }
        }
    }
}

TEST(Ranks, ToleranceGuaranteeOnStories260K) {
    TLLM_REQUIRE_STORIES(path);
    model::Model m(path);
    for (const auto& L : m.layers()) {
        const Tensor4 W = tensor::tensorize(m, L.index);
        const auto sp = analysis::mode_spectra(W);
        for (double eps : {0.05, 0.2, 0.5}) {
            tucker::RankSpec spec;
            spec.kind = tucker::RankSpec::Kind::Tolerance;
            spec.tolerance = eps;
            const auto r = tucker::choose_ranks(spec, L.index, m.shape(), &sp);
            for (auto meth : kMethods) {
                tucker::TuckerOptions o;
                o.method = meth;
                o.ranks = r;
                EXPECT_LE(tucker::decompose(W, o).rel_error, eps + 1e-6)
                    << "layer " << L.index << " eps " << eps << " " << tucker::method_name(meth);
            }
        }
    }
}

TEST(Ranks, BudgetNeverExceedsItsTarget) {
    const Tensor4 W = random_tensor({64, 8, 4, 8}, 4, 0.05f);
    const auto sp = analysis::mode_spectra(W);
    const model::AttentionShape S{64, 8, 8, 4};
    for (double ratio : {1.5, 3.0, 10.0, 40.0}) {
        tucker::RankSpec spec;
        spec.kind = tucker::RankSpec::Kind::Ratio;
        spec.ratio = ratio;
        const auto r = tucker::choose_ranks(spec, 0, S, &sp);
        EXPECT_GE(analysis::compression_ratio(S, r), ratio) << r[0] << "," << r[1] << "," << r[2];
        // And it is tight: no feasible usable ranks keep more energy (brute force).
        double best = 1e300;
        for (int a = 1; a <= S.d; ++a)
            for (int b = 1; b <= S.dv; ++b)
                for (int c = 1; c <= 4; ++c)
                    if (analysis::compressed_params(S, {a, b, c}) <= std::floor(S.original_params() / ratio) &&
                        a <= b * c * S.h && b <= a * c * S.h && c <= a * b * S.h)
                        best = std::min(best, sp.discarded(0, a) + sp.discarded(1, b) + sp.discarded(2, c));
        EXPECT_NEAR(sp.discarded(0, r[0]) + sp.discarded(1, r[1]) + sp.discarded(2, r[2]), best, 1e-9 * sp.norm_sq);
    }
    tucker::RankSpec p;
    p.kind = tucker::RankSpec::Kind::Params;
    p.params = 1000;
    EXPECT_LE(analysis::compressed_params(S, tucker::choose_ranks(p, 0, S, &sp)), 1000u);
    p.params = 10;  // below (1,1,1)
    EXPECT_THROW(tucker::choose_ranks(p, 0, S, &sp), std::invalid_argument);
}

// Tolerance: the fewest parameters over the whole usable rank grid whose bound meets eps,
// against an exhaustive search (the demo model's layers and a random layer).
TEST(Ranks, ToleranceIsOptimalOverTheRankGrid) {
    std::vector<std::pair<Tensor4, model::AttentionShape>> layers;
    layers.emplace_back(random_tensor({40, 8, 4, 3}, 7, 0.1f), model::AttentionShape{40, 8, 3, 3});
    model::Model demo(std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2");
    for (int l : {0, 3}) layers.emplace_back(tensor::tensorize(demo, l), demo.shape());
    for (const auto& [W, S] : layers) {
        const auto sp = analysis::mode_spectra(W);
        for (double eps : {0.05, 0.2, 0.4, 0.7}) {
            tucker::RankSpec spec;
            spec.kind = tucker::RankSpec::Kind::Tolerance;
            spec.tolerance = eps;
            const auto c = tucker::choose_ranks_detailed(spec, 0, S, &sp);
            std::uint64_t fewest = ~0ull;
            for (int a = 1; a <= S.d; ++a)
                for (int b = 1; b <= S.dv; ++b)
                    for (int k = 1; k <= 4; ++k) {
                        if (a > b * k * S.h || b > a * k * S.h || k > a * b * S.h) continue;
                        const double loss = sp.discarded(0, a) + sp.discarded(1, b) + sp.discarded(2, k);
                        if (std::sqrt(loss / sp.norm_sq) <= eps)
                            fewest = std::min<std::uint64_t>(fewest, analysis::compressed_params(S, {a, b, k}));
                    }
            SCOPED_TRACE("eps " + std::to_string(eps));
            EXPECT_EQ(analysis::compressed_params(S, c.ranks), fewest);
            EXPECT_LE(c.bound, eps * (1 + 1e-12));
            EXPECT_EQ(c.ratio > 1, c.warnings.empty()) << (c.warnings.empty() ? "" : c.warnings[0]);
        }
    }
}

// Ranks beyond what the core can use are reduced, with a warning; the reduced ranks give the
// same HOOI error (the extra directions carried nothing).
TEST(Ranks, UnusableRanksAreReduced) {
    EXPECT_EQ(tucker::usable_ranks({40, 2, 1}, 8), (std::array<int, 3>{16, 2, 1}));
    EXPECT_EQ(tucker::usable_ranks({64, 32, 4}, 12), (std::array<int, 3>{64, 32, 4}));
    EXPECT_EQ(tucker::usable_ranks({1, 8, 4}, 1), (std::array<int, 3>{1, 4, 4}));  // R2 <= R1*R3*h = 4, then R3 <= 4
    EXPECT_EQ(tucker::usable_ranks({1, 1, 4}, 2), (std::array<int, 3>{1, 1, 2}));
    const model::AttentionShape S{48, 12, 6, 6};
    tucker::RankSpec spec;
    spec.ranks = {40, 2, 1};
    const auto c = tucker::choose_ranks_detailed(spec, 0, S, nullptr);
    EXPECT_EQ(c.ranks, (std::array<int, 3>{12, 2, 1}));
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("reduced to (12,2,1)"), std::string::npos) << c.warnings[0];
    const Tensor4 W = random_tensor({48, 12, 4, 6}, 9, 0.1f);
    tucker::TuckerOptions o;
    o.method = tucker::Method::HOOI;
    o.tolerance = 1e-10;  // to convergence: the optimum, not where a loose stopping rule lands
    o.max_iterations = 2000;
    o.ranks = {40, 2, 1};
    const double big = tucker::decompose(W, o).rel_error;
    o.ranks = {12, 2, 1};
    EXPECT_NEAR(tucker::decompose(W, o).rel_error, big, 1e-6);
}

TEST(Determinism, OneAndTwoThreadsGiveBitIdenticalResults) {
    const Tensor4 W = random_tensor({512, 32, 4, 16}, 5, 0.01f);
    tucker::TuckerOptions o;
    o.method = tucker::Method::HOOI;
    o.ranks = {48, 16, 3};
    o.max_iterations = 3;
    tucker::TuckerResult r1, r2;
    tbb::task_arena(1).execute([&] { r1 = tucker::decompose(W, o); });
    tbb::task_arena(2).execute([&] { r2 = tucker::decompose(W, o); });
    for (int n = 0; n < 3; ++n) {
        ASSERT_EQ(r1.factors[n].size(), r2.factors[n].size());
        EXPECT_EQ(std::memcmp(r1.factors[n].data(), r2.factors[n].data(), sizeof(float) * r1.factors[n].size()), 0)
            << "factor " << n;
    }
    EXPECT_EQ(std::memcmp(r1.core.data.data(), r2.core.data.data(), sizeof(float) * r1.core.data.size()), 0);
    EXPECT_EQ(r1.trace, r2.trace);
    analysis::LayerMeasures m1, m2;
    const model::AttentionShape S{512, 32, 16, 16};
    tbb::task_arena(1).execute([&] { m1 = analysis::measure(W, r1, S, nullptr); });
    tbb::task_arena(2).execute([&] { m2 = analysis::measure(W, r1, S, nullptr); });
    EXPECT_EQ(m1.head_type_error, m2.head_type_error);
}

TEST(Measures, PerHeadAndTypeErrorsAgreeWithDirectComputation) {
    const Tensor4 W = random_tensor({40, 8, 4, 5}, 8, 0.05f);
    tucker::TuckerOptions o;
    o.method = tucker::Method::STHOSVD;
    o.ranks = {10, 4, 2};
    const auto res = tucker::decompose(W, o);
    const auto sp = analysis::mode_spectra(W);
    const auto m = analysis::measure(W, res, {40, 8, 5, 5}, &sp);
    const Tensor4 Wh = tucker::reconstruct(res);
    for (int i = 0; i < 5; ++i)
        for (int t = 0; t < 4; ++t) {
            double dd = 0, nn = 0;
            for (int b = 0; b < 8; ++b)
                for (int a = 0; a < 40; ++a) {
                    dd += std::pow(double(W(a, b, t, i)) - Wh(a, b, t, i), 2);
                    nn += std::pow(double(W(a, b, t, i)), 2);
                }
            EXPECT_NEAR(m.head_type_error[i][t], std::sqrt(dd / nn), 1e-5);
        }
    EXPECT_NEAR(m.rel_error, res.rel_error, 1e-5);
    // Singular values of each slice: their squares sum to the slice's energy.
    double e = 0;
    for (double s : m.head_type_sv[2][1]) e += s * s;
    double nn = 0;
    for (int b = 0; b < 8; ++b)
        for (int a = 0; a < 40; ++a) nn += std::pow(double(W(a, b, 1, 2)), 2);
    EXPECT_NEAR(e, nn, 1e-6 * nn);
    EXPECT_GT(m.captured_energy[0], 0.0);
    EXPECT_LE(m.captured_energy[0], 1.0);
    // Spectra: every mode's squared singular values sum to ||W||^2.
    for (int n = 0; n < 4; ++n) {
        double s2 = 0;
        for (double s : sp.singular_values[n]) s2 += s * s;
        EXPECT_NEAR(s2, sp.norm_sq, 1e-6 * sp.norm_sq) << "mode " << n;
    }
}

TEST(Sweep, EstimateBracketsTheExactErrorOnStories) {
    TLLM_REQUIRE_STORIES(path);
    model::Model m(path);
    const Tensor4 W = tensor::tensorize(m, 2);
    const auto sp = analysis::mode_spectra(W);
    auto pts = analysis::sweep_estimate(sp, m.shape(), analysis::default_grid(m.shape(), 6));
    ASSERT_GT(pts.size(), 20u);
    tucker::TuckerOptions base;
    base.method = tucker::Method::STHOSVD;
    analysis::sweep_exact(W, pts, base);
    double worst = 0, mean = 0;
    for (const auto& p : pts) {
        EXPECT_GE(p.error_exact, p.error_lower - 1e-5);
        // The exact error is sqrt(||W||^2 - ||G||^2) in float data: its floor is ~sqrt(eps_float).
        EXPECT_LE(p.error_exact, p.error_upper + 5e-4);
        if (p.error_exact > 1e-3) {
            worst = std::max(worst, p.error_upper / p.error_exact);
            mean += p.error_upper / p.error_exact;
        }
    }
    std::printf(
        "sweep estimate (upper bound) / exact ST-HOSVD error on stories260K layer 2: mean %.3f, worst %.3f over %zu "
        "points\n",
        mean / pts.size(), worst, pts.size());
    const auto front = analysis::pareto_front(pts);
    ASSERT_FALSE(front.empty());
    for (std::size_t k = 1; k < front.size(); ++k) {
        EXPECT_GT(pts[front[k]].ratio, pts[front[k - 1]].ratio);
        EXPECT_GT(pts[front[k]].error_exact, pts[front[k - 1]].error_exact);
    }
}

// ---- the independent numpy reference (tests/reference/tucker_reference.py) ----

class NumpyReference : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new tllm::test::TempDir();
        const std::string cmd = std::string(TLLM_SYSTEM_PYTHON) + " -c 'import numpy' 2>/dev/null && " +
                                TLLM_SYSTEM_PYTHON + " " + TLLM_TEST_DIR + "/reference/tucker_reference.py " +
                                dir_->path().string() + " >/dev/null";
        available_ = std::string(TLLM_SYSTEM_PYTHON).size() > 0 && std::system(cmd.c_str()) == 0;
    }
    static void TearDownTestSuite() { delete dir_; }
    static tllm::test::TempDir* dir_;
    static bool available_;
};
tllm::test::TempDir* NumpyReference::dir_ = nullptr;
bool NumpyReference::available_ = false;

TEST_F(NumpyReference, HosvdFactorsHooiErrorsAndPerHeadErrorsAgree) {
    if (!available_) {
        GTEST_SKIP() << "python3-numpy (Debian) not available; skipping the numpy reference";
    }
    for (const char* name : {"small", "gqa_like", "wide"}) {
        SCOPED_TRACE(name);
        io::SafetensorsFile f(dir_->file(std::string(name) + ".safetensors"));
        auto read = [&](const char* t) {
            const auto* info = f.find(t);
            EXPECT_NE(info, nullptr) << t;
            std::vector<float> v(info->numel());
            f.read_f32(*info, v.data());
            return std::make_pair(v, info->shape);
        };
        auto readd = [&](const char* t) {
            const auto* info = f.find(t);
            std::vector<double> v(info->numel());
            std::memcpy(v.data(), f.raw(*info).data(), info->nbytes());
            return v;
        };
        const auto [w, ws] = read("W");
        Tensor4 W({std::int64_t(ws[3]), std::int64_t(ws[2]), std::int64_t(ws[1]), std::int64_t(ws[0])});
        W.data.assign(w.begin(), w.end());
        const auto ranks = tucker::parse_ranks(f.metadata().at("ranks"));
        const int sweeps = std::stoi(f.metadata().at("sweeps"));

        tucker::TuckerOptions o;
        o.method = tucker::Method::HOSVD;
        o.ranks = ranks;
        const auto hosvd = tucker::decompose(W, o);
        EXPECT_NEAR(hosvd.rel_error, readd("hosvd_error")[0], 1e-5 * readd("hosvd_error")[0]);
        for (int n = 0; n < 3; ++n) {
            const char* names[] = {"U1", "U2", "U3"};
            const auto [u, us] = read(names[n]);
            const Eigen::Map<const Eigen::MatrixXf> ref(u.data(), std::int64_t(us[1]), std::int64_t(us[0]));
            ASSERT_EQ(ref.rows(), hosvd.factors[n].rows());
            ASSERT_EQ(ref.cols(), hosvd.factors[n].cols());
            // Same sign convention on both sides; check up to sign anyway, column by column.
            for (int j = 0; j < ref.cols(); ++j) {
                const double dp = (ref.col(j) - hosvd.factors[n].col(j)).cwiseAbs().maxCoeff();
                const double dm = (ref.col(j) + hosvd.factors[n].col(j)).cwiseAbs().maxCoeff();
                EXPECT_LT(std::min(dp, dm), 1e-5) << names[n] << " column " << j;
                EXPECT_LT(dp, 1e-5) << names[n] << " column " << j << " sign differs";
            }
        }
        o.method = tucker::Method::HOOI;
        o.init = tucker::Method::HOSVD;
        o.max_iterations = sweeps;
        o.tolerance = 0;
        const auto hooi = tucker::decompose(W, o);
        const auto ref_err = readd("hooi_errors");
        ASSERT_EQ(hooi.trace.size(), ref_err.size());
        for (std::size_t k = 0; k < ref_err.size(); ++k)
            EXPECT_NEAR(hooi.trace[k], ref_err[k], 1e-5 * ref_err[k]) << "iteration " << k;
        const auto m =
            analysis::measure(W, hooi, {int(W.dim[0]), int(W.dim[1]), int(W.dim[3]), int(W.dim[3])}, nullptr, false);
        const auto ht = readd("head_type_error");
        for (std::int64_t i = 0; i < W.dim[3]; ++i)
            for (int t = 0; t < 4; ++t)
                EXPECT_NEAR(m.head_type_error[i][t], ht[i * 4 + t], 1e-5 * ht[i * 4 + t] + 1e-7)
                    << "head " << i << " type " << t;
    }
}
