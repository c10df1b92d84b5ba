#include "analysis/sweep.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "analysis/compression.h"

namespace tllm::analysis {
namespace {
std::vector<int> geometric(int max, int steps) {
    std::set<int> v{1, max};
    for (int k = 0; k < steps; ++k)
        v.insert(std::clamp(static_cast<int>(std::lround(std::pow(double(max), double(k) / (steps - 1)))), 1, max));
    return {v.begin(), v.end()};
}
}  // namespace

std::vector<std::array<int, 3>> default_grid(const model::AttentionShape& s, int steps) {
    std::vector<std::array<int, 3>> g;
    for (int r1 : geometric(s.d, steps))
        for (int r2 : geometric(s.dv, std::max(2, steps / 2)))
            for (int r3 = 1; r3 <= 4; ++r3) g.push_back({r1, r2, r3});
    return g;
}

std::vector<SweepPoint> sweep_estimate(const ModeSpectra& sp, const model::AttentionShape& s,
                                       const std::vector<std::array<int, 3>>& grid) {
    std::vector<SweepPoint> out;
    out.reserve(grid.size());
    const double total = sp.norm_sq > 0 ? sp.norm_sq : 1.0;
    for (const auto& r : grid) {
        SweepPoint p;
        p.ranks = r;
        p.params = compressed_params(s, r);
        p.ratio = compression_ratio(s, r);
        double sum = 0, mx = 0;
        for (int n = 0; n < 3; ++n) {
            const double dn = sp.discarded(n, r[n]);
            sum += dn;
            mx = std::max(mx, dn);
        }
        p.error_upper = std::sqrt(std::min(1.0, sum / total));
        p.error_lower = std::sqrt(std::min(1.0, mx / total));
        out.push_back(p);
    }
    return out;
}

void sweep_exact(const tensor::Tensor4& W, std::vector<SweepPoint>& points, tucker::TuckerOptions base,
                 const util::Control& ctl) {
    for (std::size_t k = 0; k < points.size(); ++k) {
        ctl.check();
        base.ranks = points[k].ranks;
        points[k].error_exact =
            tucker::decompose(W, base, ctl.sub(float(k) / points.size(), float(k + 1) / points.size())).rel_error;
    }
}

std::vector<std::size_t> pareto_front(const std::vector<SweepPoint>& points) {
    auto err = [](const SweepPoint& p) { return std::isnan(p.error_exact) ? p.error_upper : p.error_exact; };
    std::vector<std::size_t> idx(points.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    // Highest ratio first; keep a point when its error beats every point of higher ratio.
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return points[a].ratio != points[b].ratio ? points[a].ratio > points[b].ratio : err(points[a]) < err(points[b]);
    });
    std::vector<std::size_t> front;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t i : idx)
        if (err(points[i]) < best) {
            best = err(points[i]);
            front.push_back(i);
        }
    std::reverse(front.begin(), front.end());
    return front;
}

}  // namespace tllm::analysis
