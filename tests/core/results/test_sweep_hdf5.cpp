// Sweep files (results/sweep_hdf5.h): a SweepResult built here, with NaN and infinite values,
// failed and cancelled points, with and without multiple-choice scores, written and read back
// (in this process, through the helper, through the byte stream) and compared field by field
// with what was built; damaged files, output guard, inconsistent input, cancel, `tensorllm show`.
#include <atomic>
#include <bit>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/results/export_test_util.h"
#include "io/output_guard.h"
#include "results/hdf5_results.h"
#include "results/results_reader_process.h"
#include "results/results_wire.h"
#include "results/sweep_hdf5.h"
#include "support/test_util.h"

using namespace tllm;
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

tucker::RankSpec fixed(std::array<int, 3> r) {
    tucker::RankSpec s;
    s.kind = tucker::RankSpec::Kind::Fixed;
    s.ranks = r;
    return s;
}

/// A sweep of layers 1 and 3 over four rank choices and two LASER choices, with an attention
/// point, a LASER point, a combined point that did not converge, a failed point (message, no
/// values) and a cancelled one. `mc`: with a multiple-choice baseline and scores.
edits::SweepResult make_sweep(bool mc) {
    edits::SweepResult r;
    r.model_path = "/models/tiny-llama";
    r.model_type = "llama";
    r.model_params = 123456789;
    r.text_source = "eval/wiki \"sample\".txt";
    r.mc_source = mc ? "hellaswag-mini.jsonl" : "";
    auto& o = r.options;
    o.layers = {1, 3};
    o.choices.push_back(fixed({8, 4, 2}));
    o.choices.back().per_layer[3] = {4, 4, 1};
    tucker::RankSpec tol;
    tol.kind = tucker::RankSpec::Kind::Tolerance;
    tol.tolerance = 0.25;
    o.choices.push_back(tol);
    tucker::RankSpec ratio;
    ratio.kind = tucker::RankSpec::Kind::Ratio;
    ratio.ratio = 6.5;
    o.choices.push_back(ratio);
    tucker::RankSpec params;
    params.kind = tucker::RankSpec::Kind::Params;
    params.params = 5000;
    o.choices.push_back(params);
    o.tucker.method = tucker::Method::HOOI;
    o.tucker.init = tucker::Method::HOSVD;
    o.tucker.mode_order = {2, 0, 1};
    o.tucker.max_iterations = 17;
    o.tucker.tolerance = 3e-5;
    o.tucker.solver = tucker::Solver::Exact;
    o.tucker.ranks = {3, 2, 1};
    o.laser = {{eval::MlpMatrix::Down, 8}, {eval::MlpMatrix::Up, 2}};
    o.combine = true;
    o.ppl.ctx = 64;
    o.ppl.stride = 32;
    o.ppl.max_tokens = 4096;
    o.prefix_cache_bytes = 3u << 20;
    o.threads = 3;
    r.layers = {1, 3};

    auto& b = r.baseline.ppl;
    b.ctx = 64;
    b.stride = 32;
    b.n_tokens = 4096;
    b.n_scored = 4000;
    b.n_bytes = 17001;
    b.sum_nll = 12345.5;
    b.mean_nll = 3.086375;
    b.perplexity = 21.897;
    b.bits_per_byte = 1.0476;
    b.mean_nll_stderr = 0.0125;
    b.window_nll = {100.5, 200.25, 0.125};
    b.window_scored = {32, 31, 1};
    if (mc) {
        eval::McResult m;
        m.acc = 0.5;
        m.acc_stderr = 0.25;
        m.acc_norm = 0.75;
        m.acc_norm_stderr = 0.2;
        eval::McItemResult a;
        a.loglik = {-1.5, -2.25, -0.75, -9.0};
        a.bytes = {5, 7, 3, 11};
        a.n_tokens = {2, 3, 1, 4};
        a.pick = 2;
        a.pick_norm = 2;
        a.answer = 1;
        eval::McItemResult c;
        c.loglik = {-3.0, -0.5};
        c.bytes = {9, 4};
        c.n_tokens = {3, 2};
        c.pick = 1;
        c.pick_norm = 0;
        c.answer = 1;
        m.items = {a, c};
        r.baseline.mc = m;
    }

    edits::SweepPoint att;
    att.spec = {1, 0, -1};
    att.label = "8,4,2";
    att.status = tucker::Status::Ok;
    att.ranks = {8, 4, 2};
    att.weight_error = 0.123456789012345;
    att.type_error = {0.11, 0.12, kNaN, 0.14};  // one missing type
    att.iterations = 5;
    att.layer_ratio = 3.75;
    att.model_ratio = 1.0625;
    att.mean_nll = 3.2;
    att.delta_nll = 0.113625;
    att.delta_nll_stderr = 0.004;
    att.kl_mean = 0.05;
    att.kl_p99 = kInf;
    att.top1_agreement = 0.875;
    att.seconds_decompose = 0.5;
    att.seconds_eval = 1.25;
    if (mc) att.mc = edits::McScore{0.25, 0.1, 0.5, 0.125, -0.25, -0.25};
    r.points.push_back(att);

    edits::SweepPoint las;
    las.spec = {1, -1, 0};
    las.label = "laser down:8";
    las.status = tucker::Status::Ok;
    las.laser_error = 0.3125;
    las.layer_ratio = 2.5;
    las.model_ratio = 1.01;
    las.mean_nll = 3.1;
    las.delta_nll = -0.0125;
    las.delta_nll_stderr = 0.002;
    las.kl_mean = 0.01;
    las.kl_p99 = 0.2;
    las.top1_agreement = 0.96875;
    las.seconds_eval = 0.75;
    // no mc score on this one even with a multiple-choice task
    r.points.push_back(las);

    edits::SweepPoint both;
    both.spec = {3, 1, 1};
    both.label = "tol 0.25 + up:2";
    both.status = tucker::Status::NotConverged;
    both.ranks = {16, 6, 3};
    both.weight_error = 0.2;
    both.type_error = {0.21, 0.22, 0.23, 0.24};
    both.iterations = 17;
    both.laser_error = 0.5;
    both.layer_ratio = 1.5;
    both.model_ratio = 1.002;
    both.mean_nll = 3.5;
    both.delta_nll = 0.413625;
    both.delta_nll_stderr = kNaN;  // one window: no standard error
    both.kl_mean = 0.3;
    both.kl_p99 = 1.75;
    both.top1_agreement = 0.5;
    both.seconds_decompose = 2.0;
    both.seconds_eval = 1.0;
    if (mc) both.mc = edits::McScore{0.5, 0.25, 0.5, 0.25, 0.0, -0.25};
    r.points.push_back(both);

    edits::SweepPoint failed;
    failed.spec = {3, 3, -1};
    failed.label = "params 5000";
    failed.status = tucker::Status::Failed;
    failed.message = "no ranks within 5000 parameters: (1, 1, 1) needs 5120";
    failed.seconds_decompose = 0.01;
    r.points.push_back(failed);

    edits::SweepPoint cancelled;
    cancelled.spec = {3, 2, -1};
    cancelled.label = "ratio 6.5";
    cancelled.status = tucker::Status::Cancelled;
    cancelled.message = "cancelled";
    r.points.push_back(cancelled);

    r.grid_size = 22;
    r.prefix.budget_bytes = 3u << 20;
    r.prefix.used_bytes = 1u << 20;
    r.prefix.layers = {3, 1};
    r.prefix.seconds_baseline = 4.5;
    r.prefix.seconds_per_layer = 0.25;
    r.prefix.seconds_saved = 1.75;
    r.prefix.passes = 5;
    r.cancelled = true;
    r.seconds = 12.5;
    return r;
}

