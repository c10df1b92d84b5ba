#pragma once
// Decomposition results as one self-describing HDF5 file (tensorllm decompose --h5 FILE),
// and the reader that brings them back without recomputing anything.
//
// The full schema is docs/hdf5-schema.md. In brief (format "tensorllm-results", version 1):
//   /                  attrs format, format_version, tool_version, created_utc, array_order
//   /model             attrs architecture, model_type, hidden_size (d), head_dim (dv),
//                      num_heads (h), num_kv_heads (n_kv), num_layers; datasets
//                      kv_head_of_head int32 (h), mapped_layers int32 (n)
//   /source            attrs path, total_bytes, header_sha256; datasets shard_files (str),
//                      shard_bytes uint64
//   /options           every jobs::JobOptions field (rank spec, method, init, iterations, ...)
//   /summary           attrs cancelled, failed, seconds; dataset layer_order int32
//   /layers/<L>        one group per layer in the job (L in decimal): status, message, ranks,
//                      layout (original tensor names, dtype), errors, parameter counts,
//                      timings, captured energy as attributes; datasets U1 (d, R1),
//                      U2 (dv, R2), U3 (4, R3), core (h, R3, R2, R1), trace, head_error,
//                      head_type_error (h, 4), head_type_sv (h, 4, dv) when computed, and
//                      group spectra/ (mode1..mode4) when computed.
// Array order: every dataset is C order (last index fastest), as HDF5 and numpy see it.
// Factor matrices have their mathematical dims (U1 is d x R1). The core is the column-major
// (R1, R2, R3, h) tensor G_all stored as is, so its HDF5 dims are reversed:
// core[i, r3, r2, r1] = G_all(r1, r2, r3, i), and head i's core G_i is core[i].
//
// Writing goes to a temporary file in the target directory, renamed over the target only
// when complete; a failure or cancel leaves no partial file and any previous file untouched.
// HDF5 headers stay out of this header (the library links HDF5 privately).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job_runner.h"
#include "model/model.h"
#include "tensor/tensor4.h"
#include "util/control.h"

