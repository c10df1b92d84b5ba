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
            throw std::invalid_argument("ranks[" + std::to_string(n) + "]: must be >= 1, got " +
                                        std::to_string(ranks[n]));
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
        if (s != std::vector<int>{0, 1, 2}) throw std::invalid_argument("mode_order: must be a permutation of 0, 1, 2");
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
std::optional<SubspaceResult> try_subspace(const Tensor4& Y, int mode, int r, const util::Control& ctl, Solver solver,
                                           const Eigen::MatrixXf* warm, bool project) {
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

// What HOOI carries from sweep to sweep besides the factors (the fast paths' state).
struct HooiState {
    std::array<bool, 3> full{};  ///< R_n = I_n (see full_rank_modes)
    bool through_w = false;      ///< this sweep tries the d-mode step through W (d_mode_through_w)
    Tensor4 probe_product;       ///< W_(0)^T times that step's probes, the same in every sweep
};

// The modes kept at full rank (R_n = I_n, e.g. R3 = 4 or R2 = head_dim), whose products HOOI
// can leave out. Why: their factor is square and orthogonal, so it changes no other mode's Gram:
// Y_(m) Y_(m)^T = W_(m) (.. U_n U_n^T ..) W_(m)^T = W_(m) W_(m)^T. Their products are therefore
// left out wherever only leading vectors are needed (project_nonsquare), and a mode whose other
// modes are all at full rank is not solved again (solved_in_sweeps). Exact in exact
// arithmetic; the core still takes every factor.
std::array<bool, 3> full_rank_modes(const std::array<std::int64_t, 4>& dims, const std::array<int, 3>& ranks) {
    std::array<bool, 3> full{};
    for (std::size_t n = 0; n < 3; ++n) full[n] = ranks[n] == dims[n];
    return full;
}

// False when every other mode is at full rank: the mode's subproblem is then the initialisation's.
bool solved_in_sweeps(const std::array<bool, 3>& full, int mode) {
    bool all_full = true;
    for (int m = 0; m < 3; ++m)
        if (m != mode) all_full = all_full && full[std::size_t(m)];
    return !all_full;
}

// X x_n U_n^T over `modes`, leaving out the factors that are square (full_rank_modes: they
// change no other mode's Gram). X itself when all of them are square; otherwise the product,
// held in `keep`.
const Tensor4& project_nonsquare(const Tensor4& X, std::initializer_list<int> modes,
                                 const std::array<Eigen::MatrixXf, 3>& U, const std::array<bool, 3>& full,
                                 Tensor4& keep, const util::Control& ctl) {
    const Tensor4* src = &X;
    for (const int n : modes)
        if (!full[std::size_t(n)]) {
            keep = mode_product(*src, n, U[std::size_t(n)].transpose(), ctl);
            src = &keep;
        }
    return *src;
}

// The initial factors and core: HOSVD or ST-HOSVD (opt.init for HOOI, else the method itself).
Factors initialise(const Tensor4& W, const TuckerOptions& opt, const util::Control& ctl) {
    const Method first = opt.method == Method::HOOI ? opt.init : opt.method;
    return first == Method::HOSVD ? run_hosvd(W, opt, ctl) : run_sthosvd(W, opt, ctl);
}

// Whether the d-mode step goes through W: where the FLOP models favour it and its first product
// is expected to certify the answer (s.through_w), the only case where it saves work.
bool through_w_pays_off(const Tensor4& W, const TuckerOptions& opt, const HooiState& s) {
    const int r1 = opt.ranks[0];
    return opt.solver == Solver::Auto && s.through_w && subspace_pays_off(W.dim, 0, r1, true) &&
           hooi_subspace_pays_off(W.dim, r1, opt.ranks[1], opt.ranks[2]);
}

// U1 by hooi_subspace through W with the kept probe product; returns T = W x1 U1^T from the
// same product when it certifies the answer (a pass over W saved), else falls back to the exact path.
Tensor4 d_mode_through_w(const Tensor4& W, const TuckerOptions& opt, std::array<Eigen::MatrixXf, 3>& U, HooiState& s,
                         const util::Control& ctl) {
    const int r1 = opt.ranks[0];
    Tensor4 X;  // formed by hooi_subspace where its first product did not do
    SubspaceResult sub = hooi_subspace(W, s.full[1] ? nullptr : &U[1], s.full[2] ? nullptr : &U[2], r1, U[0], {}, ctl,
                                       &X, &s.probe_product);
    s.through_w = sub.converged && sub.iterations == 1;
    if (sub.converged) {
        U[0] = std::move(sub.vectors);
        return std::move(sub.projected);
    }
    Tensor4 keep;
    const Tensor4& Y = X.size() > 0 ? X : project_nonsquare(W, {1, 2}, U, s.full, keep, ctl);
    U[0] = exact_vectors(Y, 0, r1, ctl);
    return {};
}

// U1 from the formed W x2 U2^T x3 U3^T: the subspace solver warm-started from the previous U1
// where it pays off and converges, else the exact path; arms the through-W step for the next sweep.
void d_mode_on_projection(const Tensor4& W, const TuckerOptions& opt, int sweep, std::array<Eigen::MatrixXf, 3>& U,
                          HooiState& s, const util::Control& ctl) {
    const int r1 = opt.ranks[0];
    Tensor4 keep;
    const Tensor4& X = project_nonsquare(W, {1, 2}, U, s.full, keep, ctl);
    if (auto sub = try_subspace(X, 0, r1, ctl, opt.solver, &U[0], false)) {
        s.through_w = sweep == 0 || sub->iterations == 1;
        U[0] = std::move(sub->vectors);
    } else {
        U[0] = exact_vectors(X, 0, r1, ctl);
    }
}

// HOOI's d-mode step (U1), through W or on the formed projection; returns T = W x1 U1^T or empty.
Tensor4 update_d_mode(const Tensor4& W, const TuckerOptions& opt, int sweep, std::array<Eigen::MatrixXf, 3>& U,
                      HooiState& s, const util::Control& ctl) {
    if (!solved_in_sweeps(s.full, 0)) return {};
    if (through_w_pays_off(W, opt, s)) return d_mode_through_w(W, opt, U, s, ctl);
    d_mode_on_projection(W, opt, sweep, U, s, ctl);
    return {};
}

// Every factor bitwise unchanged: the (deterministic) sweeps would repeat it, whatever the tolerance.
bool is_fixed_point(const std::array<Eigen::MatrixXf, 3>& U, const std::array<Eigen::MatrixXf, 3>& before) {
    return U[0] == before[0] && U[1] == before[1] && U[2] == before[2];
}

// Progress within one HOOI sweep: the sweeps share the last three quarters (the first is the init).
struct SweepProgress {
    const util::Control& ctl;
    float a, span;
    SweepProgress(const util::Control& c, int sweep, int sweeps)
        : ctl(c), a(0.25f + 0.75f * sweep / sweeps), span(0.75f / sweeps) {}
    void at(float fraction) const { ctl.report(a + span * fraction); }
};

// Moves the factors and the core into the result, with their error, core norm and timing.
TuckerResult finish(TuckerResult r, Factors f, double err, std::chrono::steady_clock::time_point t0,
                    const util::Control& ctl) {
    r.factors = std::move(f.U);
    r.core = std::move(f.core);
    r.core_norm_sq = norm_sq(r.core);
    r.rel_error = err;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctl.report(1.0f);
    return r;
}

}  // namespace

