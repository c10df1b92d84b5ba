// The GGUF fixtures of tests/data/gguf and the checks against the two independent readers:
//
//   * every fixture is written by io::GgufWriter from the project's own safetensors models
//     (fixtures() below); the test rebuilds each one and requires the committed file byte
//     for byte, so the fixtures are what the writer produces today. To regenerate them:
//       TLLM_GGUF_FIXTURES_OUT=tests/data/gguf build/tests/tensorllm_core_tests
//           --gtest_filter=GgufFixtures.WriterReproducesTheCommittedFiles   (one command line)
//       /usr/bin/python3 tests/reference/gguf_reference.py tests/data/gguf
//       NODE_PATH=/tmp/node_modules node tests/reference/gguf_npm_check.js tests/data/gguf
//   * expected_values.json (numpy, tests/reference/gguf_reference.py: its own parser and
//     dequantisers from the published block layouts) gives per tensor the sum, a
//     position-weighted sum and sampled values of the dequantised data;
//   * <file>.npm.json (the npm package @huggingface/gguf, tests/reference/gguf_npm_check.js)
//     lists metadata keys, types and values and the tensors' names, shapes, types and offsets.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/sentencepiece_tokenizer.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "support/test_util.h"

using namespace tllm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kDataDir = std::string(TLLM_TEST_DIR) + "/data/gguf";
const std::string kStories = std::string(TLLM_TEST_DIR) + "/data/stories260K";
const std::string kDemo = std::string(TLLM_TEST_DIR) + "/../resources/models/demo-gpt2";

std::vector<float> read_all(const io::SafetensorsFile& f, const std::string& name) {
    const auto* t = f.find(name);
    if (!t) throw std::runtime_error(f.path() + ": no tensor " + name);
    std::vector<float> v(t->numel());
    f.read_f32(*t, v.data());
    return v;
}

// llama.cpp's conversion reorders the rows of Q and K within each head (convert_hf_to_gguf.py,
// LlamaModel.permute): row h*hd + 2j + a of the GGUF tensor is row h*hd + a*hd/2 + j of the
// Hugging Face one, for heads h, j < hd/2 and a in {0, 1}.
std::vector<float> llama_permute(const std::vector<float>& w, std::size_t rows, std::size_t cols, std::size_t heads) {
    std::vector<float> out(w.size());
    const std::size_t hd = rows / heads, half = hd / 2;
    for (std::size_t h = 0; h < heads; ++h)
        for (std::size_t j = 0; j < half; ++j)
            for (std::size_t a = 0; a < 2; ++a)
                std::memcpy(&out[(h * hd + 2 * j + a) * cols], &w[(h * hd + a * half + j) * cols],
                            cols * sizeof(float));
    return out;
}

io::GgufWriter::Fill encode(io::GgmlType type, std::vector<float> values) {
    auto v = std::make_shared<std::vector<float>>(std::move(values));
    return [type, v](std::span<std::byte> dst) {
        if (dst.size() != io::ggml_bytes(type, v->size())) throw std::logic_error("fixture: size mismatch");
        io::quantize_row(type, v->data(), v->size(), dst.data());
    };
}

// The llama2.c tokenizer file: i32 max length, then per token f32 score, i32 length, bytes.
std::vector<float> llama2c_scores(const std::string& path, int vocab) {
    std::ifstream in(path, std::ios::binary);
    std::int32_t max_len = 0;
    in.read(reinterpret_cast<char*>(&max_len), 4);
    std::vector<float> scores;
    for (int i = 0; i < vocab; ++i) {
        float s = 0;
        std::int32_t n = 0;
        in.read(reinterpret_cast<char*>(&s), 4);
        in.read(reinterpret_cast<char*>(&n), 4);
        in.ignore(n);
        if (!in) throw std::runtime_error(path + ": truncated");
        scores.push_back(s);
    }
    return scores;
}

