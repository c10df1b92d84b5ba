// Evaluation in the loop: edits in memory against the float64 HOSVD-edit references of
// tests/data/reference, against the written denoised checkpoint, LASER against an
// independent SVD, KL / top-1 against a direct computation, the prefix cache against full
// passes, thread-count independence, cancel, bad input.
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include <Eigen/Dense>

#include "edits/sweep.h"
#include "eval/evaluate.h"
#include "eval/tokenizer.h"
#include "core/eval/eval_test_util.h"
#include "jobs/job_runner.h"
#include "results/sweep_tables.h"
#include "support/test_util.h"
#include "writeback/denoised_checkpoint.h"

namespace tllm::test {
namespace {

namespace fs = std::filesystem;

template <class E, class F>
void expect_throw_containing(F&& f, const std::string& text) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one containing: " << text;
    } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
}

std::string edit_text() {
    const std::string all = read_file_bytes(std::string(TLLM_TEST_DIR) + "/data/kjv/validation.txt");
    return all.substr(0, 65536);  // the reference's "first 65536 bytes of the validation split"
}

eval::PerplexityOptions windows(int ctx, int stride, std::int64_t max_tokens = 0) {
    eval::PerplexityOptions o;
    o.ctx = ctx;
    o.stride = stride;
    o.max_tokens = max_tokens;
    return o;
}

jobs::LayerResult decompose(const model::Model& m, int layer, std::array<int, 3> ranks,
                            tucker::Method method = tucker::Method::HOSVD) {
    jobs::JobOptions o;
    o.layers = {layer};
    o.ranks.kind = tucker::RankSpec::Kind::Fixed;
    o.ranks.ranks = ranks;
    o.tucker.method = method;
    auto r = jobs::run_layer(m, layer, o, {});
    EXPECT_TRUE(r.complete()) << r.message;
    return r;
}

edits::EditSet attention_edit(const model::Model& m, const jobs::LayerResult& r) {
    edits::EditSet s;
    s[r.layer] = edits::attention_tensors(m, r.layer, r.tucker);
    return s;
}

// The demo model with one layer's attention replaced by its HOSVD reconstruction, scored on
// the first 64 KiB of its validation split: the reference's twelve (layer, ranks) edits.
TEST(Edits, DemoHosvdEditsMatchReference) {
    const auto ref = reference_json("demo-gpt2.json");
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    eval::Transformer t(m);
    auto tok = eval::load_tokenizer(demo_model_dir(), t.config().vocab_size);
    const auto in = edits::make_sweep_input(*tok, edit_text(), "validation.txt[:65536]");
    edits::TextComparer cmp(t, in.ids, in.token_bytes, windows(128, 128), in.text_source, {0, 1, 2, 3, 4, 5},
                            1ull << 30);
    const auto& base = cmp.baseline();
    EXPECT_EQ(base.n_scored, ref["unedited_on_edit_text"]["n_predicted"].get<std::int64_t>());
    EXPECT_NEAR(base.mean_nll, ref["unedited_on_edit_text"]["mean_nll"].get<double>(), 1e-4);
    ASSERT_EQ(ref["hosvd_edits"].size(), 12u);
    double worst = 0;
    for (const auto& e : ref["hosvd_edits"]) {
        const int layer = e["layer"].get<int>();
        const auto ranks = e["ranks"].get<std::array<int, 3>>();
        SCOPED_TRACE("layer " + std::to_string(layer) + " ranks " + std::to_string(ranks[0]) + "," +
                     std::to_string(ranks[1]) + "," + std::to_string(ranks[2]));
        const auto r = decompose(*m, layer, ranks);
        EXPECT_NEAR(r.measures.rel_error, e["relative_error"].get<double>(), 1e-5);
        const auto c = cmp.compare(attention_edit(*m, r));
        EXPECT_EQ(c.edited.n_scored, e["n_predicted"].get<std::int64_t>());
        EXPECT_NEAR(c.edited.mean_nll, e["mean_nll"].get<double>(), 2e-4);
        EXPECT_NEAR(c.delta_nll, e["mean_nll"].get<double>() - ref["unedited_on_edit_text"]["mean_nll"].get<double>(),
                    2e-4);
        EXPECT_EQ(c.start_layer, layer);  // every layer's entering states fit the budget (layer 0: the embedding)
        worst = std::max(worst, std::abs(c.edited.mean_nll - e["mean_nll"].get<double>()));
    }
    std::printf("[ measured ] demo HOSVD edits: largest |mean NLL - reference| %.2e nats\n", worst);
}

