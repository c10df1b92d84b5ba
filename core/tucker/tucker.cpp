#include "tucker/tucker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "tucker/linalg.h"
#include "tucker/subspace.h"

namespace tllm::tucker {
namespace {

using tensor::Tensor4;

const char* kModeNames[3] = {"d", "head_dim", "QKVO (4)"};

double rel_err(double norm_sq, double core_sq) {
    if (norm_sq <= 0) return 0.0;
    return std::sqrt(std::max(0.0, norm_sq - core_sq) / norm_sq);
}

// Modes ordered by the reduction I_n / R_n, largest first: the cheapest order to project.
std::vector<int> reduction_order(const std::array<std::int64_t, 4>& dims, const std::array<int, 3>& r) {
    std::vector<int> o{0, 1, 2};
    std::stable_sort(o.begin(), o.end(), [&](int a, int b) { return double(dims[a]) / r[a] > double(dims[b]) / r[b]; });
    return o;
}

}  // namespace

const char* method_name(Method m) {
    switch (m) {
    case Method::HOSVD: return "hosvd";
    case Method::STHOSVD: return "sthosvd";
    case Method::HOOI: return "hooi";
    }
    return "?";
}

Method parse_method(const std::string& s) {
    if (s == "hosvd") return Method::HOSVD;
    if (s == "sthosvd" || s == "st-hosvd") return Method::STHOSVD;
    if (s == "hooi") return Method::HOOI;
    throw std::invalid_argument("method: expected hosvd, sthosvd or hooi, got '" + s + "'");
}

const char* status_name(Status s) {
    switch (s) {
    case Status::Ok: return "ok";
    case Status::NotConverged: return "not_converged";
    case Status::Cancelled: return "cancelled";
    case Status::Failed: return "failed";
    }
    return "?";
}

void TuckerOptions::validate(const std::array<std::int64_t, 4>& dims) const {
    for (int n = 0; n < 3; ++n) {
        if (ranks[n] < 1)
            throw std::invalid_argument("ranks[" + std::to_string(n) + "]: must be >= 1, got " + std::to_string(ranks[n]));
        if (ranks[n] > dims[n])
            throw std::invalid_argument("ranks[" + std::to_string(n) + "]: must be <= " + kModeNames[n] + " (" +
                                        std::to_string(dims[n]) + "), got " + std::to_string(ranks[n]));
    }
    if (max_iterations < 0)
        throw std::invalid_argument("max_iterations: must be >= 0, got " + std::to_string(max_iterations));
    if (!(tolerance >= 0)) throw std::invalid_argument("tolerance: must be >= 0, got " + std::to_string(tolerance));
    if (method == Method::HOOI && init == Method::HOOI)
        throw std::invalid_argument("init: must be hosvd or sthosvd, got hooi");
    if (!mode_order.empty()) {
        std::vector<int> s = mode_order;
        std::sort(s.begin(), s.end());
        if (s != std::vector<int>{0, 1, 2})
            throw std::invalid_argument("mode_order: must be a permutation of 0, 1, 2");
    }
}

const char* solver_name(Solver s) { return s == Solver::Exact ? "exact" : "auto"; }

Solver parse_solver(const std::string& s) {
    if (s == "auto") return Solver::Auto;
    if (s == "exact") return Solver::Exact;
    throw std::invalid_argument("solver: expected auto or exact, got '" + s + "'");
}

namespace {

// The subspace solver's answer where it pays off and converges; nothing where the exact path
// has to answer (small modes, R close to the mode size, or no spectral gap near R within the
// sweep limit).
std::optional<SubspaceResult> try_subspace(const Tensor4& Y, int mode, int r, const util::Control& ctl,
                                           Solver solver, const Eigen::MatrixXf* warm, bool project) {
    if (solver != Solver::Auto || !subspace_pays_off(Y.dim, mode, r, warm != nullptr)) return std::nullopt;
    SubspaceOptions opt;
    opt.project = project;
    SubspaceResult s = leading_subspace(Y, r, warm, opt, ctl);
    if (!s.converged) return std::nullopt;
    return s;
}

Eigen::MatrixXf exact_vectors(const Tensor4& Y, int mode, int r, const util::Control& ctl) {
    const Eigen::MatrixXd G = mode_gram(Y, mode, ctl);
    ctl.check();
    return top_eigenpairs(G, r).vectors.cast<float>();
}

// The R_n leading vectors of mode n of X and the truncated tensor X x_n U^T.
struct Truncation {
    Eigen::MatrixXf U;
    Tensor4 Y;
};

Truncation truncate(const Tensor4& X, int mode, int r, const util::Control& ctl, Solver solver) {
    Truncation t;
    if (auto s = try_subspace(X, mode, r, ctl, solver, nullptr, true)) {
        t.Y = std::move(s->projected);
        t.U = std::move(s->vectors);
        return t;
    }
    t.U = exact_vectors(X, mode, r, ctl);
    t.Y = mode_product(X, mode, t.U.transpose(), ctl);
    return t;
}

}  // namespace

Eigen::MatrixXf leading_vectors(const Tensor4& Y, int mode, int r, const util::Control& ctl, Solver solver,
                                const Eigen::MatrixXf* warm) {
    if (auto s = try_subspace(Y, mode, r, ctl, solver, warm, false)) return std::move(s->vectors);
    return exact_vectors(Y, mode, r, ctl);
}

namespace {

struct Factors {
    std::array<Eigen::MatrixXf, 3> U;
    Tensor4 core;
};

Factors run_hosvd(const Tensor4& W, const TuckerOptions& o, const util::Control& ctl) {
    Factors f;
    // Every factor comes from W. The mode projected first is truncated with truncate(), which
    // takes W x_n U_n^T from the subspace solver's by-product where that solver answered; the
    // other two projections follow.
    const std::vector<int> order = reduction_order(W.dim, o.ranks);
    Tensor4 Y;
    for (int n = 0; n < 3; ++n) {
        const util::Control sub = ctl.sub(n / 4.0f, (n + 1) / 4.0f);
        if (n == order.front()) {
            Truncation t = truncate(W, n, o.ranks[n], sub, o.solver);
            f.U[n] = std::move(t.U);
            Y = std::move(t.Y);
        } else {
            f.U[n] = leading_vectors(W, n, o.ranks[n], sub, o.solver);
        }
        ctl.report((n + 1) / 4.0f);
    }
    for (std::size_t k = 1; k < order.size(); ++k) Y = mode_product(Y, order[k], f.U[order[k]].transpose(), ctl);
    f.core = std::move(Y);
    ctl.report(1.0f);
    return f;
}

Factors run_sthosvd(const Tensor4& W, const TuckerOptions& o, const util::Control& ctl) {
    std::vector<int> order = o.mode_order;
    if (order.empty()) {
        order = {0, 1, 2};
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return W.dim[a] > W.dim[b]; });
    }
    Factors f;
    Tensor4 Y;  // the tensor truncated so far; W itself before the first mode (no copy)
    for (std::size_t k = 0; k < order.size(); ++k) {
        const int n = order[k];
        const Tensor4& cur = k == 0 ? W : Y;
        Truncation t = truncate(cur, n, o.ranks[n], ctl.sub(k / 3.0f, (k + 0.8f) / 3.0f), o.solver);
        f.U[n] = std::move(t.U);
        Y = std::move(t.Y);
        ctl.report((k + 1) / 3.0f);
    }
    f.core = std::move(Y);
    return f;
}

