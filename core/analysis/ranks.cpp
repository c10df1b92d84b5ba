#include "analysis/ranks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "analysis/compression.h"

namespace tllm::tucker {
namespace {
const char* kLimitNames[3] = {"d (hidden size)", "head_dim", "4 (Q, K, V, O)"};
}

void RankSpec::validate() const {
    auto check = [](const std::array<int, 3>& r, const std::string& where) {
        for (int n = 0; n < 3; ++n)
            if (r[n] < 1)
                throw std::invalid_argument(where + "[" + std::to_string(n) + "]: must be >= 1, got " +
                                            std::to_string(r[n]));
    };
    switch (kind) {
        case Kind::Fixed:
            check(ranks, "ranks");
            for (const auto& [l, r] : per_layer) check(r, "ranks of layer " + std::to_string(l));
            break;
        case Kind::Tolerance:
            if (!(tolerance > 0 && tolerance <= 1))
                throw std::invalid_argument("tolerance: must be in (0, 1], got " + std::to_string(tolerance));
            break;
        case Kind::Ratio:
            if (!(ratio > 0) || !std::isfinite(ratio))
                throw std::invalid_argument("ratio: must be a positive number, got " + std::to_string(ratio));
            break;
        case Kind::Params:
            if (params == 0) throw std::invalid_argument("params: must be positive, got 0");
            break;
    }
}

std::string RankSpec::describe() const {
    std::ostringstream o;
    switch (kind) {
        case Kind::Fixed:
            o << "ranks " << ranks[0] << "," << ranks[1] << "," << ranks[2];
            for (const auto& [l, r] : per_layer) o << "; layer " << l << ": " << r[0] << "," << r[1] << "," << r[2];
            break;
        case Kind::Tolerance: o << "tolerance " << tolerance; break;
        case Kind::Ratio: o << "compression ratio >= " << ratio; break;
        case Kind::Params: o << "at most " << params << " parameters per layer"; break;
    }
    return o.str();
}

int truncation_rank(const analysis::ModeSpectra& s, int mode, double threshold) {
    const int n = static_cast<int>(s.singular_values[static_cast<std::size_t>(mode)].size());
    for (int r = 1; r <= n; ++r)
        if (s.discarded(mode, r) <= threshold) return r;
    return n;
}

std::array<int, 3> usable_ranks(const std::array<int, 3>& r, int h) {
    std::array<std::int64_t, 3> u{r[0], r[1], r[2]};
    for (bool changed = true; changed;) {
        changed = false;
        for (int n = 0; n < 3; ++n) {
            const std::int64_t limit = u[(n + 1) % 3] * u[(n + 2) % 3] * std::int64_t(h);
            if (u[n] > limit) u[n] = limit, changed = true;
        }
    }
    return {int(u[0]), int(u[1]), int(u[2])};
}

namespace {

std::string triple(const std::array<int, 3>& r) {
    return "(" + std::to_string(r[0]) + "," + std::to_string(r[1]) + "," + std::to_string(r[2]) + ")";
}

double bound_of(const analysis::ModeSpectra& sp, const std::array<int, 3>& r) {
    if (!(sp.norm_sq > 0)) return 0.0;
    return std::sqrt(std::max(0.0, sp.discarded(0, r[0]) + sp.discarded(1, r[1]) + sp.discarded(2, r[2])) / sp.norm_sq);
}

std::string ratio_text(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

}  // namespace

RankChoice choose_ranks_detailed(const RankSpec& spec, int layer, const model::AttentionShape& S,
                                 const analysis::ModeSpectra* spectra) {
    spec.validate();
    const std::array<int, 3> limits{S.d, S.dv, 4};
    RankChoice c;
    auto finish = [&](const std::array<int, 3>& r) {
        c.ranks = r;
        c.ratio = analysis::compression_ratio(S, r);
        if (spectra) c.bound = bound_of(*spectra, r);
        return c;
    };
    if (spec.kind == RankSpec::Kind::Fixed) {
        auto it = spec.per_layer.find(layer);
        const std::array<int, 3> r = it == spec.per_layer.end() ? spec.ranks : it->second;
        for (int n = 0; n < 3; ++n)
            if (r[n] > limits[n])
                throw std::invalid_argument("ranks[" + std::to_string(n) + "]: must be <= " + kLimitNames[n] + " (" +
                                            std::to_string(limits[n]) + "), got " + std::to_string(r[n]) + " (layer " +
                                            std::to_string(layer) + ")");
        const auto u = usable_ranks(r, S.h);
        if (u != r)
            c.warnings.push_back("ranks " + triple(r) + " reduced to " + triple(u) +
                                 ": the core's unfoldings have R2*R3*h, R1*R3*h and R1*R2*h columns (h = " +
                                 std::to_string(S.h) + "), and a rank beyond them adds parameters, not accuracy");
        finish(u);
        if (c.ratio <= 1)
            c.warnings.push_back("ranks " + triple(u) + " do not compress this layer (ratio " + ratio_text(c.ratio) +
                                 ")");
        return c;
    }
    if (!spectra) throw std::invalid_argument("choose_ranks: " + spec.describe() + " needs the mode spectra");
    const auto& sp = *spectra;
    auto usable = [&](int r1, int r2, int r3) {
        return std::int64_t(r1) <= std::int64_t(r2) * r3 * S.h && std::int64_t(r2) <= std::int64_t(r1) * r3 * S.h &&
               std::int64_t(r3) <= std::int64_t(r1) * r2 * S.h;
    };
    std::array<int, 3> best{0, 0, 0};
    if (spec.kind == RankSpec::Kind::Tolerance) {
        // For each (R2, R3) the smallest R1 meeting the bound (discarded_0 falls as R1 grows,
        // the parameters grow with it), raised to what R2 and R3 need to be usable.
        const double allowed = spec.tolerance * spec.tolerance * sp.norm_sq;
        std::uint64_t best_params = std::numeric_limits<std::uint64_t>::max();
        double best_loss = 0;
        for (int r3 = 1; r3 <= 4; ++r3)
            for (int r2 = 1; r2 <= S.dv; ++r2) {
                const double rest = allowed - sp.discarded(1, r2) - sp.discarded(2, r3);
                if (rest < 0) continue;
                int lo = 1, hi = S.d;  // smallest r1 with discarded(0, r1) <= rest
                if (sp.discarded(0, hi) > rest) continue;
                while (lo < hi) {
                    const int mid = lo + (hi - lo) / 2;
                    if (sp.discarded(0, mid) <= rest)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                const std::int64_t need =
                    std::max<std::int64_t>({lo, (r2 + std::int64_t(r3) * S.h - 1) / (std::int64_t(r3) * S.h),
                                            (r3 + std::int64_t(r2) * S.h - 1) / (std::int64_t(r2) * S.h)});
                if (need > S.d) continue;
                const int r1 = int(need);
                if (!usable(r1, r2, r3)) continue;
                const std::uint64_t p = analysis::compressed_params(S, {r1, r2, r3});
                const double loss = sp.discarded(0, r1) + sp.discarded(1, r2) + sp.discarded(2, r3);
                if (p < best_params || (p == best_params && loss < best_loss)) {
                    best_params = p, best_loss = loss;
                    best = {r1, r2, r3};
                }
            }
        if (best[0] == 0) best = usable_ranks({S.d, S.dv, 4}, S.h);  // the exact tensor: bound 0
        finish(best);
        if (c.ratio <= 1)
            c.warnings.push_back("no ranks within tolerance " + ratio_text(spec.tolerance) +
                                 " compress this layer: the fewest parameters meeting it, ranks " + triple(best) +
                                 ", give ratio " + ratio_text(c.ratio) + " (the layer would grow)");
        return c;
    }
    // Budget: for every (R2, R3) the largest usable R1 within it; the least discarded energy.
    const double budget = spec.kind == RankSpec::Kind::Params ? double(spec.params)
                                                              : std::floor(double(S.original_params()) / spec.ratio);
    double best_loss = std::numeric_limits<double>::infinity();
    for (int r3 = 1; r3 <= 4; ++r3)
        for (int r2 = 1; r2 <= S.dv; ++r2) {
            const double fixed = double(S.dv) * r2 + 4.0 * r3;
            const double per_r1 = double(S.d) + double(S.h) * r2 * r3;
            const double r1f = std::floor((budget - fixed) / per_r1);
            if (r1f < 1) continue;
            const int r1 = static_cast<int>(std::min<double>({r1f, double(S.d), double(r2) * r3 * S.h}));
            if (!usable(r1, r2, r3)) continue;
            const double loss = sp.discarded(0, r1) + sp.discarded(1, r2) + sp.discarded(2, r3);
            if (loss < best_loss) {
                best_loss = loss;
                best = {r1, r2, r3};
            }
        }
    if (best[0] == 0)
        throw std::invalid_argument(spec.describe() + ": even ranks (1,1,1) need " +
                                    std::to_string(analysis::compressed_params(S, {1, 1, 1})) +
                                    " parameters, more than the budget of " + std::to_string(std::uint64_t(budget)));
    finish(best);
    if (c.ratio <= 1)
        c.warnings.push_back(spec.describe() + " does not compress this layer (ratio " + ratio_text(c.ratio) + ")");
    return c;
}

std::array<int, 3> choose_ranks(const RankSpec& spec, int layer, const model::AttentionShape& S,
                                const analysis::ModeSpectra* spectra) {
    return choose_ranks_detailed(spec, layer, S, spectra).ranks;
}

std::array<int, 3> parse_ranks(const std::string& text, const std::string& what) {
    std::array<int, 3> r{};
    std::istringstream in(text);
    std::string part;
    int n = 0;
    while (std::getline(in, part, ',')) {
        if (n >= 3) throw std::invalid_argument(what + ": expected three ranks R1,R2,R3, got '" + text + "'");
        try {
            std::size_t pos = 0;
            const long v = std::stol(part, &pos);
            if (pos != part.size() || v < 1 || v > (1 << 24)) throw std::invalid_argument("");
            r[n++] = static_cast<int>(v);
        } catch (const std::exception&) {
            throw std::invalid_argument(what + "[" + std::to_string(n) + "]: expected a positive integer, got '" +
                                        part + "'");
        }
    }
    if (n != 3) throw std::invalid_argument(what + ": expected three ranks R1,R2,R3, got '" + text + "'");
    return r;
}

}  // namespace tllm::tucker
