#include "io/tensor_source.h"

namespace tllm::io {

std::uint64_t TensorInfo::numel() const {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

}  // namespace tllm::io
