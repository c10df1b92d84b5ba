// GGUF models through the whole engine: a safetensors model converted to GGUF (F32) reads
// back tensor for tensor, decomposes and evaluates to the same numbers; llama.cpp's rotary
// row order and GPT-2's transposed weights are undone; the vocabulary in the GGUF metadata
// tokenises as the original tokenizer files do; quantised files stay close; and the denoised
// GGUF carries every other tensor and metadata pair byte for byte.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/eval/eval_test_util.h"
#include "edits/edit.h"
#include "eval/evaluate.h"
#include "eval/forward.h"
#include "eval/gguf_tokenizer.h"
#include "eval/tokenizer.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "jobs/job_runner.h"
#include "support/test_util.h"
#include "tensor/tensorize.h"
#include "writeback/denoised_checkpoint.h"
#include "writeback/gguf_export.h"

namespace tllm {
namespace {

using test::demo_model_dir;
using test::stories_dir;
using test::TempDir;

std::vector<float> read_all(const io::Checkpoint& ck, const std::string& name) {
    const auto ref = ck.at(name);
    std::vector<float> v(ref.info->numel());
    ref.file->read_f32(*ref.info, v.data());
    return v;
}

jobs::LayerResult decompose(const model::Model& m, int layer, std::array<int, 3> ranks) {
    jobs::JobOptions o;
    o.layers = {layer};
    o.ranks.kind = tucker::RankSpec::Kind::Fixed;
    o.ranks.ranks = ranks;
    auto r = jobs::run_layer(m, layer, o, {});
    EXPECT_TRUE(r.complete()) << r.message;
    return r;
}

std::string text_sample(std::size_t n) {
    return test::read_file_bytes(std::string(TLLM_TEST_DIR) + "/data/stories-eval/stories.txt").substr(0, n);
}

double mean_nll(const std::shared_ptr<const model::Model>& m, const std::vector<std::int32_t>& ids) {
    eval::Transformer t(m);
    eval::PerplexityOptions o;
    o.ctx = std::min<int>(int(ids.size()), t.config().max_positions);
    o.stride = o.ctx;
    return eval::perplexity_ids(t, ids, {}, o, "sample").mean_nll;
}

// Every tensor of the safetensors model is in the F32 GGUF under the same name with the
// same shape and the same values, bit for bit (F32 in, F32 out: no rounding anywhere).
void expect_same_tensors(const model::Model& st, const model::Model& gg) {
    const auto& a = st.checkpoint();
    const auto& b = gg.checkpoint();
    for (const auto& name : a.tensor_names()) {
        SCOPED_TRACE(name);
        const auto rb = b.find(name);
        ASSERT_TRUE(rb.has_value());
        EXPECT_EQ(rb->info->shape, a.at(name).info->shape);
        const auto va = read_all(a, name), vb = read_all(b, name);
        ASSERT_EQ(va.size(), vb.size());
        EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)), 0);
    }
    EXPECT_EQ(gg.shape().d, st.shape().d);
    EXPECT_EQ(gg.shape().dv, st.shape().dv);
    EXPECT_EQ(gg.shape().h, st.shape().h);
    EXPECT_EQ(gg.shape().n_kv, st.shape().n_kv);
    EXPECT_EQ(gg.layers().size(), st.layers().size());
}

TEST(GgufModel, StoriesF32ReadsBackTheSafetensorsTensorsExactly) {
    TempDir dir;
    const model::Model st(stories_dir());
    const auto rep = exporting::convert_to_gguf(dir.file("stories.gguf"), st);
    EXPECT_EQ(rep.types.at("F32"), int(st.checkpoint().tensor_names().size()));
    const model::Model gg(dir.file("stories.gguf"));
    ASSERT_NE(gg.checkpoint().gguf(), nullptr);
    EXPECT_EQ(gg.config().model_type, "llama");
    expect_same_tensors(st, gg);
}

TEST(GgufModel, DemoF32ReadsBackTheSafetensorsTensorsExactly) {
    TempDir dir;
    const model::Model st(demo_model_dir());
    exporting::convert_to_gguf(dir.file("demo.gguf"), st);
    const model::Model gg(dir.file("demo.gguf"));
    EXPECT_EQ(gg.config().model_type, "gpt2");
    expect_same_tensors(st, gg);
}

