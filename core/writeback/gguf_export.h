#pragma once
// GGUF output (docs/gguf.md):
//   - convert_to_gguf: a safetensors model (llama, mistral, qwen2, gpt2 families) as a GGUF
//     file llama.cpp loads: its metadata keys, tensor names and layouts (Q and K rows
//     reordered for llama's interleaved rotary form, GPT-2's Conv1D weights transposed), the
//     tokenizer's vocabulary, and the weights in one chosen type;
//   - write_denoised_gguf: a GGUF model with its decomposed layers' attention tensors
//     replaced by their reconstructions, every other tensor and every metadata pair copied
//     byte for byte, plus tensorllm.* keys that record the edit; or the factorised form.
// Both write through a temporary file renamed over the destination when complete, and refuse
// a destination that is one of the model's own files.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/control.h"
#include "writeback/denoised_checkpoint.h"

namespace tllm::exporting {

struct GgufConvertOptions {
    /// Type of the matrices; vectors stay F32 and a matrix whose rows do not fill the type's
    /// blocks falls back (io::gguf_storage_type).
    io::GgmlType type = io::GgmlType::F32;
};

struct GgufWriteReport {
    std::string path;
    std::map<std::string, int> types;  ///< tensors written per ggml type
    std::vector<std::string> replaced_tensors;
    std::vector<std::string> added_tensors;
    std::vector<int> layers;
    std::vector<std::string> warnings;  ///< fallbacks, tensors left out, no tokenizer
    std::uint64_t bytes = 0;            ///< file size
};

/// Writes `m` (a safetensors model) as GGUF file `path`. Throws std::invalid_argument for an
/// architecture GGUF output does not cover, or a `path` that is one of the model's files;
/// std::runtime_error for I/O failures (nothing is left behind); util::Cancelled.
GgufWriteReport convert_to_gguf(const std::string& path, const model::Model& m, const GgufConvertOptions& opt = {},
                                const util::Control& ctl = {});

struct DenoisedGgufOptions {
    CheckpointForm form = CheckpointForm::Dense;
    /// Type of the rewritten tensors; nullopt keeps each one's source type (F32 where the
    /// source type cannot be written).
    std::optional<io::GgmlType> type = io::GgmlType::F32;
};

/// Writes the denoised (or factorised) form of GGUF model `m` to `path`, replacing the complete
/// layers of `s`. Throws std::invalid_argument when `m` is not a GGUF model, no layer is
/// complete, or `path` is one of the model's files; std::runtime_error for I/O failures;
/// util::Cancelled (checked before every tensor). Nothing is left behind on failure.
GgufWriteReport write_denoised_gguf(const std::string& path, const model::Model& m, const jobs::JobOptions& opt,
                                    const jobs::JobSummary& s, const DenoisedGgufOptions& dopt = {},
                                    const util::Control& ctl = {});

}  // namespace tllm::exporting
