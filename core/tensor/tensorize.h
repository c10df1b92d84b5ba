#pragma once
// Layer <-> W_all: the multi-head tensorisation of docs/method.md section 2 and its inverse.

#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/model.h"
#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::tensor {

/// Builds W_all (d x dv x 4 x h, float32, column-major as in Tensor4) for one layer:
/// W_all[:, :, t, i] = W^t_i for t = Q, K, V, O^T, with W^Q_i = W^Q[:, i*dv:(i+1)*dv] in the
/// x*W orientation. With grouped-query attention the K and V slices of kv head j are
/// repeated for query heads j*m .. j*m+m-1 (m = h / n_kv). Reads only this layer's tensors,
/// converting them to float32 from the mapped file row by row.
/// Cost: one pass over the layer's weights; memory: the returned tensor plus one row.
/// Checks `ctl`'s cancel token between slices (throws util::Cancelled).
Tensor4 tensorize(const model::Model& m, int layer, const util::Control& ctl = {});

/// One checkpoint tensor rebuilt from a W_all.
struct RebuiltTensor {
    std::string name;
    io::DType dtype = io::DType::F32;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> bytes;  ///< row-major, little-endian, in `dtype`
};

/// The exact inverse of tensorize(): writes `w` back into the layer's original tensor names,
/// shapes and dtypes (bf16 and f16 rounded to nearest even; a block-quantised GGUF tensor
/// comes back as float32, io::dtype_for_rewrite). K and V of a kv group are the
/// mean of the group's m copies (the least-squares choice; exact when the copies agree).
/// Throws std::invalid_argument when `w`'s dimensions do not match the model.
std::vector<RebuiltTensor> detensorize(const model::Model& m, int layer, const Tensor4& w);

}  // namespace tllm::tensor