/// Bitwise equality: NaN equals NaN, +inf equals +inf, 0.0 differs from -0.0.
void expect_same_double(double a, double b, const std::string& what) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a), std::bit_cast<std::uint64_t>(b)) << what << ": " << a << " vs " << b;
}

void expect_same_sweep(const edits::SweepResult& a, const edits::SweepResult& b) {
    EXPECT_EQ(a.model_path, b.model_path);
    EXPECT_EQ(a.model_type, b.model_type);
    EXPECT_EQ(a.model_params, b.model_params);
    EXPECT_EQ(a.text_source, b.text_source);
    EXPECT_EQ(a.mc_source, b.mc_source);
    const auto &o = a.options, &p = b.options;
    EXPECT_EQ(o.layers, p.layers);
    ASSERT_EQ(o.choices.size(), p.choices.size());
    for (std::size_t k = 0; k < o.choices.size(); ++k) {
        SCOPED_TRACE("choice " + std::to_string(k));
        EXPECT_EQ(o.choices[k].kind, p.choices[k].kind);
        EXPECT_EQ(o.choices[k].ranks, p.choices[k].ranks);
        EXPECT_EQ(o.choices[k].per_layer, p.choices[k].per_layer);
        EXPECT_EQ(o.choices[k].tolerance, p.choices[k].tolerance);
        EXPECT_EQ(o.choices[k].ratio, p.choices[k].ratio);
        EXPECT_EQ(o.choices[k].params, p.choices[k].params);
    }
    EXPECT_EQ(o.tucker.method, p.tucker.method);
    EXPECT_EQ(o.tucker.init, p.tucker.init);
    EXPECT_EQ(o.tucker.mode_order, p.tucker.mode_order);
    EXPECT_EQ(o.tucker.max_iterations, p.tucker.max_iterations);
    EXPECT_EQ(o.tucker.tolerance, p.tucker.tolerance);
    EXPECT_EQ(o.tucker.solver, p.tucker.solver);
    EXPECT_EQ(o.tucker.ranks, p.tucker.ranks);
    ASSERT_EQ(o.laser.size(), p.laser.size());
    for (std::size_t k = 0; k < o.laser.size(); ++k) {
        EXPECT_EQ(o.laser[k].matrix, p.laser[k].matrix);
        EXPECT_EQ(o.laser[k].rank, p.laser[k].rank);
    }
    EXPECT_EQ(o.combine, p.combine);
    EXPECT_EQ(o.ppl.ctx, p.ppl.ctx);
    EXPECT_EQ(o.ppl.stride, p.ppl.stride);
    EXPECT_EQ(o.ppl.max_tokens, p.ppl.max_tokens);
    EXPECT_EQ(o.prefix_cache_bytes, p.prefix_cache_bytes);
    EXPECT_EQ(o.threads, p.threads);
    EXPECT_EQ(a.layers, b.layers);

    const auto &x = a.baseline.ppl, &y = b.baseline.ppl;
    EXPECT_EQ(x.ctx, y.ctx);
    EXPECT_EQ(x.stride, y.stride);
    EXPECT_EQ(x.n_tokens, y.n_tokens);
    EXPECT_EQ(x.n_scored, y.n_scored);
    EXPECT_EQ(x.n_bytes, y.n_bytes);
    expect_same_double(x.sum_nll, y.sum_nll, "baseline sum_nll");
    expect_same_double(x.mean_nll, y.mean_nll, "baseline mean_nll");
    expect_same_double(x.perplexity, y.perplexity, "baseline perplexity");
    expect_same_double(x.bits_per_byte, y.bits_per_byte, "baseline bits_per_byte");
    expect_same_double(x.mean_nll_stderr, y.mean_nll_stderr, "baseline mean_nll_stderr");
    EXPECT_EQ(x.window_nll, y.window_nll);
    EXPECT_EQ(x.window_scored, y.window_scored);
    ASSERT_EQ(a.baseline.mc.has_value(), b.baseline.mc.has_value());
    if (a.baseline.mc) {
        const auto &m = *a.baseline.mc, &n = *b.baseline.mc;
        EXPECT_EQ(m.acc, n.acc);
        EXPECT_EQ(m.acc_stderr, n.acc_stderr);
        EXPECT_EQ(m.acc_norm, n.acc_norm);
        EXPECT_EQ(m.acc_norm_stderr, n.acc_norm_stderr);
        ASSERT_EQ(m.items.size(), n.items.size());
        for (std::size_t i = 0; i < m.items.size(); ++i) {
            EXPECT_EQ(m.items[i].loglik, n.items[i].loglik);
            EXPECT_EQ(m.items[i].bytes, n.items[i].bytes);
            EXPECT_EQ(m.items[i].n_tokens, n.items[i].n_tokens);
            EXPECT_EQ(m.items[i].pick, n.items[i].pick);
            EXPECT_EQ(m.items[i].pick_norm, n.items[i].pick_norm);
            EXPECT_EQ(m.items[i].answer, n.items[i].answer);
        }
    }

    ASSERT_EQ(a.points.size(), b.points.size());
    for (std::size_t i = 0; i < a.points.size(); ++i) {
        const auto &s = a.points[i], &t = b.points[i];
        SCOPED_TRACE("point " + std::to_string(i) + " (" + s.label + ")");
        EXPECT_EQ(s.spec.layer, t.spec.layer);
        EXPECT_EQ(s.spec.choice, t.spec.choice);
        EXPECT_EQ(s.spec.laser, t.spec.laser);
        EXPECT_EQ(s.label, t.label);
        EXPECT_EQ(s.status, t.status);
        EXPECT_EQ(s.message, t.message);
        EXPECT_EQ(s.ranks, t.ranks);
        expect_same_double(s.weight_error, t.weight_error, "weight_error");
        for (int k = 0; k < 4; ++k) expect_same_double(s.type_error[k], t.type_error[k], "type_error");
        EXPECT_EQ(s.iterations, t.iterations);
        expect_same_double(s.laser_error, t.laser_error, "laser_error");
        expect_same_double(s.layer_ratio, t.layer_ratio, "layer_ratio");
        expect_same_double(s.model_ratio, t.model_ratio, "model_ratio");
        expect_same_double(s.mean_nll, t.mean_nll, "mean_nll");
        expect_same_double(s.delta_nll, t.delta_nll, "delta_nll");
        expect_same_double(s.delta_nll_stderr, t.delta_nll_stderr, "delta_nll_stderr");
        expect_same_double(s.kl_mean, t.kl_mean, "kl_mean");
        expect_same_double(s.kl_p99, t.kl_p99, "kl_p99");
        expect_same_double(s.top1_agreement, t.top1_agreement, "top1_agreement");
        ASSERT_EQ(s.mc.has_value(), t.mc.has_value());
        if (s.mc) {
            EXPECT_EQ(s.mc->acc, t.mc->acc);
            EXPECT_EQ(s.mc->acc_stderr, t.mc->acc_stderr);
            EXPECT_EQ(s.mc->acc_norm, t.mc->acc_norm);
            EXPECT_EQ(s.mc->acc_norm_stderr, t.mc->acc_norm_stderr);
            EXPECT_EQ(s.mc->delta_acc, t.mc->delta_acc);
            EXPECT_EQ(s.mc->delta_acc_norm, t.mc->delta_acc_norm);
        }
        EXPECT_EQ(s.seconds_decompose, t.seconds_decompose);
        EXPECT_EQ(s.seconds_eval, t.seconds_eval);
    }
    EXPECT_EQ(a.grid_size, b.grid_size);
    EXPECT_EQ(a.prefix.budget_bytes, b.prefix.budget_bytes);
    EXPECT_EQ(a.prefix.used_bytes, b.prefix.used_bytes);
    EXPECT_EQ(a.prefix.layers, b.prefix.layers);
    EXPECT_EQ(a.prefix.seconds_baseline, b.prefix.seconds_baseline);
    EXPECT_EQ(a.prefix.seconds_per_layer, b.prefix.seconds_per_layer);
    EXPECT_EQ(a.prefix.seconds_saved, b.prefix.seconds_saved);
    EXPECT_EQ(a.prefix.passes, b.prefix.passes);
    EXPECT_EQ(a.cancelled, b.cancelled);
    EXPECT_EQ(a.seconds, b.seconds);
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(no error)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The offset of the only occurrence of `needle` in `hay`, or npos when it is absent or repeated.
std::size_t find_once(const std::string& hay, const std::string& needle) {
    const std::size_t at = hay.find(needle);
    if (at == std::string::npos || hay.find(needle, at + 1) != std::string::npos) return std::string::npos;
    return at;
}

std::string bytes_of(double v) { return std::string(reinterpret_cast<const char*>(&v), sizeof v); }

}  // namespace

