// The evaluations against the float64 references of tests/data/reference (README.md there):
// the demo model's KJV validation split (ctx 128, strides 128 and 64), the stories260K
// passage through its SentencePiece tokenizer, and the stories260K multiple-choice items.
// Plus the window rule, last-word accuracy, cancel and bad input.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "eval/evaluate.h"
#include "eval/tokenizer.h"
#include "eval_test_util.h"
#include "support/test_util.h"
#include "util/sha256.h"

namespace tllm::test {
namespace {

std::string validation_text() { return read_file_bytes(std::string(TLLM_TEST_DIR) + "/data/kjv/validation.txt"); }

TEST(Evaluate, KjvValidationSplitMatchesReference) {
    const auto ref = reference_json("demo-gpt2.json")["kjv_validation_split"];
    const std::string text = validation_text();
    ASSERT_EQ(std::int64_t(text.size()), ref["n_bytes"].get<std::int64_t>());
    ASSERT_EQ(util::sha256_hex(text), ref["sha256"].get<std::string>());
    auto t = load_transformer(demo_model_dir());
    auto tok = eval::load_tokenizer(demo_model_dir(), t->config().vocab_size);
    EXPECT_EQ(tok->encode(text), byte_ids(text));
    for (const int stride : {128, 64}) {
        SCOPED_TRACE("stride " + std::to_string(stride));
        const auto r0 = std::chrono::steady_clock::now();
        eval::PerplexityOptions o;
        o.ctx = 128;
        o.stride = stride;
        const auto r = eval::perplexity(*t, *tok, text, o, "validation.txt");
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
        const auto& p = ref[stride == 128 ? "ctx128_stride128" : "ctx128_stride64"];
        EXPECT_EQ(r.n_scored, p["n_predicted"].get<std::int64_t>());
        EXPECT_NEAR(r.mean_nll, p["mean_nll"].get<double>(), 1e-4);
        EXPECT_NEAR(r.sum_nll, p["sum_nll"].get<double>(), 1e-4 * double(r.n_scored));
        EXPECT_EQ(r.n_bytes, r.n_scored);  // byte level
        EXPECT_NEAR(r.bits_per_byte, r.mean_nll / std::log(2.0), 1e-12);
        EXPECT_GT(r.mean_nll_stderr, 0.0);
        EXPECT_LT(r.mean_nll_stderr, 0.01);
        if (stride == 128) {
            EXPECT_EQ(r.n_windows(), 3128);
        }
        std::printf("[ measured ] stride %d: mean NLL %.7f (reference %.7f, |diff| %.2e), %.1f s\n", stride, r.mean_nll,
                    p["mean_nll"].get<double>(), std::abs(r.mean_nll - p["mean_nll"].get<double>()), secs);
    }
}

TEST(Evaluate, StoriesPassageThroughTokenizer) {
    const auto ref = reference_json("stories260K.json")["passage"];
    auto t = load_transformer(stories_dir());
    auto tok = eval::load_tokenizer(stories_dir(), t->config().vocab_size);
    const std::string text = ref["text"].get<std::string>();
    EXPECT_EQ(tok->encode_with_bos(text), ref["ids"].get<std::vector<std::int32_t>>());
    const auto r = eval::perplexity(*t, *tok, text, {}, "passage");
    EXPECT_EQ(r.n_windows(), 1);
    EXPECT_EQ(r.n_scored, ref["n_predicted"].get<std::int64_t>());
    EXPECT_NEAR(r.mean_nll, ref["mean_nll"].get<double>(), 1e-4);
    // Every byte of the text belongs to one scored token (BOS has none, the first piece is scored).
    EXPECT_EQ(r.n_bytes, std::int64_t(text.size()));
}

TEST(Evaluate, StoriesMultipleChoiceMatchesReference) {
    const auto ref = reference_json("stories260K.json");
    auto t = load_transformer(stories_dir());
    auto tok = eval::load_tokenizer(stories_dir(), t->config().vocab_size);
    const auto items = eval::read_mc_jsonl(std::string(TLLM_TEST_DIR) + "/data/reference/stories260K-mc.jsonl");
    ASSERT_EQ(items.size(), ref["multiple_choice"].size());
    const auto r = eval::multiple_choice(*t, *tok, items, "stories260K-mc.jsonl");
    double worst = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& ri = ref["multiple_choice"][i];
        SCOPED_TRACE("item " + std::to_string(i));
        ASSERT_EQ(r.items[i].loglik.size(), ri["choices"].size());
        for (std::size_t c = 0; c < ri["choices"].size(); ++c) {
            const double diff = std::abs(r.items[i].loglik[c] - ri["choices"][c]["sum_logprob"].get<double>());
            worst = std::max(worst, diff);
            EXPECT_LT(diff, 1e-3);
            EXPECT_EQ(r.items[i].n_tokens[c], ri["choices"][c]["n_tokens"].get<int>());
            EXPECT_EQ(r.items[i].bytes[c], ri["choices"][c]["n_bytes"].get<std::int64_t>());
        }
        EXPECT_EQ(r.items[i].pick, ri["pick_by_sum"].get<int>());
        EXPECT_EQ(r.items[i].pick_norm, ri["pick_by_byte_norm"].get<int>());
    }
    EXPECT_NEAR(r.acc, ref["multiple_choice_accuracy"]["by_sum_logprob"].get<double>(), 1e-12);
    EXPECT_NEAR(r.acc_norm, ref["multiple_choice_accuracy"]["by_logprob_per_byte"].get<double>(), 1e-12);
    EXPECT_NEAR(r.acc_stderr, std::sqrt(r.acc * (1 - r.acc) / double(items.size() - 1)), 1e-12);
    std::printf("[ measured ] multiple choice: max |loglik diff| %.2e\n", worst);
}

// The window rule of tests/data/reference/README.md, checked against one-window scoring of
// every window by hand.
TEST(Evaluate, WindowRule) {
    auto t = load_transformer(demo_model_dir());
    const auto ids = byte_ids("In the beginning God created the heaven and the earth. And the earth was");
    const int n = int(ids.size());
    for (const auto& [ctx, stride] : {std::pair{16, 16}, std::pair{16, 5}, std::pair{16, 1}, std::pair{8, 7}}) {
        SCOPED_TRACE(std::to_string(ctx) + "/" + std::to_string(stride));
        eval::PerplexityOptions o;
        o.ctx = ctx;
        o.stride = stride;
        const auto r = eval::perplexity_ids(*t, ids, {}, o, "ids");
        double expect = 0;
        std::int64_t scored = 0;
        int windows = 0, prev_end = 0;
        for (int b = 0;; b += stride) {
            const int e = std::min(b + ctx, n);
            const auto lp = window_logprobs(*t, std::vector<std::int32_t>(ids.begin() + b, ids.begin() + e));
            for (int tok = std::max(prev_end, b + 1); tok < e; ++tok, ++scored) expect -= lp[std::size_t(tok - b - 1)];
            ++windows;
            prev_end = e;
            if (e == n) break;
        }
        EXPECT_EQ(r.n_windows(), windows);
        EXPECT_EQ(r.n_scored, scored);
        if (stride < ctx) {
            EXPECT_EQ(r.n_scored, n - 1);
        }
        EXPECT_NEAR(r.sum_nll, expect, 1e-4);
    }
    eval::PerplexityOptions budget;
    budget.ctx = 16;
    budget.max_tokens = 20;
    const auto r = eval::perplexity_ids(*t, ids, {}, budget, "ids");
    EXPECT_EQ(r.n_tokens, 20);
    EXPECT_EQ(r.n_scored, 18);  // windows [0,16) and [16,20)
}

// Last-word accuracy agrees with greedy generation of the last word (byte level: the word
// is predicted exactly when generation reproduces it).
TEST(Evaluate, LastWordAgreesWithGeneration) {
    auto t = load_transformer(demo_model_dir());
    auto tok = eval::byte_tokenizer();
    const std::string text =
        "In the beginning God created the heaven and the earth\n"
        "And God said, Let there be light: and there was light\n"
        "\n"
        "And God saw the light, that it was good\n"
        "And the evening and the morning were the first day\n"
        "Jesus wept and the people said unto him\n";
    const auto r = eval::last_word(*t, *tok, text, "lines");
    EXPECT_EQ(r.n_items, 5);
    int correct = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find('\n', pos);
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty()) continue;
        const auto sp = line.rfind(' ');
        const std::string target = line.substr(sp);
        const auto out = eval::generate_greedy(*t, byte_ids(line.substr(0, sp)), int(target.size()), -1);
        correct += out == byte_ids(target);
    }
    EXPECT_NEAR(r.acc, correct / 5.0, 1e-12);
    EXPECT_LT(r.mean_loglik, 0.0);
}

