#include "writeback/gguf_export.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "edits/edit.h"
#include "eval/forward.h"
#include "eval/gguf_tokenizer.h"
#include "eval/tokenizer.h"
#include "io/mapped_file.h"
#include "io/model_config.h"
#include "io/output_guard.h"
#include "tucker/tucker.h"
#include "writeback/denoised_detail.h"

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

/// llama.cpp's general.file_type (enum llama_ftype) for a model whose matrices are `t`.
std::uint32_t file_type_of(io::GgmlType t) {
    switch (t) {
        case io::GgmlType::F32: return 0;
        case io::GgmlType::F16: return 1;
        case io::GgmlType::Q4_0: return 2;
        case io::GgmlType::Q4_1: return 3;
        case io::GgmlType::Q8_0: return 7;
        case io::GgmlType::Q5_0: return 8;
        case io::GgmlType::Q5_1: return 9;
        case io::GgmlType::Q4_K: return 15;  // Q4_K_M
        case io::GgmlType::Q5_K: return 17;  // Q5_K_M
        case io::GgmlType::Q6_K: return 18;
        case io::GgmlType::BF16: return 32;
        default: return 0;
    }
}

std::string gguf_arch_of(const std::string& model_type) {
    if (model_type == "llama" || model_type == "mistral") return "llama";
    if (model_type == "qwen2" || model_type == "gpt2") return model_type;
    throw std::invalid_argument("GGUF output: model_type '" + model_type +
                                "' is not supported (llama, mistral, qwen2, gpt2)");
}

/// Encodes `values` (GGUF element order, dims `ne`) as `type` into `dst`, row by row.
void encode(io::GgmlType type, const std::vector<std::uint64_t>& ne, const float* values, std::span<std::byte> dst) {
    const std::uint64_t row = ne.empty() ? 1 : ne[0];
    std::uint64_t rows = 1;
    for (std::size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    const std::uint64_t row_bytes = io::ggml_bytes(type, row);
    if (row_bytes * rows != dst.size()) throw std::logic_error("GGUF output: tensor byte count mismatch");
    for (std::uint64_t r = 0; r < rows; ++r)
        io::quantize_row(type, values + r * row, std::size_t(row), dst.data() + r * row_bytes);
}

void add_tokenizer(io::GgufWriter& w, const model::Model& m, std::vector<std::string>& warnings) {
    const io::Checkpoint& ck = m.checkpoint();
    const fs::path dir(ck.directory());
    std::error_code ec;
    std::unique_ptr<eval::Tokenizer> tok;
    try {
        tok = eval::load_tokenizer(ck, m.config().raw.value("vocab_size", 0));
    } catch (const std::exception& e) {
        warnings.push_back(std::string("no tokenizer written: ") + e.what());
        return;
    }
    if (fs::exists(dir / "tokenizer.model", ec) && !fs::exists(dir / "vocab.json", ec)) {
        const std::string path = (dir / "tokenizer.model").string();
        const auto v = eval::parse_sentencepiece_model(io::read_regular_file(path, 64ull << 20), path);
        w.add_string("tokenizer.ggml.model", "llama");
        w.add_string_array("tokenizer.ggml.tokens", v.pieces);
        w.add_f32_array("tokenizer.ggml.scores", v.scores);
        w.add_i32_array("tokenizer.ggml.token_type", v.types);
        const auto n = std::int32_t(v.pieces.size());
        if (v.bos_id >= 0 && v.bos_id < n) w.add_u32("tokenizer.ggml.bos_token_id", std::uint32_t(v.bos_id));
        if (v.eos_id >= 0 && v.eos_id < n) w.add_u32("tokenizer.ggml.eos_token_id", std::uint32_t(v.eos_id));
        if (v.unk_id >= 0 && v.unk_id < n) w.add_u32("tokenizer.ggml.unknown_token_id", std::uint32_t(v.unk_id));
        if (v.pad_id >= 0 && v.pad_id < n) w.add_u32("tokenizer.ggml.padding_token_id", std::uint32_t(v.pad_id));
        w.add_bool("tokenizer.ggml.add_bos_token", tok->bos_id() >= 0);
        w.add_bool("tokenizer.ggml.add_space_prefix", v.add_dummy_prefix);
        w.add_bool("tokenizer.ggml.remove_extra_whitespaces", v.remove_extra_whitespaces);
        return;
    }
    if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec)) {
        const std::string vpath = (dir / "vocab.json").string();
        const auto vocab = io::read_json_file(vpath);
        std::vector<std::string> tokens(vocab.size());
        std::vector<std::int32_t> types(vocab.size(), 1);
        for (const auto& [text, id] : vocab.items()) {
            const auto i = id.get<std::int64_t>();
            if (i < 0 || std::uint64_t(i) >= tokens.size())
                throw std::runtime_error(vpath + ": token ids are not 0 .. " + std::to_string(tokens.size() - 1));
            tokens[std::size_t(i)] = text;
        }
        for (const std::int32_t special : {tok->bos_id(), tok->eos_id()})
            if (special >= 0 && std::size_t(special) < types.size()) types[std::size_t(special)] = 3;
        std::vector<std::string> merges;
        const std::string text = io::read_regular_file((dir / "merges.txt").string(), 64ull << 20);
        std::size_t pos = 0;
        for (int line = 1; pos < text.size(); ++line) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            std::string l = text.substr(pos, end - pos);
            pos = end + 1;
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (l.empty() || (line == 1 && l.rfind("#version", 0) == 0)) continue;
            merges.push_back(std::move(l));
        }
        w.add_string("tokenizer.ggml.model", "gpt2");
        w.add_string("tokenizer.ggml.pre", "gpt-2");
        w.add_string_array("tokenizer.ggml.tokens", tokens);
        w.add_i32_array("tokenizer.ggml.token_type", types);
        w.add_string_array("tokenizer.ggml.merges", merges);
        if (tok->bos_id() >= 0) w.add_u32("tokenizer.ggml.bos_token_id", std::uint32_t(tok->bos_id()));
        if (tok->eos_id() >= 0) w.add_u32("tokenizer.ggml.eos_token_id", std::uint32_t(tok->eos_id()));
        w.add_bool("tokenizer.ggml.add_bos_token", tok->bos_id() >= 0);
        return;
    }
    warnings.push_back("no tokenizer written: " + tok->describe() +
                       " is carried into GGUF only from tokenizer.model or vocab.json + merges.txt");
}