TEST(SweepHdf5, RoundTripWithAndWithoutMultipleChoice) {
    test::TempDir dir;
    for (bool mc : {false, true}) {
        SCOPED_TRACE(mc ? "with mc" : "without mc");
        const edits::SweepResult r = make_sweep(mc);
        const std::string path = dir.file(mc ? "mc.h5" : "plain.h5");
        exporting::write_sweep_hdf5(path, r, {});
        expect_same_sweep(r, exporting::read_sweep_hdf5_in_process(path));
        expect_same_sweep(r, exporting::read_sweep_hdf5(path, {}, TLLM_READER));
        const auto any = exporting::read_hdf5_isolated(path, {}, {}, TLLM_READER);
        ASSERT_TRUE(any.sweep.has_value());
        EXPECT_FALSE(any.results.has_value());
        expect_same_sweep(r, *any.sweep);
        EXPECT_EQ(exporting::hdf5_format_in_process(path), exporting::kSweepHdf5Format);
        EXPECT_TRUE(test::leftovers(dir.path()).empty());
    }
    // An empty sweep (cancelled before the first point) round-trips too.
    edits::SweepResult empty = make_sweep(false);
    empty.points.clear();
    empty.options.laser.clear();
    empty.baseline.ppl.window_nll.clear();
    empty.baseline.ppl.window_scored.clear();
    const std::string path = dir.file("empty.h5");
    exporting::write_sweep_hdf5(path, empty, {});
    expect_same_sweep(empty, exporting::read_sweep_hdf5(path, {}, TLLM_READER));
}

