#include "deal.h"

#include <algorithm>
#include <numeric>

namespace tllm::mpi {
namespace {

double decomposition_cost(const model::AttentionShape& S, int r1, const tucker::TuckerOptions& t) {
    const double N = double(S.d) * S.dv * 4.0 * S.h;
    const double sweeps = t.method == tucker::Method::HOOI ? std::min(t.max_iterations, 10) : 0.5;
    return 2.0 * N * S.d + 4.0 * N * r1 * sweeps;
}

}  // namespace

std::vector<std::vector<std::size_t>> deal(const std::vector<double>& costs, int ranks) {
    std::vector<std::vector<std::size_t>> out(std::size_t(std::max(ranks, 1)));
    std::vector<std::size_t> order(costs.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
    std::vector<double> load(out.size(), 0.0);
    for (std::size_t i : order) {
        const auto r = std::size_t(std::min_element(load.begin(), load.end()) - load.begin());
        out[r].push_back(i);
        load[r] += costs[i];
    }
    for (auto& v : out) std::sort(v.begin(), v.end());
    return out;
}

double layer_cost(const model::Model& m, int layer, const jobs::JobOptions& opt) {
    const auto& S = m.shape();
    int r1 = std::max(1, S.d / 4);
    if (opt.ranks.kind == tucker::RankSpec::Kind::Fixed) {
        const auto it = opt.ranks.per_layer.find(layer);
        r1 = it != opt.ranks.per_layer.end() ? it->second[0] : opt.ranks.ranks[0];
    }
    return decomposition_cost(S, r1, opt.tucker);
}

double point_cost(const model::Model& m, const edits::SweepOptions& opt, const edits::PointSpec& p, std::int64_t tokens,
                  int n_layers) {
    const auto& S = m.shape();
    const double N = double(S.d) * S.dv * 4.0 * S.h;
    double c = 0;
    if (p.choice >= 0) {
        const auto& spec = opt.choices[std::size_t(p.choice)];
        const int r1 = spec.kind == tucker::RankSpec::Kind::Fixed ? spec.ranks[0] : std::max(1, S.d / 4);
        c += decomposition_cost(S, r1, opt.tucker);
    }
    if (p.laser >= 0) c += 2.0 * N * S.d;  // an SVD of an MLP matrix: about one d-mode Gram
    c += 2.0 * double(tokens) * 3.0 * N * double(std::max(1, n_layers - p.layer));
    return c;
}

}  // namespace tllm::mpi
