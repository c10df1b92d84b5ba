#include "model/synthetic.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/safetensors_writer.h"

namespace fs = std::filesystem;

namespace tllm::model {
namespace {

// splitmix64 + Box-Muller: portable, reproducible normal deviates.
class Rng {
public:
    explicit Rng(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
    float normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u = uniform(), v = uniform();
        const double r = std::sqrt(-2.0 * std::log(u));
        spare_ = static_cast<float>(r * std::sin(2 * M_PI * v));
        has_spare_ = true;
        return static_cast<float>(r * std::cos(2 * M_PI * v));
    }

private:
    std::uint64_t s_;
    float spare_ = 0;
    bool has_spare_ = false;
};

std::string default_prefix(const std::string& arch) {
    static const std::map<std::string, std::string> p{
        {"llama", "model."},       {"gpt2", "transformer."},  {"gpt_neox", "gpt_neox."}, {"gptj", "transformer."},
        {"opt", "model.decoder."}, {"bert", "bert.encoder."}, {"phi", "model."}};
    auto it = p.find(arch);
    return it == p.end() ? "model." : it->second;
}

// A rows x cols matrix (row-major) = low-rank part whose model-axis space is span(basis)
// + noise; `basis_on_cols` says the model axis is the columns.
std::vector<float> make_weight(std::uint64_t rows, std::uint64_t cols, int rank, double noise, Rng& rng,
                               const Eigen::MatrixXf& basis, bool basis_on_cols) {
    const Eigen::Index r = rank;
    Eigen::MatrixXf coef(basis_on_cols ? rows : cols, r);
    for (Eigen::Index j = 0; j < coef.cols(); ++j)
        for (Eigen::Index i = 0; i < coef.rows(); ++i) coef(i, j) = rng.normal() / std::sqrt(float(r));
    // Row-major rows x cols == column-major cols x rows.
    Eigen::MatrixXf m = basis_on_cols ? Eigen::MatrixXf(basis * coef.transpose())   // cols x rows
                                      : Eigen::MatrixXf(coef * basis.transpose());  // cols x rows
    const float sigma = static_cast<float>(noise);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] += sigma * rng.normal();
    m *= 0.02f;
    return {m.data(), m.data() + m.size()};
}

// n values of standard deviation `sd` around `mean`, uniform (splitmix64 bits): about a
// nanosecond a value, for the billions of MLP and embedding parameters of large layouts.
void fill_uniform(std::vector<float>& v, std::uint64_t seed, float mean, float sd) {
    Rng r(seed);
    const float scale = sd * 1.7320508f / 2147483648.0f;  // uniform on [-sqrt(3) sd, sqrt(3) sd)
    for (std::size_t i = 0; i < v.size(); i += 2) {
        const std::uint64_t b = r.next();
        v[i] = mean + scale * float(std::int32_t(std::uint32_t(b)));
        if (i + 1 < v.size()) v[i + 1] = mean + scale * float(std::int32_t(std::uint32_t(b >> 32)));
    }
}

}  // namespace

void SyntheticSpec::validate() const {
    auto bad = [](const std::string& m) { throw std::invalid_argument("synthetic spec: " + m); };
    if (hidden <= 0) bad("hidden must be positive, got " + std::to_string(hidden));
    if (heads <= 0) bad("heads must be positive, got " + std::to_string(heads));
    const int kv = kv_heads ? kv_heads : heads;
    if (kv <= 0 || heads % kv != 0)
        bad("heads (" + std::to_string(heads) + ") must be a multiple of kv_heads (" + std::to_string(kv) + ")");
    if (!head_dim && hidden % heads != 0)
        bad("hidden (" + std::to_string(hidden) + ") must be divisible by heads (" + std::to_string(heads) + ")");
    if (layers <= 0) bad("layers must be positive, got " + std::to_string(layers));
    if (rank <= 0) bad("rank must be positive, got " + std::to_string(rank));
    if (shards <= 0 || shards > layers)
        bad("shards must be in 1.." + std::to_string(layers) + ", got " + std::to_string(shards));
    if (!io::dtype_is_float(dtype)) bad("dtype must be a floating type");
    if (vocab < 0 || ffn < 0 || positions < 0) bad("vocab, ffn and positions must not be negative");
    if (vocab > 0) {
        if (model_type != "gpt2" && model_type != "llama")
            bad("a complete model (vocab > 0) is written for model_type gpt2 and llama only, not " + model_type);
        if (!extras) bad("a complete model (vocab > 0) needs the extras");
        if (model_type == "gpt2" && (kv_heads != 0 && kv_heads != heads))
            bad("gpt2 has no grouped-query attention (kv_heads must equal heads)");
    }
}