// llama.cpp's converter (LlamaModel.permute) stores Q as
// W.reshape(n_head, 2, dv/2, d).swapaxes(1, 2).reshape(W.shape), and K the same with the kv
// heads: GGUF row (head, p, s) holds Hugging Face row (head, s, p). Checked on the stored
// F32 bytes, independently of the reader's inverse.
TEST(GgufModel, QAndKRowsAreStoredInLlamaCppRotaryOrder) {
    TempDir dir;
    const model::Model st(stories_dir());
    exporting::convert_to_gguf(dir.file("s.gguf"), st);
    const io::GgufFile f(dir.file("s.gguf"));
    const int d = st.shape().d, dv = st.shape().dv;
    for (const auto& [gguf, hf, heads] :
         {std::tuple{"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", st.shape().h},
          std::tuple{"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", st.shape().n_kv}}) {
        SCOPED_TRACE(gguf);
        const auto* t = f.find(gguf);
        ASSERT_NE(t, nullptr);
        ASSERT_EQ(t->type, io::GgmlType::F32);
        const auto raw = f.raw(*t);
        const auto orig = read_all(st.checkpoint(), hf);
        for (int head = 0; head < heads; ++head)
            for (int p = 0; p < dv / 2; ++p)
                for (int s = 0; s < 2; ++s) {
                    const std::size_t g_row = std::size_t(head) * dv + std::size_t(p) * 2 + s;
                    const std::size_t h_row = std::size_t(head) * dv + std::size_t(s) * (dv / 2) + p;
                    EXPECT_EQ(std::memcmp(raw.data() + g_row * d * 4, orig.data() + h_row * d, std::size_t(d) * 4), 0);
                }
    }
}

// GPT-2's Conv1D c_attn.weight [d, 3d] is stored as a linear weight: GGUF row o holds column o.
TEST(GgufModel, Gpt2ConvWeightsAreStoredTransposed) {
    TempDir dir;
    const model::Model st(demo_model_dir());
    exporting::convert_to_gguf(dir.file("d.gguf"), st);
    const io::GgufFile f(dir.file("d.gguf"));
    const auto* t = f.find("blk.2.attn_qkv.weight");
    ASSERT_NE(t, nullptr);
    const std::uint64_t d = st.shape().d;
    ASSERT_EQ(t->ne, (std::vector<std::uint64_t>{d, 3 * d}));
    std::vector<float> g(t->numel());
    f.read_f32(*t, g.data());
    const auto orig = read_all(st.checkpoint(), "h.2.attn.c_attn.weight");
    for (std::uint64_t i = 0; i < d; ++i)
        for (std::uint64_t o = 0; o < 3 * d; ++o) ASSERT_EQ(g[o * d + i], orig[i * 3 * d + o]);
}

TEST(GgufModel, DecompositionAndEvaluationMatchTheSafetensorsModel) {
    TempDir dir;
    for (const auto& src : {stories_dir(), demo_model_dir()}) {
        SCOPED_TRACE(src);
        auto st = std::make_shared<const model::Model>(src);
        exporting::convert_to_gguf(dir.file("m.gguf"), *st);
        auto gg = std::make_shared<const model::Model>(dir.file("m.gguf"));
        const auto a = decompose(*st, 1, {16, 8, 3});
        const auto b = decompose(*gg, 1, {16, 8, 3});
        EXPECT_EQ(a.measures.rel_error, b.measures.rel_error);
        for (int n = 0; n < 3; ++n) EXPECT_TRUE(a.tucker.factors[n] == b.tucker.factors[n]);
        EXPECT_EQ(a.tucker.core.data, b.tucker.core.data);

        // The tokenizer from the GGUF vocabulary gives the original tokenizer's ids.
        const auto tok_st = eval::load_tokenizer(src, st->config().raw.value("vocab_size", 0));
        const auto tok_gg = eval::load_tokenizer(gg->checkpoint(), gg->config().raw.value("vocab_size", 0));
        const std::string text = text_sample(4000);
        const auto ids = tok_st->encode_with_bos(text);
        EXPECT_EQ(tok_gg->encode_with_bos(text), ids);
        EXPECT_EQ(tok_gg->bos_id(), tok_st->bos_id());
        EXPECT_EQ(tok_gg->eos_id(), tok_st->eos_id());
        EXPECT_EQ(tok_gg->decode(ids), tok_st->decode(ids));

        std::vector<std::int32_t> window(ids.begin(), ids.begin() + std::min<std::size_t>(ids.size(), 128));
        EXPECT_EQ(mean_nll(st, window), mean_nll(gg, window));
        std::filesystem::remove(dir.file("m.gguf"));
    }
}