// stories260K (grouped-query attention, SentencePiece) scored on its passage in one window.
TEST(Edits, StoriesHosvdEditsMatchReference) {
    const auto ref = reference_json("stories260K.json");
    auto m = std::make_shared<const model::Model>(stories_dir());
    eval::Transformer t(m);
    const auto ids = ref["passage"]["ids"].get<std::vector<std::int32_t>>();
    const int n = int(ids.size());
    edits::TextComparer cmp(t, ids, {}, windows(n, n), "passage", {0, 2, 4}, 1ull << 30);
    EXPECT_NEAR(cmp.baseline().mean_nll, ref["passage"]["mean_nll"].get<double>(), 1e-4);
    for (const auto& e : ref["hosvd_edits"]) {
        const int layer = e["layer"].get<int>();
        SCOPED_TRACE("layer " + std::to_string(layer));
        const auto r = decompose(*m, layer, e["ranks"].get<std::array<int, 3>>());
        EXPECT_NEAR(r.measures.rel_error, e["relative_error"].get<double>(), 1e-5);
        const auto c = cmp.compare(attention_edit(*m, r));
        EXPECT_NEAR(c.edited.mean_nll, e["passage_mean_nll"].get<double>(), 2e-4);
    }
}

// The edit in memory and the written `--denoised` checkpoint give the same numbers: the same
// write-back, the same forward pass (stories260K: grouped K/V averaged per group).
TEST(Edits, InMemoryEditEqualsWrittenDenoisedCheckpoint) {
    const TempDir dir;
    for (const std::string& path : {stories_dir(), demo_model_dir()}) {
        SCOPED_TRACE(path);
        auto m = std::make_shared<const model::Model>(path);
        eval::Transformer t(m);
        auto tok = eval::load_tokenizer(path, t.config().vocab_size);
        const auto in = edits::make_sweep_input(*tok, edit_text().substr(0, 6000), "text");
        jobs::JobOptions o;
        o.layers = {1, 3};
        o.ranks.kind = tucker::RankSpec::Kind::Fixed;
        o.ranks.ranks = {16, 4, 3};
        o.tucker.method = tucker::Method::HOOI;
        jobs::JobSummary s;
        for (int l : o.layers) s.layers.push_back(jobs::run_layer(*m, l, o, {}));
        const std::string out = dir.file(fs::path(path).filename().string());
        exporting::write_denoised_checkpoint(out, *m, o, s);

        edits::EditSet set;
        for (const auto& r : s.layers) edits::add_to(set, r.layer, edits::attention_tensors(*m, r.layer, r.tucker));
        edits::TextComparer cmp(t, in.ids, in.token_bytes, windows(64, 48), "text", {1, 3}, 1ull << 30);
        const auto c = cmp.compare(set);
        EXPECT_EQ(c.start_layer, 1);

        eval::Transformer written(std::make_shared<const model::Model>(out));
        const auto w = eval::perplexity_ids(written, in.ids, in.token_bytes, windows(64, 48), "text");
        EXPECT_EQ(w.n_scored, c.edited.n_scored);
        EXPECT_EQ(w.mean_nll, c.edited.mean_nll) << "in memory and written differ";
        EXPECT_EQ(w.window_nll, c.edited.window_nll);
        EXPECT_GT(c.delta_nll, -1.0);
    }
}

