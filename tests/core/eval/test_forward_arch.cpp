// Architecture semantics of the forward pass against tests/reference/eval_reference.py, an
// independent float64 numpy implementation of the Hugging Face modelling code, on small
// random checkpoints it writes: llama with q/k/v/o biases and rope_scaling linear, llama3
// rope_scaling with an explicit head_dim, qwen2 biases, mistral's sliding window, gpt_neox
// with partial rotary and parallel or sequential residual, gpt2 with the transformer. prefix.
#include <cmath>

#include <gtest/gtest.h>

#include "eval/evaluate.h"
#include "eval_test_util.h"
#include "support/test_util.h"

namespace tllm::test {
namespace {

bool have_numpy() {
    const std::string py = TLLM_SYSTEM_PYTHON;
    return !py.empty() && std::system((py + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
}

class ForwardArch : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardArch, MatchesNumpyReference) {
    if (!have_numpy()) GTEST_SKIP() << TLLM_SYSTEM_PYTHON << " cannot import numpy; skipping";
    TempDir dir;
    const std::string cmd = std::string(TLLM_SYSTEM_PYTHON) + " " + TLLM_TEST_DIR + "/reference/eval_reference.py " +
                            dir.path().string() + " " + GetParam() + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const auto ref = nlohmann::json::parse(read_file_bytes(dir.file("reference.json")));
    const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
    auto t = load_transformer(dir.path().string());
    const auto lp = window_logprobs(*t, ids);
    ASSERT_EQ(lp.size(), ref["logprobs"].size());
    double worst = 0;
    for (std::size_t i = 0; i < lp.size(); ++i)
        worst = std::max(worst, std::abs(lp[i] - ref["logprobs"][i].get<double>()));
    EXPECT_LT(worst, 1e-4) << GetParam();
    // The same through the cache one token at a time (decode path, sliding window included).
    const int n = int(ids.size());
    auto s = t->make_state(n, 1);
    std::vector<double> one(1);
    std::vector<std::int32_t> am(1);
    double worst_step = 0;
    for (int i = 0; i + 1 < n; ++i) {
        t->forward(s, std::span(ids).subspan(std::size_t(i), 1), i);
        t->score(s, s.x.data(), 1, std::span(ids).subspan(std::size_t(i) + 1, 1), one.data(), am.data());
        worst_step = std::max(worst_step, std::abs(one[0] - ref["logprobs"][std::size_t(i)].get<double>()));
        EXPECT_EQ(am[0], ref["argmax"][std::size_t(i)].get<int>()) << "position " << i;
    }
    EXPECT_LT(worst_step, 1e-4) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Variants, ForwardArch,
                         ::testing::Values("llama_linear_bias", "llama3_scaling", "qwen2", "mistral_window",
                                           "neox_parallel", "neox_sequential", "gpt2_prefixed"));

}  // namespace
}  // namespace tllm::test
