// Tensorisation round trips for every built-in architecture. The test writes each checkpoint
// itself, placing every element by the formulas of docs/method.md section 2 (an implementation
// independent of the architecture JSON and of core/tensor), then checks that tensorize()
// gives exactly the expected W_all and detensorize() gives back the stored bytes exactly.
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "model/model.h"
#include "support/test_util.h"
#include "tensor/tensorize.h"

using namespace tllm;
using tllm::test::TempDir;

namespace {

struct Family {
    std::string model_type;
    std::string q, k, v, o;  // separate projections (printf-style %d = layer), or
    std::string qkv;         // fused
    enum Kind { SeparateLinear, Gpt2Conv1D, NeoxInterleaved } kind;
};

const std::vector<Family>& families() {
    static const std::vector<Family> f = {
        {"llama", "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
         "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.o_proj.weight", "",
         Family::SeparateLinear},
        {"mistral", "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
         "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.o_proj.weight", "",
         Family::SeparateLinear},
        {"qwen2", "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
         "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.o_proj.weight", "",
         Family::SeparateLinear},
        {"gemma", "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
         "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.o_proj.weight", "",
         Family::SeparateLinear},
        {"gptj", "transformer.h.%d.attn.q_proj.weight", "transformer.h.%d.attn.k_proj.weight",
         "transformer.h.%d.attn.v_proj.weight", "transformer.h.%d.attn.out_proj.weight", "", Family::SeparateLinear},
        {"opt", "model.decoder.layers.%d.self_attn.q_proj.weight", "model.decoder.layers.%d.self_attn.k_proj.weight",
         "model.decoder.layers.%d.self_attn.v_proj.weight", "model.decoder.layers.%d.self_attn.out_proj.weight", "",
         Family::SeparateLinear},
        {"bert", "bert.encoder.layer.%d.attention.self.query.weight", "bert.encoder.layer.%d.attention.self.key.weight",
         "bert.encoder.layer.%d.attention.self.value.weight", "bert.encoder.layer.%d.attention.output.dense.weight", "",
         Family::SeparateLinear},
        {"roberta", "roberta.encoder.layer.%d.attention.self.query.weight",
         "roberta.encoder.layer.%d.attention.self.key.weight", "roberta.encoder.layer.%d.attention.self.value.weight",
         "roberta.encoder.layer.%d.attention.output.dense.weight", "", Family::SeparateLinear},
        {"phi", "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
         "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.dense.weight", "",
         Family::SeparateLinear},
        {"gpt2", "", "", "", "h.%d.attn.c_proj.weight", "h.%d.attn.c_attn.weight", Family::Gpt2Conv1D},
        {"gpt_neox", "", "", "", "gpt_neox.layers.%d.attention.dense.weight",
         "gpt_neox.layers.%d.attention.query_key_value.weight", Family::NeoxInterleaved},
    };
    return f;
}

// Readable test names in ctest instead of the object's bytes.
void PrintTo(const Family& f, std::ostream* os) { *os << f.model_type; }

std::string fmt(const std::string& pattern, int layer) {
    char buf[256];
    std::snprintf(buf, sizeof buf, pattern.c_str(), layer);
    return buf;
}

struct Geometry {
    int d, dv, h, kv;
};

// The value of W_all(a, b, t, i) in layer l: unique per element, exactly representable in
// float32; K and V depend on the kv head i / m only, as grouped-query attention implies.
float expected(const Geometry& g, int l, int a, int b, int t, int i) {
    const int head = (t == 1 || t == 2) ? i / (g.h / g.kv) : i;
    return float(1 + a + g.d * (b + g.dv * (t + 4 * (head + g.h * l))));
}

// Writes a checkpoint of `f`'s layout with the given layers, placing each element by the
// docs/method.md formulas (section 2), and returns its directory.
void write_family(const std::string& dir, const Family& f, const Geometry& g, const std::vector<int>& layers,
                  io::DType dtype, std::function<float(float)> value_map = nullptr) {
    std::vector<io::TensorToWrite> ts;
    const int d = g.d, dv = g.dv, h = g.h, kv = g.kv, m = h / kv;
    auto W = [&](int l, int a, int b, int t, int i) {
        const float x = expected(g, l, a, b, t, i);
        return value_map ? value_map(x) : x;
    };
    for (int l : layers) {
        if (f.kind == Family::SeparateLinear) {
            // nn.Linear: weight (out, in) = W^T. Q: q[i*dv+b][a] = W^Q_i[a][b].
            std::vector<float> q(std::size_t(h) * dv * d), k(std::size_t(kv) * dv * d), v(k.size()),
                o(std::size_t(d) * h * dv);
            for (int i = 0; i < h; ++i)
                for (int b = 0; b < dv; ++b)
                    for (int a = 0; a < d; ++a) {
                        q[(std::size_t(i) * dv + b) * d + a] = W(l, a, b, 0, i);
                        o[std::size_t(a) * h * dv + i * dv + b] = W(l, a, b, 3, i);  // (W^O_i)^T = o[:, i*dv:(i+1)*dv]
                    }
            for (int j = 0; j < kv; ++j)
                for (int b = 0; b < dv; ++b)
                    for (int a = 0; a < d; ++a) {
                        k[(std::size_t(j) * dv + b) * d + a] = W(l, a, b, 1, j * m);
                        v[(std::size_t(j) * dv + b) * d + a] = W(l, a, b, 2, j * m);
                    }
            ts.push_back(io::make_tensor(fmt(f.q, l), dtype, {std::uint64_t(h * dv), std::uint64_t(d)}, q));
            ts.push_back(io::make_tensor(fmt(f.k, l), dtype, {std::uint64_t(kv * dv), std::uint64_t(d)}, k));
            ts.push_back(io::make_tensor(fmt(f.v, l), dtype, {std::uint64_t(kv * dv), std::uint64_t(d)}, v));
            ts.push_back(io::make_tensor(fmt(f.o, l), dtype, {std::uint64_t(d), std::uint64_t(h * dv)}, o));
        } else if (f.kind == Family::Gpt2Conv1D) {
            // Conv1D stores (in, out): c_attn[a][p*d + i*dv + b] = W^p_i[a][b]; c_proj rows are head dims.
            std::vector<float> qkv(std::size_t(d) * 3 * h * dv), o(std::size_t(h) * dv * d);
            for (int i = 0; i < h; ++i)
                for (int b = 0; b < dv; ++b)
                    for (int a = 0; a < d; ++a) {
                        for (int p = 0; p < 3; ++p)
                            qkv[std::size_t(a) * 3 * h * dv + p * h * dv + i * dv + b] = W(l, a, b, p, i);
                        o[(std::size_t(i) * dv + b) * d + a] = W(l, a, b, 3, i);
                    }
            ts.push_back(io::make_tensor(fmt(f.qkv, l), dtype, {std::uint64_t(d), std::uint64_t(3 * h * dv)}, qkv));
            ts.push_back(io::make_tensor(fmt(f.o, l), dtype, {std::uint64_t(h * dv), std::uint64_t(d)}, o));
        } else {
            // GPT-NeoX: rows (3i+p)*dv .. of the fused (3*h*dv, d) weight, transposed.
            std::vector<float> qkv(std::size_t(3) * h * dv * d), o(std::size_t(d) * h * dv);
            for (int i = 0; i < h; ++i)
                for (int b = 0; b < dv; ++b)
                    for (int a = 0; a < d; ++a) {
                        for (int p = 0; p < 3; ++p) qkv[(std::size_t(3 * i + p) * dv + b) * d + a] = W(l, a, b, p, i);
                        o[std::size_t(a) * h * dv + i * dv + b] = W(l, a, b, 3, i);
                    }
            ts.push_back(io::make_tensor(fmt(f.qkv, l), dtype, {std::uint64_t(3 * h * dv), std::uint64_t(d)}, qkv));
            ts.push_back(io::make_tensor(fmt(f.o, l), dtype, {std::uint64_t(d), std::uint64_t(h * dv)}, o));
        }
        // A bias and an MLP weight that must stay out of W_all.
        ts.push_back(io::make_tensor(fmt(f.o, l).substr(0, fmt(f.o, l).size() - 6) + "bias", dtype, {std::uint64_t(d)},
                                     std::vector<float>(d, 0.5f)));
    }
    std::filesystem::create_directories(dir);
    io::write_safetensors(dir + "/model.safetensors", ts);
    nlohmann::json cfg = {{"model_type", f.model_type},
                          {"hidden_size", d},
                          {"num_attention_heads", h},
                          {"num_hidden_layers", int(layers.size())}};
    if (kv != h) cfg["num_key_value_heads"] = kv;
    if (dv * h != d) cfg["head_dim"] = dv;
    tllm::test::write_text(dir + "/config.json", cfg.dump());
}

void check_round_trip(const std::string& dir, const Geometry& g, const std::vector<int>& layers) {
    model::Model m(dir);
    ASSERT_EQ(m.layers().size(), layers.size());
    for (std::size_t n = 0; n < layers.size(); ++n) EXPECT_EQ(m.layers()[n].index, layers[n]);
    for (int l : layers) {
        const tensor::Tensor4 W = tensor::tensorize(m, l);
        ASSERT_EQ(W.dim, (std::array<std::int64_t, 4>{g.d, g.dv, 4, g.h}));
        for (int i = 0; i < g.h; ++i)
            for (int t = 0; t < 4; ++t)
                for (int b = 0; b < g.dv; ++b)
                    for (int a = 0; a < g.d; ++a)
                        ASSERT_EQ(W(a, b, t, i), expected(g, l, a, b, t, i))
                            << "layer " << l << " a=" << a << " b=" << b << " t=" << t << " head=" << i;
        for (const auto& r : tensor::detensorize(m, l, W)) {
            const auto ref = m.checkpoint().at(r.name);
            const auto raw = ref.file->raw(*ref.info);
            ASSERT_EQ(r.bytes.size(), raw.size()) << r.name;
            EXPECT_EQ(std::memcmp(r.bytes.data(), raw.data(), raw.size()), 0) << r.name << " differs after round trip";
            EXPECT_EQ(r.shape, ref.info->shape);
            EXPECT_EQ(r.dtype, ref.info->dtype);
        }
    }
}

}  // namespace

