#pragma once
// Two results side by side (tensorllm compare A B, the GUI's Compare tab).
//
// A side is read from whatever holds results: a results set (`tensorllm decompose --out DIR`,
// DIR or DIR/results.json), an HDF5 results file (`decompose --h5`, read in the helper
// process), a project file (*.tllm.json: its results and its sweep), a sweep set (`sweep --out
// DIR`) or an HDF5 sweep (`sweep --h5`). Each format is read by its own reader
// (layers_from_results_json, read_hdf5_isolated, sweep_from_json); this module only matches
// the two sides:
//   - layers by index: both ranks, relative errors (layer and Q/K/V/O), compression ratios and,
//     when a side has a sweep, the change in loss of the sweep point that edited that layer at
//     the same ranks; differences are B - A. A layer complete in only one side is listed with
//     the other side absent;
//   - heads by index within each layer present in both: both head errors and B - A;
//   - sweep points by (layer, method, edit label): both changes in loss, KL, top-1 agreement
//     and accuracy, and B - A; each sweep's unedited baseline too.
// Results of different checkpoints (base against fine-tuned) are compared as well, and the
// comparison says so (CheckpointVerdict): by the stored SHA-256 of the safetensors headers
// where both sides store one, else by model path and shape. The header fingerprint covers
// tensor names, dtypes, shapes and offsets but not the weights, so equal fingerprints count as
// the same checkpoint only at the same path.

#include <array>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edits/sweep.h"
#include "jobs/job_runner.h"
#include "model/model.h"
#include "util/control.h"

