// Reading results files back (results/hdf5_results.h; schema in docs/hdf5-schema.md).
// Everything is validated before it is used; see read_results_hdf5's contract.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include <Eigen/Dense>

#include "results/hdf5_detail.h"
#include "results/hdf5_results.h"
#include "io/dtype.h"
#include "tucker/tucker.h"

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

using h5::Handle;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

tucker::Status parse_status(const h5::Reader& R, const std::string& obj, const std::string& name,
                            const std::string& s) {
    for (auto st :
         {tucker::Status::Ok, tucker::Status::NotConverged, tucker::Status::Cancelled, tucker::Status::Failed})
        if (s == tucker::status_name(st)) return st;
    R.bad(obj + " attribute '" + name + "'",
          "unknown status '" + s + "' (expected ok, not_converged, cancelled or failed)");
}

tucker::Method parse_method(const h5::Reader& R, const std::string& obj, const std::string& name,
                            const std::string& s) {
    for (auto m : {tucker::Method::HOSVD, tucker::Method::STHOSVD, tucker::Method::HOOI})
        if (s == tucker::method_name(m)) return m;
    R.bad(obj + " attribute '" + name + "'", "unknown method '" + s + "' (expected hosvd, sthosvd or hooi)");
}

int to_int(std::int64_t v) { return static_cast<int>(v); }

jobs::JobOptions read_options(const h5::Reader& R, hid_t root) {
    const std::string obj = "/options";
    Handle g = R.group(root, "/", "options");
    const hid_t id = g.get();
    jobs::JobOptions o;
    const std::string kind = R.attr_str(id, obj, "rank_kind", 64);
    using K = tucker::RankSpec::Kind;
    if (kind == "fixed")
        o.ranks.kind = K::Fixed;
    else if (kind == "tolerance")
        o.ranks.kind = K::Tolerance;
    else if (kind == "ratio")
        o.ranks.kind = K::Ratio;
    else if (kind == "params")
        o.ranks.kind = K::Params;
    else
        R.bad(obj + " attribute 'rank_kind'",
              "unknown value '" + kind + "' (expected fixed, tolerance, ratio or params)");
    const auto ranks = R.attr_ints(id, obj, "ranks", 3);
    for (int n = 0; n < 3; ++n) {
        if (ranks[std::size_t(n)] < 1 || ranks[std::size_t(n)] > kMaxHidden)
            R.bad(obj + " attribute 'ranks'", "entry " + std::to_string(n) + " = " +
                                                  std::to_string(ranks[std::size_t(n)]) + " outside [1, " +
                                                  std::to_string(kMaxHidden) + "]");
        o.ranks.ranks[std::size_t(n)] = to_int(ranks[std::size_t(n)]);
    }
    o.ranks.tolerance = R.attr_f64(id, obj, "rank_tolerance");
    o.ranks.ratio = R.attr_f64(id, obj, "target_ratio");
    o.ranks.params = R.attr_u64(id, obj, "target_params");
    std::vector<std::int64_t> per;
    const auto pd = R.read(id, obj, "per_layer_ranks", {-1, 4}, per);
    for (std::size_t k = 0; k < pd[0]; ++k) {
        const std::int64_t l = per[4 * k];
        if (l < 0 || l >= kMaxLayer)
            R.bad(obj + "/per_layer_ranks",
                  "row " + std::to_string(k) + ": layer " + std::to_string(l) + " out of range");
        std::array<int, 3> r{};
        for (int n = 0; n < 3; ++n) {
            const std::int64_t v = per[4 * k + 1 + std::size_t(n)];
            if (v < 1 || v > kMaxHidden)
                R.bad(obj + "/per_layer_ranks",
                      "row " + std::to_string(k) + ": rank " + std::to_string(v) + " out of range");
            r[std::size_t(n)] = to_int(v);
        }
        o.ranks.per_layer[to_int(l)] = r;
    }
    o.tucker.method = parse_method(R, obj, "method", R.attr_str(id, obj, "method", 64));
    o.tucker.init = parse_method(R, obj, "init", R.attr_str(id, obj, "init", 64));
    o.tucker.max_iterations = to_int(R.attr_int(id, obj, "max_iterations", 0, 1 << 30));
    o.tucker.tolerance = R.attr_f64(id, obj, "hooi_tolerance");
    o.threads = to_int(R.attr_int(id, obj, "threads", 0, 1 << 20));
    o.spectra = R.attr_int(id, obj, "spectra", 0, 1) != 0;
    o.slice_spectra = R.attr_int(id, obj, "slice_spectra", 0, 1) != 0;
    o.allow_nonfinite = R.attr_int(id, obj, "allow_nonfinite", 0, 1) != 0;
    // Optional: scheduling only, never changes a result.
    if (R.has_attr(id, "balance_slices")) o.balance_slices = R.attr_int(id, obj, "balance_slices", 0, 1) != 0;
    if (R.has_attr(id, "background_priority"))
        o.background_priority = R.attr_int(id, obj, "background_priority", 0, 1) != 0;
    std::vector<std::int64_t> mo, layers;
    R.read(id, obj, "mode_order", {-1}, mo);
    if (mo.size() > 3) R.bad(obj + "/mode_order", "has " + std::to_string(mo.size()) + " entries, at most 3");
    for (auto v : mo) {
        if (v < 0 || v > 2) R.bad(obj + "/mode_order", "entry " + std::to_string(v) + " outside [0, 2]");
        o.tucker.mode_order.push_back(to_int(v));
    }
    R.read(id, obj, "layers", {-1}, layers);
    for (auto v : layers) {
        if (v < 0 || v >= kMaxLayer) R.bad(obj + "/layers", "layer " + std::to_string(v) + " out of range");
        o.layers.push_back(to_int(v));
    }
    try {
        o.ranks.validate();
    } catch (const std::invalid_argument& e) {
        R.bad(obj, std::string("invalid rank options: ") + e.what());
    }
    return o;
}