class ArchitectureRoundTrip : public ::testing::TestWithParam<Family> {};

TEST_P(ArchitectureRoundTrip, ExactForwardAndInverse) {
    const Family& f = GetParam();
    TempDir dir;
    const bool gqa_ok = f.kind == Family::SeparateLinear;
    const Geometry g{12, 3, 4, gqa_ok ? 2 : 4};
    write_family(dir.file("m"), f, g, {0, 1, 2}, io::DType::F32);
    check_round_trip(dir.file("m"), g, {0, 1, 2});
    model::Model m(dir.file("m"));
    EXPECT_EQ(m.config().model_type, f.model_type);
    // Biases are reported as not mapped, never part of W_all.
    int biases = 0;
    for (const auto& u : m.unmapped()) biases += u.reason.rfind("bias", 0) == 0;
    EXPECT_EQ(biases, 3);
}

INSTANTIATE_TEST_SUITE_P(AllBuiltins, ArchitectureRoundTrip, ::testing::ValuesIn(families()),
                         [](const auto& info) { return info.param.model_type; });

TEST(Tensorize, LayersByIndexInNameNotKeyOrder) {
    // Layers 2, 10 and 5: lexical key order would put 10 before 2 and 5.
    TempDir dir;
    const Geometry g{8, 2, 4, 4};
    write_family(dir.file("m"), families()[0], g, {2, 10, 5}, io::DType::F32);
    check_round_trip(dir.file("m"), g, {2, 5, 10});
}