void write_synthetic_checkpoint(const std::string& dir, const SyntheticSpec& spec,
                                const std::vector<ArchitectureSpec>& extra) {
    spec.validate();
    const ArchitectureSpec& arch = find_architecture(spec.model_type, extra);
    const int d = spec.hidden, h = spec.heads, kv = spec.kv_heads ? spec.kv_heads : spec.heads;
    const int dv = spec.head_dim ? spec.head_dim : d / h;
    if (arch.qkv_order == QkvOrder::HeadInterleaved && kv != h)
        throw std::invalid_argument("synthetic spec: architecture '" + arch.name + "' cannot have kv_heads != heads");
    const std::uint64_t hd = std::uint64_t(h) * dv, kvd = std::uint64_t(kv) * dv;
    const int rank = std::min(spec.rank, d);
    const std::string prefix = default_prefix(arch.name);
    const bool complete = spec.vocab > 0, gpt2 = spec.model_type == "gpt2";
    const std::uint64_t D = std::uint64_t(d), F = std::uint64_t(spec.ffn ? spec.ffn : 4 * d);
    const std::uint64_t V = std::uint64_t(spec.vocab);
    const int positions = spec.positions ? spec.positions : gpt2 ? 1024 : 2048;
    fs::create_directories(dir);

    Rng rng(spec.seed);
    // One model-axis basis shared by every attention weight of the model: realistic
    // (attention weights share input subspaces) and it makes the shared factor U1 meaningful.
    Eigen::MatrixXf basis(d, rank);
    for (Eigen::Index i = 0; i < basis.size(); ++i) basis.data()[i] = rng.normal();

    struct Planned {
        std::string name;
        std::vector<std::uint64_t> shape;
        std::uint64_t seed;
        int kind;  // 0 weight (basis on model axis), 1 vector/bias, 2 plain matrix, 3 uniform matrix, 4 norm weight
        bool basis_on_cols;
    };
    std::vector<std::vector<Planned>> per_layer(spec.layers);
    auto weight_shape = [&](const TensorPattern& p, std::uint64_t head_axis, bool is_o) {
        const bool head_rows = (p.layout == WeightLayout::Linear) != is_o;
        return head_rows ? std::vector<std::uint64_t>{head_axis, std::uint64_t(d)}
                         : std::vector<std::uint64_t>{std::uint64_t(d), head_axis};
    };
    for (int l = 0; l < spec.layers; ++l) {
        auto& P = per_layer[l];
        auto add_weight = [&](const TensorPattern& p, std::uint64_t head_axis, bool is_o) {
            auto shape = weight_shape(p, head_axis, is_o);
            // The model axis is the columns exactly when the head axis is the rows.
            const bool model_axis_is_cols = (p.layout == WeightLayout::Linear) != is_o;
            const std::string name = PatternMatcher(p.pattern).expand(l, prefix);
            P.push_back({name, shape, rng.next(), 0, model_axis_is_cols});
            if (spec.extras && !(complete && !gpt2)) {
                std::string bias = name.substr(0, name.size() - 6) + "bias";
                if (name.size() > 6 && name.compare(name.size() - 6, 6, "weight") == 0)
                    P.push_back({bias, {is_o ? std::uint64_t(d) : head_axis}, rng.next(), 1, false});
            }
        };
        if (arch.qkv_order == QkvOrder::Separate) {
            add_weight(arch.q, hd, false);
            add_weight(arch.k, kvd, false);
            add_weight(arch.v, kvd, false);
        } else {
            add_weight(arch.qkv, arch.qkv_order == QkvOrder::Blocks ? hd + 2 * kvd : 3 * hd, false);
        }
        add_weight(arch.o, hd, true);
        if (complete) {
            const std::string L = prefix + (gpt2 ? "h." : "layers.") + std::to_string(l) + ".";
            if (gpt2) {
                // Conv1D (in, out) orientation.
                P.push_back({L + "ln_1.weight", {D}, rng.next(), 4, false});
                P.push_back({L + "ln_1.bias", {D}, rng.next(), 1, false});
                P.push_back({L + "ln_2.weight", {D}, rng.next(), 4, false});
                P.push_back({L + "ln_2.bias", {D}, rng.next(), 1, false});
                P.push_back({L + "mlp.c_fc.weight", {D, F}, rng.next(), 3, false});
                P.push_back({L + "mlp.c_fc.bias", {F}, rng.next(), 1, false});
                P.push_back({L + "mlp.c_proj.weight", {F, D}, rng.next(), 3, false});
                P.push_back({L + "mlp.c_proj.bias", {D}, rng.next(), 1, false});
            } else {
                P.push_back({L + "input_layernorm.weight", {D}, rng.next(), 4, false});
                P.push_back({L + "post_attention_layernorm.weight", {D}, rng.next(), 4, false});
                P.push_back({L + "mlp.gate_proj.weight", {F, D}, rng.next(), 3, false});
                P.push_back({L + "mlp.up_proj.weight", {F, D}, rng.next(), 3, false});
                P.push_back({L + "mlp.down_proj.weight", {D, F}, rng.next(), 3, false});
            }
        } else if (spec.extras) {
            const std::string o = PatternMatcher(arch.o.pattern).expand(l, prefix);
            const std::string lp =
                o.substr(0, o.find(std::to_string(l) + ".", prefix.size()) + std::to_string(l).size() + 1);
            P.push_back({lp + "mlp.up_proj.weight", {std::uint64_t(2 * d), std::uint64_t(d)}, rng.next(), 2, false});
            P.push_back({lp + "input_layernorm.weight", {std::uint64_t(d)}, rng.next(), 1, false});
        }
    }

    auto produce = [&](const Planned& p) {
        io::TensorToWrite t;
        t.name = p.name;
        t.dtype = spec.dtype;
        t.shape = p.shape;
        t.fill = [&, p](std::span<std::byte> dst) {
            Rng r(p.seed);
            std::vector<float> v;
            if (p.kind == 0) {
                v = make_weight(p.shape[0], p.shape[1], rank, spec.noise, r, basis, p.basis_on_cols);
            } else if (p.kind >= 3) {
                std::uint64_t n = 1;
                for (auto s : p.shape) n *= s;
                v.resize(n);
                fill_uniform(v, p.seed, p.kind == 4 ? 1.0f : 0.0f, 0.02f);
            } else {
                std::uint64_t n = 1;
                for (auto s : p.shape) n *= s;
                v.resize(n);
                for (auto& x : v) x = 0.02f * r.normal();
            }
            io::from_float32(spec.dtype, v.data(), v.size(), dst.data());
        };
        return t;
    };

    std::vector<Planned> globals;
    if (complete && gpt2) {
        globals.push_back({prefix + "wte.weight", {V, D}, rng.next(), 3, false});
        globals.push_back({prefix + "wpe.weight", {std::uint64_t(positions), D}, rng.next(), 3, false});
        globals.push_back({prefix + "ln_f.weight", {D}, rng.next(), 4, false});
        globals.push_back({prefix + "ln_f.bias", {D}, rng.next(), 1, false});
    } else if (complete) {
        globals.push_back({prefix + "embed_tokens.weight", {V, D}, rng.next(), 3, false});
        globals.push_back({prefix + "norm.weight", {D}, rng.next(), 4, false});
        if (!spec.tied_embeddings) globals.push_back({"lm_head.weight", {V, D}, rng.next(), 3, false});
    } else if (spec.extras) {
        globals.push_back({prefix + "embed_tokens.weight", {256, std::uint64_t(d)}, rng.next(), 2, false});
    }

    const std::map<std::string, std::string> meta{{"format", "pt"}, {"generator", "tensorllm synth"}};
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    std::uint64_t total = 0;
    for (int s = 0; s < spec.shards; ++s) {
        const int l0 = spec.layers * s / spec.shards, l1 = spec.layers * (s + 1) / spec.shards;
        std::vector<io::TensorToWrite> ts;
        std::vector<Planned> planned;
        if (s == 0) planned.insert(planned.end(), globals.begin(), globals.end());
        for (int l = l0; l < l1; ++l) planned.insert(planned.end(), per_layer[l].begin(), per_layer[l].end());
        for (const auto& p : planned) ts.push_back(produce(p));
        char fname[64];
        if (spec.shards == 1)
            std::snprintf(fname, sizeof fname, "model.safetensors");
        else
            std::snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, spec.shards);
        io::write_safetensors((fs::path(dir) / fname).string(), ts, meta);
        for (const auto& p : planned) {
            weight_map[p.name] = fname;
            std::uint64_t n = io::dtype_size(spec.dtype);
            for (auto x : p.shape) n *= x;
            total += n;
        }
    }
    auto write_text = [](const fs::path& path, const std::string& text) {
        io::AtomicFile f(path.string());
        f.write(text.data(), text.size());
        f.commit();
    };
    if (spec.shards > 1) {
        nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
        write_text(fs::path(dir) / "model.safetensors.index.json", index.dump(2) + "\n");
    }
    nlohmann::ordered_json cfg;
    cfg["model_type"] = spec.model_type;
    if (spec.model_type == "gpt2" || spec.model_type == "gptj") {
        cfg["n_embd"] = d;
        cfg["n_head"] = h;
        cfg["n_layer"] = spec.layers;
    } else {
        cfg["hidden_size"] = d;
        cfg["num_attention_heads"] = h;
        cfg["num_hidden_layers"] = spec.layers;
        if (kv != h) cfg["num_key_value_heads"] = kv;
    }
    if (dv != d / h || (spec.head_dim && d % h != 0)) cfg["head_dim"] = dv;
    if (complete && gpt2) {
        cfg["n_inner"] = F;
        cfg["vocab_size"] = V;
        cfg["n_positions"] = positions;
        cfg["activation_function"] = "gelu_new";
        cfg["layer_norm_epsilon"] = 1e-5;
        cfg["tie_word_embeddings"] = true;
    } else if (complete) {
        cfg["intermediate_size"] = F;
        cfg["vocab_size"] = V;
        cfg["max_position_embeddings"] = positions;
        cfg["hidden_act"] = "silu";
        cfg["rms_norm_eps"] = 1e-5;
        cfg["rope_theta"] = 10000.0;
        cfg["tie_word_embeddings"] = spec.tied_embeddings;
    }
    cfg["torch_dtype"] = spec.dtype == io::DType::BF16  ? "bfloat16"
                         : spec.dtype == io::DType::F16 ? "float16"
                         : spec.dtype == io::DType::F64 ? "float64"
                                                        : "float32";
    cfg["tensorllm_synthetic"] = {{"seed", spec.seed}, {"rank", spec.rank}, {"noise", spec.noise}};
    write_text(fs::path(dir) / "config.json", cfg.dump(2) + "\n");
}

}  // namespace tllm::model
