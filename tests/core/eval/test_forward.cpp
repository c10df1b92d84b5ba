// The forward pass against the independent float64 references of tests/data/reference
// (README.md there): the demo GPT-2 and the real stories260K Llama.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "eval/evaluate.h"
#include "eval/forward.h"
#include "eval_test_util.h"
#include "model/synthetic.h"
#include "support/test_util.h"

namespace tllm::test {
namespace {

double max_abs_diff(const std::vector<double>& a, const nlohmann::json& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i].get<double>()));
    return m;
}

TEST(Forward, DemoPassageLogprobsMatchReference) {
    const auto ref = reference_json("demo-gpt2.json")["passage"];
    auto t = load_transformer(demo_model_dir());
    EXPECT_EQ(t->config().family, eval::Family::GPT2);
    const auto ids = byte_ids(ref["text"].get<std::string>());
    const auto lp = window_logprobs(*t, ids);
    ASSERT_EQ(lp.size(), ref["logprobs"].size());
    const double diff = max_abs_diff(lp, ref["logprobs"]);
    EXPECT_LT(diff, 1e-3);
    double sum = 0;
    for (double v : lp) sum -= v;
    EXPECT_NEAR(sum / double(lp.size()), ref["mean_nll"].get<double>(), 1e-4);
    RecordProperty("max_abs_logprob_diff", std::to_string(diff));
}

TEST(Forward, DemoGreedyMatchesReference) {
    const auto ref = reference_json("demo-gpt2.json")["greedy"];
    auto t = load_transformer(demo_model_dir());
    const auto prompt = byte_ids(ref["prompt"].get<std::string>());
    const auto out = eval::generate_greedy(*t, prompt, int(ref["ids"].size()), -1);
    EXPECT_EQ(out, ref["ids"].get<std::vector<std::int32_t>>());
}

TEST(Forward, StoriesPassageLogprobsMatchReference) {
    const auto ref = reference_json("stories260K.json")["passage"];
    auto t = load_transformer(stories_dir());
    EXPECT_EQ(t->config().family, eval::Family::Llama);
    EXPECT_EQ(t->config().n_kv_heads, 4);
    const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
    const auto lp = window_logprobs(*t, ids);
    ASSERT_EQ(lp.size(), ref["logprobs"].size());
    EXPECT_LT(max_abs_diff(lp, ref["logprobs"]), 1e-3);
    double sum = 0;
    for (double v : lp) sum -= v;
    EXPECT_NEAR(sum / double(lp.size()), ref["mean_nll"].get<double>(), 1e-4);
}

TEST(Forward, StoriesGreedyFromBosMatchesReference) {
    const auto ref = reference_json("stories260K.json")["greedy_from_bos"];
    auto t = load_transformer(stories_dir());
    const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
    const auto out = eval::generate_greedy(*t, prompt, int(ref["ids"].size()), -1);
    EXPECT_EQ(out, ref["ids"].get<std::vector<std::int32_t>>());
}

// Prefilling a window at once and feeding it token by token through the cache agree.
TEST(Forward, PrefillEqualsTokenByToken) {
    auto t = load_transformer(stories_dir());
    const auto ids = reference_json("stories260K.json")["passage"]["ids"].get<std::vector<std::int32_t>>();
    const int n = 40;
    auto a = t->make_state(n, n);
    t->forward(a, std::span(ids).first(n), 0);
    auto b = t->make_state(n, 1);
    std::vector<float> la(std::size_t(t->config().vocab_size) * n), lb(std::size_t(t->config().vocab_size));
    t->logits(a, a.x.data(), n, la.data());
    double m = 0;
    for (int i = 0; i < n; ++i) {
        t->forward(b, std::span(ids).subspan(std::size_t(i), 1), i);
        t->logits(b, b.x.data(), 1, lb.data());
        for (int v = 0; v < t->config().vocab_size; ++v)
            m = std::max(m, double(std::abs(lb[std::size_t(v)] - la[std::size_t(i) * t->config().vocab_size + v])));
    }
    EXPECT_LT(m, 1e-4);
}

// Running from a layer on captured hidden states reproduces the full forward pass, and
// overriding a layer with its own tensors changes nothing while another layer's weights do.
TEST(Forward, RunFromLayerAndOverride) {
    auto t = load_transformer(demo_model_dir());
    const auto ids = byte_ids("In the beginning God created the heaven and the earth.");
    const int n = int(ids.size()), L = t->config().n_layers, d = t->config().dim;
    auto s = t->make_state(n, n);
    t->embed(ids, 0, s.x.data());
    t->run_layers(s, s.x.data(), n, 0, 0, 3);
    std::vector<float> mid(s.x.begin(), s.x.begin() + std::ptrdiff_t(n) * d);
    t->run_layers(s, s.x.data(), n, 0, 3, L);
    std::vector<float> full(s.x.begin(), s.x.begin() + std::ptrdiff_t(n) * d);
    t->run_layers(s, mid.data(), n, 0, 3, L);
    EXPECT_EQ(mid, full);

    // Override layer 3's attention with layer 4's tensors of the same shapes.
    const auto& ck = t->model().checkpoint();
    std::vector<tensor::RebuiltTensor> repl;
    for (const char* part : {"attn.c_attn.weight", "attn.c_proj.weight"}) {
        const auto src = ck.at(std::string("h.4.") + part);
        tensor::RebuiltTensor r;
        r.name = std::string("h.3.") + part;
        r.dtype = src.info->dtype;
        r.shape = src.info->shape;
        const auto raw = src.file->raw(*src.info);
        r.bytes.assign(raw.begin(), raw.end());
        repl.push_back(std::move(r));
    }
    t->set_layer_override(3, repl);
    t->forward(s, ids, 0);
    std::vector<float> changed(s.x.begin(), s.x.begin() + std::ptrdiff_t(n) * d);
    EXPECT_NE(changed, full);
    t->clear_layer_override(3);
    t->forward(s, ids, 0);
    EXPECT_EQ(std::vector<float>(s.x.begin(), s.x.begin() + std::ptrdiff_t(n) * d), full);
    repl[0].name = "h.3.mlp.nonexistent";
    EXPECT_THROW(t->set_layer_override(3, repl), std::invalid_argument);
}

