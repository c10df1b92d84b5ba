// Writing results files (results/hdf5_results.h; schema in docs/hdf5-schema.md).
#include <algorithm>
#include <cstring>
#include <atomic>
#include <filesystem>
#include <set>
#include <span>
#include <stdexcept>

#include <Eigen/Dense>

#include "results/hdf5_detail.h"
#include "results/hdf5_results.h"
#include "io/atomic_file.h"
#include "io/output_guard.h"
#include "util/resources.h"
#include "util/sha256.h"

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

using h5::Handle;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const char* kArrayOrder =
    "C order (last index fastest). U1 (d, R1), U2 (dv, R2), U3 (4, R3) have their mathematical dims. "
    "core has dims (h, R3, R2, R1): the column-major (R1, R2, R3, h) core G_all stored unchanged, so "
    "core[i, r3, r2, r1] = G_all(r1, r2, r3, i) and head i's core is core[i]. head_type_error is (h, 4), "
    "head_type_sv is (h, 4, dv); the type axis is Q, K, V, O.";

const char* rank_kind_name(tucker::RankSpec::Kind k) {
    switch (k) {
        case tucker::RankSpec::Kind::Fixed: return "fixed";
        case tucker::RankSpec::Kind::Tolerance: return "tolerance";
        case tucker::RankSpec::Kind::Ratio: return "ratio";
        case tucker::RankSpec::Kind::Params: return "params";
    }
    return "?";
}

