// Checkpoint opening (single, sharded), architecture files, config validation.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "model/model.h"
#include "model/synthetic.h"
#include "support/test_util.h"
#include "tensor/tensorize.h"

using namespace tllm;
using tllm::test::TempDir;

namespace {
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST(Checkpoint, ShardedIndexWithTwoShards) {
    TempDir dir;
    model::SyntheticSpec s;
    s.model_type = "llama";
    s.hidden = 16;
    s.heads = 4;
    s.kv_heads = 2;
    s.layers = 4;
    s.shards = 2;
    s.dtype = io::DType::BF16;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    ASSERT_TRUE(std::filesystem::exists(dir.file("model.safetensors.index.json")));
    io::Checkpoint ck(dir.path().string());
    EXPECT_TRUE(ck.sharded());
    EXPECT_EQ(ck.shards().size(), 2u);
    EXPECT_TRUE(ck.warnings().empty());
    model::Model m(dir.path().string());
    ASSERT_EQ(m.layers().size(), 4u);
    // Layers live in different shards; both tensorise.
    EXPECT_NE(ck.at("model.layers.0.self_attn.q_proj.weight").file,
              ck.at("model.layers.3.self_attn.q_proj.weight").file);
    const auto W = tensor::tensorize(m, 3);
    EXPECT_EQ(W.dim[0], 16);
    // The round trip through bf16 is exact.
    for (const auto& r : tensor::detensorize(m, 3, W)) {
        const auto ref = m.checkpoint().at(r.name);
        const auto raw = ref.file->raw(*ref.info);
        ASSERT_EQ(r.bytes.size(), raw.size());
        EXPECT_EQ(std::memcmp(r.bytes.data(), raw.data(), raw.size()), 0) << r.name;
    }
}

TEST(Checkpoint, MissingShardIsAClearError) {
    TempDir dir;
    model::SyntheticSpec s;
    s.layers = 2;
    s.shards = 2;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
    const std::string msg = error_of([&] { io::Checkpoint ck(dir.path().string()); });
    EXPECT_NE(msg.find("shard 'model-00002-of-00002.safetensors'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
}

TEST(Checkpoint, IndexNamingATensorItsShardLacks) {
    TempDir dir;
    model::SyntheticSpec s;
    s.layers = 2;
    s.shards = 2;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    auto idx = io::read_json_file(dir.file("model.safetensors.index.json"));
    idx["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors";
    tllm::test::write_text(dir.file("model.safetensors.index.json"), idx.dump());
    const std::string msg = error_of([&] { io::Checkpoint ck(dir.path().string()); });
    EXPECT_NE(msg.find("'ghost.weight'"), std::string::npos) << msg;
}

TEST(Checkpoint, IndexWithPathTraversalIsRejected) {
    TempDir dir;
    tllm::test::write_text(dir.file("model.safetensors.index.json"), R"({"weight_map":{"w":"../etc/passwd"}})");
    const std::string msg = error_of([&] { io::Checkpoint ck(dir.path().string()); });
    EXPECT_NE(msg.find("not a plain file name"), std::string::npos) << msg;
}

TEST(Checkpoint, IndexShardNamesTooLongOrWithControlCharactersAreRejected) {
    TempDir dir;
    tllm::test::write_text(dir.file("model.safetensors.index.json"),
                           R"({"weight_map":{"w":")" + std::string(300, 'a') + R"(.safetensors"}})");
    std::string msg = error_of([&] { io::Checkpoint ck(dir.path().string()); });
    EXPECT_NE(msg.find("not a plain file name"), std::string::npos) << msg;
    EXPECT_NE(msg.find("weight_map['w']"), std::string::npos) << msg;
    tllm::test::write_text(dir.file("model.safetensors.index.json"),
                           R"({"weight_map":{"w":"x.safetensors\u0000junk"}})");
    msg = error_of([&] { io::Checkpoint ck(dir.path().string()); });
    EXPECT_NE(msg.find("not a plain file name"), std::string::npos) << msg;
}

TEST(Checkpoint, OpensASingleFileAndTheIndexFileDirectly) {
    TempDir dir;
    model::SyntheticSpec s;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    io::Checkpoint a(dir.file("model.safetensors"));
    EXPECT_FALSE(a.sharded());
    EXPECT_TRUE(a.config().has_value());
    EXPECT_THROW(io::Checkpoint(dir.file("nothing")), std::runtime_error);
}

TEST(Model, UnknownModelTypeListsSupportedAndPointsToFormat) {
    TempDir dir;
    model::SyntheticSpec s;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    tllm::test::write_text(dir.file("config.json"),
                           R"({"model_type":"mamba","hidden_size":64,"num_attention_heads":4})");
    const std::string msg = error_of([&] { model::Model m(dir.path().string()); });
    EXPECT_NE(msg.find("unsupported model_type 'mamba'"), std::string::npos) << msg;
    for (const char* t :
         {"llama", "gpt2", "gpt_neox", "gptj", "opt", "bert", "roberta", "phi", "qwen2", "gemma", "mistral"})
        EXPECT_NE(msg.find(t), std::string::npos) << t << " missing from: " << msg;
    EXPECT_NE(msg.find("docs/architectures.md"), std::string::npos) << msg;
}

TEST(Model, UserArchitectureFileWithoutRecompiling) {
    TempDir dir;
    const int d = 8, h = 2, dv = 4;
    std::vector<io::TensorToWrite> ts;
    for (int l = 0; l < 2; ++l) {
        std::vector<float> w(d * d);
        for (int i = 0; i < d * d; ++i) w[i] = float(i + 100 * l);
        for (const char* p : {"wq", "wk", "wv", "wo"})
            ts.push_back(io::make_tensor("net.blocks." + std::to_string(l) + ".attn." + p, io::DType::F32,
                                         {std::uint64_t(d), std::uint64_t(d)}, w));
    }
    io::write_safetensors(dir.file("model.safetensors"), ts);
    tllm::test::write_text(dir.file("config.json"),
                           R"({"model_type":"toyformer","hidden_size":8,"num_attention_heads":2})");
    tllm::test::write_text(dir.file("arch.json"), R"({"format":"tensorllm-architectures/1","architectures":[
        {"name":"toy","model_types":["toyformer"],"weight":"conv1d",
         "q":"{prefix}blocks.{L}.attn.wq","k":"{prefix}blocks.{L}.attn.wk","v":"{prefix}blocks.{L}.attn.wv",
         "o":{"tensor":"{prefix}blocks.{L}.attn.wo","weight":"linear"}}]})");
    const auto extra = model::read_architectures(dir.file("arch.json"));
    model::Model m(dir.path().string(), extra);
    EXPECT_EQ(m.architecture().name, "toy");
    ASSERT_EQ(m.layers().size(), 2u);
    const auto W = tensor::tensorize(m, 1);
    // conv1d q stored (in, out): W^Q_i[a][b] = wq[a][i*dv + b].
    EXPECT_EQ(W(3, 1, 0, 1), float(3 * d + 1 * dv + 1 + 100));
    // linear o stored (out, in): (W^O_i)^T[a][b] = wo[a][i*dv + b].
    EXPECT_EQ(W(5, 2, 3, 0), float(5 * d + 2 + 100));
    (void)h;
}

TEST(Model, ArchitectureFileErrorsNameTheField) {
    EXPECT_NE(error_of([] {
                  model::parse_architectures(nlohmann::json::parse(R"({"format":"x"})"), "a.json");
              }).find("a.json: field 'format'"),
              std::string::npos);
    const auto bad = nlohmann::json::parse(
        R"({"format":"tensorllm-architectures/1","architectures":[{"name":"n","model_types":["t"],"q":"x.{L}.q","o":"x.{L}.o"}]})");
    EXPECT_NE(error_of([&] { model::parse_architectures(bad, "a.json"); }).find("q, k and v must all be given"),
              std::string::npos);
    const auto nol = nlohmann::json::parse(
        R"({"format":"tensorllm-architectures/1","architectures":[{"name":"n","model_types":["t"],"qkv":"x.qkv","qkv_order":"blocks","o":"x.{L}.o"}]})");
    EXPECT_NE(error_of([&] { model::parse_architectures(nol, "a.json"); }).find("no {L}"), std::string::npos);
}

TEST(Model, AbsurdConfigsAreRejected) {
    auto cfg_error = [](const char* text) {
        return error_of([&] { io::parse_model_config(nlohmann::json::parse(text), "config.json"); });
    };
    EXPECT_NE(
        cfg_error(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":0})").find("num_attention_heads"),
        std::string::npos);
    EXPECT_NE(cfg_error(R"({"model_type":"llama","hidden_size":65,"num_attention_heads":8})").find("not divisible"),
              std::string::npos);
    EXPECT_NE(cfg_error(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_key_value_heads":3})")
                  .find("multiple of num_key_value_heads"),
              std::string::npos);
    EXPECT_NE(cfg_error(R"({"hidden_size":64})").find("model_type"), std::string::npos);
    EXPECT_NE(cfg_error(R"({"model_type":"llama","hidden_size":-5,"num_attention_heads":8})").find("'hidden_size'"),
              std::string::npos);
    // gpt2 spelling and null kv heads are accepted.
    auto c = io::parse_model_config(
        nlohmann::json::parse(
            R"({"model_type":"gpt2","n_embd":768,"n_head":12,"n_layer":12,"num_key_value_heads":null})"),
        "config.json");
    EXPECT_EQ(c.hidden_size, 768);
    EXPECT_EQ(c.num_kv_heads, 12);
    EXPECT_EQ(c.head_dim, 64);
}

TEST(Model, HeadDimContradictingTheTensorsIsAnErrorNamingFieldAndTensor) {
    TempDir dir;
    model::SyntheticSpec s;
    s.model_type = "llama";
    s.hidden = 16;
    s.heads = 4;
    model::write_synthetic_checkpoint(dir.path().string(), s);
    tllm::test::write_text(
        dir.file("config.json"),
        R"({"model_type":"llama","hidden_size":16,"num_attention_heads":4,"head_dim":8,"num_hidden_layers":2})");
    try {
        model::Model m(dir.path().string());
        FAIL() << "a config contradicting the weights was accepted";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(dir.file("config.json") + " contradicts the weights"), std::string::npos) << msg;
        EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << msg;
        EXPECT_NE(msg.find("head_dim 8"), std::string::npos) << msg;
        EXPECT_NE(msg.find("shape [16, 16], expected [32, 16]"), std::string::npos) << msg;
    }
}

TEST(Model, SyntheticCheckpointsOfEveryFamilyMap) {
    for (const char* t : {"llama", "gpt2", "gpt_neox", "gptj", "opt", "bert", "phi"}) {
        TempDir dir;
        model::SyntheticSpec s;
        s.model_type = t;
        s.hidden = 32;
        s.heads = 4;
        s.layers = 3;
        model::write_synthetic_checkpoint(dir.path().string(), s);
        model::Model m(dir.path().string());
        EXPECT_EQ(m.layers().size(), 3u) << t;
        EXPECT_TRUE(m.warnings().empty()) << t << ": " << (m.warnings().empty() ? "" : m.warnings()[0]);
    }
}
