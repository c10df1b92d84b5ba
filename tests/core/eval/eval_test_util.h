#pragma once
// Shared by the evaluation tests: the reference data of tests/data/reference (see its
// README.md) and the bundled models.

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/forward.h"
#include "model/model.h"

namespace tllm::test {

/// tests/data/reference/NAME parsed as JSON.
inline nlohmann::json reference_json(const std::string& name) {
    std::ifstream in(std::string(TLLM_TEST_DIR) + "/data/reference/" + name);
    if (!in) throw std::runtime_error("missing reference file tests/data/reference/" + name);
    return nlohmann::json::parse(in);
}

/// The bundled demo model directory.
inline std::string demo_model_dir() { return std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2"; }
/// The stories260K checkpoint directory.
inline std::string stories_dir() { return std::string(TLLM_TEST_DIR) + "/data/stories260K"; }

/// The whole file as bytes.
inline std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Byte-level ids (id = byte value) of `text`.
inline std::vector<std::int32_t> byte_ids(const std::string& text) {
    std::vector<std::int32_t> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
}

/// A Transformer over the checkpoint at `path`.
inline std::unique_ptr<eval::Transformer> load_transformer(const std::string& path, eval::ForwardOptions opt = {}) {
    return std::make_unique<eval::Transformer>(std::make_shared<const model::Model>(path), opt);
}

/// log p(ids[i+1] | ids[..i]) for i = 0..n-2 in one window.
inline std::vector<double> window_logprobs(eval::Transformer& t, const std::vector<std::int32_t>& ids) {
    const int n = int(ids.size());
    auto s = t.make_state(n, n);
    t.forward(s, ids, 0);
    std::vector<std::int32_t> targets(ids.begin() + 1, ids.end());
    targets.push_back(-1);
    std::vector<double> lp(std::size_t(n), 0.0);
    t.score(s, s.x.data(), n, targets, lp.data());
    lp.pop_back();
    return lp;
}

}  // namespace tllm::test