namespace tllm::exporting {

/// Value of the root attribute `format` and the version this code writes and reads.
inline constexpr const char* kHdf5Format = "tensorllm-results";
/// Root attribute holding the SHA-256 (hex) of the whole file as written, computed with this
/// attribute's 64 value bytes set to kContentHashPlaceholder; read_results_hdf5 recomputes it
/// (a changed or damaged byte anywhere, attributes included, is detected). Files without it
/// (written before it existed) are read without the check.
inline constexpr const char* kContentHashAttribute = "content_sha256";
inline constexpr const char* kContentHashPlaceholder =
    "tensorllm-content-sha256-placeholder-0123456789abcdef0123456789a";
static_assert(std::char_traits<char>::length(kContentHashPlaceholder) == 64, "a SHA-256 in hex is 64 characters");
inline constexpr int kHdf5FormatVersion = 2;  // 2: fixed-length strings only

/// Bounds a results file may declare, enforced by read_results_hdf5 and by the results stream
/// (results/results_wire.h): far above any real model, far below overflow.
inline constexpr std::int64_t kMaxHidden = 1 << 20, kMaxHeadDim = 1 << 16, kMaxHeads = 1 << 16, kMaxLayer = 1 << 20;
/// A compressed dataset may hold at most this many times the file's size (deflate's limit is
/// about 1032:1).
inline constexpr std::uint64_t kMaxCompressionRatio = 1100;

/// Which checkpoint a result was computed from.
struct SourceIdentity {
    std::string path;               ///< absolute path of the checkpoint (file or directory)
    std::uint64_t total_bytes = 0;  ///< sum of the shard file sizes
    /// SHA-256 (hex) of the safetensors headers (bytes [0, 8 + N) of each shard, in the
    /// checkpoint's shard order, concatenated). Cheap and changes when any tensor's name,
    /// dtype, shape or offset changes.
    std::string header_sha256;
    std::vector<std::string> shard_files;    ///< file names (no directory), in shard order
    std::vector<std::uint64_t> shard_bytes;  ///< file size of each shard
};

/// Where one layer's attention lives in the original checkpoint.
struct LayerLayout {
    int layer = 0;
    std::array<std::string, 4> part_tensors;  ///< tensor holding Q, K, V, O (a fused qkv repeats)
    std::vector<std::string> tensors;         ///< distinct tensors of the layer (2 to 4)
    std::string dtype;                        ///< safetensors dtype of the layer's weights ("BF16")
};

/// Everything about a run except the per-layer numbers: model layout, source, options.
struct ResultsMetadata {
    int format_version = kHdf5FormatVersion;
    std::string tool_version;  ///< TENSORLLM_VERSION of the writer
    std::string created_utc;   ///< "2025-01-31T12:00:00Z"; empty when unknown
    std::string architecture;  ///< architecture layout name ("llama")
    std::string model_type;    ///< config.json model_type
    model::AttentionShape shape;
    int num_layers = 0;                ///< layers in config.json
    std::vector<int> kv_head_of_head;  ///< [h]: kv head used by each query head (i / (h / n_kv))
    std::vector<int> mapped_layers;    ///< every layer index the model maps
    std::vector<LayerLayout> layouts;  ///< one per job layer, in job order
    SourceIdentity source;
    jobs::JobOptions options;
};

/// A results file in memory: the metadata and the same JobSummary the run produced.
struct ResultsFile {
    std::string path;
    ResultsMetadata meta;
    jobs::JobSummary summary;
    /// The result of `layer`, or nullptr.
    const jobs::LayerResult* find(int layer) const;
};

/// Fingerprints the checkpoint (reads only the headers, already mapped). Cost: SHA-256 of
/// the header bytes (~1 ms per MB).
SourceIdentity source_identity(const io::Checkpoint& c);

/// The metadata of a run of `opt` on `m`, layouts for `layers` (job order; empty = none).
/// Throws std::out_of_range for a layer index the model does not map.
ResultsMetadata results_metadata(const model::Model& m, const jobs::JobOptions& opt, const std::vector<int>& layers);

/// Throws std::runtime_error naming both paths and hashes when `m`'s checkpoint headers differ
/// from the ones the results were computed from (a different or modified checkpoint).
void verify_source(const ResultsMetadata& meta, const model::Model& m);

/// Options of write_results_hdf5.
struct Hdf5WriteOptions {
    /// Also store the factors and cores (needed to reconstruct weights; false keeps only the
    /// measures, for a small summary file).
    bool factors = true;
    /// Refuse to start when the destination filesystem has less than the estimated size plus
    /// this margin free (bytes).
    std::uint64_t free_space_margin = 16ull << 10;
    /// Nothing to check today; present for the house rule (options validate themselves).
    void validate() const {}
};

/// Writes `s` (with `m`'s layout and `opt`) to `path` as described above and in
/// docs/hdf5-schema.md. Checks that every complete layer's factors and core match its ranks
/// and the model shape (std::invalid_argument naming the layer and array), checks free space
/// (std::runtime_error with the needed and available bytes), assembles the file in memory
/// and writes it to a temporary file "<path>.tmp-XXXXXX" beside `path`, synced and renamed
/// over `path` (io::AtomicFile; disk errors are std::runtime_error naming `path`). Cancel is
/// checked between layers and between 64 MiB blocks (throws util::Cancelled). On any failure
/// no file is left and a previous `path` is untouched.
/// Cost: the bytes of the factors, cores and tables; memory: about twice the file's size
/// while writing (HDF5's in-memory image and its copy).
void write_results_hdf5(const std::string& path, const model::Model& m, const jobs::JobOptions& opt,
                        const jobs::JobSummary& s, const Hdf5WriteOptions& wopt = {}, const util::Control& ctl = {});

/// Same, from metadata already built (e.g. a file read back and written again).
void write_results_hdf5(const std::string& path, const ResultsMetadata& meta, const jobs::JobSummary& s,
                        const Hdf5WriteOptions& wopt = {}, const util::Control& ctl = {});

/// Options of read_results_hdf5.
struct Hdf5ReadOptions {
    /// Load U1, U2, U3 and the core of each layer (false: measures only, much less memory).
    bool factors = true;
    /// Only these layers (empty = all). Throws std::runtime_error when one is not in the file.
    std::vector<int> layers;
    void validate() const {}
};

/// The size of the results file at `path`; throws std::runtime_error "<path>: no such file",
/// "not a regular file" or "cannot read its size: <reason>". read_results_hdf5's first check.
std::uint64_t results_file_size(const std::string& path);

/// Reads a file written by write_results_hdf5. Validates everything before use: format and
/// version, model geometry (positive, bounded, heads divisible by kv heads), kv mapping,
/// ranks within (d, dv, 4), every dataset's type class, rank and dims against the geometry
/// and ranks, sizes bounded by the file size, known status names. Throws std::runtime_error
/// naming the file, the object path (e.g. "/layers/3/U1") and the offending value.
ResultsFile read_results_hdf5(const std::string& path, const Hdf5ReadOptions& ropt = {});

/// W_hat (d x dv x 4 x h) of one layer of a results file in memory, by tucker::reconstruct.
/// Throws std::runtime_error when the layer is absent, incomplete, or read without factors.
tensor::Tensor4 reconstruct_layer(const ResultsFile& f, int layer, const util::Control& ctl = {});

/// Reads only `layer` from the file at `path` and reconstructs its W_hat. Bitwise equal to
/// tucker::reconstruct of the in-memory result that was written.
tensor::Tensor4 reconstruct_layer_hdf5(const std::string& path, int layer, const util::Control& ctl = {});

}  // namespace tllm::exporting