// stories260K as llama.cpp would convert it (names, metadata, Q/K rows permuted, tied output
// left out), tensors of `target` where their row length allows and F16 otherwise; 1-D tensors
// stay F32 as in llama.cpp.
void write_stories(const std::string& out, io::GgmlType target, std::uint32_t file_type, std::uint32_t alignment) {
    const io::SafetensorsFile f(kStories + "/model.safetensors");
    io::GgufWriter w;
    const int n_layer = 5, n_head = 8, n_kv = 4, dim = 64, ff = 172, vocab = 512;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "stories260K");
    w.add_u32("general.file_type", file_type);
    if (alignment != 32) {
        w.set_alignment(alignment);
        w.add_u32("general.alignment", alignment);
    }
    w.add_u32("llama.context_length", 512);
    w.add_u32("llama.embedding_length", dim);
    w.add_u32("llama.block_count", n_layer);
    w.add_u32("llama.feed_forward_length", ff);
    w.add_u32("llama.rope.dimension_count", dim / n_head);
    w.add_u32("llama.attention.head_count", n_head);
    w.add_u32("llama.attention.head_count_kv", n_kv);
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_f32("llama.rope.freq_base", 10000.f);
    w.add_u32("llama.vocab_size", vocab);
    // Vocabulary: the SentencePiece pieces, the llama2.c scores, llama.cpp's token types
    // (1 normal, 2 unknown, 3 control, 6 byte).
    const auto sp = eval::SentencePieceTokenizer::load(kStories + "/tokenizer.model", "");
    std::vector<std::string> tokens;
    std::vector<std::int32_t> types;
    for (int i = 0; i < vocab; ++i) {
        tokens.push_back(sp->piece(i));
        const std::string& p = tokens.back();
        types.push_back(i == sp->unk_id()                                              ? 2
                        : i == sp->bos_id() || i == sp->eos_id()                       ? 3
                        : (p.size() == 6 && p.rfind("<0x", 0) == 0 && p.back() == '>') ? 6
                                                                                       : 1);
    }
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_f32_array("tokenizer.ggml.scores", llama2c_scores(kStories + "/tokenizer.llama2c.bin", vocab));
    w.add_i32_array("tokenizer.ggml.token_type", types);
    w.add_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(sp->bos_id()));
    w.add_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(sp->eos_id()));
    w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(sp->unk_id()));
    w.add_bool("tokenizer.ggml.add_bos_token", true);

    const auto matrix = [&](const std::string& gguf_name, std::vector<float> v, std::uint64_t rows,
                            std::uint64_t cols) {
        const auto* info = io::ggml_type_info(static_cast<std::uint32_t>(target));
        const io::GgmlType t = cols % info->block == 0 ? target : io::GgmlType::F16;
        w.add_tensor(gguf_name, t, {cols, rows}, encode(t, std::move(v)));
    };
    const auto vec = [&](const std::string& gguf_name, std::vector<float> v) {
        const std::uint64_t n = v.size();
        w.add_tensor(gguf_name, io::GgmlType::F32, {n}, encode(io::GgmlType::F32, std::move(v)));
    };
    matrix("token_embd.weight", read_all(f, "model.embed_tokens.weight"), vocab, dim);
    vec("output_norm.weight", read_all(f, "model.norm.weight"));
    for (int l = 0; l < n_layer; ++l) {
        const std::string hf = "model.layers." + std::to_string(l) + ".", g = "blk." + std::to_string(l) + ".";
        vec(g + "attn_norm.weight", read_all(f, hf + "input_layernorm.weight"));
        matrix(g + "attn_q.weight", llama_permute(read_all(f, hf + "self_attn.q_proj.weight"), dim, dim, n_head), dim,
               dim);
        matrix(g + "attn_k.weight",
               llama_permute(read_all(f, hf + "self_attn.k_proj.weight"), dim / n_head * n_kv, dim, n_kv),
               dim / n_head * n_kv, dim);
        matrix(g + "attn_v.weight", read_all(f, hf + "self_attn.v_proj.weight"), dim / n_head * n_kv, dim);
        matrix(g + "attn_output.weight", read_all(f, hf + "self_attn.o_proj.weight"), dim, dim);
        vec(g + "ffn_norm.weight", read_all(f, hf + "post_attention_layernorm.weight"));
        matrix(g + "ffn_gate.weight", read_all(f, hf + "mlp.gate_proj.weight"), ff, dim);
        matrix(g + "ffn_up.weight", read_all(f, hf + "mlp.up_proj.weight"), ff, dim);
        matrix(g + "ffn_down.weight", read_all(f, hf + "mlp.down_proj.weight"), dim, ff);
    }
    w.write(out);
}