TEST(SweepHdf5, StreamRoundTripAndEveryTruncationIsACleanError) {
    const edits::SweepResult r = make_sweep(true);
    const std::string s = exporting::encode_sweep(r);
    expect_same_sweep(r, exporting::decode_sweep(s, "x.h5"));
    for (std::size_t n = 0; n < s.size(); ++n)
        EXPECT_THROW(exporting::decode_sweep(std::string_view(s).substr(0, n), "x.h5"), std::runtime_error) << n;
    EXPECT_THROW(exporting::decode_sweep(s + "x", "x.h5"), std::runtime_error);
    // A results stream is not a sweep stream, and the other way round.
    EXPECT_TRUE(contains(error_of([&] { exporting::decode_results(s, "x.h5"); }), "magic"));
}

TEST(SweepHdf5, ResultsAndSweepFilesAreToldApart) {
    test::Fixture f;
    const std::string results = f.dir.file("r.h5"), sweep = f.dir.file("s.h5");
    exporting::write_results_hdf5(results, *f.model, f.opt, f.summary);
    exporting::write_sweep_hdf5(sweep, make_sweep(false), {});
    EXPECT_TRUE(contains(error_of([&] { exporting::read_sweep_hdf5(results, {}, TLLM_READER); }),
                         "not a TensorLLM sweep file"));
    EXPECT_TRUE(contains(error_of([&] { exporting::read_results_hdf5(sweep); }), "not a TensorLLM results file"));
    const auto any = exporting::read_hdf5_isolated(results, {}, {}, TLLM_READER);
    ASSERT_TRUE(any.results.has_value());
    EXPECT_FALSE(any.sweep.has_value());
    EXPECT_EQ(any.results->summary.layers.size(), f.summary.layers.size());
    test::write_text(f.dir.file("text.h5"), "not an hdf5 file\n");
    EXPECT_TRUE(contains(error_of([&] { exporting::read_hdf5_isolated(f.dir.file("text.h5"), {}, {}, TLLM_READER); }),
                         "not an HDF5 file"));
}