// LASER against an independent SVD (Eigen's JacobiSVD in double).
TEST(Edits, LaserIsTheTruncatedSvd) {
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    eval::Transformer t(m);
    for (const auto which : {eval::MlpMatrix::Up, eval::MlpMatrix::Down}) {
        const edits::LaserSpec spec{which, 12};
        const auto r = edits::laser_tensor(t, 2, spec);
        const auto& info = *m->checkpoint().at(r.tensor.name).info;
        ASSERT_EQ(r.tensor.shape, info.shape);
        const auto rows = Eigen::Index(info.shape[0]), cols = Eigen::Index(info.shape[1]);
        Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> A(rows, cols), Ar(rows, cols);
        m->checkpoint().at(r.tensor.name).file->read_f32(info, A.data());
        std::memcpy(Ar.data(), r.tensor.bytes.data(), r.tensor.bytes.size());  // f32 checkpoint
        const Eigen::MatrixXd Ad = A.cast<double>();
        Eigen::JacobiSVD<Eigen::MatrixXd> svd(Ad, Eigen::ComputeThinU | Eigen::ComputeThinV);
        const auto& sv = svd.singularValues();
        const Eigen::MatrixXd best =
            svd.matrixU().leftCols(12) * sv.head(12).asDiagonal() * svd.matrixV().leftCols(12).transpose();
        const double tail = std::sqrt(sv.tail(sv.size() - 12).squaredNorm());
        EXPECT_NEAR(r.rel_error, tail / Ad.norm(), 1e-5);
        EXPECT_LT((Ar.cast<double>() - best).norm() / best.norm(), 1e-4);
        EXPECT_EQ(r.params, std::uint64_t(rows * cols));
        EXPECT_EQ(r.params_rank, std::uint64_t(12 * (rows + cols)));
    }
    EXPECT_THROW(edits::laser_tensor(t, 0, {eval::MlpMatrix::Gate, 4}), std::invalid_argument);    // gpt2 has no gate
    EXPECT_THROW(edits::laser_tensor(t, 0, {eval::MlpMatrix::Down, 129}), std::invalid_argument);  // min(128, 512)
    EXPECT_EQ(edits::parse_laser_list("down:16, up:8").size(), 2u);
    for (const char* bad : {"", "down", "side:3", "up:0", "up:x", "up:3,"})
        EXPECT_THROW(edits::parse_laser_list(bad), std::invalid_argument) << bad;
}

// KL(p_unedited || p_edited), top-1 agreement and the edited NLL computed directly from two
// full passes, in double, token by token.
TEST(Edits, KlAndAgreementAgainstDirectComputation) {
    auto m = std::make_shared<const model::Model>(stories_dir());
    eval::Transformer t(m);
    const auto ids = reference_json("stories260K.json")["passage"]["ids"].get<std::vector<std::int32_t>>();
    const int n = int(ids.size());
    const auto r = decompose(*m, 3, {8, 4, 2});
    const auto set = attention_edit(*m, r);
    edits::TextComparer cmp(t, ids, {}, windows(n, n), "passage", {3}, 1ull << 30);
    const auto c = cmp.compare(set);

    auto logits_of = [&](bool edited) {
        if (edited) edits::apply_edits(t, set);
        auto s = t.make_state(n, n);
        t.forward(s, ids, 0);
        std::vector<float> z(std::size_t(n) * t.config().vocab_size);
        t.logits(s, s.x.data(), n, z.data());
        t.clear_layer_override();
        return z;
    };
    const auto zb = logits_of(false), ze = logits_of(true);
    const int V = t.config().vocab_size;
    double kl = 0, nll = 0;
    int agree = 0;
    std::vector<double> kls;
    for (int i = 0; i + 1 < n; ++i) {
        auto logp = [&](const std::vector<float>& z, int v) {
            double mx = -1e300, sum = 0;
            for (int u = 0; u < V; ++u) mx = std::max(mx, double(z[std::size_t(i) * V + u]));
            for (int u = 0; u < V; ++u) sum += std::exp(double(z[std::size_t(i) * V + u]) - mx);
            return double(z[std::size_t(i) * V + v]) - mx - std::log(sum);
        };
        double k = 0;
        int ab = 0, ae = 0;
        for (int v = 0; v < V; ++v) {
            k += std::exp(logp(zb, v)) * (logp(zb, v) - logp(ze, v));
            if (zb[std::size_t(i) * V + v] > zb[std::size_t(i) * V + ab]) ab = v;
            if (ze[std::size_t(i) * V + v] > ze[std::size_t(i) * V + ae]) ae = v;
        }
        kl += k;
        kls.push_back(k);
        agree += ab == ae;
        nll -= logp(ze, ids[std::size_t(i) + 1]);
    }
    const double N = n - 1;
    EXPECT_NEAR(c.kl_mean, kl / N, 1e-5);
    EXPECT_NEAR(c.top1_agreement, agree / N, 1e-12);
    EXPECT_NEAR(c.edited.mean_nll, nll / N, 1e-5);
    std::sort(kls.begin(), kls.end());
    EXPECT_NEAR(c.kl_p99, kls[std::size_t(std::ceil(0.99 * N)) - 1], 1e-5);
    EXPECT_GT(c.kl_mean, 0.0);
    EXPECT_LT(c.top1_agreement, 1.0);

    const auto same = cmp.compare({});
    EXPECT_EQ(same.delta_nll, 0.0);
    EXPECT_EQ(same.kl_mean, 0.0);
    EXPECT_EQ(same.top1_agreement, 1.0);
}

