#include "writeback/denoised_checkpoint.h"
#include "writeback/denoised_detail.h"

#include "io/output_guard.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "analysis/compression.h"
#include "edits/edit.h"
#include "results/hdf5_results.h"
#include "results/results_tables.h"
#include "io/staging_dir.h"
#include "io/atomic_file.h"
#include "io/safetensors_writer.h"
#include "tensor/tensorize.h"
#include "tucker/tucker.h"
#include "util/resources.h"

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Other weight formats are never copied: they would carry the original, unchanged weights
// next to the denoised ones, and a loader could pick them.
bool other_weight_format(const std::string& name) {
    static const char* ext[] = {".safetensors", ".bin",  ".pt",   ".pth", ".ckpt",   ".h5", ".msgpack",
                                ".gguf",        ".ggml", ".onnx", ".npz", ".tflite", ".ot", ".pkl"};
    for (const char* e : ext) {
        const std::size_t n = std::strlen(e);
        if (name.size() >= n && name.compare(name.size() - n, n, e) == 0) return true;
    }
    return false;
}

}  // namespace

std::string ranks_text(const std::array<int, 3>& r) {
    return std::to_string(r[0]) + "," + std::to_string(r[1]) + "," + std::to_string(r[2]);
}

std::map<int, const jobs::LayerResult*> chosen_layers(const model::Model& m, const jobs::JobSummary& s,
                                                      std::vector<std::string>& warnings) {
    const auto& S = m.shape();
    std::map<int, const jobs::LayerResult*> out;
    for (const auto& r : s.layers) {
        const std::string L = "layer " + std::to_string(r.layer);
        if (!r.complete()) {
            warnings.push_back(L + " not replaced: its decomposition " + tucker::status_name(r.status) +
                               (r.message.empty() ? std::string() : " (" + r.message + ")"));
            continue;
        }
        try {
            m.layer(r.layer);
        } catch (const std::out_of_range& e) {
            throw std::invalid_argument(std::string("denoised checkpoint: ") + e.what());
        }
        const auto& T = r.tucker;
        const std::array<std::int64_t, 3> rows{S.d, S.dv, 4};
        for (int n = 0; n < 3; ++n)
            if (T.factors[std::size_t(n)].rows() != rows[std::size_t(n)] ||
                T.factors[std::size_t(n)].cols() != r.ranks[std::size_t(n)])
                throw std::invalid_argument("denoised checkpoint: " + L + ": U" + std::to_string(n + 1) + " is " +
                                            std::to_string(T.factors[std::size_t(n)].rows()) + " x " +
                                            std::to_string(T.factors[std::size_t(n)].cols()) + ", expected " +
                                            std::to_string(rows[std::size_t(n)]) + " x " +
                                            std::to_string(r.ranks[std::size_t(n)]) +
                                            " (results of a different model, or loaded without factors)");
        const std::array<std::int64_t, 4> cd{r.ranks[0], r.ranks[1], r.ranks[2], S.h};
        if (T.core.dim != cd || T.core.data.size() != std::size_t(T.core.size()))
            throw std::invalid_argument("denoised checkpoint: " + L + ": core dims do not match (R1, R2, R3, h)");
        if (!out.emplace(r.layer, &r).second)
            throw std::invalid_argument("denoised checkpoint: " + L + " appears twice in the results");
    }
    return out;
}

