#include "model/model.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace tllm::model {
namespace {

std::string shape_str(const std::vector<std::uint64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

// The message for an attention tensor whose shape contradicts config.json: which field
// gives which size, and what the tensor has.
std::string contradiction(const io::ModelConfig& c, const std::string& tensor, const std::vector<std::uint64_t>& got,
                          const std::vector<std::uint64_t>& want, bool head_rows, bool is_o, QkvOrder fused, bool kv) {
    const std::string cfg = c.path.empty() ? std::string("config") : c.path;
    const std::size_t head_axis = head_rows ? 0 : 1, model_axis = 1 - head_axis;
    std::string why;
    if (got.size() != 2) {
        why = "has " + std::to_string(got.size()) + " dimension(s), an attention weight has 2";
    } else if (got[0] == 0 || got[1] == 0) {
        why = "is empty (shape " + shape_str(got) + ")";
    } else if (got[model_axis] != want[model_axis]) {
        why = "has " + std::to_string(got[model_axis]) + " along the model axis, but field 'hidden_size' is " +
              std::to_string(c.hidden_size);
    } else {
        const std::string hd =
            "head_dim " + std::to_string(c.head_dim) + (c.head_dim_explicit ? "" : " (hidden_size / heads)");
        std::string fields;
        if (fused == QkvOrder::Blocks)
            fields = "(num_attention_heads " + std::to_string(c.num_heads) + " + 2 x num_key_value_heads " +
                     std::to_string(c.num_kv_heads) + ") x " + hd;
        else if (fused == QkvOrder::HeadInterleaved)
            fields = "3 x num_attention_heads " + std::to_string(c.num_heads) + " x " + hd;
        else if (kv && !is_o)
            fields = "num_key_value_heads " + std::to_string(c.num_kv_heads) +
                     (c.raw.contains("num_key_value_heads") && !c.raw["num_key_value_heads"].is_null()
                          ? std::string()
                          : std::string(" (absent or null, so num_attention_heads)")) +
                     " x " + hd;
        else
            fields = "num_attention_heads " + std::to_string(c.num_heads) + " x " + hd;
        why = "has " + std::to_string(got[head_axis]) + " along the head axis, but " + fields + " = " +
              std::to_string(want[head_axis]);
    }
    return cfg + " contradicts the weights: tensor '" + tensor + "' " + why + " (shape " + shape_str(got) +
           ", expected " + shape_str(want) + ")";
}

}  // namespace

std::string layer_wildcard(const std::string& name) {
    // Replace every purely numeric dotted component by '*'.
    std::string out;
    std::size_t i = 0;
    while (i < name.size()) {
        std::size_t j = name.find('.', i);
        if (j == std::string::npos) j = name.size();
        const std::string part = name.substr(i, j - i);
        const bool numeric =
            !part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
        out += numeric ? "*" : part;
        if (j < name.size()) out += '.';
        i = j + 1;
    }
    return out;
}

Model::Model(const std::string& path, const std::vector<ArchitectureSpec>& extra)
    : ckpt_(std::make_unique<io::Checkpoint>(path)) {
    if (!ckpt_->config())
        throw std::runtime_error(path + ": no config.json in " + ckpt_->directory() +
                                 " (needed for the number of heads and the model type)");
    config_ = *ckpt_->config();
    arch_ = find_architecture(config_.model_type, extra);
    shape_ = {config_.hidden_size, config_.head_dim, config_.num_heads, config_.num_kv_heads};
    const auto& S = shape_;
    const bool fused = arch_.qkv_order != QkvOrder::Separate;
    if (arch_.qkv_order == QkvOrder::HeadInterleaved && S.n_kv != S.h)
        throw std::runtime_error(config_.path + ": architecture '" + arch_.name +
                                 "' interleaves q, k, v per head and cannot have num_key_value_heads (" +
                                 std::to_string(S.n_kv) + ") != num_attention_heads (" + std::to_string(S.h) + ")");

    const PatternMatcher anchor(fused ? arch_.qkv.pattern : arch_.q.pattern);
    std::map<int, std::string> layer_prefix;
    std::set<std::string> prefixes;
    for (const auto& name : ckpt_->tensor_names())
        if (auto m = anchor.match(name)) {
            prefixes.insert(m->prefix);
            layer_prefix[m->layer] = m->prefix;
        }
    if (prefixes.size() > 1) {
        std::string list;
        for (const auto& p : prefixes) list += (list.empty() ? "'" : ", '") + p + "'";
        throw std::runtime_error(path + ": attention tensors appear under several prefixes (" + list +
                                 "); cannot tell which stack to use");
    }

    std::set<std::string> used, claimed;
    const std::uint64_t hd = std::uint64_t(S.h) * S.dv, kvd = std::uint64_t(S.n_kv) * S.dv;
    for (const auto& [index, prefix] : layer_prefix) {
        AttentionLayer L;
        L.index = index;
        std::vector<std::string> problems;
        // Each entry: pattern, expected out size of the "head axis", is it the O projection.
        struct Want {
            const TensorPattern* pat;
            std::uint64_t head_axis;
            bool is_o;
        };
        std::vector<Want> wants;
        if (fused) {
            const std::uint64_t out = arch_.qkv_order == QkvOrder::Blocks ? hd + 2 * kvd : 3 * hd;
            wants = {{&arch_.qkv, out, false}, {&arch_.o, hd, true}};
        } else {
            wants = {{&arch_.q, hd, false}, {&arch_.k, kvd, false}, {&arch_.v, kvd, false}, {&arch_.o, hd, true}};
        }
        std::vector<std::string> names;
        for (const auto& w : wants) {
            const std::string name = PatternMatcher(w.pat->pattern).expand(index, prefix);
            names.push_back(name);
            claimed.insert(name);
            auto ref = ckpt_->find(name);
            if (!ref) {
                problems.push_back("'" + name + "' is missing");
                continue;
            }
            const auto& info = *ref->info;
            // Stored shape: Linear keeps (out, in), Conv1D (in, out). For Q/K/V "out" is the
            // head axis; for O "in" is.
            const bool head_rows = (w.pat->layout == WeightLayout::Linear) != w.is_o;
            const std::vector<std::uint64_t> expect = head_rows
                                                          ? std::vector<std::uint64_t>{w.head_axis, std::uint64_t(S.d)}
                                                          : std::vector<std::uint64_t>{std::uint64_t(S.d), w.head_axis};
            if (info.shape != expect)
                throw std::runtime_error(contradiction(config_, name, info.shape, expect, head_rows, w.is_o,
                                                       fused ? arch_.qkv_order : QkvOrder::Separate,
                                                       w.pat == &arch_.k || w.pat == &arch_.v));
            else if (!io::dtype_is_readable(info.dtype))
                problems.push_back("'" + name + "' has dtype " + std::string(io::dtype_name(info.dtype)) +
                                   ", not a floating or block-quantised type");
        }
        if (!problems.empty()) {
            std::string msg;
            for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
            warnings_.push_back("layer " + std::to_string(index) + " not mapped: " + msg);
            for (const auto& n : names)
                if (ckpt_->find(n)) unmapped_.push_back({n, "layer " + std::to_string(index) + " incomplete: " + msg});
            continue;
        }
        auto head_rows_of = [](const TensorPattern& p, bool is_o) {
            return (p.layout == WeightLayout::Linear) != is_o;
        };
        if (fused) {
            for (int p = 0; p < 3; ++p) {
                PartSource& src = L.parts[p];
                src.tensor = names[0];
                src.layout = arch_.qkv.layout;
                src.head_axis_rows = head_rows_of(arch_.qkv, false);
                src.heads = p == 0 ? S.h : S.n_kv;
                if (arch_.qkv_order == QkvOrder::Blocks) {
                    src.offset = p == 0 ? 0 : (p == 1 ? hd : hd + kvd);
                    src.stride = S.dv;
                } else {
                    src.offset = std::uint64_t(p) * S.dv;
                    src.stride = 3ull * S.dv;
                }
            }
        } else {
            const TensorPattern* pats[3] = {&arch_.q, &arch_.k, &arch_.v};
            for (int p = 0; p < 3; ++p) {
                PartSource& src = L.parts[p];
                src.tensor = names[p];
                src.layout = pats[p]->layout;
                src.head_axis_rows = head_rows_of(*pats[p], false);
                src.heads = p == 0 ? S.h : S.n_kv;
                src.offset = 0;
                src.stride = S.dv;
            }
        }
        PartSource& o = L.parts[3];
        o.tensor = names.back();
        o.layout = arch_.o.layout;
        o.head_axis_rows = head_rows_of(arch_.o, true);
        o.heads = S.h;
        o.offset = 0;
        o.stride = S.dv;
        L.tensors = names;
        L.dtype = ckpt_->at(names[0]).info->dtype;
        used.insert(names.begin(), names.end());
        layers_.push_back(std::move(L));
    }
    if (layers_.empty() && !ckpt_->tensor_names().empty()) {
        std::string why;
        for (const auto& w : warnings_) why += "; " + w;
        throw std::runtime_error(path + ": no attention layer found: model_type '" + config_.model_type +
                                 "' (architecture '" + arch_.name + "') expects tensors named like '" +
                                 PatternMatcher(fused ? arch_.qkv.pattern : arch_.q.pattern).expand(0, "") +
                                 "', and none of the checkpoint's " + std::to_string(ckpt_->tensor_names().size()) +
                                 " tensors (e.g. '" + ckpt_->tensor_names().front() + "') complete a layer" + why);
    }
    if (config_.num_layers > 0 && static_cast<int>(layers_.size()) != config_.num_layers)
        warnings_.push_back("config.json says num_hidden_layers = " + std::to_string(config_.num_layers) + ", " +
                            std::to_string(layers_.size()) + " attention layers were mapped");

    for (const auto& name : ckpt_->tensor_names()) {
        if (used.count(name) || claimed.count(name)) continue;
        const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        unmapped_.push_back(
            {name, bias ? "bias: not part of the tensor, never changed" : "not an attention weight: copied unchanged"});
    }
}

const AttentionLayer& Model::layer(int index) const {
    for (const auto& l : layers_)
        if (l.index == index) return l;
    std::string valid;
    for (const auto& l : layers_) valid += (valid.empty() ? "" : ",") + std::to_string(l.index);
    throw std::out_of_range(ckpt_->path() + ": no attention layer " + std::to_string(index) +
                            " (mapped layers: " + (valid.empty() ? "none" : valid) + ")");
}

}  // namespace tllm::model