edits::SweepOptions small_sweep(int threads, std::uint64_t cache) {
    edits::SweepOptions o;
    o.layers = {1, 4};
    for (auto r : {std::array<int, 3>{32, 16, 4}, std::array<int, 3>{8, 8, 2}}) {
        tucker::RankSpec s;
        s.ranks = r;
        o.choices.push_back(s);
    }
    tucker::RankSpec tol;
    tol.kind = tucker::RankSpec::Kind::Tolerance;
    tol.tolerance = 0.5;
    o.choices.push_back(tol);
    o.laser = {{eval::MlpMatrix::Down, 16}};
    o.combine = true;
    o.tucker.method = tucker::Method::HOOI;
    o.ppl = windows(128, 96, 3000);
    o.threads = threads;
    o.prefix_cache_bytes = cache;
    return o;
}

// The same sweep on 1 and 2 threads, with and without the prefix cache: the same bits.
TEST(Edits, SweepDoesNotDependOnThreadsOrPrefixCache) {
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    auto tok = eval::load_tokenizer(demo_model_dir(), 257);
    const auto in = edits::make_sweep_input(*tok, edit_text(), "text");
    std::vector<edits::SweepResult> runs;
    for (auto [threads, cache] : {std::pair{1, 1ull << 30}, std::pair{2, 1ull << 30}, std::pair{2, 0ull}}) {
        eval::ForwardOptions fo;
        fo.threads = threads;
        eval::Transformer t(m, fo);
        int seen = 0;
        edits::SweepCallbacks cb;
        cb.point = [&](const edits::SweepPoint&) { ++seen; };
        runs.push_back(edits::run_sweep(*m, t, *tok, in, small_sweep(threads, cache), cb));
        EXPECT_EQ(seen, int(runs.back().points.size()));
    }
    const auto& a = runs[0];
    ASSERT_EQ(a.points.size(), 2u * (3 + 1 + 3));
    EXPECT_EQ(a.grid_size, a.points.size());
    EXPECT_EQ(runs[2].prefix.layers, std::vector<int>{});
    EXPECT_EQ(runs[1].prefix.layers, (std::vector<int>{1, 4}));
    // With the budget, the unedited distributions are kept too; without, recomputed per point.
    // The numbers below are bitwise the same either way.
    EXPECT_TRUE(runs[1].prefix.distribution);
    EXPECT_FALSE(runs[2].prefix.distribution);
    for (const auto& b : {runs[1], runs[2]})
        for (std::size_t i = 0; i < a.points.size(); ++i) {
            SCOPED_TRACE(a.points[i].label);
            EXPECT_EQ(a.points[i].mean_nll, b.points[i].mean_nll);
            EXPECT_EQ(a.points[i].kl_mean, b.points[i].kl_mean);
            EXPECT_EQ(a.points[i].kl_p99, b.points[i].kl_p99);
            EXPECT_EQ(a.points[i].top1_agreement, b.points[i].top1_agreement);
            EXPECT_TRUE(a.points[i].weight_error == b.points[i].weight_error ||
                        (std::isnan(a.points[i].weight_error) && std::isnan(b.points[i].weight_error)));
            EXPECT_TRUE(a.points[i].laser_error == b.points[i].laser_error ||
                        (std::isnan(a.points[i].laser_error) && std::isnan(b.points[i].laser_error)));
        }
    for (const auto& p : a.points) {
        SCOPED_TRACE(p.label);
        EXPECT_TRUE(p.ran()) << p.message;
        EXPECT_NEAR(p.delta_nll, p.mean_nll - a.baseline.ppl.mean_nll, 1e-12);
        EXPECT_GT(p.delta_nll_stderr, 0.0);
        EXPECT_GT(p.layer_ratio, 1.0);
        EXPECT_GT(p.model_ratio, 1.0);
        EXPECT_LT(p.model_ratio, p.layer_ratio);
        EXPECT_GE(p.kl_p99, 0.0);
    }
    // Order and labels: per layer the choices, the LASER choice, then the pairs.
    EXPECT_EQ(a.points[0].label, "32,16,4");
    EXPECT_EQ(a.points[2].label, "tol 0.5");
    EXPECT_EQ(a.points[3].label, "laser down:16");
    EXPECT_EQ(a.points[4].label, "32,16,4 + down:16");
    // The combined edit's ratio counts both parts.
    const auto& att = a.points[0];
    const auto& both = a.points[4];
    EXPECT_EQ(both.weight_error, att.weight_error);
    EXPECT_EQ(both.laser_error, a.points[3].laser_error);
    EXPECT_LT(both.model_ratio, 1.0 / (1.0 / att.model_ratio + 1.0 / a.points[3].model_ratio - 1.0) + 1e-9);

    // JSON round trip of everything a project or results.json keeps.
    const auto back = exporting::sweep_from_json(nlohmann::json::parse(exporting::sweep_json(a).dump()), "mem");
    ASSERT_EQ(back.points.size(), a.points.size());
    for (std::size_t i = 0; i < a.points.size(); ++i) {
        EXPECT_EQ(back.points[i].label, a.points[i].label);
        EXPECT_EQ(back.points[i].mean_nll, a.points[i].mean_nll);
        EXPECT_EQ(back.points[i].ranks, a.points[i].ranks);
        EXPECT_EQ(std::isnan(back.points[i].laser_error), std::isnan(a.points[i].laser_error));
    }
    EXPECT_EQ(back.baseline.ppl.mean_nll, a.baseline.ppl.mean_nll);
    EXPECT_EQ(back.options.choices.size(), 3u);
    EXPECT_EQ(back.options.laser[0].describe(), "down:16");
}