void read_layer(const h5::Reader& R, hid_t layers, int L, const ResultsMetadata& meta, bool factors,
                jobs::LayerResult& r, LayerLayout& lay) {
    const auto& S = meta.shape;
    const std::string name = std::to_string(L), obj = "/layers/" + name;
    Handle g = R.group(layers, "/layers", name);
    const hid_t id = g.get();
    r.layer = L;
    if (R.attr_int(id, obj, "layer") != L)
        R.bad(obj + " attribute 'layer'",
              "value " + std::to_string(R.attr_int(id, obj, "layer")) + " differs from the group name " + name);
    r.status = parse_status(R, obj, "status", R.attr_str(id, obj, "status", 64));
    r.message = R.attr_str(id, obj, "message");
    if (R.has_attr(id, "warnings")) {
        const std::string w = R.attr_str(id, obj, "warnings", 1u << 16);
        for (std::size_t a = 0; a <= w.size();) {
            std::size_t b = w.find('\n', a);
            if (b == std::string::npos) b = w.size();
            if (b > a) r.warnings.push_back(w.substr(a, b - a));
            a = b + 1;
        }
    }
    const auto ranks = R.attr_ints(id, obj, "ranks", 3);
    const std::array<std::int64_t, 3> lim{S.d, S.dv, 4};
    for (int n = 0; n < 3; ++n) {
        const std::int64_t v = ranks[std::size_t(n)];
        const std::int64_t lo = r.complete() ? 1 : 0;
        if (v < lo || v > lim[std::size_t(n)])
            R.bad(obj + " attribute 'ranks'", "R" + std::to_string(n + 1) + " = " + std::to_string(v) + " outside [" +
                                                  std::to_string(lo) + ", " + std::to_string(lim[std::size_t(n)]) +
                                                  "]");
        r.ranks[std::size_t(n)] = to_int(v);
    }
    lay.layer = L;
    static const char* part_attr[4] = {"tensor_Q", "tensor_K", "tensor_V", "tensor_O"};
    for (int t = 0; t < 4; ++t) lay.part_tensors[std::size_t(t)] = R.attr_str(id, obj, part_attr[t], 1 << 16);
    lay.dtype = R.attr_str(id, obj, "weight_dtype", 16);
    if (!io::parse_dtype(lay.dtype)) R.bad(obj + " attribute 'weight_dtype'", "unknown dtype '" + lay.dtype + "'");
    lay.tensors = R.strings(id, obj, "tensors", 8);
    r.seconds_load = R.attr_f64(id, obj, "seconds_load");
    r.seconds_spectra = R.attr_f64(id, obj, "seconds_spectra");
    r.seconds_decompose = R.attr_f64(id, obj, "seconds_decompose");
    r.seconds_measures = R.attr_f64(id, obj, "seconds_measures");
    r.seconds_total = R.attr_f64(id, obj, "seconds_total");
    if (!r.complete()) return;

    auto& T = r.tucker;
    T.ranks = r.ranks;
    T.status = parse_status(R, obj, "tucker_status", R.attr_str(id, obj, "tucker_status", 64));
    T.iterations = to_int(R.attr_int(id, obj, "iterations", 0, 1 << 30));
    T.norm_sq = R.attr_f64(id, obj, "norm_sq");
    T.core_norm_sq = R.attr_f64(id, obj, "core_norm_sq");
    T.rel_error = R.attr_f64(id, obj, "tucker_rel_error");
    T.seconds = R.attr_f64(id, obj, "tucker_seconds");
    R.read(id, obj, "trace", {-1}, T.trace);

    auto& M = r.measures;
    M.rel_error = R.attr_f64(id, obj, "rel_error");
    const auto te = R.attr_f64s(id, obj, "type_error", 4);
    std::copy(te.begin(), te.end(), M.type_error.begin());
    const auto ce = R.attr_f64s(id, obj, "captured_energy", 3);
    std::copy(ce.begin(), ce.end(), M.captured_energy.begin());
    M.original_params = R.attr_u64(id, obj, "original_params");
    M.compressed_params = R.attr_u64(id, obj, "compressed_params");
    M.ratio = R.attr_f64(id, obj, "compression_ratio");
    M.head_original_params = R.attr_f64(id, obj, "head_original_params");
    M.head_compressed_params = R.attr_f64(id, obj, "head_compressed_params");
    M.head_ratio = R.attr_f64(id, obj, "head_compression_ratio");
    R.read(id, obj, "head_error", {S.h}, M.head_error);
    std::vector<double> buf;
    R.read(id, obj, "head_type_error", {S.h, 4}, buf);
    M.head_type_error.resize(std::size_t(S.h));
    for (std::size_t i = 0; i < M.head_type_error.size(); ++i)
        std::copy_n(buf.begin() + std::ptrdiff_t(4 * i), 4, M.head_type_error[i].begin());
    if (R.has(id, "head_type_sv")) {
        R.read(id, obj, "head_type_sv", {S.h, 4, S.dv}, buf);
        M.head_type_sv.resize(std::size_t(S.h));
        const std::size_t dv = std::size_t(S.dv);
        for (std::size_t i = 0; i < M.head_type_sv.size(); ++i)
            for (std::size_t t = 0; t < 4; ++t) {
                const auto b = buf.begin() + std::ptrdiff_t((4 * i + t) * dv);
                M.head_type_sv[i][t].assign(b, b + std::ptrdiff_t(dv));
            }
    }
    if (R.has(id, "spectra")) {
        Handle sp = R.group(id, obj, "spectra");
        const std::string so = obj + "/spectra";
        analysis::ModeSpectra ms;
        ms.norm_sq = R.attr_f64(sp.get(), so, "norm_sq");
        const std::array<std::int64_t, 4> len{S.d, S.dv, 4, S.h};
        for (int n = 0; n < 4; ++n) {
            const std::string mn = "mode" + std::to_string(n + 1);
            auto& sv = ms.singular_values[std::size_t(n)];
            R.read(sp.get(), so, mn, {-1}, sv);
            if (sv.size() > std::size_t(len[std::size_t(n)]))
                R.bad(so + "/" + mn, "has " + std::to_string(sv.size()) + " values, more than the mode size " +
                                         std::to_string(len[std::size_t(n)]));
        }
        r.spectra = std::move(ms);
    }
    if (!factors) return;
    std::vector<float> f;
    for (int n = 0; n < 3; ++n) {
        const std::string un = "U" + std::to_string(n + 1);
        R.read(id, obj, un, {lim[std::size_t(n)], r.ranks[std::size_t(n)]}, f);
        T.factors[std::size_t(n)] = Eigen::Map<const RowMajorF>(f.data(), lim[std::size_t(n)], r.ranks[std::size_t(n)]);
    }
    R.read(id, obj, "core", {S.h, r.ranks[2], r.ranks[1], r.ranks[0]}, f);
    T.core.dim = {r.ranks[0], r.ranks[1], r.ranks[2], S.h};
    T.core.data.assign(f.begin(), f.end());
}

}  // namespace