TEST(Tensorize, GemmaExplicitHeadDim) {
    TempDir dir;
    const Geometry g{8, 6, 2, 1};  // h * dv = 12 != d = 8
    write_family(dir.file("m"), families()[3], g, {0}, io::DType::F32);
    model::Model m(dir.file("m"));
    EXPECT_EQ(m.shape().dv, 6);
    check_round_trip(dir.file("m"), g, {0});
}

TEST(Tensorize, Bf16AndF16RoundTripsExactly) {
    for (io::DType dt : {io::DType::BF16, io::DType::F16, io::DType::F64}) {
        TempDir dir;
        const Geometry g{8, 2, 4, 2};
        // Map the codes to values exactly representable in bf16 and f16 (multiples of 1/8 below 32).
        write_family(dir.file("m"), families()[0], g, {0, 1}, dt, [](float x) { return float(int(x) % 256) / 8.0f; });
        model::Model m(dir.file("m"));
        for (int l : {0, 1}) {
            const auto W = tensor::tensorize(m, l);
            for (int i = 0; i < g.h; ++i)
                for (int t = 0; t < 4; ++t)
                    for (int b = 0; b < g.dv; ++b)
                        for (int a = 0; a < g.d; ++a)
                            ASSERT_EQ(W(a, b, t, i), float(int(expected(g, l, a, b, t, i)) % 256) / 8.0f);
            for (const auto& r : tensor::detensorize(m, l, W)) {
                const auto ref = m.checkpoint().at(r.name);
                const auto raw = ref.file->raw(*ref.info);
                ASSERT_EQ(r.bytes.size(), raw.size());
                EXPECT_EQ(std::memcmp(r.bytes.data(), raw.data(), raw.size()), 0) << io::dtype_name(dt);
            }
        }
    }
}

TEST(Tensorize, HeadOrderIsHeadMajor) {
    // Every element of head i equals i. Reshaping (d, h*dv) straight to (d, dv, h) would mix
    // heads inside a slice (the pitfall of docs/method.md section 2.1); this test fails if
    // that happens.
    TempDir dir;
    const Geometry g{6, 2, 3, 3};
    write_family(dir.file("m"), families()[9], g, {0}, io::DType::F32, [&](float x) {
        const int code = int(x) - 1;  // a + d*(b + dv*(t + 4*i))
        return float(code / (g.d * g.dv * 4));
    });
    model::Model m(dir.file("m"));
    const auto W = tensor::tensorize(m, 0);
    for (int i = 0; i < g.h; ++i)
        for (int t = 0; t < 4; ++t)
            for (int b = 0; b < g.dv; ++b)
                for (int a = 0; a < g.d; ++a)
                    ASSERT_EQ(W(a, b, t, i), float(i)) << "a=" << a << " b=" << b << " t=" << t;
}

