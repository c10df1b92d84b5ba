#pragma once
#include <cstdint>
#include <string>

namespace tllm::util {

/// The directory holding the bundled resources (demo model, architectures.json).
/// Looked up in order: $TENSORLLM_RESOURCES; <executable dir>/../share/tensorllm-studio
/// (an installed package); the source tree's resources/ (a build tree).
/// Throws std::runtime_error listing the places tried when none exists.
std::string resource_dir();

/// The bundled default model (resources/models/<default>).
std::string default_model_dir();

/// The bundled default evaluation text of the demo model (resources/eval/kjv-validation-64k.txt).
std::string default_eval_text();

/// Human-readable byte count ("1.1 MiB").
std::string format_bytes(std::uint64_t bytes);

}  // namespace tllm::util
