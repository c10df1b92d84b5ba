#pragma once
// A checkpoint on disk: one safetensors file or a sharded set named by
// model.safetensors.index.json, plus the config.json beside it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/model_config.h"
#include "io/output_guard.h"
#include "io/safetensors.h"

namespace tllm::io {

/// Where one tensor lives.
struct TensorRef {
    const SafetensorsFile* file = nullptr;
    const TensorInfo* info = nullptr;
};

/// An opened checkpoint. Opening maps the files and validates every header; no tensor data
/// is read. Thread-safe for concurrent reads.
class Checkpoint {
public:
    /// `path` is a directory (holding model.safetensors.index.json or model.safetensors, or
    /// exactly one *.safetensors file), a .safetensors file, or an index .json file.
    /// config.json is read from the same directory when present.
    /// Throws std::runtime_error naming the file and field on any problem, including a shard
    /// the index names that is missing and a tensor the index names that its shard lacks.
    explicit Checkpoint(const std::string& path);

    const std::string& path() const { return path_; }
    const std::string& directory() const { return dir_; }
    bool sharded() const { return !index_path_.empty(); }
    const std::string& index_path() const { return index_path_; }
    /// The config, when config.json exists beside the weights.
    const std::optional<ModelConfig>& config() const { return config_; }
    const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }
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
    /// index and config.json (and their directory, which an output may not replace).
    SourceSet sources() const;

private:
    std::string path_, dir_, index_path_;
    std::optional<ModelConfig> config_;
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::unordered_map<std::string, TensorRef> refs_;
    std::vector<std::string> names_;
    std::vector<std::string> warnings_;
};

}  // namespace tllm::io