namespace tllm::exporting {

/// One result, as read from one file (or held in the GUI).
struct CompareSide {
    std::string path;         ///< the file or directory read
    std::string kind;         ///< "results set", "HDF5 results", "project", "sweep set", "HDF5 sweep", "window"
    std::string label;        ///< shown in tables, legends and file columns ("A", "base", ...)
    std::string model_path;   ///< the checkpoint the results were computed from
    std::string fingerprint;  ///< SHA-256 of its safetensors headers; "" when not stored
    std::optional<model::AttentionShape> shape;  ///< absent for a side that only has a sweep
    std::string model_type;
    std::string rank_choice;  ///< the run's rank rule ("ranks 32,16,4", "tolerance 0.2"); "" when unknown
    std::string method;       ///< decomposition method ("hooi"); "" when unknown
    std::map<int, jobs::LayerResult> layers;  ///< complete layers by index
    std::map<int, std::string> incomplete;    ///< layers in the run that did not complete: status and message
    std::optional<edits::SweepResult> sweep;  ///< the evaluation sweep, when the file has one
};

/// Reads `path` as one side, recognising the kind by content: the HDF5 signature (results or
/// sweep, read in the helper `reader`, empty = default), else a JSON document whose "format" is
/// tensorllm-results/1, tensorllm-sweep or tensorllm-project/1 (its checksum verified); a
/// directory stands for its results.json. Throws std::runtime_error naming `path` (and the
/// field) for a missing or unreadable file, an unknown kind or malformed content.
CompareSide load_compare_side(const std::string& path, const std::string& label, const util::Control& ctl = {},
                              const std::string& reader = {});

/// A side from the layers of a results document (results.json or a project's "results").
CompareSide side_from_results_json(const nlohmann::json& doc, const std::string& source, const std::string& label);

/// Whether two sides were computed from the same checkpoint.
enum class CheckpointVerdict {
    Same,       ///< both store the header fingerprint, it is equal, and so is the checkpoint path
    Different,  ///< fingerprints, model shapes or model types differ
    Unknown     ///< a side stores no fingerprint, or equal fingerprints (same layout) at different paths
};
const char* verdict_name(CheckpointVerdict v);  ///< "same", "different", "unknown"

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One layer of the comparison. Values of a side that lacks the layer are NaN (ranks 0).
struct CompareLayerRow {
    int layer = 0;
    bool in_a = false, in_b = false;  ///< complete in each side
    std::string status_a, status_b;   ///< "ok", "not_converged", "failed: ...", "absent"
    std::array<int, 3> ranks_a{0, 0, 0}, ranks_b{0, 0, 0};
    double error_a = kNaN, error_b = kNaN;  ///< relative error of the layer
    std::array<double, 4> type_error_a{kNaN, kNaN, kNaN, kNaN}, type_error_b{kNaN, kNaN, kNaN, kNaN};
    double ratio_a = kNaN, ratio_b = kNaN;          ///< compression ratio of the layer
    double delta_nll_a = kNaN, delta_nll_b = kNaN;  ///< loss change of the sweep point at these ranks
    double error_diff() const { return error_b - error_a; }
    double ratio_diff() const { return ratio_b - ratio_a; }
    double delta_nll_diff() const { return delta_nll_b - delta_nll_a; }
};

/// One head of a layer complete in both sides (NaN for a head index one side lacks).
struct CompareHeadRow {
    int layer = 0, head = 0;
    double error_a = kNaN, error_b = kNaN;
    std::array<double, 4> type_error_a{kNaN, kNaN, kNaN, kNaN}, type_error_b{kNaN, kNaN, kNaN, kNaN};
    double error_diff() const { return error_b - error_a; }
};

/// One sweep point, matched by (layer, method, label). Values of a side without it are NaN.
struct CompareSweepRow {
    int layer = 0;
    std::string label, method;
    bool in_a = false, in_b = false;  ///< present (and ran) in each side
    std::array<int, 3> ranks_a{0, 0, 0}, ranks_b{0, 0, 0};
    double weight_error_a = kNaN, weight_error_b = kNaN;
    double layer_ratio_a = kNaN, layer_ratio_b = kNaN;
    double delta_nll_a = kNaN, delta_nll_b = kNaN;
    double kl_mean_a = kNaN, kl_mean_b = kNaN;
    double top1_a = kNaN, top1_b = kNaN;
    double delta_acc_a = kNaN, delta_acc_b = kNaN;  ///< multiple-choice accuracy change, when measured
    double delta_nll_diff() const { return delta_nll_b - delta_nll_a; }
    double kl_mean_diff() const { return kl_mean_b - kl_mean_a; }
    double top1_diff() const { return top1_b - top1_a; }
    double delta_acc_diff() const { return delta_acc_b - delta_acc_a; }
};

/// The comparison of two sides.
struct Comparison {
    CompareSide a, b;
    CheckpointVerdict verdict = CheckpointVerdict::Unknown;
    std::string checkpoint_note;          ///< one sentence saying which checkpoints and why the verdict
    std::vector<CompareLayerRow> layers;  ///< every layer of either side, by index
    std::vector<CompareHeadRow> heads;    ///< layers in both sides, heads by index
    std::vector<CompareSweepRow> sweep;   ///< points of either sweep, by layer then A's order
    /// The unedited model's mean NLL of each sweep (NaN without a sweep).
    double baseline_nll_a = kNaN, baseline_nll_b = kNaN;
    std::vector<int> only_a() const;  ///< layers complete in A only
    std::vector<int> only_b() const;  ///< layers complete in B only
};

/// Matches `a` and `b` as described at the top. Throws std::invalid_argument when neither side
/// holds anything to compare (no layers and no sweep).
Comparison compare_results(CompareSide a, CompareSide b);

/// The per-layer table as text (the CLI's standard output): inputs, the checkpoint note, then
/// one row per layer and, when sweeps are present, one per sweep point.
std::string comparison_text(const Comparison& c);
/// One row per layer: layer, presence, both ranks, errors, ratios, loss changes and B - A.
std::string comparison_csv(const Comparison& c);
/// One row per layer x head.
std::string comparison_heads_csv(const Comparison& c);
/// One row per sweep point.
std::string comparison_sweep_csv(const Comparison& c);
/// Everything as JSON ("format": "tensorllm-compare/1"; NaN values are null), with the
/// document checksum of util/json_checksum.h.
nlohmann::ordered_json comparison_json(const Comparison& c);

/// Marker kind of a compare output directory (io::write_output_marker).
inline constexpr const char* kCompareKind = "compare";

}  // namespace tllm::exporting
