#pragma once
// How tensorllm-mpi deals work to ranks: by estimated cost, largest first (the LPT rule:
// each item, from the most to the least expensive, goes to the rank with the least work so
// far). Every rank computes the same deal from the same inputs, so no message is needed.
//
// The cost model (floating-point operations; docs/cluster.md "How the work is dealt"):
//   decomposition of a layer, N = d * dv * 4 * h weights:
//     2 N d            the d-mode Gram (or its subspace iteration) every method starts with
//   + 4 N R1 S         S sweeps of the two mode products against the d x R1 factor:
//                      S = min(HOOI sweeps allowed, 10) for HOOI, 1/2 for (ST-)HOSVD
//     R1 is the layer's fixed rank, or d/4 where the rank follows from a tolerance or ratio.
//   evaluation of a sweep point that edits layer L of a model of n layers on T tokens:
//   + 2 T (3N) (n - L) the edited passes start at L (the prefix cache), and a layer's dense
//                      products are about 3N weights (attention N, MLP about 2N)
// All layers of one model share a shape, so a plain decomposition deals layers round robin
// unless per-layer ranks differ; a sweep deals its early layers' points (the longest passes)
// first.
#include <cstddef>
#include <vector>

#include "edits/sweep.h"
#include "jobs/job_runner.h"
#include "model/model.h"

namespace tllm::mpi {

/// Items 0..costs.size()-1 dealt to `ranks` ranks by LPT; ties go to the lower item index
/// and the lower rank. Each rank's items are returned in ascending order.
std::vector<std::vector<std::size_t>> deal(const std::vector<double>& costs, int ranks);

/// Estimated cost of decomposing `layer` with `opt` (see above).
double layer_cost(const model::Model& m, int layer, const jobs::JobOptions& opt);

/// Estimated cost of a sweep point: its decomposition (or LASER truncation) and its
/// evaluation over `tokens` tokens of a model with `n_layers` layers.
double point_cost(const model::Model& m, const edits::SweepOptions& opt, const edits::PointSpec& p, std::int64_t tokens,
                  int n_layers);

}  // namespace tllm::mpi