TEST(SweepHdf5, AFlippedByteFailsTheChecksum) {
    test::TempDir dir;
    const edits::SweepResult r = make_sweep(true);
    const std::string good = dir.file("good.h5");
    exporting::write_sweep_hdf5(good, r, {});
    const std::string bytes = test::read_bytes(good);
    // One byte of a number stored in a dataset (weight_error of the first point), one of a
    // label, one of the failed point's message: each is in the file exactly once.
    for (const std::string& needle : {bytes_of(r.points[0].weight_error), std::string("laser down:8"),
                                      std::string("no ranks within 5000 parameters")}) {
        const std::size_t at = find_once(bytes, needle);
        ASSERT_NE(at, std::string::npos) << "value not found once in the file";
        std::string bad = bytes;
        bad[at + 2] = char(bad[at + 2] ^ 0x01);
        const std::string path = dir.file("bad.h5");
        test::write_text(path, bad);
        for (const std::string& msg : {error_of([&] { exporting::read_sweep_hdf5_in_process(path); }),
                                       error_of([&] { exporting::read_sweep_hdf5(path, {}, TLLM_READER); })}) {
            EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
            EXPECT_TRUE(contains(msg, "checksum")) << msg;
        }
    }
    // Anywhere else: every flipped byte is an error naming the file (read in the helper, so
    // that a fault of libhdf5 on damaged metadata cannot end this test).
    const std::string path = dir.file("flip.h5");
    const std::size_t step = std::max<std::size_t>(1, bytes.size() / 48);
    for (std::size_t at = 0; at < bytes.size(); at += step) {
        std::string bad = bytes;
        bad[at] = char(bad[at] ^ 0x10);
        test::write_text(path, bad);
        const std::string msg = error_of([&] { exporting::read_sweep_hdf5(path, {}, TLLM_READER); });
        EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "byte " << at << ": " << msg;
    }
    EXPECT_NO_THROW(exporting::read_sweep_hdf5(good, {}, TLLM_READER));
}