// Weights streamed per use (no cache) give the same numbers as cached weights.
TEST(Forward, StreamedWeightsEqualCached) {
    eval::ForwardOptions none;
    none.cache_bytes = 0;
    auto a = load_transformer(stories_dir());
    auto b = load_transformer(stories_dir(), none);
    const auto ids = reference_json("stories260K.json")["passage"]["ids"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(window_logprobs(*a, ids), window_logprobs(*b, ids));
    EXPECT_GT(a->cached_bytes(), 0u);
    EXPECT_EQ(b->cached_bytes(), 0u);
}

TEST(Forward, ThreadCountDoesNotChangeResults) {
    eval::ForwardOptions one, two;
    one.threads = 1;
    two.threads = 2;
    const auto ids = byte_ids(reference_json("demo-gpt2.json")["passage"]["text"].get<std::string>());
    auto a = load_transformer(demo_model_dir(), one);
    auto b = load_transformer(demo_model_dir(), two);
    EXPECT_EQ(window_logprobs(*a, ids), window_logprobs(*b, ids));
    const auto sid = reference_json("stories260K.json")["passage"]["ids"].get<std::vector<std::int32_t>>();
    auto c = load_transformer(stories_dir(), one);
    auto d = load_transformer(stories_dir(), two);
    EXPECT_EQ(window_logprobs(*c, sid), window_logprobs(*d, sid));
}

// tensorllm synth --vocab: complete gpt2 and llama checkpoints that evaluation runs, with the
// config fields of the spec; near-uniform predictions (random weights of standard deviation 0.02).
TEST(Forward, SyntheticCompleteModelsEvaluate) {
    for (const bool gpt2 : {true, false})
        for (const bool tied : {true, false}) {
            if (gpt2 && !tied) continue;  // gpt2 always ties
            TempDir dir;
            model::SyntheticSpec s;
            s.model_type = gpt2 ? "gpt2" : "llama";
            s.hidden = 64;
            s.heads = 4;
            s.kv_heads = gpt2 ? 0 : 2;
            s.layers = 2;
            s.ffn = 96;
            s.vocab = 300;
            s.positions = 128;
            s.tied_embeddings = tied;
            s.dtype = io::DType::BF16;
            model::write_synthetic_checkpoint(dir.path().string(), s);
            auto t = load_transformer(dir.path().string());
            const auto& c = t->config();
            EXPECT_EQ(c.dim, 64);
            EXPECT_EQ(c.n_kv_heads, gpt2 ? 4 : 2);
            EXPECT_EQ(c.hidden_dim, 96);
            EXPECT_EQ(c.vocab_size, 300);
            EXPECT_EQ(c.max_positions, 128);
            EXPECT_EQ(c.tied_embeddings, tied);
            std::vector<std::int32_t> ids;
            for (int i = 0; i < 100; ++i) ids.push_back((i * 37) % 300);
            const auto lp = window_logprobs(*t, ids);
            double mean = 0;
            for (double v : lp) mean -= v / double(lp.size());
            EXPECT_NEAR(mean, std::log(300.0), 0.2) << s.model_type << (tied ? " tied" : "");
        }
    model::SyntheticSpec bad;
    bad.model_type = "gpt_neox";
    bad.vocab = 100;
    EXPECT_THROW(bad.validate(), std::invalid_argument);
}

TEST(Forward, UnsupportedModelTypeIsAClearError) {
    io::ModelConfig mc;
    mc.model_type = "bert";
    mc.path = "x/config.json";
    try {
        eval::read_eval_config(mc);
        FAIL() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("evaluation is not available for model_type bert; decomposition is"),
                  std::string::npos)
            << e.what();
    }
}

// Configurations the forward pass does not implement name the file and the field.
TEST(Forward, UnsupportedConfigFieldsAreClearErrors) {
    const struct {
        const char* model_type;
        const char* json;
        const char* message;
    } cases[] = {
        {"llama", R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8, "mlp_bias": true})",
         "x/config.json: field mlp_bias: true"},
        {"gpt2", R"({"model_type": "gpt2", "n_embd": 64, "n_head": 4, "scale_attn_weights": false})",
         "x/config.json: field scale_attn_weights: false"},
        {"llama", R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
                      "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})",
         "rope_scaling type 'yarn' is not supported by evaluation (linear, llama3); decomposition is"},
    };
    for (const auto& c : cases) {
        io::ModelConfig mc;
        mc.model_type = c.model_type;
        mc.path = "x/config.json";
        mc.raw = nlohmann::json::parse(c.json);
        try {
            eval::read_eval_config(mc);
            ADD_FAILURE() << "no error for " << c.json;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
        }
    }
}

TEST(Forward, TokenOutsideVocabularyIsAnError) {
    auto t = load_transformer(demo_model_dir());
    auto s = t->make_state(8, 8);
    const std::vector<std::int32_t> ids{1, 2, 400};
    EXPECT_THROW(t->forward(s, ids, 0), std::out_of_range);
    EXPECT_THROW(t->make_state(t->config().max_positions + 1, 1), std::invalid_argument);
}

}  // namespace
}  // namespace tllm::test