std::string dims(std::int64_t a, std::int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

// The summary must describe the metadata's model: one layout per layer, and every complete
// layer's arrays sized by its ranks and the shape (else the file would not read back).
void check_summary(const ResultsMetadata& meta, const jobs::JobSummary& s) {
    const auto& S = meta.shape;
    if (S.d <= 0 || S.dv <= 0 || S.h <= 0 || S.n_kv <= 0 || S.h % S.n_kv != 0)
        throw std::invalid_argument("results: invalid attention shape d=" + std::to_string(S.d) +
                                    ", dv=" + std::to_string(S.dv) + ", h=" + std::to_string(S.h) +
                                    ", n_kv=" + std::to_string(S.n_kv));
    if (meta.layouts.size() != s.layers.size())
        throw std::invalid_argument("results: " + std::to_string(meta.layouts.size()) + " layer layouts for " +
                                    std::to_string(s.layers.size()) + " layer results");
    std::set<int> seen;
    for (std::size_t k = 0; k < s.layers.size(); ++k) {
        const auto& r = s.layers[k];
        const std::string L = "layer " + std::to_string(r.layer);
        if (meta.layouts[k].layer != r.layer)
            throw std::invalid_argument("results: layout " + std::to_string(k) + " is for layer " +
                                        std::to_string(meta.layouts[k].layer) + ", result for " +
                                        std::to_string(r.layer));
        if (!seen.insert(r.layer).second) throw std::invalid_argument("results: " + L + " appears twice");
        if (!r.complete()) continue;
        const auto& R = r.ranks;
        const std::array<int, 3> lim{S.d, S.dv, 4};
        for (int n = 0; n < 3; ++n)
            if (R[std::size_t(n)] < 1 || R[std::size_t(n)] > lim[std::size_t(n)])
                throw std::invalid_argument("results: " + L + ": ranks[" + std::to_string(n) + "] must be in 1.." +
                                            std::to_string(lim[std::size_t(n)]) + ", got " +
                                            std::to_string(R[std::size_t(n)]));
        const auto& T = r.tucker;
        for (int n = 0; n < 3; ++n) {
            const auto& U = T.factors[std::size_t(n)];
            if (U.rows() != lim[std::size_t(n)] || U.cols() != R[std::size_t(n)])
                throw std::invalid_argument("results: " + L + ": U" + std::to_string(n + 1) + " is " +
                                            dims(U.rows(), U.cols()) + ", expected " +
                                            dims(lim[std::size_t(n)], R[std::size_t(n)]));
        }
        const std::array<std::int64_t, 4> cd{R[0], R[1], R[2], S.h};
        if (T.core.dim != cd || T.core.data.size() != std::size_t(T.core.size()))
            throw std::invalid_argument("results: " + L + ": core dims do not match (R1, R2, R3, h) = (" +
                                        std::to_string(R[0]) + ", " + std::to_string(R[1]) + ", " +
                                        std::to_string(R[2]) + ", " + std::to_string(S.h) + ")");
        const auto& M = r.measures;
        if (M.head_type_error.size() != std::size_t(S.h) || M.head_error.size() != std::size_t(S.h))
            throw std::invalid_argument("results: " + L + ": per-head errors have " +
                                        std::to_string(M.head_type_error.size()) + " heads, expected " +
                                        std::to_string(S.h));
        if (!M.head_type_sv.empty()) {
            if (M.head_type_sv.size() != std::size_t(S.h))
                throw std::invalid_argument("results: " + L + ": head_type_sv has " +
                                            std::to_string(M.head_type_sv.size()) + " heads, expected " +
                                            std::to_string(S.h));
            for (const auto& head : M.head_type_sv)
                for (const auto& sv : head)
                    if (sv.size() != std::size_t(S.dv))
                        throw std::invalid_argument("results: " + L + ": a head_type_sv entry has " +
                                                    std::to_string(sv.size()) +
                                                    " values, expected head_dim = " + std::to_string(S.dv));
        }
        if (r.spectra) {
            const std::array<int, 4> len{S.d, S.dv, 4, S.h};
            for (int n = 0; n < 4; ++n)
                if (r.spectra->singular_values[std::size_t(n)].size() > std::size_t(len[std::size_t(n)]))
                    throw std::invalid_argument("results: " + L + ": mode-" + std::to_string(n + 1) +
                                                " spectrum has more values than the mode's size " +
                                                std::to_string(len[std::size_t(n)]));
        }
    }
}

std::uint64_t estimate_bytes(const ResultsMetadata& meta, const jobs::JobSummary& s, bool factors) {
    const auto& S = meta.shape;
    std::uint64_t n = 256 << 10;
    for (const auto& r : s.layers) {
        n += 16 << 10;
        if (!r.complete()) continue;
        const auto& R = r.ranks;
        if (factors)
            n += 4 * (std::uint64_t(S.d) * R[0] + std::uint64_t(S.dv) * R[1] + 4ull * R[2] +
                      std::uint64_t(S.h) * R[0] * R[1] * R[2]);
        n += 8 * (r.tucker.trace.size() + 5ull * S.h + 4ull * S.h * S.dv + S.d + S.dv + 4 + S.h);
    }
    return n;
}

void write_options(const h5::Writer& W, hid_t root, const jobs::JobOptions& o) {
    Handle g = W.group(root, "/", "options");
    const hid_t id = g.get();
    const std::string obj = "/options";
    W.attr(id, obj, "rank_kind", rank_kind_name(o.ranks.kind));
    W.attr(id, obj, "rank_spec", o.ranks.describe());
    W.attr(id, obj, "ranks", std::vector<std::int64_t>(o.ranks.ranks.begin(), o.ranks.ranks.end()));
    W.attr(id, obj, "rank_tolerance", o.ranks.tolerance);
    W.attr(id, obj, "target_ratio", o.ranks.ratio);
    W.attr_u64(id, obj, "target_params", o.ranks.params);
    W.attr(id, obj, "method", tucker::method_name(o.tucker.method));
    W.attr(id, obj, "init", tucker::method_name(o.tucker.init));
    W.attr(id, obj, "max_iterations", o.tucker.max_iterations);
    W.attr(id, obj, "hooi_tolerance", o.tucker.tolerance);
    W.attr(id, obj, "threads", o.threads);
    W.attr(id, obj, "spectra", o.spectra);
    W.attr(id, obj, "slice_spectra", o.slice_spectra);
    W.attr(id, obj, "balance_slices", o.balance_slices);
    W.attr(id, obj, "allow_nonfinite", o.allow_nonfinite);
    W.attr(id, obj, "background_priority", o.background_priority);
    std::vector<std::int64_t> per;
    for (const auto& [l, r] : o.ranks.per_layer) per.insert(per.end(), {l, r[0], r[1], r[2]});
    W.dataset(id, obj, "per_layer_ranks", {hsize_t(o.ranks.per_layer.size()), 4}, H5T_NATIVE_INT64, H5T_STD_I64LE,
              per.data());
    W.dataset(id, obj, "mode_order", std::vector<std::int64_t>(o.tucker.mode_order.begin(), o.tucker.mode_order.end()));
    W.dataset(id, obj, "layers", std::vector<std::int64_t>(o.layers.begin(), o.layers.end()));
}

void write_layer(const h5::Writer& W, hid_t layers, const ResultsMetadata& meta, const LayerLayout& lay,
                 const jobs::LayerResult& r, bool factors) {
    const auto& S = meta.shape;
    const std::string name = std::to_string(r.layer), obj = "/layers/" + name;
    Handle g = W.group(layers, "/layers", name);
    const hid_t id = g.get();
    W.attr(id, obj, "layer", r.layer);
    W.attr(id, obj, "status", tucker::status_name(r.status));
    W.attr(id, obj, "message", r.message);
    if (!r.warnings.empty()) {
        std::string w;
        for (const auto& x : r.warnings) w += (w.empty() ? "" : "\n") + x;
        W.attr(id, obj, "warnings", w);
    }
    W.attr(id, obj, "ranks", std::vector<std::int64_t>(r.ranks.begin(), r.ranks.end()));
    static const char* part_attr[4] = {"tensor_Q", "tensor_K", "tensor_V", "tensor_O"};
    for (int t = 0; t < 4; ++t) W.attr(id, obj, part_attr[t], lay.part_tensors[std::size_t(t)]);
    W.attr(id, obj, "weight_dtype", lay.dtype);
    W.strings(id, obj, "tensors", lay.tensors);
    W.attr(id, obj, "seconds_load", r.seconds_load);
    W.attr(id, obj, "seconds_spectra", r.seconds_spectra);
    W.attr(id, obj, "seconds_decompose", r.seconds_decompose);
    W.attr(id, obj, "seconds_measures", r.seconds_measures);
    W.attr(id, obj, "seconds_total", r.seconds_total);
    if (!r.complete()) return;

    const auto& T = r.tucker;
    W.attr(id, obj, "tucker_status", tucker::status_name(T.status));
    W.attr(id, obj, "iterations", T.iterations);
    W.attr(id, obj, "norm_sq", T.norm_sq);
    W.attr(id, obj, "core_norm_sq", T.core_norm_sq);
    W.attr(id, obj, "tucker_rel_error", T.rel_error);
    W.attr(id, obj, "tucker_seconds", T.seconds);
    W.dataset(id, obj, "trace", T.trace);

    const auto& M = r.measures;
    W.attr(id, obj, "rel_error", M.rel_error);
    W.attr(id, obj, "type_error", std::vector<double>(M.type_error.begin(), M.type_error.end()));
    W.attr(id, obj, "captured_energy", std::vector<double>(M.captured_energy.begin(), M.captured_energy.end()));
    W.attr_u64(id, obj, "original_params", M.original_params);
    W.attr_u64(id, obj, "compressed_params", M.compressed_params);
    W.attr(id, obj, "compression_ratio", M.ratio);
    W.attr(id, obj, "head_original_params", M.head_original_params);
    W.attr(id, obj, "head_compressed_params", M.head_compressed_params);
    W.attr(id, obj, "head_compression_ratio", M.head_ratio);
    W.dataset(id, obj, "head_error", M.head_error);
    std::vector<double> hte;
    hte.reserve(4 * M.head_type_error.size());
    for (const auto& a : M.head_type_error) hte.insert(hte.end(), a.begin(), a.end());
    W.dataset(id, obj, "head_type_error", {hsize_t(S.h), 4}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, hte.data());
    if (!M.head_type_sv.empty()) {
        std::vector<double> sv;
        sv.reserve(std::size_t(S.h) * 4 * std::size_t(S.dv));
        for (const auto& head : M.head_type_sv)
            for (const auto& v : head) sv.insert(sv.end(), v.begin(), v.end());
        W.dataset(id, obj, "head_type_sv", {hsize_t(S.h), 4, hsize_t(S.dv)}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                  sv.data());
    }
    if (r.spectra) {
        Handle sp = W.group(id, obj, "spectra");
        const std::string so = obj + "/spectra";
        W.attr(sp.get(), so, "norm_sq", r.spectra->norm_sq);
        for (int n = 0; n < 4; ++n)
            W.dataset(sp.get(), so, "mode" + std::to_string(n + 1), r.spectra->singular_values[std::size_t(n)]);
    }
    if (factors) {
        for (int n = 0; n < 3; ++n) {
            const RowMajorF U = T.factors[std::size_t(n)];
            W.dataset(id, obj, "U" + std::to_string(n + 1), {hsize_t(U.rows()), hsize_t(U.cols())}, H5T_NATIVE_FLOAT,
                      H5T_IEEE_F32LE, U.data());
        }
        const auto& c = T.core.dim;
        W.dataset(id, obj, "core", {hsize_t(c[3]), hsize_t(c[2]), hsize_t(c[1]), hsize_t(c[0])}, H5T_NATIVE_FLOAT,
                  H5T_IEEE_F32LE, T.core.data.data());
    }
}

// Everything inside the file; cancel is checked between layers.
void write_content(const h5::Writer& W, hid_t root, const ResultsMetadata& meta, const jobs::JobSummary& s,
                   const Hdf5WriteOptions& wopt, const util::Control& ctl) {
    W.attr(root, "/", "format", kHdf5Format);
    W.attr(root, "/", "format_version", kHdf5FormatVersion);
    W.attr(root, "/", kContentHashAttribute, std::string(kContentHashPlaceholder));
    W.attr(root, "/", "tool_version", meta.tool_version);
    W.attr(root, "/", "created_utc", meta.created_utc);
    W.attr(root, "/", "array_order", kArrayOrder);
    W.attr(root, "/", "has_factors", wopt.factors);
    {
        Handle g = W.group(root, "/", "model");
        const auto& S = meta.shape;
        W.attr(g.get(), "/model", "architecture", meta.architecture);
        W.attr(g.get(), "/model", "model_type", meta.model_type);
        W.attr(g.get(), "/model", "hidden_size", S.d);
        W.attr(g.get(), "/model", "head_dim", S.dv);
        W.attr(g.get(), "/model", "num_heads", S.h);
        W.attr(g.get(), "/model", "num_kv_heads", S.n_kv);
        W.attr(g.get(), "/model", "num_layers", meta.num_layers);
        W.dataset(g.get(), "/model", "kv_head_of_head",
                  std::vector<std::int64_t>(meta.kv_head_of_head.begin(), meta.kv_head_of_head.end()));
        W.dataset(g.get(), "/model", "mapped_layers",
                  std::vector<std::int64_t>(meta.mapped_layers.begin(), meta.mapped_layers.end()));
    }
    {
        Handle g = W.group(root, "/", "source");
        W.attr(g.get(), "/source", "path", meta.source.path);
        W.attr_u64(g.get(), "/source", "total_bytes", meta.source.total_bytes);
        W.attr(g.get(), "/source", "header_sha256", meta.source.header_sha256);
        W.strings(g.get(), "/source", "shard_files", meta.source.shard_files);
        W.dataset_u64(g.get(), "/source", "shard_bytes", meta.source.shard_bytes);
    }
    write_options(W, root, meta.options);
    {
        Handle g = W.group(root, "/", "summary");
        W.attr(g.get(), "/summary", "cancelled", s.cancelled);
        W.attr(g.get(), "/summary", "failed", s.failed);
        W.attr(g.get(), "/summary", "seconds", s.seconds);
        std::vector<std::int64_t> order;
        for (const auto& r : s.layers) order.push_back(r.layer);
        W.dataset(g.get(), "/summary", "layer_order", order);
    }
    Handle layers = W.group(root, "/", "layers");
    for (std::size_t k = 0; k < s.layers.size(); ++k) {
        ctl.check();
        write_layer(W, layers.get(), meta, meta.layouts[k], s.layers[k], wopt.factors);
        ctl.report(float(k + 1) / float(s.layers.size() + 1));
    }
    ctl.check();
}

}  // namespace