// X x_n U_n^T over `modes`, leaving out the factors that are square (full rank: they change no
// other mode's Gram, see decompose). X itself when all of them are square; otherwise the
// product, held in `keep`.
const Tensor4& project_nonsquare(const Tensor4& X, std::initializer_list<int> modes,
                                 const std::array<Eigen::MatrixXf, 3>& U, const std::array<bool, 3>& full, Tensor4& keep,
                                 const util::Control& ctl) {
    const Tensor4* src = &X;
    for (const int n : modes)
        if (!full[std::size_t(n)]) {
            keep = mode_product(*src, n, U[std::size_t(n)].transpose(), ctl);
            src = &keep;
        }
    return *src;
}

}  // namespace

TuckerResult decompose(const Tensor4& W, const TuckerOptions& opt, const util::Control& ctl) {
    opt.validate(W.dim);
    const auto t0 = std::chrono::steady_clock::now();
    TuckerResult r;
    r.ranks = opt.ranks;
    r.norm_sq = norm_sq(W);

    const bool hooi = opt.method == Method::HOOI;
    const Method first = hooi ? opt.init : opt.method;
    const util::Control init_ctl = hooi ? ctl.sub(0.0f, 0.25f) : ctl;
    Factors f = first == Method::HOSVD ? run_hosvd(W, opt, init_ctl) : run_sthosvd(W, opt, init_ctl);
    double err = rel_err(r.norm_sq, norm_sq(f.core));
    r.trace.push_back(err);

    if (hooi) {
        r.status = opt.max_iterations > 0 ? Status::NotConverged : Status::Ok;
        // A mode kept at full rank (R_n = I_n, e.g. R3 = 4, or R2 = head_dim) has a square
        // orthogonal factor, and multiplying by it changes no other mode's Gram:
        // Y_(m) Y_(m)^T = W_(m) (.. U_n U_n^T ..) W_(m)^T = W_(m) W_(m)^T. So its products are
        // left out wherever only a Gram (or leading vectors) is needed, and a mode whose other
        // modes are all full rank has the same subproblem in every sweep as in the
        // initialisation (which solved it on W or on W times square factors): it is not solved
        // again. Exact in exact arithmetic; the core still takes every factor.
        std::array<bool, 3> full{};
        for (std::size_t n = 0; n < 3; ++n) full[n] = opt.ranks[n] == W.dim[n];
        bool through_w = false;  // this sweep tries the d-mode step through W (below)
        Tensor4 probe_product;   // W_(0)^T times the probes of that step, the same in every sweep
        for (int it = 0; it < opt.max_iterations; ++it) {
            ctl.check();
            const float a = 0.25f + 0.75f * it / opt.max_iterations;
            const float span = 0.75f / opt.max_iterations;
            const std::array<Eigen::MatrixXf, 3> before = f.U;
            // Mode 1 (d): W x2 U2^T x3 U3^T. Where it pays off, the subspace solver takes its
            // product through W itself (hooi_subspace), and T = W x1 U1^T below then comes from
            // that product instead of another pass over W. That pays only when the first product
            // certifies the answer, so it is not tried in the first sweep (its warm factor solved
            // the initialisation's problem, not this one, so its first product often does not
            // certify the answer), nor after a
            // sweep where neither path certified at its first product.
            Tensor4 T;
            if (!(full[1] && full[2])) {
                const int r1 = opt.ranks[0];
                if (opt.solver == Solver::Auto && through_w && subspace_pays_off(W.dim, 0, r1, true) &&
                    hooi_subspace_pays_off(W.dim, r1, opt.ranks[1], opt.ranks[2])) {
                    Tensor4 X;  // formed by hooi_subspace where its first product did not do
                    SubspaceResult s = hooi_subspace(W, full[1] ? nullptr : &f.U[1], full[2] ? nullptr : &f.U[2], r1,
                                                     f.U[0], {}, ctl, &X, &probe_product);
                    through_w = s.converged && s.iterations == 1;
                    if (s.converged) {
                        f.U[0] = std::move(s.vectors);
                        T = std::move(s.projected);
                    } else {
                        Tensor4 keep;
                        const Tensor4& Y = X.size() > 0 ? X : project_nonsquare(W, {1, 2}, f.U, full, keep, ctl);
                        f.U[0] = exact_vectors(Y, 0, r1, ctl);
                    }
                } else {
                    Tensor4 keep;
                    const Tensor4& X = project_nonsquare(W, {1, 2}, f.U, full, keep, ctl);
                    if (auto s = try_subspace(X, 0, r1, ctl, opt.solver, &f.U[0], false)) {
                        through_w = it == 0 || s->iterations == 1;
                        f.U[0] = std::move(s->vectors);
                    } else {
                        f.U[0] = exact_vectors(X, 0, r1, ctl);
                    }
                }
            }
            ctl.report(a + span * 0.4f);
            // Modes 2 and 3 share T = W x1 U1^T.
            if (T.size() == 0) T = mode_product(W, 0, f.U[0].transpose(), ctl);
            if (!(full[0] && full[2])) {
                Tensor4 keep;
                f.U[1] = leading_vectors(project_nonsquare(T, {2}, f.U, full, keep, ctl), 1, opt.ranks[1], ctl);
            }
            ctl.report(a + span * 0.8f);
            const Tensor4 Y = mode_product(T, 1, f.U[1].transpose(), ctl);  // needed for the core
            if (!(full[0] && full[1])) f.U[2] = leading_vectors(Y, 2, opt.ranks[2], ctl);
            f.core = mode_product(Y, 2, f.U[2].transpose(), ctl);
            const double e = rel_err(r.norm_sq, norm_sq(f.core));
            r.trace.push_back(e);
            r.iterations = it + 1;
            ctl.report(a + span);
            // A sweep that left every factor bitwise as it was is a fixed point: every further
            // sweep would repeat it exactly (the kernels are deterministic), so HOOI has
            // converged whatever the tolerance.
            const bool fixed_point = f.U[0] == before[0] && f.U[1] == before[1] && f.U[2] == before[2];
            const bool done = fixed_point || std::abs(err - e) < opt.tolerance;
            err = e;
            if (done) {
                r.status = Status::Ok;
                break;
            }
        }
    }
    r.factors = std::move(f.U);
    r.core = std::move(f.core);
    r.core_norm_sq = norm_sq(r.core);
    r.rel_error = err;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctl.report(1.0f);
    return r;
}

Tensor4 reconstruct(const TuckerResult& r, const util::Control& ctl) {
    Tensor4 Y = mode_product(r.core, 2, r.factors[2], ctl);
    Y = mode_product(Y, 1, r.factors[1], ctl);
    return mode_product(Y, 0, r.factors[0], ctl);
}

}  // namespace tllm::tucker
