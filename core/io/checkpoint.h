#pragma once
// A checkpoint on disk: one safetensors file or a sharded set named by
// model.safetensors.index.json, plus the config.json beside it; or one GGUF file, whose
// tensors appear under their Hugging Face names and whose metadata gives the config
// (io/gguf_model.h).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/gguf_model.h"
#include "io/model_config.h"
#include "io/output_guard.h"
#include "io/safetensors.h"

namespace tllm::io {

/// Where one tensor lives.
struct TensorRef {
    const TensorSource* file = nullptr;
    const TensorInfo* info = nullptr;
};

/// An opened checkpoint. Opening maps the files and validates every header; no tensor data
/// is read. Thread-safe for concurrent reads.
class Checkpoint {
public:
    /// `path` is a directory (holding model.safetensors.index.json or model.safetensors, or
    /// exactly one *.safetensors file, or else exactly one *.gguf file), a .safetensors file,
    /// an index .json file, or a GGUF file (recognised by its magic). config.json is read
    /// from the same directory when present; a GGUF model's config comes from its metadata.
    /// Throws std::runtime_error naming the file and field on any problem, including a shard
    /// the index names that is missing and a tensor the index names that its shard lacks.
    explicit Checkpoint(const std::string& path);

    const std::string& path() const { return path_; }
    const std::string& directory() const { return dir_; }
    bool sharded() const { return !index_path_.empty(); }
    const std::string& index_path() const { return index_path_; }
    /// The config, when config.json exists beside the weights.
    const std::optional<ModelConfig>& config() const { return config_; }
    /// The safetensors files (empty for a GGUF model).
    const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }
    /// The GGUF model, or nullptr for safetensors.
    const GgufModel* gguf() const { return gguf_.get(); }
    /// Every weight file: the shards, or the GGUF file.
    std::vector<const TensorSource*> files() const;
    /// Tensor names, sorted.
    const std::vector<std::string>& tensor_names() const { return names_; }
    /// The tensor called `name`; nullopt when absent.
    std::optional<TensorRef> find(const std::string& name) const;
    /// Like find() but throws std::runtime_error naming the checkpoint and tensor.
    TensorRef at(const std::string& name) const;
    /// Total bytes of all shards.
    std::uint64_t total_bytes() const;
    const std::vector<std::string>& warnings() const { return warnings_; }
    /// Everything this checkpoint reads, for io::check_output_file / check_output_dir: the
    /// model directory with its files when `path` is a directory, else the weight files, the
    /// index and config.json (and their directory, which an output may not replace); for a
    /// GGUF file, the file alone.
    SourceSet sources() const;

private:
    std::string path_, dir_, index_path_;
    std::optional<ModelConfig> config_;
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::unique_ptr<GgufModel> gguf_;
    std::unordered_map<std::string, TensorRef> refs_;
    std::vector<std::string> names_;
    std::vector<std::string> warnings_;
};

}  // namespace tllm::io
