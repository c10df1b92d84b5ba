#pragma once
// A checkpoint bound to its architecture: which tensors form each layer's attention.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/architecture.h"

namespace tllm::model {

/// Attention types in W_all's third mode, in this order.
enum class AttnType { Q = 0, K = 1, V = 2, O = 3 };
inline constexpr const char* kAttnTypeNames[4] = {"Q", "K", "V", "O"};

/// Geometry of one layer's attention. d = hidden size, dv = head dim, h = query heads,
/// n_kv = key/value heads (h / n_kv query heads share one kv head).
struct AttentionShape {
    int d = 0, dv = 0, h = 0, n_kv = 0;
    int group() const { return h / n_kv; }
    /// Elements of W_all: d * dv * 4 * h.
    std::uint64_t tensor_elements() const { return std::uint64_t(d) * dv * 4 * h; }
    /// Parameters of Q, K, V, O as stored: 2*d*h*dv + 2*d*n_kv*dv (docs/method.md section 4).
    std::uint64_t original_params() const { return 2ull * d * h * dv + 2ull * d * n_kv * dv; }
};

/// Where one of Q, K, V, O comes from in the checkpoint.
struct PartSource {
    std::string tensor;  ///< checkpoint tensor name
    WeightLayout layout = WeightLayout::Linear;
    /// Index of (head j, column b) along the tensor's head axis is offset + j*stride + b,
    /// with j < heads (h for Q and O, n_kv for K and V).
    std::uint64_t offset = 0, stride = 0;
    int heads = 0;
    /// True when the head axis is the stored rows (contiguous reads), false for columns.
    bool head_axis_rows = true;
};

/// One layer's attention: its index (from the tensor names) and the source of each type.
struct AttentionLayer {
    int index = 0;
    PartSource parts[4];               ///< indexed by AttnType
    std::vector<std::string> tensors;  ///< distinct checkpoint tensors (3 or 4, or 2 fused)
    io::DType dtype = io::DType::F32;  ///< dtype of the Q tensor (all are checked to be float)
};

/// A tensor the attention mapping does not use, and why.
struct UnmappedTensor {
    std::string name;
    std::string reason;
};

/// A checkpoint with its config and architecture resolved. Construction reads headers and
/// config only. Thread-safe for concurrent reads.
class Model {
public:
    /// Opens `path` (see io::Checkpoint), reads config.json, picks the architecture by
    /// model_type (user specs in `extra` first) and maps every layer.
    /// Throws std::runtime_error: no config.json, unknown model_type (listing the supported
    /// ones), ambiguous tensor prefixes.
    explicit Model(const std::string& path, const std::vector<ArchitectureSpec>& extra = {});

    const io::Checkpoint& checkpoint() const { return *ckpt_; }
    const io::ModelConfig& config() const { return config_; }
    const ArchitectureSpec& architecture() const { return arch_; }
    const AttentionShape& shape() const { return shape_; }
    /// Layers whose attention was mapped, sorted by index.
    const std::vector<AttentionLayer>& layers() const { return layers_; }
    /// The layer with index `index`; throws std::out_of_range listing the valid indices.
    const AttentionLayer& layer(int index) const;
    /// Tensors not part of any W_all, with reasons (non-attention weights, biases, and
    /// attention tensors that could not be used).
    const std::vector<UnmappedTensor>& unmapped() const { return unmapped_; }
    /// Problems found while mapping (incomplete layers, layer count differing from config).
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    std::unique_ptr<io::Checkpoint> ckpt_;
    io::ModelConfig config_;
    ArchitectureSpec arch_;
    AttentionShape shape_;
    std::vector<AttentionLayer> layers_;
    std::vector<UnmappedTensor> unmapped_;
    std::vector<std::string> warnings_;
};

/// Groups names that differ only in their layer number: "model.layers.*.mlp.up.weight".
std::string layer_wildcard(const std::string& name);

}  // namespace tllm::model
