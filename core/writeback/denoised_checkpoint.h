#pragma once
// The denoised model as a checkpoint (tensorllm decompose --denoised DIR / --factorised DIR).
// docs/denoised-checkpoint.md describes both forms in full.
//
// Dense form: the original checkpoint with the decomposed layers' Q, K, V and O weights
// replaced by W_hat = G x1 U1 x2 U2 x3 U3, written back by tensor::detensorize (original
// names, shapes and dtypes; bf16/f16 rounded to nearest even; grouped K/V averaged over
// each group). Same shard file names and tensor-to-shard assignment, tensors in the same
// order, model.safetensors.index.json rewritten (weight_map unchanged, metadata.total_size
// recomputed). Every other tensor is copied byte for byte; config.json, tokenizer files and
// the other small non-weight files of the checkpoint directory are copied.
//
// Factorised form: the same, except that the decomposed layers' dense Q/K/V/O weight
// tensors are left out and replaced, in the shard and at the position of the layer's first
// attention tensor, by four float32 tensors
//   tensorllm.layers.{L}.U1    [d, R1]            row-major (the mathematical U1)
//   tensorllm.layers.{L}.U2    [dv, R2]
//   tensorllm.layers.{L}.U3    [4, R3]            rows Q, K, V, O
//   tensorllm.layers.{L}.core  [h, R3, R2, R1]    the column-major (R1, R2, R3, h) core as is:
//                                                 core[i, r3, r2, r1] = G_all(r1, r2, r3, i)
// (the same array order as the HDF5 results file). Biases are never touched.
//
// Both forms record in every shard's __metadata__ (the source's entries are kept):
//   "tensorllm.form"          "denoised" | "factorised"
//   "tensorllm.tool_version"  TENSORLLM_VERSION
//   "tensorllm.layers"        the replaced layers, comma-separated ("0,5")
//   "tensorllm.ranks"         per layer "L:R1,R2,R3" joined by ';'
//   "tensorllm.method"        "hooi" etc.
//   "tensorllm.export"        JSON: options, source identity, and per layer the ranks, error,
//                             and the original tensors (name, dtype, shape) it replaces
//
// All output goes to a staging directory beside DIR that replaces DIR only when complete
// (io/staging_dir.h): a failure or cancel leaves no partial output, and an existing DIR
// is untouched until then.

#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/control.h"

namespace tllm::exporting {

enum class CheckpointForm { Dense, Factorised };
/// "denoised" or "factorised".
const char* checkpoint_form_name(CheckpointForm f);

struct DenoisedOptions {
    CheckpointForm form = CheckpointForm::Dense;
    /// Replace an existing non-empty destination directory (swapped in only when the new
    /// output is complete). An empty existing directory is always replaced.
    bool overwrite = false;
    /// Copy the non-weight files of the checkpoint directory (config.json, tokenizer, ...).
    bool copy_other_files = true;
    /// Files larger than this are not copied (reported as a warning). Must be > 0.
    std::uint64_t max_copy_bytes = 256ull << 20;
    /// Free space required beyond the estimated output size (bytes).
    std::uint64_t free_space_margin = 16ull << 20;

    /// Throws std::invalid_argument naming the field ("max_copy_bytes: must be > 0").
    void validate() const;
};

/// What an export wrote.
struct DenoisedReport {
    std::string directory;                      ///< the destination
    std::vector<int> layers;                    ///< layers replaced
    std::vector<std::string> replaced_tensors;  ///< original tensors rewritten (dense) or left out (factorised)
    std::vector<std::string> added_tensors;     ///< factor/core tensors (factorised form)
    std::vector<std::string> files;             ///< file names written into the destination
    std::uint64_t tensor_bytes = 0;             ///< sum of tensor sizes (the index's total_size)
    std::vector<std::string> warnings;          ///< layers skipped, files not copied
};

/// Name of a factorised-form tensor: "tensorllm.layers.{layer}.{what}" (what = U1, U2, U3, core).
std::string factor_tensor_name(int layer, const std::string& what);

/// Writes the denoised checkpoint of `m` into directory `dir` in the chosen form. The layers
/// replaced are the complete ones of `s` (status ok or not_converged); failed or cancelled
/// layers keep their original weights and are listed in the report's warnings. `opt` is
/// recorded in the metadata.
/// Throws std::invalid_argument: invalid options, no complete layer, a layer the model does
/// not map, factors or core whose dims do not match the model, `dir` being the source
/// checkpoint's directory, or `dir` non-empty without `overwrite`. Throws std::runtime_error
/// (naming the destination and the system error) when the destination cannot be created or
/// written, or lacks the estimated free space; util::Cancelled when cancelled (checked
/// before every tensor). In every failure case nothing is left behind and an existing `dir`
/// is untouched.
/// Cost: one pass over the checkpoint's bytes. Memory: the largest tensor (copy buffer) plus,
/// per decomposed layer while its tensors are written, W_hat (4*d*dv*4*h bytes) and the
/// layer's rebuilt tensors.
DenoisedReport write_denoised_checkpoint(const std::string& dir, const model::Model& m, const jobs::JobOptions& opt,
                                         const jobs::JobSummary& s, const DenoisedOptions& dopt = {},
                                         const util::Control& ctl = {});

}  // namespace tllm::exporting
