#pragma once
// Edits of a loaded model in memory (docs/evaluation-in-the-loop.md): a layer's attention
// replaced by a decomposition's reconstruction, and LASER, a rank-r truncated SVD of one MLP
// weight matrix of a layer. Both produce tensors in the checkpoint's own names, shapes and
// dtypes, which eval::Transformer::set_layer_override() uses instead of the stored ones.
//
// The attention edit goes through the denoised checkpoint's write-back (tensor::detensorize:
// grouped-query K/V averaged per group, bf16/f16 rounded to nearest even, biases untouched),
// so a model edited in memory and the written `--denoised` checkpoint hold the same bytes.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eval/forward.h"
#include "model/model.h"
#include "tensor/tensorize.h"
#include "tucker/tucker.h"
#include "util/control.h"

namespace tllm::edits {

/// The attention tensors of `layer` rebuilt from the decomposition `T` of that layer:
/// tensor::detensorize(m, layer, tucker::reconstruct(T)). The denoised checkpoint writer
/// calls this too. Throws std::invalid_argument when T's dims do not match the model.
std::vector<tensor::RebuiltTensor> attention_tensors(const model::Model& m, int layer, const tucker::TuckerResult& T,
                                                     const util::Control& ctl = {});

/// A LASER edit: which MLP matrix of a layer, truncated to which rank.
struct LaserSpec {
    eval::MlpMatrix matrix = eval::MlpMatrix::Down;
    int rank = 1;
    /// "down:16".
    std::string describe() const;
};
/// Parses "MATRIX:RANK[,MATRIX:RANK...]" with MATRIX one of up, down, gate. Throws
/// std::invalid_argument naming `what` and the offending entry.
std::vector<LaserSpec> parse_laser_list(const std::string& text, const std::string& what = "--laser");

/// A LASER edit's tensor and what it does.
struct LaserResult {
    tensor::RebuiltTensor tensor;   ///< the truncated matrix in the checkpoint's name, shape, dtype
    double rel_error = 0;           ///< ||A - A_r||_F / ||A||_F (from the discarded singular values)
    std::uint64_t params = 0;       ///< m*n of the matrix
    std::uint64_t params_rank = 0;  ///< r*(m+n), the factored form's parameters
};

/// Rank-`spec.rank` truncation of MLP matrix `spec.matrix` of `layer` of the model `t` runs
/// (A_r = A V_r V_r^T with V_r the top right singular vectors, from the Gram of the smaller
/// side in double). Throws std::invalid_argument: a rank outside 1..min(m, n), a matrix the
/// architecture does not have (gate outside llama-family models).
LaserResult laser_tensor(const eval::Transformer& t, int layer, const LaserSpec& spec, const util::Control& ctl = {});

/// Edits of several layers at once: per layer, the tensors that replace the stored ones.
using EditSet = std::map<int, std::vector<tensor::RebuiltTensor>>;

/// Adds `tensors` to layer `layer` of `set` (a tensor of the same name is replaced).
void add_to(EditSet& set, int layer, std::vector<tensor::RebuiltTensor> tensors);

/// Installs `set` on `t` (every other layer back to the checkpoint's weights).
void apply_edits(eval::Transformer& t, const EditSet& set);

}  // namespace tllm::edits