nlohmann::ordered_json export_json(const model::Model& m, const jobs::JobOptions& opt,
                                   const std::map<int, const jobs::LayerResult*>& layers, CheckpointForm form) {
    const auto src = source_identity(m.checkpoint());
    const auto& S = m.shape();
    nlohmann::ordered_json j;
    j["form"] = checkpoint_form_name(form);
    j["tool_version"] = TENSORLLM_VERSION;
    j["source"] = {{"path", src.path}, {"total_bytes", src.total_bytes}, {"header_sha256", src.header_sha256}};
    j["shape"] = {{"hidden_size", S.d}, {"head_dim", S.dv}, {"num_heads", S.h}, {"num_kv_heads", S.n_kv}};
    j["options"] = {{"rank_choice", opt.ranks.describe()},
                    {"method", tucker::method_name(opt.tucker.method)},
                    {"init", tucker::method_name(opt.tucker.init)},
                    {"max_iterations", opt.tucker.max_iterations},
                    {"tolerance", opt.tucker.tolerance}};
    if (form == CheckpointForm::Factorised)
        j["array_order"] = "U_n row-major [I_n, R_n]; core [h, R3, R2, R1] = column-major (R1, R2, R3, h) G_all";
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& [l, r] : layers) {
        nlohmann::ordered_json e;
        e["layer"] = l;
        e["ranks"] = r->ranks;
        e["rel_error"] = r->measures.rel_error;
        e["iterations"] = r->tucker.iterations;
        e["status"] = tucker::status_name(r->status);
        const auto& L = m.layer(l);
        e["parts"] = {L.parts[0].tensor, L.parts[1].tensor, L.parts[2].tensor, L.parts[3].tensor};
        e["original"] = nlohmann::ordered_json::array();
        for (const auto& name : L.tensors) {
            const auto& info = *m.checkpoint().at(name).info;
            e["original"].push_back(
                {{"name", name}, {"dtype", std::string(io::dtype_name(info.dtype))}, {"shape", info.shape}});
        }
        j["layers"].push_back(std::move(e));
    }
    return j;
}

namespace {

// Rebuilds a layer's tensors when the first of them is written, and frees each after use.
class RebuiltCache {
public:
    RebuiltCache(const model::Model& m, const std::map<int, const jobs::LayerResult*>& layers, const util::Control& ctl)
        : m_(m), layers_(layers), ctl_(ctl) {}

    void copy(int layer, const std::string& name, std::span<std::byte> dst) {
        auto it = cache_.find(layer);
        if (it == cache_.end()) {
            // The same rebuilt tensors as an edit in memory (edits/edit.h).
            std::map<std::string, std::vector<std::byte>> t;
            for (auto& r : edits::attention_tensors(m_, layer, layers_.at(layer)->tucker, ctl_))
                t.emplace(r.name, std::move(r.bytes));
            it = cache_.emplace(layer, std::move(t)).first;
        }
        auto t = it->second.find(name);
        if (t == it->second.end() || t->second.size() != dst.size())
            throw std::logic_error("denoised checkpoint: rebuilt tensor '" + name + "' missing or mis-sized");
        std::memcpy(dst.data(), t->second.data(), dst.size());
        it->second.erase(t);
        if (it->second.empty()) cache_.erase(it);
    }

private:
    const model::Model& m_;
    const std::map<int, const jobs::LayerResult*>& layers_;
    util::Control ctl_;
    std::map<int, std::map<std::string, std::vector<std::byte>>> cache_;
};

}  // namespace

std::vector<io::TensorToWrite> factor_tensors(int layer, const tucker::TuckerResult& T, int h) {
    std::vector<io::TensorToWrite> out;
    for (int n = 0; n < 3; ++n) {
        const RowMajorF U = T.factors[std::size_t(n)];
        out.push_back(io::make_tensor(factor_tensor_name(layer, "U" + std::to_string(n + 1)), io::DType::F32,
                                      {std::uint64_t(U.rows()), std::uint64_t(U.cols())},
                                      std::vector<float>(U.data(), U.data() + U.size())));
    }
    const auto& c = T.core.dim;
    io::TensorToWrite core;
    core.name = factor_tensor_name(layer, "core");
    core.dtype = io::DType::F32;
    core.shape = {std::uint64_t(h), std::uint64_t(c[2]), std::uint64_t(c[1]), std::uint64_t(c[0])};
    core.data = std::as_bytes(std::span<const float>(T.core.data));
    out.push_back(std::move(core));
    return out;
}

namespace {

std::uint64_t nbytes(const io::TensorToWrite& t) {
    std::uint64_t n = io::dtype_size(t.dtype);
    for (auto d : t.shape) n *= d;
    return n;
}

}  // namespace

const char* checkpoint_form_name(CheckpointForm f) { return f == CheckpointForm::Dense ? "denoised" : "factorised"; }

void DenoisedOptions::validate() const {
    if (max_copy_bytes == 0) throw std::invalid_argument("max_copy_bytes: must be > 0");
}

std::string factor_tensor_name(int layer, const std::string& what) {
    return "tensorllm.layers." + std::to_string(layer) + "." + what;
}

