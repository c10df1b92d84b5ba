#pragma once
// Rank choice (docs/method.md section 5): explicit ranks (globally or per layer), an error
// tolerance with a guarantee, or a parameter budget (target compression ratio or count).
//
// Guarantee of the tolerance rule: per mode the smallest R_n whose discarded energy
// sum_{k > R_n} s_k^2 is at most eps^2 ||W||^2 / 3. For HOSVD and ST-HOSVD the squared error
// is at most the sum of the three discarded energies of the original unfoldings (De Lathauwer
// et al. 2000 for HOSVD; Vannieuwenhoven, Vandebril and Meerbergen, SIAM J. Sci. Comput. 2012,
// for ST-HOSVD), hence <= eps^2 ||W||^2; HOOI starts from one of them and does not increase
// the error, so the bound holds for every method. The tests check it on random and real layers.

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "analysis/spectra.h"
#include "model/model.h"

namespace tllm::tucker {

struct RankSpec {
    enum class Kind { Fixed, Tolerance, Ratio, Params };
    Kind kind = Kind::Fixed;
    std::array<int, 3> ranks{1, 1, 1};            ///< Fixed: the global ranks
    std::map<int, std::array<int, 3>> per_layer;  ///< Fixed: overrides by layer index
    double tolerance = 0.2;                       ///< Tolerance: eps in (0, 1]
    double ratio = 10.0;                          ///< Ratio: target compression ratio >= ratio
    std::uint64_t params = 0;                     ///< Params: at most this many parameters per layer

    /// Throws std::invalid_argument naming the field and value (ranks < 1, eps outside
    /// (0, 1], ratio <= 0, params == 0).
    void validate() const;
    /// Whether choose_ranks needs the layer's mode spectra.
    bool needs_spectra() const { return kind != Kind::Fixed; }
    /// A one-line description ("ranks 32,4,2", "tolerance 0.2", ...).
    std::string describe() const;
};

/// Ranks the core can use: the mode-n unfolding of the core (R1, R2, R3, h) has as many
/// columns as the product of the other ranks times h, so R1 <= R2*R3*h, R2 <= R1*R3*h and
/// R3 <= R1*R2*h; a larger rank adds parameters and no accuracy. Reduces each rank to its
/// limit until none changes (docs/method.md section 5).
std::array<int, 3> usable_ranks(const std::array<int, 3>& r, int h);

/// The ranks chosen for a layer, with what they guarantee.
struct RankChoice {
    std::array<int, 3> ranks{1, 1, 1};
    /// The HOSVD error bound sqrt(sum_n discarded_n(R_n)) / ||W|| (NaN without spectra).
    double bound = std::numeric_limits<double>::quiet_NaN();
    double ratio = 0;  ///< compression ratio of `ranks`
    /// Why the choice needs the user's attention: ranks reduced to usable ones, or no
    /// compression (ratio <= 1) at the requested error. Empty otherwise.
    std::vector<std::string> warnings;
};

/// The ranks for `layer`:
/// - Fixed: the given ranks (checked against d, dv, 4: std::invalid_argument naming the rank,
///   the limit and the value), reduced to usable_ranks() with a warning saying so.
/// - Tolerance eps: among all usable (R1, R2, R3) whose bound is <= eps, the ranks with the
///   fewest parameters (ties: the smaller bound). A warning when even those do not compress
///   (ratio <= 1), with the ratio the tolerance needs.
/// - Ratio / Params (a budget): among all usable ranks within the budget, the smallest bound;
///   std::invalid_argument when even (1, 1, 1) exceeds it.
/// Tolerance and budget need `spectra` (std::invalid_argument without).
RankChoice choose_ranks_detailed(const RankSpec& spec, int layer, const model::AttentionShape& shape,
                                 const analysis::ModeSpectra* spectra);
/// choose_ranks_detailed(...).ranks.
std::array<int, 3> choose_ranks(const RankSpec& spec, int layer, const model::AttentionShape& shape,
                                const analysis::ModeSpectra* spectra);

/// Smallest r with discarded(mode, r) <= threshold.
int truncation_rank(const analysis::ModeSpectra& s, int mode, double threshold);

/// Parses "R1,R2,R3". Throws std::invalid_argument naming `what`.
std::array<int, 3> parse_ranks(const std::string& text, const std::string& what = "ranks");

}  // namespace tllm::tucker