// One tensor of type `t`: the first 16 rows of demo-gpt2's h.0.mlp.c_proj.weight as llama.cpp
// stores it (the Conv1D weight [512 in, 128 out] transposed to 128 rows of 512), so that the
// rows hold two 256-element super-blocks.
void write_slice(const std::string& out, io::GgmlType t) {
    const io::SafetensorsFile f(kDemo + "/model.safetensors");
    const auto w_in_out = read_all(f, "h.0.mlp.c_proj.weight");  // [512, 128] row-major
    const std::size_t in = 512, outs = 128, rows = 16;
    std::vector<float> v(rows * in);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < in; ++c) v[r * in + c] = w_in_out[c * outs + r];
    io::GgufWriter w;
    w.add_string("general.architecture", "gpt2");
    w.add_string("general.name", "demo-gpt2 h.0.mlp.c_proj rows 0-15");
    w.add_u32("general.quantization_version", 2);
    w.add_tensor("blk.0.ffn_down.weight", t, {in, rows}, encode(t, std::move(v)));
    w.write(out);
}

struct Fixture {
    std::string file;
    std::function<void(const std::string&)> make;
};

std::vector<Fixture> fixtures() {
    using G = io::GgmlType;
    std::vector<Fixture> out = {
        {"stories260K-f32.gguf", [](const std::string& p) { write_stories(p, G::F32, 0, 32); }},
        {"stories260K-f16.gguf", [](const std::string& p) { write_stories(p, G::F16, 1, 32); }},
        {"stories260K-q8_0.gguf", [](const std::string& p) { write_stories(p, G::Q8_0, 7, 64); }},
        {"stories260K-q4_0.gguf", [](const std::string& p) { write_stories(p, G::Q4_0, 2, 32); }},
    };
    for (const char* t : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"}) {
        const G type = *io::parse_ggml_type(t);
        out.push_back(
            {std::string("gpt2-slice-") + t + ".gguf", [type](const std::string& p) { write_slice(p, type); }});
    }
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json load_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open");
    return json::parse(in);
}

double weight(std::uint64_t i) { return (std::fmod(static_cast<double>(i) * 7919.0, 1000.0) + 1.0) / 1000.0; }

bool is_float_type(io::GgmlType t) {
    return t == io::GgmlType::F32 || t == io::GgmlType::F16 || t == io::GgmlType::BF16;
}

}  // namespace

// The writer reproduces every committed fixture byte for byte (or writes them to
// $TLLM_GGUF_FIXTURES_OUT when set).
TEST(GgufFixtures, WriterReproducesTheCommittedFiles) {
    const char* out_dir = std::getenv("TLLM_GGUF_FIXTURES_OUT");
    test::TempDir tmp;
    for (const auto& fx : fixtures()) {
        SCOPED_TRACE(fx.file);
        if (out_dir) {
            fx.make((fs::path(out_dir) / fx.file).string());
            continue;
        }
        const std::string made = tmp.file(fx.file);
        fx.make(made);
        const std::string committed = kDataDir + "/" + fx.file;
        ASSERT_TRUE(fs::exists(committed)) << committed;
        EXPECT_TRUE(slurp(made) == slurp(committed)) << "the writer no longer produces " << committed;
    }
}

