#pragma once
// Attention layouts of transformer checkpoints, described as data.
//
// The file format (docs/architectures.md has the full description; resources/
// architectures.json holds the built-in ones and is compiled into the library):
//   { "format": "tensorllm-architectures/1",
//     "architectures": [ {
//        "name": "llama",                        unique name
//        "description": "...",                   optional
//        "model_types": ["llama", "mistral"],    config.json model_type values it serves
//        "weight": "linear" | "conv1d",          how 2-D weights are stored: nn.Linear keeps
//                                                (out, in); GPT-2's Conv1D keeps (in, out)
//        "q": PATTERN, "k": PATTERN, "v": PATTERN   separate projections, or
//        "qkv": PATTERN, "qkv_order": "blocks" | "head_interleaved"   one fused tensor whose
//                                                out axis is [Q | K | V] blocks, or per head
//                                                [h][q, k, v][dv] (GPT-NeoX)
//        "o": PATTERN                            output projection
//     } ] }
// A PATTERN is the full tensor name with two placeholders: {L} stands for the decimal layer
// index and {prefix} for an empty string or any prefix ending in '.' ("model.",
// "transformer.", ...). Any projection may instead be an object {"tensor": PATTERN,
// "weight": "linear" | "conv1d"} to override the storage convention for that tensor.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tllm::model {

/// How a 2-D weight is stored: nn.Linear (out, in) or Conv1D (in, out).
enum class WeightLayout { Linear, Conv1D };
/// How Q, K and V are stored: separate tensors, one tensor of [Q|K|V] blocks, or one
/// tensor interleaved per head.
enum class QkvOrder { Separate, Blocks, HeadInterleaved };

struct TensorPattern {
    std::string pattern;  ///< with {L} and optionally {prefix}
    WeightLayout layout = WeightLayout::Linear;
    bool empty() const { return pattern.empty(); }
};

/// One architecture's attention layout.
struct ArchitectureSpec {
    std::string name;
    std::string description;
    std::vector<std::string> model_types;
    QkvOrder qkv_order = QkvOrder::Separate;
    TensorPattern q, k, v, qkv, o;  ///< q/k/v when Separate, qkv otherwise
    std::string source;             ///< file it came from ("built-in" for ours)
};

/// Parses the format above. `source` names the file in errors. Throws std::runtime_error
/// naming the source, the architecture and the field.
std::vector<ArchitectureSpec> parse_architectures(const nlohmann::json& j, const std::string& source);
/// Reads a user architecture file in the format above.
std::vector<ArchitectureSpec> read_architectures(const std::string& path);
/// The built-in layouts (resources/architectures.json, compiled in).
const std::vector<ArchitectureSpec>& builtin_architectures();
/// The architecture serving `model_type`, searching `extra` before the built-ins.
/// Throws std::runtime_error listing every supported model_type and pointing to the format.
const ArchitectureSpec& find_architecture(const std::string& model_type,
                                          const std::vector<ArchitectureSpec>& extra = {});
/// All model_type values served by `extra` and the built-ins, sorted.
std::vector<std::string> supported_model_types(const std::vector<ArchitectureSpec>& extra = {});

/// A compiled PATTERN: matches a tensor name, yielding the layer index and the prefix.
class PatternMatcher {
public:
    explicit PatternMatcher(const std::string& pattern);
    struct Match {
        int layer;
        std::string prefix;
    };
    /// The layer index and prefix when `name` matches; nullopt otherwise.
    std::optional<Match> match(const std::string& name) const;
    /// The name for a given layer and prefix.
    std::string expand(int layer, const std::string& prefix) const;

private:
    std::string before_, after_;  // literal text around {L}; before_ excludes {prefix}
    bool has_prefix_ = false;
};

}  // namespace tllm::model