void write_results_hdf5(const std::string& path, const model::Model& m, const jobs::JobOptions& opt,
                        const jobs::JobSummary& s, const Hdf5WriteOptions& wopt, const util::Control& ctl) {
    io::check_output_file(m.checkpoint().sources(), "HDF5 results file", path);
    std::vector<int> order;
    for (const auto& r : s.layers) order.push_back(r.layer);
    write_results_hdf5(path, results_metadata(m, opt, order), s, wopt, ctl);
}

void write_results_hdf5(const std::string& path, const ResultsMetadata& meta, const jobs::JobSummary& s,
                        const Hdf5WriteOptions& wopt, const util::Control& ctl) {
    wopt.validate();
    check_summary(meta, s);
    if (path.empty()) throw io::UnsafeOutput("HDF5 results file: empty path");
    if (!meta.source.path.empty()) {
        // The source as recorded (report --from has no model open): its files and directory.
        io::SourceSet src;
        std::error_code dec;
        if (fs::is_directory(meta.source.path, dec))
            src.add_directory(meta.source.path);
        else
            src.add_file(meta.source.path);
        io::check_output_file(src, "HDF5 results file", path);
    }
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw std::runtime_error(path + ": is a directory, not a file name");
    io::check_writable_beside(path);  // before the space: a read-only disk is not a full one

    // The file is assembled in memory (HDF5's core driver, no backing store) and written by
    // io::AtomicFile (temporary file + fsync + rename). Why: when a disk write fails inside
    // HDF5 1.10 (disk full, I/O error), the library keeps retrying the flush on every close;
    // the failed H5Fclose leaves the file half-closed in the library, which then crashes in
    // its exit handler and keeps the partial file's descriptor (and disk blocks). In memory,
    // HDF5 never touches the disk, and every disk error surfaces from one well-tested place.
    // Cost: about twice the file's size in memory while writing (the image and its copy).
    // The temporary file is created first, so an unwritable directory fails at once.
    io::AtomicFile out(path);
    const std::uint64_t increment =
        std::clamp<std::uint64_t>(estimate_bytes(meta, s, wopt.factors), 1ull << 20, 256ull << 20);
    h5::write_file_image(
        out, path, increment, wopt.free_space_margin,
        [&](const h5::Writer& W, hid_t root) { write_content(W, root, meta, s, wopt, ctl); }, ctl);
    out.commit();
    ctl.report(1.0f);
}

}  // namespace tllm::exporting