// HOSVD, ST-HOSVD, or HOOI: alternately each factor as the leading subspace of W projected on
// the other two, until the error settles. The fast paths are the helpers above.
TuckerResult decompose(const Tensor4& W, const TuckerOptions& opt, const util::Control& ctl) {
    opt.validate(W.dim);
    const auto t0 = std::chrono::steady_clock::now();
    TuckerResult r;
    r.ranks = opt.ranks;
    r.norm_sq = norm_sq(W);
    const bool hooi = opt.method == Method::HOOI;
    Factors f = initialise(W, opt, hooi ? ctl.sub(0.0f, 0.25f) : ctl);
    double err = rel_err(r.norm_sq, norm_sq(f.core));
    r.trace.push_back(err);
    if (!hooi) return finish(std::move(r), std::move(f), err, t0, ctl);

    r.status = opt.max_iterations > 0 ? Status::NotConverged : Status::Ok;
    HooiState s;
    s.full = full_rank_modes(W.dim, opt.ranks);
    for (int it = 0; it < opt.max_iterations; ++it) {
        ctl.check();
        const SweepProgress progress(ctl, it, opt.max_iterations);
        const std::array<Eigen::MatrixXf, 3> before = f.U;
        // U1: leading subspace of W x2 U2^T x3 U3^T. T = W x1 U1^T (from that solve where it can).
        Tensor4 T = update_d_mode(W, opt, it, f.U, s, ctl);
        progress.at(0.4f);
        if (T.size() == 0) T = mode_product(W, 0, f.U[0].transpose(), ctl);
        // U2: leading subspace of W x1 U1^T x3 U3^T = T x3 U3^T.
        if (solved_in_sweeps(s.full, 1)) {
            Tensor4 keep;
            f.U[1] = leading_vectors(project_nonsquare(T, {2}, f.U, s.full, keep, ctl), 1, opt.ranks[1], ctl);
        }
        progress.at(0.8f);
        // U3: leading subspace of Y = W x1 U1^T x2 U2^T = T x2 U2^T; the core is Y x3 U3^T.
        const Tensor4 Y = mode_product(T, 1, f.U[1].transpose(), ctl);
        if (solved_in_sweeps(s.full, 2)) f.U[2] = leading_vectors(Y, 2, opt.ranks[2], ctl);
        f.core = mode_product(Y, 2, f.U[2].transpose(), ctl);
        // Stop when the relative error changes by less than the tolerance, or at a fixed point.
        const double e = rel_err(r.norm_sq, norm_sq(f.core));
        r.trace.push_back(e);
        r.iterations = it + 1;
        progress.at(1.0f);
        const bool done = is_fixed_point(f.U, before) || std::abs(err - e) < opt.tolerance;
        err = e;
        if (done) {
            r.status = Status::Ok;
            break;
        }
    }
    return finish(std::move(r), std::move(f), err, t0, ctl);
}

Tensor4 reconstruct(const TuckerResult& r, const util::Control& ctl) {
    Tensor4 Y = mode_product(r.core, 2, r.factors[2], ctl);
    Y = mode_product(Y, 1, r.factors[1], ctl);
    return mode_product(Y, 0, r.factors[0], ctl);
}

}  // namespace tllm::tucker