// Cancel after the first point: that point is kept, the rest are absent.
TEST(Edits, CancelKeepsFinishedPoints) {
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    eval::Transformer t(m);
    auto tok = eval::load_tokenizer(demo_model_dir(), 257);
    const auto in = edits::make_sweep_input(*tok, edit_text(), "text");
    std::atomic<bool> cancel{false};
    util::Control ctl;
    ctl.cancel = &cancel;
    edits::SweepCallbacks cb;
    cb.point = [&](const edits::SweepPoint&) { cancel = true; };
    const auto r = edits::run_sweep(*m, t, *tok, in, small_sweep(0, 1ull << 30), cb, ctl);
    EXPECT_TRUE(r.cancelled);
    ASSERT_EQ(r.points.size(), 1u);
    EXPECT_TRUE(r.points[0].ran());
    EXPECT_EQ(r.grid_size, 14u);
}

// Subsets of the grid (SweepOptions::only) run in separate sweeps and merged in any order
// give the whole sweep's points, bit for bit and in grid order; a point given twice or not in
// the grid is refused, as is an index beyond the grid.
TEST(Edits, GridSubsetsMergeIntoTheWholeSweep) {
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    eval::Transformer t(m);
    auto tok = eval::load_tokenizer(demo_model_dir(), 257);
    const auto in = edits::make_sweep_input(*tok, edit_text(), "text");
    const auto whole = edits::run_sweep(*m, t, *tok, in, small_sweep(0, 1ull << 30));
    ASSERT_EQ(whole.points.size(), 14u);
    auto odd = small_sweep(0, 1ull << 30), even = odd;
    for (std::size_t i = 0; i < 14; ++i) (i % 2 ? odd : even).only.push_back(i);
    auto a = edits::run_sweep(*m, t, *tok, in, even);
    auto b = edits::run_sweep(*m, t, *tok, in, odd);
    ASSERT_EQ(a.points.size(), 7u);
    ASSERT_EQ(b.points.size(), 7u);
    EXPECT_EQ(a.grid_size, 14u);
    EXPECT_EQ(a.baseline.ppl.mean_nll, whole.baseline.ppl.mean_nll);
    auto dup = b.points;
    edits::merge_points(b, a.points, "even");
    ASSERT_EQ(b.points.size(), 14u);
    for (std::size_t i = 0; i < 14; ++i) {
        SCOPED_TRACE(whole.points[i].label);
        EXPECT_EQ(b.points[i].label, whole.points[i].label);
        EXPECT_EQ(b.points[i].spec.layer, whole.points[i].spec.layer);
        EXPECT_EQ(b.points[i].mean_nll, whole.points[i].mean_nll);
        EXPECT_EQ(b.points[i].kl_mean, whole.points[i].kl_mean);
        EXPECT_EQ(b.points[i].top1_agreement, whole.points[i].top1_agreement);
        EXPECT_EQ(b.points[i].ranks, whole.points[i].ranks);
    }
    expect_throw_containing<std::invalid_argument>([&] { edits::merge_points(b, {dup[0]}, "again"); },
                                                   "again: point 1 (layer 1, 8,8,2) is given twice");
    edits::SweepPoint stranger = dup[0];
    stranger.spec.layer = 3;
    expect_throw_containing<std::invalid_argument>([&] { edits::merge_points(a, {stranger}, "other"); },
                                                   "other: point (layer 3, choice 1, laser -1) is not in");
    auto beyond = small_sweep(0, 1ull << 30);
    beyond.only = {2, 14};
    expect_throw_containing<std::invalid_argument>([&] { edits::run_sweep(*m, t, *tok, in, beyond); },
                                                   "only: grid index 14 is beyond the grid's 14 points");
    beyond.only = {3, 2};
    expect_throw_containing<std::invalid_argument>([&] { edits::run_sweep(*m, t, *tok, in, beyond); },
                                                   "strictly ascending");
}

