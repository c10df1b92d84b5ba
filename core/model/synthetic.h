#pragma once
// Writes synthetic checkpoints in any known layout: low-rank attention weights plus noise,
// with biases, norms, MLP and embedding tensors around them. Used for the small model in
// resources/, for tests that need every architecture, and for large benchmark checkpoints.

#include <cstdint>
#include <string>

#include "io/dtype.h"
#include "model/architecture.h"

namespace tllm::model {

struct SyntheticSpec {
    std::string model_type = "gpt2";  ///< picks the architecture layout
    int hidden = 64;                  ///< d
    int heads = 4;                    ///< h
    int kv_heads = 0;                 ///< n_kv; 0 means = heads
    int head_dim = 0;                 ///< dv; 0 means hidden / heads (written to config only if different)
    int layers = 2;
    int rank = 8;        ///< rank of the shared low-rank part of each weight
    double noise = 0.1;  ///< noise standard deviation relative to the signal's
    io::DType dtype = io::DType::F32;
    int shards = 1;      ///< > 1 writes model-0000k-of-0000n.safetensors + index
    bool extras = true;  ///< also write biases, norms, MLP and embeddings
    /// > 0: a complete model that evaluation runs (gpt2 and llama layouts only): every norm,
    /// the MLP of the architecture (ffn wide), embeddings of `vocab` rows, gpt2's position
    /// embeddings, the final norm, llama's lm_head (unless tied) and the config fields of
    /// all of them. The MLP and embedding matrices are uniform noise of standard deviation
    /// 0.02, norm weights 1 + such noise (fast to generate for billions of parameters).
    int vocab = 0;
    int ffn = 0;                   ///< MLP width of a complete model; 0 means 4 * hidden
    int positions = 0;             ///< positions of a complete model; 0 means 1024 (gpt2), 2048 (llama)
    bool tied_embeddings = false;  ///< llama: logits use embed_tokens (no lm_head); gpt2 always ties
    std::uint64_t seed = 1;
    /// Throws std::invalid_argument naming the field.
    void validate() const;
};

/// Writes config.json and the safetensors file(s) into directory `dir` (created if needed).
/// Deterministic for a given spec. Memory: one tensor at a time.
/// Throws std::invalid_argument for a bad spec, std::runtime_error for I/O errors.
void write_synthetic_checkpoint(const std::string& dir, const SyntheticSpec& spec,
                                const std::vector<ArchitectureSpec>& extra = {});

}  // namespace tllm::model