TEST(Evaluate, CancelStopsPerplexity) {
    auto t = load_transformer(demo_model_dir());
    std::atomic<bool> cancel{true};
    std::atomic<float> progress{0};
    util::Control ctl;
    ctl.cancel = &cancel;
    ctl.progress = &progress;
    const auto ids = byte_ids(validation_text().substr(0, 4096));
    EXPECT_THROW(eval::perplexity_ids(*t, ids, {}, {}, "x", ctl), util::Cancelled);
    cancel = false;
    const auto r = eval::perplexity_ids(*t, ids, {}, {}, "x", ctl);
    EXPECT_FLOAT_EQ(progress.load(), 1.0f);
    EXPECT_EQ(r.n_scored, 4096 - 32);
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Evaluate, BadInputIsAClearError) {
    auto t = load_transformer(demo_model_dir());
    auto tok = eval::byte_tokenizer();
    auto has = [](const std::string& msg, const std::string& part) {
        EXPECT_NE(msg.find(part), std::string::npos) << msg;
    };
    has(error_of([&] { eval::perplexity(*t, *tok, "", {}, "empty.txt"); }), "empty.txt: the text is empty");
    has(error_of([&] { eval::perplexity(*t, *tok, "A", {}, "one.txt"); }), "one.txt: the text has 1 token(s)");
    eval::PerplexityOptions big;
    big.ctx = 129;
    has(error_of([&] { eval::perplexity(*t, *tok, "abc", big, "f"); }), "ctx 129 is above the model's 128 positions");
    eval::PerplexityOptions st;
    st.ctx = 16;
    st.stride = 17;
    has(error_of([&] { eval::perplexity(*t, *tok, "abc", st, "f"); }), "stride must be in 1..16");

    const std::string good = R"({"context": "a", "choices": ["b", "c"], "answer": 1})";
    EXPECT_EQ(eval::parse_mc_jsonl(good + "\n\n" + R"({"query": "x", "choices": ["y", "z"], "gold": 0})", "mc").size(),
              2u);
    has(error_of([&] { eval::parse_mc_jsonl(good + "\n{\"context\": ", "mc.jsonl"); }), "mc.jsonl:2: not valid JSON");
    has(error_of([&] { eval::parse_mc_jsonl(R"({"choices": ["b", "c"], "answer": 0})", "mc.jsonl"); }),
        "mc.jsonl:1: missing string field \"context\"");
    has(error_of([&] { eval::parse_mc_jsonl(R"({"context": "a", "choices": ["b", "c"], "answer": 2})", "m"); }),
        "m:1: answer 2 is out of range (2 choices)");
    has(error_of([&] { eval::parse_mc_jsonl(R"({"context": "a", "choices": ["b", "c"]})", "m"); }),
        "m:1: missing integer field \"answer\"");
    has(error_of([&] { eval::parse_mc_jsonl(R"({"context": "a", "choices": ["b"], "answer": 0})", "m"); }),
        "at least two");
    has(error_of([&] { eval::parse_mc_jsonl("\n\n", "m"); }), "m: no items");
    has(error_of([&] { eval::read_mc_jsonl("/nonexistent/mc.jsonl"); }), "/nonexistent/mc.jsonl: cannot open");
    has(error_of([&] { eval::last_word(*t, *tok, "one two\nsingle\n", "lw.txt"); }),
        "lw.txt:2: no text before the last word");
    has(error_of([&] { eval::last_word(*t, *tok, "\n \n", "lw.txt"); }), "lw.txt: the text has no lines");
    const std::vector<std::int32_t> none;
    has(error_of([&] { eval::generate_greedy(*t, none, 4, -1); }), "the prompt is empty");
}

}  // namespace
}  // namespace tllm::test
