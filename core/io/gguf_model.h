#pragma once
// A GGUF model seen as the Hugging Face checkpoint it was converted from: the tensors under
// their Hugging Face names and in their Hugging Face layout, and a config.json made from the
// GGUF metadata. Everything downstream (the attention mapping, tensorisation, the forward
// pass, edits) then reads a GGUF model exactly as it reads the safetensors original.
//
// Supported architectures (general.architecture): llama (also Mistral, which llama.cpp
// converts as llama), qwen2 and gpt2. The name map is docs/gguf.md's table; in short
//   blk.N.attn_q.weight  ->  model.layers.N.self_attn.q_proj.weight       (llama, qwen2)
//   blk.N.attn_qkv.weight -> h.N.attn.c_attn.weight                       (gpt2)
// and so on for every tensor the forward pass uses. Tensors outside the map keep their GGUF
// names (they are listed and carried, not used).
//
// Layouts. llama.cpp's converter reorders the rows of Q and K of llama-family models
// (LlamaModel.permute): within each head of dv rows, Hugging Face row s * dv/2 + p (s = 0, 1)
// is stored as row 2p + s, which suits ggml's interleaved rotary embedding. Reading undoes
// this, so tensorisation sees the same heads as for the original and the forward pass keeps
// the Hugging Face (rotate-half) rotary form; writing (io/gguf_model.h, gguf_row) redoes it.
// qwen2 is converted without the reorder. GPT-2's Conv1D weights ([in, out] in Hugging Face)
// are stored by GGUF as linear weights ([out, in]); reading transposes them back.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/tensor_source.h"

namespace tllm::io {

/// How the rows of a GGUF tensor relate to the Hugging Face tensor it stands for.
enum class GgufRowOrder {
    Same,        ///< identical layout
    Rotary,      ///< llama.cpp's rotary reorder of Q or K rows within each head
    Transposed,  ///< GGUF holds the transpose (GPT-2 Conv1D weights)
};

/// One GGUF tensor under its Hugging Face name.
struct GgufMappedTensor {
    TensorInfo info;  ///< Hugging Face name, row-major shape; dtype from the GGUF type
    const GgufTensorInfo* source = nullptr;
    GgufRowOrder order = GgufRowOrder::Same;
    int heads = 0;  ///< for Rotary: heads stored in the tensor (query heads for Q, kv heads for K)
};

/// The dtype standing for a ggml type, or nullopt for a type the engine cannot read.
std::optional<DType> dtype_of_ggml(GgmlType t);
/// The ggml type of a dtype (F32, F16, BF16, F64, integers, the block types); nullopt otherwise.
std::optional<GgmlType> ggml_of_dtype(DType t);

/// True when `path` is a regular file that starts with the GGUF magic (never opens a FIFO
/// or device).
bool is_gguf_file(const std::string& path);

/// An opened GGUF model. Thread-safe for concurrent reads.
class GgufModel final : public TensorSource {
public:
    /// Opens and validates `path` (GgufFile), maps the tensor names of its architecture and
    /// builds the config. Throws std::runtime_error naming the file and the key for an
    /// unsupported architecture or missing or invalid metadata.
    explicit GgufModel(const std::string& path);

    const GgufFile& file() const { return *file_; }
    const std::string& architecture() const { return arch_; }
    /// A Hugging Face config.json equivalent of the metadata (model_type, sizes, norms, rope).
    const nlohmann::json& config_json() const { return config_; }
    /// Every readable tensor, in GGUF file order.
    const std::vector<GgufMappedTensor>& tensors() const { return tensors_; }
    /// The mapping of `info`, which must be one of tensors()'s infos.
    const GgufMappedTensor& mapping(const TensorInfo& info) const;
    /// The mapped tensor whose GGUF name is `gguf_name`, or nullptr.
    const GgufMappedTensor* find_gguf(const std::string& gguf_name) const;
    /// Tensors that cannot be read (a ggml type the engine does not decode), and other findings.
    const std::vector<std::string>& warnings() const { return warnings_; }

    /// The GGUF row holding Hugging Face row `hf_row` of a Same or Rotary tensor.
    static std::uint64_t gguf_row(const GgufMappedTensor& m, std::uint64_t hf_row);

    // TensorSource
    const std::string& path() const override { return file_->path(); }
    std::uint64_t file_size() const override { return file_->file_size(); }
    std::span<const std::byte> header_bytes() const override { return file_->header_bytes(); }
    void read_f32(const TensorInfo& t, float* dst) const override;
    void read_f32(const TensorInfo& t, std::uint64_t first, std::uint64_t count, float* dst) const override;
    void release(const TensorInfo& t) const noexcept override;
    std::span<const std::byte> raw(const TensorInfo& t) const override { return file_->raw(*mapping(t).source); }

private:
    std::shared_ptr<const std::vector<float>> dequantised(const GgufMappedTensor& m) const;

    std::unique_ptr<GgufFile> file_;
    std::string arch_;
    nlohmann::json config_;
    std::vector<GgufMappedTensor> tensors_;
    std::unordered_map<const TensorInfo*, std::size_t> by_info_;
    std::unordered_map<std::string, std::size_t> by_gguf_;
    std::vector<std::string> warnings_;
    /// Whole dequantised tensors of the Transposed kind, most recent first (a reader of a
    /// transposed tensor goes through it row by row).
    mutable std::mutex cache_mutex_;
    mutable std::vector<std::pair<std::size_t, std::shared_ptr<const std::vector<float>>>> cache_;
};

/// Where a Hugging Face tensor goes in a GGUF file of architecture `arch`.
struct GgufNameMapping {
    std::string gguf_name;
    GgufRowOrder order = GgufRowOrder::Same;
    bool kv = false;  ///< Rotary over the kv heads (K)
};
/// The inverse of GgufModel's name map; nullopt when `hf_name` is not mapped (or `arch` is
/// not supported). Rotary is given only for architectures llama.cpp reorders (llama).
std::optional<GgufNameMapping> gguf_mapping_for(const std::string& arch, const std::string& hf_name);
/// True when GgufModel reads architecture `arch` (llama, qwen2, gpt2).
bool gguf_architecture_supported(const std::string& arch);

/// The GGUF dimensions (ne, ne[0] contiguous) of a Hugging Face tensor of row-major `shape`.
std::vector<std::uint64_t> gguf_ne(GgufRowOrder order, const std::vector<std::uint64_t>& shape);
/// Lays out Hugging Face row-major values `hf` of `shape` in GGUF element order (the inverse
/// of what GgufModel::read_f32 undoes); `heads` as in GgufMappedTensor.
void to_gguf_layout(GgufRowOrder order, int heads, const std::vector<std::uint64_t>& shape, const float* hf,
                    float* out);
/// The type a tensor of GGUF dims `ne` is stored in when `wanted` is asked for: F32 for
/// vectors (norms, biases), `wanted` when ne[0] is a multiple of its block, else llama.cpp's
/// fallback (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16).
GgmlType gguf_storage_type(GgmlType wanted, const std::vector<std::uint64_t>& ne);

}  // namespace tllm::io