// The SentencePiece model serialised from parsed pieces encodes like the original file.
TEST(GgufModel, SentencePieceModelRoundTrip) {
    const std::string path = stories_dir() + "/tokenizer.model";
    const std::string bytes = test::read_file_bytes(path);
    const auto v = eval::parse_sentencepiece_model(bytes, path);
    EXPECT_EQ(v.pieces.size(), 512u);
    EXPECT_EQ(v.model_type, 2);  // BPE
    EXPECT_TRUE(v.byte_fallback);
    EXPECT_EQ(v.unk_id, 0);
    EXPECT_EQ(v.bos_id, 1);
    EXPECT_EQ(v.eos_id, 2);
    EXPECT_EQ(v.pad_id, -1);
    EXPECT_EQ(v.pieces[3], "<0x00>");
    EXPECT_EQ(v.types[3], 6);
    const auto w = eval::parse_sentencepiece_model(eval::serialize_sentencepiece_model(v), "round trip");
    EXPECT_EQ(w.pieces, v.pieces);
    EXPECT_EQ(w.scores, v.scores);
    EXPECT_EQ(w.types, v.types);
    EXPECT_EQ(w.add_dummy_prefix, v.add_dummy_prefix);
    EXPECT_EQ(w.remove_extra_whitespaces, v.remove_extra_whitespaces);
}

// Quantised conversions read back within each type's accuracy, and the model still evaluates
// close to the original.
TEST(GgufModel, QuantisedConversionsStayClose) {
    TempDir dir;
    auto st = std::make_shared<const model::Model>(stories_dir());
    const auto tok = eval::load_tokenizer(stories_dir(), 512);
    auto ids = tok->encode_with_bos(text_sample(2000));
    ids.resize(std::min<std::size_t>(ids.size(), 256));
    const double base = mean_nll(st, ids);
    for (const auto& [type, tol, nll_tol] :
         {std::tuple{io::GgmlType::F16, 1e-3, 1e-3}, std::tuple{io::GgmlType::Q8_0, 1e-2, 0.02},
          std::tuple{io::GgmlType::Q4_0, 0.2, 0.5}}) {
        SCOPED_TRACE(io::ggml_type_name(std::uint32_t(type)));
        exporting::convert_to_gguf(dir.file("q.gguf"), *st, {type});
        auto gg = std::make_shared<const model::Model>(dir.file("q.gguf"));
        const std::string q = "model.layers.2.self_attn.q_proj.weight";
        EXPECT_EQ(gg->checkpoint().at(q).info->dtype, type == io::GgmlType::F16    ? io::DType::F16
                                                      : type == io::GgmlType::Q8_0 ? io::DType::Q8_0
                                                                                   : io::DType::Q4_0);
        const auto a = read_all(st->checkpoint(), q), b = read_all(gg->checkpoint(), q);
        double num = 0, den = 0;
        for (std::size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += a[i] * a[i];
        EXPECT_LT(std::sqrt(num / den), tol);
        EXPECT_NEAR(mean_nll(gg, ids), base, nll_tol);
        std::filesystem::remove(dir.file("q.gguf"));
    }
}

// The denoised GGUF: every metadata pair of the source byte for byte (plus tensorllm.*), every
// tensor of other layers byte for byte, and the decomposed layer's tensors equal to the
// reconstruction the safetensors denoised checkpoint holds.
TEST(GgufModel, DenoisedGgufKeepsEverythingElseByteForByte) {
    TempDir dir;
    const model::Model st(stories_dir());
    exporting::convert_to_gguf(dir.file("src.gguf"), st);
    const model::Model gg(dir.file("src.gguf"));
    jobs::JobSummary s;
    s.layers.push_back(decompose(gg, 3, {32, 6, 3}));
    jobs::JobOptions opt;
    exporting::write_denoised_gguf(dir.file("out.gguf"), gg, opt, s,
                                   {exporting::CheckpointForm::Dense, io::GgmlType::F32});
    jobs::JobSummary s_st;
    s_st.layers.push_back(decompose(st, 3, {32, 6, 3}));
    exporting::write_denoised_checkpoint(dir.file("st-denoised"), st, opt, s_st);

    const io::GgufFile src(dir.file("src.gguf")), out(dir.file("out.gguf"));
    const std::string src_bytes = test::read_file_bytes(dir.file("src.gguf"));
    const std::string out_bytes = test::read_file_bytes(dir.file("out.gguf"));
    for (const auto& kv : src.metadata()) {
        SCOPED_TRACE(kv.key);
        const auto* o = out.find_kv(kv.key);
        ASSERT_NE(o, nullptr);
        EXPECT_EQ(src_bytes.substr(kv.begin, kv.end - kv.begin), out_bytes.substr(o->begin, o->end - o->begin));
    }
    EXPECT_EQ(out.get_string("tensorllm.form"), "denoised");
    EXPECT_EQ(out.get_string("tensorllm.ranks"), "3:32,6,3");
    ASSERT_EQ(out.tensors().size(), src.tensors().size());
    const model::Model denoised(dir.file("out.gguf"));
    const model::Model st_denoised(dir.file("st-denoised"));
    int replaced = 0;
    for (const auto& t : src.tensors()) {
        SCOPED_TRACE(t.name);
        const auto* o = out.find(t.name);
        ASSERT_NE(o, nullptr);
        if (t.name.rfind("blk.3.attn_", 0) == 0 && t.name != "blk.3.attn_norm.weight") {
            ++replaced;
            const auto& hf = denoised.checkpoint().gguf()->find_gguf(t.name)->info.name;
            const auto a = read_all(denoised.checkpoint(), hf), b = read_all(st_denoised.checkpoint(), hf);
            EXPECT_EQ(a, b);
            EXPECT_NE(a, read_all(gg.checkpoint(), hf));
        } else {
            const auto x = src.raw(t), y = out.raw(*o);
            ASSERT_EQ(x.size(), y.size());
            EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size()), 0);
        }
    }
    EXPECT_EQ(replaced, 4);

    // Re-quantised to Q8_0: the rewritten tensors are Q8_0 and close to the reconstruction.
    exporting::write_denoised_gguf(dir.file("q8.gguf"), gg, opt, s,
                                   {exporting::CheckpointForm::Dense, io::GgmlType::Q8_0});
    const model::Model q8(dir.file("q8.gguf"));
    const std::string v = "model.layers.3.self_attn.v_proj.weight";
    EXPECT_EQ(q8.checkpoint().at(v).info->dtype, io::DType::Q8_0);
    const auto a = read_all(q8.checkpoint(), v), b = read_all(st_denoised.checkpoint(), v);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    EXPECT_LT(std::sqrt(num / den), 1e-2);

    // The factorised form: the layer's dense attention tensors give way to U1, U2, U3, core.
    exporting::write_denoised_gguf(dir.file("f.gguf"), gg, opt, s, {exporting::CheckpointForm::Factorised, {}});
    const io::GgufFile fac(dir.file("f.gguf"));
    EXPECT_EQ(fac.find("blk.3.attn_q.weight"), nullptr);
    const auto* u1 = fac.find("tensorllm.layers.3.U1");
    ASSERT_NE(u1, nullptr);
    EXPECT_EQ(u1->ne, (std::vector<std::uint64_t>{32, std::uint64_t(st.shape().d)}));
    ASSERT_NE(fac.find("tensorllm.layers.3.core"), nullptr);
    EXPECT_EQ(fac.get_string("tensorllm.form"), "factorised");
}