TEST(SweepHdf5, ASourceFileIsRefusedAndLeftUntouched) {
    test::TempDir dir;
    const std::string model_dir = dir.file("model"), text = dir.file("eval.txt");
    fs::create_directory(model_dir);
    const std::string weights = model_dir + "/model.safetensors";
    test::write_text(weights, "weights");
    test::write_text(text, "evaluation text");
    io::SourceSet src;
    src.add_directory(model_dir);
    src.add_file(weights);
    src.add_file(text);
    const edits::SweepResult r = make_sweep(false);
    fs::create_symlink(text, dir.file("link.h5"));
    fs::create_hard_link(weights, dir.file("hard.h5"));
    for (const std::string& p : {weights, text, dir.file("link.h5"), dir.file("hard.h5"), dir.file("model/../eval.txt"),
                                 model_dir + "/config.json"}) {
        SCOPED_TRACE(p);
        EXPECT_THROW(exporting::write_sweep_hdf5(p, r, src), io::UnsafeOutput);
    }
    EXPECT_THROW(exporting::write_sweep_hdf5("", r, src), io::UnsafeOutput);
    EXPECT_EQ(test::read_bytes(weights), "weights");
    EXPECT_EQ(test::read_bytes(text), "evaluation text");
    EXPECT_FALSE(fs::exists(model_dir + "/config.json"));
    EXPECT_TRUE(test::leftovers(dir.path()).empty());
    EXPECT_TRUE(test::leftovers(model_dir).empty());
    // Beside the sources is fine.
    EXPECT_NO_THROW(exporting::write_sweep_hdf5(dir.file("sweep.h5"), r, src));
    expect_same_sweep(r, exporting::read_sweep_hdf5(dir.file("sweep.h5"), {}, TLLM_READER));
}

