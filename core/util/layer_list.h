#pragma once
#include <string>
#include <vector>

namespace tllm::util {

/// The largest layer index a selection may name.
inline constexpr int kMaxLayerIndex = 1000000;

/// Parses a layer selection such as "0-3,7,10-12" into sorted, distinct indices.
/// "all" or "" gives an empty list (meaning every layer). Throws std::invalid_argument naming
/// the offending part ("layers: '3-1' is not a range low-high").
std::vector<int> parse_layer_list(const std::string& text);

/// The inverse: "0-3,7".
std::string format_layer_list(const std::vector<int>& layers);

}  // namespace tllm::util