TEST(Tensorize, GroupedQueryRepetitionAndAveraging) {
    // h = 4 query heads, 2 kv heads, d = 2, dv = 1, hand-made values.
    TempDir dir;
    std::vector<io::TensorToWrite> ts;
    ts.push_back(
        io::make_tensor("model.layers.0.self_attn.q_proj.weight", io::DType::F32, {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
    ts.push_back(io::make_tensor("model.layers.0.self_attn.k_proj.weight", io::DType::F32, {2, 2}, {10, 20, 30, 40}));
    ts.push_back(io::make_tensor("model.layers.0.self_attn.v_proj.weight", io::DType::F32, {2, 2}, {-1, -2, -3, -4}));
    ts.push_back(
        io::make_tensor("model.layers.0.self_attn.o_proj.weight", io::DType::F32, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
    io::write_safetensors(dir.file("model.safetensors"), ts);
    tllm::test::write_text(
        dir.file("config.json"),
        R"({"model_type":"llama","hidden_size":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":1})");
    model::Model m(dir.path().string());
    auto W = tensor::tensorize(m, 0);
    // K of heads 0 and 1 repeat kv head 0 = row [10, 20]; heads 2 and 3 repeat [30, 40].
    EXPECT_EQ(W(0, 0, 1, 0), 10);
    EXPECT_EQ(W(1, 0, 1, 1), 20);
    EXPECT_EQ(W(0, 0, 1, 2), 30);
    EXPECT_EQ(W(1, 0, 1, 3), 40);
    EXPECT_EQ(W(1, 0, 2, 3), -4);
    // O: (W^O_i)^T = o[:, i]: head 2 -> column 2 = (3, 7).
    EXPECT_EQ(W(0, 0, 3, 2), 3);
    EXPECT_EQ(W(1, 0, 3, 2), 7);
    // Make the copies of kv head 0 disagree: the write-back is their mean.
    W(0, 0, 1, 0) = 11;
    W(0, 0, 1, 1) = 8;  // mean 9.5
    W(1, 0, 2, 2) = -5;
    W(1, 0, 2, 3) = -2;  // mean -3.5
    for (const auto& r : tensor::detensorize(m, 0, W)) {
        std::vector<float> v(r.bytes.size() / 4);
        std::memcpy(v.data(), r.bytes.data(), r.bytes.size());
        if (r.name.find("k_proj") != std::string::npos) {
            EXPECT_EQ(v, (std::vector<float>{9.5f, 20, 30, 40}));
        }
        if (r.name.find("v_proj") != std::string::npos) {
            EXPECT_EQ(v, (std::vector<float>{-1, -2, -3, -3.5f}));
        }
    }
}

TEST(Tensorize, DetensorizeRejectsWrongShape) {
    TempDir dir;
    const Geometry g{8, 2, 4, 4};
    write_family(dir.file("m"), families()[0], g, {0}, io::DType::F32);
    model::Model m(dir.file("m"));
    EXPECT_THROW(tensor::detensorize(m, 0, tensor::Tensor4({8, 2, 4, 3})), std::invalid_argument);
    EXPECT_THROW(tensor::tensorize(m, 7), std::out_of_range);
}

TEST(Stories260K, OpensWithTheExpectedLayout) {
    TLLM_REQUIRE_STORIES(path);
    model::Model m(path);
    EXPECT_EQ(m.config().model_type, "llama");
    EXPECT_EQ(m.architecture().name, "llama");
    EXPECT_EQ(m.layers().size(), 5u);
    EXPECT_EQ(m.shape().h, 8);
    EXPECT_EQ(m.shape().n_kv, 4);
    EXPECT_EQ(m.shape().dv, 8);
    EXPECT_EQ(m.shape().d, 64);
    EXPECT_EQ(m.shape().original_params(), 2u * 64 * 64 + 2u * 64 * 32);
}

TEST(Stories260K, RoundTripIsExact) {
    TLLM_REQUIRE_STORIES(path);
    model::Model m(path);
    for (const auto& L : m.layers()) {
        const auto W = tensor::tensorize(m, L.index);
        for (const auto& r : tensor::detensorize(m, L.index, W)) {
            const auto ref = m.checkpoint().at(r.name);
            const auto raw = ref.file->raw(*ref.info);
            ASSERT_EQ(r.bytes.size(), raw.size());
            EXPECT_EQ(std::memcmp(r.bytes.data(), raw.data(), raw.size()), 0) << r.name;
        }
    }
}