TEST(SweepHdf5, InconsistentSweepsAreRefusedBeforeWriting) {
    test::TempDir dir;
    const std::string path = dir.file("s.h5");
    std::vector<std::function<void(edits::SweepResult&)>> breaks = {
        [](auto& r) { r.points[0].spec.choice = 4; },  // only 4 choices
        [](auto& r) { r.points[1].spec.laser = 2; },   // only 2 LASER choices
        [](auto& r) { r.points[0].spec.layer = -1; },
        [](auto& r) { r.points[0].ranks[1] = -3; },
        [](auto& r) { r.options.laser[0].rank = 0; },
        [](auto& r) { r.options.choices[1].tolerance = 1.5; },  // outside (0, 1]
        [](auto& r) { r.baseline.ppl.window_scored.pop_back(); },
        [](auto& r) { r.baseline.mc->items[0].answer = 4; },  // 4 choices: 0..3
        [](auto& r) { r.baseline.mc->items[1].bytes.pop_back(); },
    };
    for (std::size_t k = 0; k < breaks.size(); ++k) {
        SCOPED_TRACE("case " + std::to_string(k));
        edits::SweepResult r = make_sweep(true);
        breaks[k](r);
        EXPECT_THROW(exporting::write_sweep_hdf5(path, r, {}), std::invalid_argument);
        EXPECT_FALSE(fs::exists(path));
        // The stream decoder refuses the same sweep.
        EXPECT_THROW(exporting::decode_sweep(exporting::encode_sweep(r), path), std::runtime_error);
    }
    EXPECT_TRUE(test::leftovers(dir.path()).empty());
}

TEST(SweepHdf5, CancelLeavesNoFileAndKeepsThePreviousOne) {
    test::TempDir dir;
    const std::string path = dir.file("s.h5");
    test::write_text(path, "previous content");
    std::atomic<bool> cancel{true};
    util::Control ctl;
    ctl.cancel = &cancel;
    EXPECT_THROW(exporting::write_sweep_hdf5(path, make_sweep(true), {}, ctl), util::Cancelled);
    EXPECT_EQ(test::read_bytes(path), "previous content");
    EXPECT_TRUE(test::leftovers(dir.path()).empty());
    // Written over it when not cancelled.
    exporting::write_sweep_hdf5(path, make_sweep(true), {});
    expect_same_sweep(make_sweep(true), exporting::read_sweep_hdf5_in_process(path));
}

TEST(SweepHdf5, ShowPrintsTheBaselineAndOneRowPerPoint) {
    test::TempDir dir;
    const edits::SweepResult r = make_sweep(true);
    const std::string path = dir.file("s.h5");
    exporting::write_sweep_hdf5(path, r, {});
    const std::string cli = std::string("TENSORLLM_RESULTS_READER=") + TLLM_READER + " " + TLLM_CLI;
    const auto [code, out] = test::run_command(cli + " show " + path);
    ASSERT_EQ(code, 0) << out;
    EXPECT_TRUE(contains(out, "tensorllm-sweep")) << out;
    EXPECT_TRUE(contains(out, r.model_path)) << out;
    EXPECT_TRUE(contains(out, "\nbaseline    mean NLL ")) << out;
    EXPECT_TRUE(contains(out, "on 2 items")) << out;
    const auto table = out.substr(out.find("\nlayer "));
    for (const auto& p : r.points) EXPECT_TRUE(contains(table, p.label)) << p.label << "\n" << out;
    EXPECT_TRUE(contains(table, r.points[3].message)) << out;
    EXPECT_TRUE(contains(table, "not_converged")) << out;
    // One line per point after the header (and the header itself).
    std::size_t lines = 0;
    for (char c : table.substr(1)) lines += c == '\n';
    EXPECT_EQ(lines, 1 + r.points.size()) << table;

    const auto [jcode, jout] = test::run_command(cli + " show --json --layers 3 " + path);
    ASSERT_EQ(jcode, 0) << jout;
    const auto j = nlohmann::json::parse(jout);
    EXPECT_EQ(j.at("format"), "tensorllm-sweep");
    ASSERT_EQ(j.at("points").size(), 3u);  // the three points of layer 3
    for (const auto& e : j.at("points")) EXPECT_EQ(e.at("layer"), 3);
    EXPECT_TRUE(j.at("points")[0].at("delta_nll_stderr").is_null());  // NaN

    const auto [hcode, hout] = test::run_command(cli + " show --heads " + path);
    EXPECT_EQ(hcode, 2) << hout;
    const auto [lcode, lout] = test::run_command(cli + " show --layers 2 " + path);
    EXPECT_EQ(lcode, 1) << lout;
    EXPECT_TRUE(contains(lout, "layer 2")) << lout;
}