// Every tensor dequantised by GgufFile::read_f32 against the numpy reference.
TEST(GgufFixtures, DequantisedValuesMatchTheNumpyReference) {
    const json expected = load_json(kDataDir + "/expected_values.json");
    ASSERT_EQ(expected.at("files").size(), fixtures().size());
    std::map<std::string, int> types_seen;
    for (const auto& [file, entry] : expected.at("files").items()) {
        SCOPED_TRACE(file);
        const io::GgufFile g(kDataDir + "/" + file);
        EXPECT_EQ(g.version(), entry.at("version").get<std::uint32_t>());
        EXPECT_EQ(g.alignment(), entry.at("alignment").get<std::uint64_t>());
        ASSERT_EQ(g.tensors().size(), entry.at("tensors").size());
        for (const auto& [name, rec] : entry.at("tensors").items()) {
            SCOPED_TRACE(name);
            const auto* t = g.find(name);
            ASSERT_NE(t, nullptr);
            EXPECT_EQ(io::ggml_type_name(static_cast<std::uint32_t>(t->type)), rec.at("type").get<std::string>());
            EXPECT_EQ(t->ne, rec.at("ne").get<std::vector<std::uint64_t>>());
            EXPECT_EQ(t->offset, rec.at("offset").get<std::uint64_t>());
            ASSERT_TRUE(rec.contains("sum"));
            ++types_seen[rec.at("type").get<std::string>()];
            std::vector<float> v(t->numel());
            g.read_f32(*t, v.data());
            double sum = 0, wsum = 0, abs_sum = 0;
            for (std::size_t i = 0; i < v.size(); ++i) {
                sum += v[i];
                wsum += v[i] * weight(i);
                abs_sum += std::fabs(v[i]);
            }
            EXPECT_NEAR(sum, rec.at("sum").get<double>(), 1e-9 * abs_sum + 1e-12);
            EXPECT_NEAR(wsum, rec.at("weighted_sum").get<double>(), 1e-9 * abs_sum + 1e-12);
            const bool exact = is_float_type(t->type);
            for (const auto& s : rec.at("samples")) {
                const auto i = s.at(0).get<std::size_t>();
                const double want = s.at(1).get<double>();
                if (exact)
                    EXPECT_EQ(static_cast<double>(v[i]), want) << "element " << i;
                else
                    EXPECT_NEAR(v[i], want, 1e-6 * std::fabs(want) + 1e-12) << "element " << i;
            }
            // Rows read one at a time agree with the whole tensor.
            if (t->rows() > 1) {
                std::vector<float> row(t->row_length());
                const std::uint64_t r = t->rows() - 1;
                g.read_rows_f32(*t, r, 1, row.data());
                EXPECT_EQ(0, std::memcmp(row.data(), v.data() + r * t->row_length(), row.size() * 4));
            }
        }
    }
    for (const char* t : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
        EXPECT_GT(types_seen[t], 0) << "no fixture tensor of type " << t;
}

// The hand-made Q4_K and Q6_K blocks of the numpy reference (values worked out by hand from
// the layouts, see gguf_reference.py) decode to those values.
TEST(GgufFixtures, HandCheckedKQuantBlocks) {
    const json hand = load_json(kDataDir + "/expected_values.json").at("hand_checked");
    for (const char* kind : {"q4_k", "q6_k"}) {
        SCOPED_TRACE(kind);
        const std::string hex = hand.at(std::string(kind) + "_block_hex");
        std::vector<std::byte> block(hex.size() / 2);
        for (std::size_t i = 0; i < block.size(); ++i)
            block[i] = static_cast<std::byte>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
        const auto want = hand.at(std::string(kind) + "_values").get<std::vector<double>>();
        ASSERT_EQ(want.size(), 256u);
        std::vector<float> got(256);
        io::dequantize_row(*io::parse_ggml_type(kind), block.data(), 256, got.data());
        for (std::size_t i = 0; i < 256; ++i) EXPECT_EQ(static_cast<double>(got[i]), want[i]) << "element " << i;
    }
}

// GgufFile's listing against @huggingface/gguf's: metadata keys in order with their types
// and values, tensors with names, shapes, types and offsets, and the data section's offset.
TEST(GgufFixtures, ListingMatchesHuggingFaceGguf) {
    for (const auto& fx : fixtures()) {
        SCOPED_TRACE(fx.file);
        const json npm = load_json(kDataDir + "/" + fx.file + ".npm.json");
        const io::GgufFile g(kDataDir + "/" + fx.file);
        EXPECT_EQ(g.version(), npm.at("version").get<std::uint32_t>());
        EXPECT_TRUE(npm.at("little_endian").get<bool>());
        EXPECT_EQ(std::to_string(g.data_offset()), npm.at("tensor_data_offset").get<std::string>());
        EXPECT_EQ(std::to_string(g.tensors().size()), npm.at("tensor_count").get<std::string>());
        EXPECT_EQ(std::to_string(g.metadata().size()), npm.at("kv_count").get<std::string>());
        std::vector<std::string> keys;
        for (const auto& kv : g.metadata()) keys.push_back(kv.key);
        EXPECT_EQ(keys, npm.at("metadata_keys").get<std::vector<std::string>>());
        for (const auto& kv : g.metadata()) {
            SCOPED_TRACE(kv.key);
            const json& n = npm.at("metadata").at(kv.key);
            EXPECT_EQ(static_cast<std::uint32_t>(kv.type), n.at("type").get<std::uint32_t>());
            if (kv.type == io::GgufValueType::ARRAY) {
                ASSERT_TRUE(n.contains("element_type"));
                EXPECT_EQ(static_cast<std::uint32_t>(kv.element_type), n.at("element_type").get<std::uint32_t>());
            }
            const json& want = n.at("value");
            if (kv.type == io::GgufValueType::U64 || kv.type == io::GgufValueType::I64)
                EXPECT_EQ(kv.value.dump(), want.get<std::string>());
            else if (kv.type == io::GgufValueType::F32 || kv.type == io::GgufValueType::F64)
                EXPECT_EQ(kv.value.get<double>(), want.get<double>());
            else if (kv.type == io::GgufValueType::ARRAY && kv.element_type == io::GgufValueType::F32) {
                ASSERT_EQ(kv.value.size(), want.size());
                for (std::size_t i = 0; i < want.size(); ++i)
                    EXPECT_EQ(kv.value[i].get<double>(), want[i].get<double>()) << "element " << i;
            } else
                EXPECT_EQ(kv.value, want);
        }
        const json& tensors = npm.at("tensors");
        ASSERT_EQ(g.tensors().size(), tensors.size());
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = g.tensors()[i];
            const json& n = tensors[i];
            EXPECT_EQ(t.name, n.at("name").get<std::string>());
            EXPECT_EQ(t.ne.size(), n.at("n_dims").get<std::size_t>());
            std::vector<std::string> shape;
            for (auto d : t.ne) shape.push_back(std::to_string(d));
            EXPECT_EQ(shape, n.at("shape").get<std::vector<std::string>>()) << t.name;
            EXPECT_EQ(static_cast<std::uint32_t>(t.type), n.at("dtype").get<std::uint32_t>()) << t.name;
            EXPECT_EQ(std::to_string(t.offset), n.at("offset").get<std::string>()) << t.name;
        }
    }
}