std::uint64_t results_file_size(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw std::runtime_error(path + ": no such file");
    if (!fs::is_regular_file(path, ec)) throw std::runtime_error(path + ": not a regular file");
    const std::uint64_t size = fs::file_size(path, ec);
    if (ec) throw std::runtime_error(path + ": cannot read its size: " + ec.message());
    return size;
}

ResultsFile read_results_hdf5(const std::string& path, const Hdf5ReadOptions& ropt) {
    ropt.validate();
    const std::uint64_t size = results_file_size(path);

    h5::Session session;
    Handle file = h5::open_read_only(path, size);
    const h5::Reader R{path, size};
    const hid_t root = file.get();

    ResultsFile out;
    out.path = path;
    auto& meta = out.meta;
    const std::string fmt = R.attr_str(root, "/", "format", 256);
    if (fmt != kHdf5Format)
        R.bad("/ attribute 'format'",
              "is '" + fmt + "', expected '" + kHdf5Format + "' (not a TensorLLM results file)");
    meta.format_version = to_int(R.attr_int(root, "/", "format_version", 1, 1 << 20));
    if (meta.format_version > kHdf5FormatVersion)
        R.bad("/ attribute 'format_version'", "is " + std::to_string(meta.format_version) +
                                                  ": written by a newer version; this build reads version " +
                                                  std::to_string(kHdf5FormatVersion));
    if (R.has_attr(root, kContentHashAttribute))
        h5::verify_content_hash(path, R.attr_str(root, "/", kContentHashAttribute, 64));
    meta.tool_version = R.attr_str(root, "/", "tool_version", 256);
    meta.created_utc = R.attr_str(root, "/", "created_utc", 256);
    const bool has_factors = R.attr_int(root, "/", "has_factors", 0, 1) != 0;

    {
        Handle g = R.group(root, "/", "model");
        const hid_t id = g.get();
        meta.architecture = R.attr_str(id, "/model", "architecture", 256);
        meta.model_type = R.attr_str(id, "/model", "model_type", 256);
        auto& S = meta.shape;
        S.d = to_int(R.attr_int(id, "/model", "hidden_size", 1, kMaxHidden));
        S.dv = to_int(R.attr_int(id, "/model", "head_dim", 1, kMaxHeadDim));
        S.h = to_int(R.attr_int(id, "/model", "num_heads", 1, kMaxHeads));
        S.n_kv = to_int(R.attr_int(id, "/model", "num_kv_heads", 1, S.h));
        if (S.h % S.n_kv != 0)
            R.bad("/model", "num_heads (" + std::to_string(S.h) + ") is not a multiple of num_kv_heads (" +
                                std::to_string(S.n_kv) + ")");
        meta.num_layers = to_int(R.attr_int(id, "/model", "num_layers", 0, kMaxLayer));
        std::vector<std::int64_t> kv, mapped;
        R.read(id, "/model", "kv_head_of_head", {S.h}, kv);
        for (int i = 0; i < S.h; ++i) {
            if (kv[std::size_t(i)] != i / S.group())
                R.bad("/model/kv_head_of_head",
                      "entry " + std::to_string(i) + " = " + std::to_string(kv[std::size_t(i)]) + ", expected " +
                          std::to_string(i / S.group()) + " (head / " + std::to_string(S.group()) + ")");
            meta.kv_head_of_head.push_back(to_int(kv[std::size_t(i)]));
        }
        R.read(id, "/model", "mapped_layers", {-1}, mapped);
        for (auto l : mapped) {
            if (l < 0 || l >= kMaxLayer) R.bad("/model/mapped_layers", "layer " + std::to_string(l) + " out of range");
            meta.mapped_layers.push_back(to_int(l));
        }
    }
    {
        Handle g = R.group(root, "/", "source");
        const hid_t id = g.get();
        auto& src = meta.source;
        src.path = R.attr_str(id, "/source", "path", 1 << 16);
        src.total_bytes = R.attr_u64(id, "/source", "total_bytes");
        src.header_sha256 = R.attr_str(id, "/source", "header_sha256", 64);
        if (src.header_sha256.size() != 64 ||
            src.header_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
            R.bad("/source attribute 'header_sha256'", "'" + src.header_sha256 + "' is not 64 lowercase hex digits");
        src.shard_files = R.strings(id, "/source", "shard_files", 1 << 16, 4096);
        R.read(id, "/source", "shard_bytes", {std::int64_t(src.shard_files.size())}, src.shard_bytes);
    }
    meta.options = read_options(R, root);

    std::vector<std::int64_t> order;
    {
        Handle g = R.group(root, "/", "summary");
        const hid_t id = g.get();
        R.read(id, "/summary", "layer_order", {-1}, order);
        std::set<std::int64_t> seen;
        for (auto l : order)
            if (l < 0 || l >= kMaxLayer || !seen.insert(l).second)
                R.bad("/summary/layer_order", "layer " + std::to_string(l) + " out of range or repeated");
        out.summary.cancelled = R.attr_int(id, "/summary", "cancelled", 0, 1) != 0;
        out.summary.failed = to_int(R.attr_int(id, "/summary", "failed", 0, std::int64_t(order.size())));
        out.summary.seconds = R.attr_f64(id, "/summary", "seconds");
    }
    for (int l : ropt.layers)
        if (std::find(order.begin(), order.end(), l) == order.end())
            throw std::runtime_error(path + ": layer " + std::to_string(l) + " is not in the file (layers: " + [&] {
                std::string s;
                for (auto x : order) s += (s.empty() ? "" : ",") + std::to_string(x);
                return s.empty() ? std::string("none") : s;
            }() + ")");
    Handle layers = R.group(root, "/", "layers");
    H5G_info_t info{};
    if (H5Gget_info(layers.get(), &info) < 0) h5::fail(path, "/layers", "cannot list");
    if (info.nlinks != order.size())
        R.bad("/layers", "holds " + std::to_string(info.nlinks) + " entries, /summary/layer_order lists " +
                             std::to_string(order.size()));
    for (auto l : order) {
        const int L = to_int(l);
        if (!ropt.layers.empty() && std::find(ropt.layers.begin(), ropt.layers.end(), L) == ropt.layers.end()) continue;
        jobs::LayerResult r;
        LayerLayout lay;
        read_layer(R, layers.get(), L, meta, ropt.factors && has_factors, r, lay);
        out.summary.layers.push_back(std::move(r));
        meta.layouts.push_back(std::move(lay));
    }
    return out;
}

tensor::Tensor4 reconstruct_layer(const ResultsFile& f, int layer, const util::Control& ctl) {
    const jobs::LayerResult* r = f.find(layer);
    if (!r) throw std::runtime_error(f.path + ": layer " + std::to_string(layer) + " is not in the results");
    if (!r->complete())
        throw std::runtime_error(f.path + ": layer " + std::to_string(layer) + " has status " +
                                 tucker::status_name(r->status) + "; nothing to reconstruct");
    if (r->tucker.factors[0].size() == 0 || r->tucker.core.data.empty())
        throw std::runtime_error(f.path + ": layer " + std::to_string(layer) +
                                 ": factors and core were not stored or not loaded");
    return tucker::reconstruct(r->tucker, ctl);
}

tensor::Tensor4 reconstruct_layer_hdf5(const std::string& path, int layer, const util::Control& ctl) {
    Hdf5ReadOptions o;
    o.layers = {layer};
    const ResultsFile f = read_results_hdf5(path, o);
    return reconstruct_layer(f, layer, ctl);
}

}  // namespace tllm::exporting