/// Sort key putting token_embd first, the blocks in numeric order, output_norm and output last.
std::pair<long, std::string> tensor_order(const std::string& gguf_name) {
    if (gguf_name.rfind("blk.", 0) == 0) {
        const std::size_t dot = gguf_name.find('.', 4);
        return {std::stol(gguf_name.substr(4, dot - 4)), gguf_name};
    }
    if (gguf_name.rfind("output", 0) == 0) return {1L << 40, gguf_name};
    return {-1, gguf_name};
}

}  // namespace

GgufWriteReport convert_to_gguf(const std::string& path, const model::Model& m, const GgufConvertOptions& opt,
                                const util::Control& ctl) {
    const io::Checkpoint& ck = m.checkpoint();
    const std::string arch = gguf_arch_of(m.config().model_type);
    const auto* info = io::ggml_type_info(std::uint32_t(opt.type));
    if (!info || !info->quantizable)
        throw std::invalid_argument("GGUF output: type " + io::ggml_type_name(std::uint32_t(opt.type)) +
                                    " cannot be written");
    io::check_output_file(ck.sources(), "--gguf", path);
    const eval::Config c = eval::read_eval_config(m.config());
    GgufWriteReport rep;
    rep.path = path;

    io::GgufWriter w;
    const std::string a = arch + ".";
    w.add_string("general.architecture", arch);
    w.add_string("general.name", fs::path(ck.directory()).filename().string());
    w.add_u32("general.alignment", 32);
    w.add_u32("general.file_type", file_type_of(opt.type));
    if (io::ggml_type_info(std::uint32_t(opt.type))->block > 1) w.add_u32("general.quantization_version", 2);
    w.add_u32(a + "vocab_size", std::uint32_t(c.vocab_size));
    w.add_u32(a + "context_length", std::uint32_t(c.max_positions));
    w.add_u32(a + "embedding_length", std::uint32_t(c.dim));
    w.add_u32(a + "block_count", std::uint32_t(c.n_layers));
    w.add_u32(a + "feed_forward_length", std::uint32_t(c.hidden_dim));
    w.add_u32(a + "attention.head_count", std::uint32_t(c.n_heads));
    if (arch == "gpt2") {
        w.add_f32(a + "attention.layer_norm_epsilon", c.norm_eps);
    } else {
        w.add_u32(a + "attention.head_count_kv", std::uint32_t(c.n_kv_heads));
        w.add_f32(a + "attention.layer_norm_rms_epsilon", c.norm_eps);
        w.add_f32(a + "rope.freq_base", float(c.rope_theta));
        w.add_u32(a + "rope.dimension_count", std::uint32_t(c.head_dim));
        if (c.head_dim * c.n_heads != c.dim) {
            w.add_u32(a + "attention.key_length", std::uint32_t(c.head_dim));
            w.add_u32(a + "attention.value_length", std::uint32_t(c.head_dim));
        }
        if (c.rope_factor != 1.0) {
            w.add_string(a + "rope.scaling.type", "linear");
            w.add_f32(a + "rope.scaling.factor", float(c.rope_factor));
        }
    }
    add_tokenizer(w, m, rep.warnings);

    struct Planned {
        std::string gguf, hf;
        io::GgufNameMapping map;
    };
    std::vector<Planned> plan;
    for (const auto& name : ck.tensor_names()) {
        auto map = io::gguf_mapping_for(arch, name);
        if (!map) {
            rep.warnings.push_back("tensor " + name + " has no GGUF name for architecture " + arch + "; left out");
            continue;
        }
        plan.push_back({map->gguf_name, name, *map});
    }
    std::sort(plan.begin(), plan.end(),
              [](const Planned& x, const Planned& y) { return tensor_order(x.gguf) < tensor_order(y.gguf); });
    std::uint64_t total = 0, done = 0;
    for (const auto& p : plan) total += ck.at(p.hf).info->numel();
    for (const auto& p : plan) {
        const io::TensorRef ref = ck.at(p.hf);
        if (!io::dtype_is_readable(ref.info->dtype))
            throw std::invalid_argument("GGUF output: tensor " + p.hf + " has dtype " +
                                        std::string(io::dtype_name(ref.info->dtype)) + ", not a float type");
        const auto ne = io::gguf_ne(p.map.order, ref.info->shape);
        const io::GgmlType type = io::gguf_storage_type(opt.type, ne);
        if (type != opt.type && ne.size() >= 2)
            rep.warnings.push_back("tensor " + p.gguf + " stored as " + io::ggml_type_name(std::uint32_t(type)) +
                                   ": rows of " + std::to_string(ne[0]) + " do not fill " +
                                   io::ggml_type_name(std::uint32_t(opt.type)) + " blocks");
        rep.types[io::ggml_type_name(std::uint32_t(type))]++;
        const int heads = p.map.kv ? c.n_kv_heads : c.n_heads;
        w.add_tensor(p.gguf, type, ne,
                     [ref, ne, type, heads, order = p.map.order, &ctl, &done, total](std::span<std::byte> dst) {
                         ctl.check();
                         std::vector<float> hf(ref.info->numel()), out(ref.info->numel());
                         ref.file->read_f32(*ref.info, hf.data());
                         io::to_gguf_layout(order, heads, ref.info->shape, hf.data(), out.data());
                         encode(type, ne, out.data(), dst);
                         done += hf.size();
                         ctl.report(float(done) / float(std::max<std::uint64_t>(total, 1)));
                     });
    }
    w.write(path);
    std::error_code ec;
    rep.bytes = fs::file_size(path, ec);
    return rep;
}