TEST(GgufModel, DenoisedGgufRefusesToOverwriteItsSource) {
    TempDir dir;
    const model::Model st(stories_dir());
    exporting::convert_to_gguf(dir.file("src.gguf"), st);
    const model::Model gg(dir.file("src.gguf"));
    jobs::JobSummary s;
    s.layers.push_back(decompose(gg, 0, {16, 4, 4}));
    const auto before = test::read_file_bytes(dir.file("src.gguf"));
    EXPECT_ANY_THROW(exporting::write_denoised_gguf(dir.file("src.gguf"), gg, {}, s));
    EXPECT_EQ(test::read_file_bytes(dir.file("src.gguf")), before);
    EXPECT_THROW(exporting::write_denoised_gguf(dir.file("x.gguf"), st, {}, s), std::invalid_argument);
}

// Metadata the model needs: an unsupported architecture, a missing size and impossible kv
// heads are errors naming the file and the key.
TEST(GgufModel, BadMetadataIsNamed) {
    TempDir dir;
    const auto write = [&](const std::string& arch, bool with_layers, std::uint32_t kv) {
        io::GgufWriter w;
        w.add_string("general.architecture", arch);
        w.add_u32(arch + ".embedding_length", 8);
        if (with_layers) w.add_u32(arch + ".block_count", 1);
        w.add_u32(arch + ".feed_forward_length", 16);
        w.add_u32(arch + ".attention.head_count", 2);
        w.add_u32(arch + ".attention.head_count_kv", kv);
        w.add_tensor("blk.0.attn_q.weight", io::GgmlType::F32, {8, 8},
                     [](std::span<std::byte> d) { std::memset(d.data(), 0, d.size()); });
        const std::string path = dir.file(arch + std::to_string(with_layers) + std::to_string(kv) + ".gguf");
        w.write(path);
        return path;
    };
    const auto message = [](const std::string& path) {
        try {
            model::Model m(path);
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string e = message(write("mamba", true, 2));
    EXPECT_NE(e.find("general.architecture = 'mamba' is not supported"), std::string::npos) << e;
    EXPECT_NE(e.find("mamba12.gguf"), std::string::npos) << e;
    e = message(write("llama", false, 2));
    EXPECT_NE(e.find("llama.block_count is missing"), std::string::npos) << e;
    e = message(write("llama", true, 3));
    EXPECT_NE(e.find("head_count_kv = 3"), std::string::npos) << e;
}

}  // namespace
}  // namespace tllm