DenoisedReport write_denoised_checkpoint(const std::string& dir, const model::Model& m, const jobs::JobOptions& opt,
                                         const jobs::JobSummary& s, const DenoisedOptions& dopt,
                                         const util::Control& ctl) {
    dopt.validate();
    DenoisedReport rep;
    rep.directory = io::normalise_destination(dir);
    const auto layers = chosen_layers(m, s, rep.warnings);
    if (layers.empty())
        throw std::invalid_argument("denoised checkpoint: no decomposed layer to write (" +
                                    std::to_string(s.layers.size()) + " layer result(s), none complete)");
    const io::Checkpoint& ck = m.checkpoint();
    std::error_code ec;
    const char* kind = checkpoint_form_name(dopt.form);
    io::check_output_dir(ck.sources(), std::string(kind) + " checkpoint", rep.directory, kind, dopt.overwrite);

    // Which tensors are replaced, by which layer; and the first of each layer in file order.
    std::map<std::string, int> replaced;
    for (const auto& [l, r] : layers)
        for (const auto& name : m.layer(l).tensors) replaced[name] = l;
    const bool factorised = dopt.form == CheckpointForm::Factorised;

    // Files to copy, checked before anything is written.
    std::vector<fs::path> copies;
    std::uint64_t copy_bytes = 0;
    const std::string index_name = ck.sharded() ? fs::path(ck.index_path()).filename().string() : std::string();
    if (dopt.copy_other_files) {
        for (const auto& e : fs::directory_iterator(ck.directory(), ec)) {
            const std::string name = e.path().filename().string();
            if (name == index_name) continue;
            if (name == io::kMarkerName || name.ends_with(".tensorllm-lock")) continue;  // the tool's own
            if (e.is_directory(ec)) {
                rep.warnings.push_back("not copied: directory '" + name + "'");
                continue;
            }
            if (!e.is_regular_file(ec)) continue;
            if (other_weight_format(name)) {
                if (name.size() < 12 || name.compare(name.size() - 12, 12, ".safetensors") != 0)
                    rep.warnings.push_back("not copied: '" + name +
                                           "' (another weight format; it would hold the original weights)");
                continue;
            }
            const std::uint64_t size = e.file_size(ec);
            if (size > dopt.max_copy_bytes) {
                rep.warnings.push_back("not copied: '" + name + "' (" + util::format_bytes(size) + ", above the " +
                                       util::format_bytes(dopt.max_copy_bytes) + " limit)");
                continue;
            }
            copies.push_back(e.path());
            copy_bytes += size;
        }
    }

    // Free space: the dense form is as large as the source; the factorised one smaller.
    std::uint64_t estimate = ck.total_bytes() + copy_bytes;
    if (factorised) {
        for (const auto& [name, l] : replaced) estimate -= std::min(estimate, ck.at(name).info->nbytes());
        for (const auto& [l, r] : layers) estimate += 4 * analysis::compressed_params(m.shape(), r->ranks) + 4096;
    }
    io::check_writable_beside(rep.directory);  // before the space: a read-only disk is not a full one
    const fs::path parent = fs::path(rep.directory).parent_path();
    std::uint64_t have = 0;
    try {
        have = io::free_space_for(parent.empty() ? "." : parent.string());
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(rep.directory + ": cannot write here: " + e.what());
    }
    if (have < estimate + dopt.free_space_margin)
        throw std::runtime_error(rep.directory + ": not enough free space: about " +
                                 util::format_bytes(estimate + dopt.free_space_margin) + " needed, " +
                                 util::format_bytes(have) + " available");

    io::StagingDir stage(rep.directory);
    const fs::path out(stage.path());
    const std::string info_json = export_json(m, opt, layers, dopt.form).dump();
    std::string layer_list, rank_list;
    for (const auto& [l, r] : layers) {
        layer_list += (layer_list.empty() ? "" : ",") + std::to_string(l);
        rank_list += (rank_list.empty() ? "" : ";") + std::to_string(l) + ":" + ranks_text(r->ranks);
        rep.layers.push_back(l);
    }

    // Total bytes for progress.
    std::uint64_t total = 0, done = 0;
    for (const auto& sh : ck.shards()) total += sh->file_size();
    RebuiltCache cache(m, layers, ctl);
    std::set<int> emitted;
    std::map<std::string, std::string> weight_map;  // name -> shard file
    for (const auto& sh : ck.shards()) {
        ctl.check();
        const std::string fname = fs::path(sh->path()).filename().string();
        std::vector<io::TensorToWrite> ts;
        for (const auto& info : sh->tensors()) {
            const auto ref = ck.find(info.name);
            if (!ref || ref->file != sh.get()) continue;  // not listed in the index: not part of the model
            auto rit = replaced.find(info.name);
            if (rit == replaced.end()) {
                io::TensorToWrite t;
                t.name = info.name;
                t.dtype = info.dtype;
                t.shape = info.shape;
                const io::SafetensorsFile* file = sh.get();
                const io::TensorInfo* ti = &info;
                t.fill = [file, ti, &ctl, &done, total](std::span<std::byte> dst) {
                    ctl.check();
                    const auto src = file->raw(*ti);
                    std::memcpy(dst.data(), src.data(), dst.size());
                    done += dst.size();
                    ctl.report(float(done) / float(std::max<std::uint64_t>(total, 1)));
                };
                ts.push_back(std::move(t));
                continue;
            }
            const int l = rit->second;
            rep.replaced_tensors.push_back(info.name);
            if (!factorised) {
                io::TensorToWrite t;
                t.name = info.name;
                t.dtype = info.dtype;
                t.shape = info.shape;
                t.fill = [&cache, &ctl, &done, total, l, name = info.name](std::span<std::byte> dst) {
                    ctl.check();
                    cache.copy(l, name, dst);
                    done += dst.size();
                    ctl.report(float(done) / float(std::max<std::uint64_t>(total, 1)));
                };
                ts.push_back(std::move(t));
            } else if (emitted.insert(l).second) {
                for (auto& t : factor_tensors(l, layers.at(l)->tucker, m.shape().h)) {
                    rep.added_tensors.push_back(t.name);
                    if (t.fill) {
                        auto inner = std::move(t.fill);
                        t.fill = [inner = std::move(inner), &ctl](std::span<std::byte> dst) {
                            ctl.check();
                            inner(dst);
                        };
                    }
                    ts.push_back(std::move(t));
                }
            }
        }
        auto meta = sh->metadata();
        meta["tensorllm.form"] = checkpoint_form_name(dopt.form);
        meta["tensorllm.tool_version"] = TENSORLLM_VERSION;
        meta["tensorllm.layers"] = layer_list;
        meta["tensorllm.ranks"] = rank_list;
        meta["tensorllm.method"] = tucker::method_name(opt.tucker.method);
        meta["tensorllm.export"] = info_json;
        try {
            io::write_safetensors((out / fname).string(), ts, meta);
        } catch (const util::Cancelled&) {
            throw;
        } catch (const std::exception& e) {
            throw std::runtime_error(rep.directory + ": writing shard '" + fname + "' failed: " + e.what());
        }
        for (const auto& t : ts) {
            weight_map[t.name] = fname;
            rep.tensor_bytes += nbytes(t);
        }
        rep.files.push_back(fname);
    }

    if (ck.sharded()) {
        ctl.check();
        nlohmann::json index = io::read_json_file(ck.index_path());
        if (!index.contains("metadata") || !index["metadata"].is_object()) index["metadata"] = nlohmann::json::object();
        index["metadata"]["total_size"] = rep.tensor_bytes;
        index["weight_map"] = weight_map;
        try {
            write_text_file((out / index_name).string(), index.dump(2) + "\n");
        } catch (const std::exception& e) {
            throw std::runtime_error(rep.directory + ": writing '" + index_name + "' failed: " + e.what());
        }
        rep.files.push_back(index_name);
    }
    for (const auto& p : copies) {
        ctl.check();
        const std::string name = p.filename().string();
        fs::copy_file(p, out / name, fs::copy_options::overwrite_existing, ec);
        if (ec) throw std::runtime_error(rep.directory + ": copying '" + p.string() + "' failed: " + ec.message());
        rep.files.push_back(name);
    }
    ctl.check();
    io::write_output_marker(stage.path(), kind);
    ctl.check();
    stage.commit(dopt.overwrite);
    ctl.report(1.0f);
    return rep;
}

}  // namespace tllm::exporting