GgufWriteReport write_denoised_gguf(const std::string& path, const model::Model& m, const jobs::JobOptions& opt,
                                    const jobs::JobSummary& s, const DenoisedGgufOptions& dopt,
                                    const util::Control& ctl) {
    const io::Checkpoint& ck = m.checkpoint();
    const io::GgufModel* g = ck.gguf();
    if (!g)
        throw std::invalid_argument("denoised GGUF: the model " + ck.path() +
                                    " is not a GGUF file (write a safetensors checkpoint directory instead)");
    if (dopt.type) {
        const auto* info = io::ggml_type_info(std::uint32_t(*dopt.type));
        if (!info || !info->quantizable)
            throw std::invalid_argument("denoised GGUF: type " + io::ggml_type_name(std::uint32_t(*dopt.type)) +
                                        " cannot be written");
    }
    GgufWriteReport rep;
    rep.path = path;
    const auto layers = chosen_layers(m, s, rep.warnings);
    if (layers.empty())
        throw std::invalid_argument("denoised GGUF: no decomposed layer to write (" + std::to_string(s.layers.size()) +
                                    " layer result(s), none complete)");
    io::check_output_file(ck.sources(), dopt.form == CheckpointForm::Dense ? "--denoised" : "--factorised", path);

    // GGUF tensor name -> (layer, Hugging Face name) of every replaced tensor.
    std::map<std::string, std::pair<int, std::string>> replaced;
    for (const auto& [l, r] : layers)
        for (const auto& name : m.layer(l).tensors) replaced[g->mapping(*ck.at(name).info).source->name] = {l, name};

    const io::GgufFile& f = g->file();
    io::GgufWriter w;
    w.set_alignment(f.alignment());
    for (const auto& kv : f.metadata())
        if (kv.key.rfind("tensorllm.", 0) != 0) w.add_raw_kv(f, kv);
    std::string layer_list, rank_list;
    for (const auto& [l, r] : layers) {
        layer_list += (layer_list.empty() ? "" : ",") + std::to_string(l);
        rank_list += (rank_list.empty() ? "" : ";") + std::to_string(l) + ":" + ranks_text(r->ranks);
        rep.layers.push_back(l);
    }
    w.add_string("tensorllm.form", checkpoint_form_name(dopt.form));
    w.add_string("tensorllm.tool_version", TENSORLLM_VERSION);
    w.add_string("tensorllm.layers", layer_list);
    w.add_string("tensorllm.ranks", rank_list);
    w.add_string("tensorllm.method", tucker::method_name(opt.tucker.method));
    w.add_string("tensorllm.export", export_json(m, opt, layers, dopt.form).dump());

    // A layer's rebuilt tensors (Hugging Face layout, as float32), made when first needed.
    struct Rebuilt {
        std::map<std::string, std::vector<float>> tensors;
    };
    auto cache = std::make_shared<std::map<int, Rebuilt>>();
    auto rebuilt = [cache, &m, &layers, &ctl](int layer, const std::string& hf) {
        auto it = cache->find(layer);
        if (it == cache->end()) {
            Rebuilt r;
            for (auto& t : edits::attention_tensors(m, layer, layers.at(layer)->tucker, ctl)) {
                std::vector<float> v(t.bytes.size() / io::dtype_size(t.dtype));
                io::to_float32(t.dtype, t.bytes.data(), v.size(), v.data());
                r.tensors.emplace(t.name, std::move(v));
            }
            it = cache->emplace(layer, std::move(r)).first;
        }
        auto t = it->second.tensors.find(hf);
        if (t == it->second.tensors.end()) throw std::logic_error("denoised GGUF: rebuilt tensor " + hf + " missing");
        std::vector<float> out = std::move(t->second);
        it->second.tensors.erase(t);
        if (it->second.tensors.empty()) cache->erase(it);
        return out;
    };

    std::set<int> emitted;
    for (const auto& t : f.tensors()) {
        auto rit = replaced.find(t.name);
        if (rit == replaced.end()) {
            w.add_tensor_copy(f, t);
            rep.types[io::ggml_type_name(std::uint32_t(t.type))]++;
            continue;
        }
        const auto [layer, hf] = rit->second;
        rep.replaced_tensors.push_back(t.name);
        if (dopt.form == CheckpointForm::Factorised) {
            if (!emitted.insert(layer).second) continue;
            for (auto& ft : factor_tensors(layer, layers.at(layer)->tucker, m.shape().h)) {
                const std::vector<std::uint64_t> ne(ft.shape.rbegin(), ft.shape.rend());
                rep.added_tensors.push_back(ft.name);
                rep.types["F32"]++;
                w.add_tensor(ft.name, io::GgmlType::F32, ne, [ft, &ctl](std::span<std::byte> dst) {
                    ctl.check();
                    if (ft.fill)
                        ft.fill(dst);
                    else
                        std::memcpy(dst.data(), ft.data.data(), dst.size());
                });
            }
            continue;
        }
        const io::GgufMappedTensor& mt = g->mapping(*ck.at(hf).info);
        io::GgmlType type = dopt.type.value_or(t.type);
        if (const auto* ti = io::ggml_type_info(std::uint32_t(type)); !ti || !ti->quantizable) type = io::GgmlType::F32;
        type = io::gguf_storage_type(type, t.ne);
        rep.types[io::ggml_type_name(std::uint32_t(type))]++;
        // layer and hf are structured bindings: captured by init-capture, which Debian 12's
        // clang (14) needs.
        w.add_tensor(t.name, type, t.ne,
                     [rebuilt, layer = layer, hf = hf, type, ne = t.ne, order = mt.order, heads = mt.heads,
                      shape = mt.info.shape, &ctl](std::span<std::byte> dst) mutable {
                         ctl.check();
                         const std::vector<float> v = rebuilt(layer, hf);
                         std::vector<float> out(v.size());
                         io::to_gguf_layout(order, heads, shape, v.data(), out.data());
                         encode(type, ne, out.data(), dst);
                     });
    }
    w.write(path);
    std::error_code ec;
    rep.bytes = fs::file_size(path, ec);
    return rep;
}

}  // namespace tllm::exporting