// The stories260K fixtures carry the model: every tensor read back equals the safetensors
// original (F32 exactly, after undoing llama.cpp's Q/K row order), and the architecture
// metadata is the config's.
TEST(GgufFixtures, Stories260KF32HoldsTheSafetensorsModel) {
    const io::GgufFile g(kDataDir + "/stories260K-f32.gguf");
    const io::SafetensorsFile f(kStories + "/model.safetensors");
    EXPECT_EQ(g.get_string("general.architecture"), "llama");
    EXPECT_EQ(g.get_int("llama.attention.head_count"), 8);
    EXPECT_EQ(g.get_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(g.get_int("llama.block_count"), 5);
    EXPECT_DOUBLE_EQ(*g.get_float("llama.rope.freq_base"), 10000.0);
    ASSERT_NE(g.get_array("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(g.get_array("tokenizer.ggml.tokens")->size(), 512u);
    const auto* q = g.find("blk.2.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->shape(), (std::vector<std::uint64_t>{64, 64}));
    std::vector<float> gq(q->numel());
    g.read_f32(*q, gq.data());
    const auto hf = read_all(f, "model.layers.2.self_attn.q_proj.weight");
    // Row h*8 + 2j + a of the GGUF tensor is row h*8 + 4a + j of the original.
    for (std::size_t h = 0; h < 8; ++h)
        for (std::size_t j = 0; j < 4; ++j)
            for (std::size_t a = 0; a < 2; ++a)
                EXPECT_EQ(0, std::memcmp(&gq[(h * 8 + 2 * j + a) * 64], &hf[(h * 8 + 4 * a + j) * 64], 64 * 4));
    const auto* v = g.find("blk.2.attn_v.weight");
    ASSERT_NE(v, nullptr);
    std::vector<float> gv(v->numel());
    g.read_f32(*v, gv.data());
    EXPECT_EQ(gv, read_all(f, "model.layers.2.self_attn.v_proj.weight"));
}
