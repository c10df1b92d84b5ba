#include "analysis/ranks.h"

#include <cmath>
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
                throw std::invalid_argument(where + "[" + std::to_string(n) + "]: must be >= 1, got " + std::to_string(r[n]));
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

std::array<int, 3> choose_ranks(const RankSpec& spec, int layer, const model::AttentionShape& S,
                                const analysis::ModeSpectra* spectra) {
    spec.validate();
    const std::array<int, 3> limits{S.d, S.dv, 4};
    if (spec.kind == RankSpec::Kind::Fixed) {
        auto it = spec.per_layer.find(layer);
        const std::array<int, 3> r = it == spec.per_layer.end() ? spec.ranks : it->second;
        for (int n = 0; n < 3; ++n)
            if (r[n] > limits[n])
                throw std::invalid_argument("ranks[" + std::to_string(n) + "]: must be <= " + kLimitNames[n] + " (" +
                                            std::to_string(limits[n]) + "), got " + std::to_string(r[n]) +
                                            " (layer " + std::to_string(layer) + ")");
        return r;
    }
    if (!spectra) throw std::invalid_argument("choose_ranks: " + spec.describe() + " needs the mode spectra");
    if (spec.kind == RankSpec::Kind::Tolerance) {
        const double thr = spec.tolerance * spec.tolerance * spectra->norm_sq / 3.0;
        return {truncation_rank(*spectra, 0, thr), truncation_rank(*spectra, 1, thr), truncation_rank(*spectra, 2, thr)};
    }
    // Budget: the largest R1 for every (R2, R3) within it, keeping the least discarded energy.
    const double budget = spec.kind == RankSpec::Kind::Params ? double(spec.params)
                                                              : std::floor(double(S.original_params()) / spec.ratio);
    std::array<int, 3> best{0, 0, 0};
    double best_loss = std::numeric_limits<double>::infinity();
    for (int r3 = 1; r3 <= 4; ++r3)
        for (int r2 = 1; r2 <= S.dv; ++r2) {
            const double fixed = double(S.dv) * r2 + 4.0 * r3;
            const double per_r1 = double(S.d) + double(S.h) * r2 * r3;
            const double r1f = std::floor((budget - fixed) / per_r1);
            if (r1f < 1) continue;
            const int r1 = static_cast<int>(std::min<double>(r1f, S.d));
            const double loss = spectra->discarded(0, r1) + spectra->discarded(1, r2) + spectra->discarded(2, r3);
            if (loss < best_loss) {
                best_loss = loss;
                best = {r1, r2, r3};
            }
        }
    if (best[0] == 0)
        throw std::invalid_argument(spec.describe() + ": even ranks (1,1,1) need " +
                                    std::to_string(analysis::compressed_params(S, {1, 1, 1})) +
                                    " parameters, more than the budget of " + std::to_string(std::uint64_t(budget)));
    return best;
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
            throw std::invalid_argument(what + "[" + std::to_string(n) + "]: expected a positive integer, got '" + part + "'");
        }
    }
    if (n != 3) throw std::invalid_argument(what + ": expected three ranks R1,R2,R3, got '" + text + "'");
    return r;
}

}  // namespace tllm::tucker
