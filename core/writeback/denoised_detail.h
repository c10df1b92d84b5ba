#pragma once
// Parts of the denoised checkpoint writer (denoised_checkpoint.cpp) that the GGUF writer
// (gguf_export.cpp) shares: which layers are replaced, the export record, the factor tensors.

#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "jobs/job_runner.h"
#include "model/model.h"
#include "writeback/denoised_checkpoint.h"

namespace tllm::exporting {

/// "R1,R2,R3".
std::string ranks_text(const std::array<int, 3>& r);
/// The complete layers of `s`, checked against the model (factor and core dims); incomplete
/// layers are added to `warnings`. Throws std::invalid_argument on a mismatch.
std::map<int, const jobs::LayerResult*> chosen_layers(const model::Model& m, const jobs::JobSummary& s,
                                                      std::vector<std::string>& warnings);
/// The "tensorllm.export" record: options, source identity, and per layer the ranks, error
/// and the original tensors it replaces.
nlohmann::ordered_json export_json(const model::Model& m, const jobs::JobOptions& opt,
                                   const std::map<int, const jobs::LayerResult*>& layers, CheckpointForm form);
/// The factorised form's float32 tensors of one layer: U1 [d, R1], U2 [dv, R2], U3 [4, R3],
/// core [h, R3, R2, R1] (row-major shapes).
std::vector<io::TensorToWrite> factor_tensors(int layer, const tucker::TuckerResult& T, int h);

}  // namespace tllm::exporting