TEST(Edits, BadInputIsAClearError) {
    auto m = std::make_shared<const model::Model>(demo_model_dir());
    eval::Transformer t(m);
    auto tok = eval::load_tokenizer(demo_model_dir(), 257);
    expect_throw_containing<std::runtime_error>([&] { edits::make_sweep_input(*tok, "", "empty.txt"); },
                                                "empty.txt: the text is empty");
    const auto in = edits::make_sweep_input(*tok, edit_text().substr(0, 500), "short.txt");
    auto o = small_sweep(0, 0);
    o.choices.clear();
    o.laser.clear();
    expect_throw_containing<std::invalid_argument>([&] { edits::run_sweep(*m, t, *tok, in, o); }, "no edit to sweep");
    o = small_sweep(0, 0);
    o.layers = {7};
    expect_throw_containing<std::invalid_argument>([&] { edits::run_sweep(*m, t, *tok, in, o); }, "layers: ");
    o = small_sweep(0, 0);
    o.ppl = windows(512, 512);
    expect_throw_containing<std::runtime_error>([&] { edits::run_sweep(*m, t, *tok, in, o); },
                                                "above the model's 128 positions");
    // A LASER rank beyond the matrix fails that point, with the reason; the others run.
    o = small_sweep(0, 0);
    o.layers = {1};
    o.combine = false;
    o.laser = {{eval::MlpMatrix::Down, 999}};
    const auto r = edits::run_sweep(*m, t, *tok, in, o);
    ASSERT_EQ(r.points.size(), 4u);
    EXPECT_EQ(r.points[3].status, tucker::Status::Failed);
    EXPECT_NE(r.points[3].message.find("outside 1..128"), std::string::npos) << r.points[3].message;
    EXPECT_TRUE(r.points[0].ran());
    expect_throw_containing<std::runtime_error>(
        [&] { exporting::sweep_from_json(nlohmann::json::parse(R"({"format":"x"})"), "f.json"); },
        "f.json: not a tensorllm sweep");
}

}  // namespace
}  // namespace tllm::test
