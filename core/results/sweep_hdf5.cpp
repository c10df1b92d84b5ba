// Sweep files (results/sweep_hdf5.h; schema in docs/hdf5-schema.md, "Sweep files").
#include "results/sweep_hdf5.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "results/hdf5_detail.h"
#include "results/hdf5_results.h"
#include "io/atomic_file.h"

namespace fs = std::filesystem;

namespace tllm::exporting {
namespace {

using h5::Handle;
using Kind = tucker::RankSpec::Kind;

constexpr std::int64_t kMaxLaserRank = 1000000;  // parse_laser_list's bound
constexpr std::int64_t kMaxCount = std::int64_t(1) << 30;
// The columns of /points/mc, in this order.
constexpr int kMcColumns = 6;

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::Fixed: return "fixed";
        case Kind::Tolerance: return "tolerance";
        case Kind::Ratio: return "ratio";
        case Kind::Params: return "params";
    }
    return "?";
}

std::vector<std::int64_t> int64s(const std::vector<int>& v) { return {v.begin(), v.end()}; }

std::string now_utc() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    char buf[32] = {};
    if (::gmtime_r(&now, &tm) && std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) return buf;
    return {};
}

// ---------------------------------------------------------------------------------------
// Writing

void write_options(const h5::Writer& W, hid_t root, const edits::SweepResult& r) {
    const auto& o = r.options;
    Handle g = W.group(root, "/", "options");
    const hid_t id = g.get();
    const std::string obj = "/options";
    W.attr(id, obj, "method", tucker::method_name(o.tucker.method));
    W.attr(id, obj, "init", tucker::method_name(o.tucker.init));
    W.attr(id, obj, "solver", tucker::solver_name(o.tucker.solver));
    W.attr(id, obj, "max_iterations", o.tucker.max_iterations);
    W.attr(id, obj, "hooi_tolerance", o.tucker.tolerance);
    W.attr(id, obj, "tucker_ranks", std::vector<std::int64_t>(o.tucker.ranks.begin(), o.tucker.ranks.end()));
    W.attr(id, obj, "combine", o.combine);
    W.attr(id, obj, "balance_slices", o.balance_slices);
    W.attr_u64(id, obj, "prefix_cache_bytes", o.prefix_cache_bytes);
    W.attr(id, obj, "threads", o.threads);
    W.attr(id, obj, "ctx", o.ppl.ctx);
    W.attr(id, obj, "stride", o.ppl.stride);
    W.attr(id, obj, "max_tokens", std::int64_t(o.ppl.max_tokens));
    W.dataset(id, obj, "layers", int64s(o.layers));
    W.dataset(id, obj, "swept_layers", int64s(r.layers));
    W.dataset(id, obj, "mode_order", int64s(o.tucker.mode_order));

    const std::size_t c = o.choices.size();
    std::vector<std::string> kind, spec;
    std::vector<std::int64_t> ranks, per;
    std::vector<double> tol, ratio;
    std::vector<std::uint64_t> params;
    for (std::size_t k = 0; k < c; ++k) {
        const auto& s = o.choices[k];
        kind.push_back(kind_name(s.kind));
        spec.push_back(s.describe());
        ranks.insert(ranks.end(), s.ranks.begin(), s.ranks.end());
        tol.push_back(s.tolerance);
        ratio.push_back(s.ratio);
        params.push_back(s.params);
        for (const auto& [l, rr] : s.per_layer) per.insert(per.end(), {std::int64_t(k), l, rr[0], rr[1], rr[2]});
    }
    W.strings(id, obj, "choice_kind", kind);
    W.strings(id, obj, "choice_spec", spec);
    W.dataset(id, obj, "choice_ranks", {hsize_t(c), 3}, H5T_NATIVE_INT64, H5T_STD_I64LE, ranks.data());
    W.dataset(id, obj, "choice_tolerance", tol);
    W.dataset(id, obj, "choice_ratio", ratio);
    W.dataset_u64(id, obj, "choice_params", params);
    W.dataset(id, obj, "choice_per_layer", {hsize_t(per.size() / 5), 5}, H5T_NATIVE_INT64, H5T_STD_I64LE, per.data());

    std::vector<std::string> matrix;
    std::vector<std::int64_t> lrank;
    for (const auto& l : o.laser) {
        matrix.push_back(eval::mlp_matrix_name(l.matrix));
        lrank.push_back(l.rank);
    }
    W.strings(id, obj, "laser_matrix", matrix);
    W.dataset(id, obj, "laser_rank", lrank);
}

void write_baseline(const h5::Writer& W, hid_t root, const edits::SweepBaseline& b) {
    Handle g = W.group(root, "/", "baseline");
    const hid_t id = g.get();
    const std::string obj = "/baseline";
    const auto& p = b.ppl;
    W.attr(id, obj, "ctx", p.ctx);
    W.attr(id, obj, "stride", p.stride);
    W.attr(id, obj, "tokens", std::int64_t(p.n_tokens));
    W.attr(id, obj, "scored_tokens", std::int64_t(p.n_scored));
    W.attr(id, obj, "scored_bytes", std::int64_t(p.n_bytes));
    W.attr(id, obj, "sum_nll", p.sum_nll);
    W.attr(id, obj, "mean_nll", p.mean_nll);
    W.attr(id, obj, "mean_nll_stderr", p.mean_nll_stderr);
    W.attr(id, obj, "perplexity", p.perplexity);
    W.attr(id, obj, "bits_per_byte", p.bits_per_byte);
    W.attr(id, obj, "has_mc", b.mc.has_value());
    W.dataset(id, obj, "window_nll", p.window_nll);
    W.dataset(id, obj, "window_scored", std::vector<std::int64_t>(p.window_scored.begin(), p.window_scored.end()));
    if (!b.mc) return;
    const auto& m = *b.mc;
    Handle mg = W.group(id, obj, "mc");
    const hid_t mid = mg.get();
    const std::string mo = "/baseline/mc";
    W.attr(mid, mo, "acc", m.acc);
    W.attr(mid, mo, "acc_stderr", m.acc_stderr);
    W.attr(mid, mo, "acc_norm", m.acc_norm);
    W.attr(mid, mo, "acc_norm_stderr", m.acc_norm_stderr);
    std::vector<std::int64_t> choices, answer, pick, pick_norm, bytes, tokens;
    std::vector<double> loglik;
    for (const auto& it : m.items) {
        choices.push_back(std::int64_t(it.loglik.size()));
        answer.push_back(it.answer);
        pick.push_back(it.pick);
        pick_norm.push_back(it.pick_norm);
        loglik.insert(loglik.end(), it.loglik.begin(), it.loglik.end());
        bytes.insert(bytes.end(), it.bytes.begin(), it.bytes.end());
        tokens.insert(tokens.end(), it.n_tokens.begin(), it.n_tokens.end());
    }
    W.dataset(mid, mo, "choices", choices);
    W.dataset(mid, mo, "answer", answer);
    W.dataset(mid, mo, "pick", pick);
    W.dataset(mid, mo, "pick_norm", pick_norm);
    W.dataset(mid, mo, "loglik", loglik);
    W.dataset(mid, mo, "choice_bytes", bytes);
    W.dataset(mid, mo, "choice_tokens", tokens);
}

void write_points(const h5::Writer& W, hid_t root, const std::vector<edits::SweepPoint>& pts) {
    Handle g = W.group(root, "/", "points");
    const hid_t id = g.get();
    const std::string obj = "/points";
    const hsize_t n = pts.size();
    W.attr(id, obj, "count", std::int64_t(n));
    auto ints = [&](const char* name, auto get) {
        std::vector<std::int64_t> v;
        for (const auto& p : pts) v.push_back(std::int64_t(get(p)));
        W.dataset(id, obj, name, v);
    };
    auto reals = [&](const char* name, auto get) {
        std::vector<double> v;
        for (const auto& p : pts) v.push_back(get(p));
        W.dataset(id, obj, name, v);
    };
    auto strs = [&](const char* name, auto get) {
        std::vector<std::string> v;
        for (const auto& p : pts) v.push_back(get(p));
        W.strings(id, obj, name, v);
    };
    ints("layer", [](const auto& p) { return p.spec.layer; });
    ints("choice", [](const auto& p) { return p.spec.choice; });
    ints("laser", [](const auto& p) { return p.spec.laser; });
    strs("label", [](const auto& p) { return p.label; });
    strs("status", [](const auto& p) { return std::string(tucker::status_name(p.status)); });
    strs("message", [](const auto& p) { return p.message; });
    std::vector<std::int64_t> ranks;
    std::vector<double> te, mc;
    for (const auto& p : pts) {
        ranks.insert(ranks.end(), p.ranks.begin(), p.ranks.end());
        te.insert(te.end(), p.type_error.begin(), p.type_error.end());
        if (p.mc)
            mc.insert(mc.end(), {p.mc->acc, p.mc->acc_stderr, p.mc->acc_norm, p.mc->acc_norm_stderr, p.mc->delta_acc,
                                 p.mc->delta_acc_norm});
        else
            mc.insert(mc.end(), kMcColumns, edits::SweepPoint::kNaN);
    }
    W.dataset(id, obj, "ranks", {n, 3}, H5T_NATIVE_INT64, H5T_STD_I64LE, ranks.data());
    reals("weight_error", [](const auto& p) { return p.weight_error; });
    W.dataset(id, obj, "type_error", {n, 4}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, te.data());
    ints("iterations", [](const auto& p) { return p.iterations; });
    reals("laser_error", [](const auto& p) { return p.laser_error; });
    reals("layer_ratio", [](const auto& p) { return p.layer_ratio; });
    reals("model_ratio", [](const auto& p) { return p.model_ratio; });
    reals("mean_nll", [](const auto& p) { return p.mean_nll; });
    reals("delta_nll", [](const auto& p) { return p.delta_nll; });
    reals("delta_nll_stderr", [](const auto& p) { return p.delta_nll_stderr; });
    reals("kl_mean", [](const auto& p) { return p.kl_mean; });
    reals("kl_p99", [](const auto& p) { return p.kl_p99; });
    reals("top1_agreement", [](const auto& p) { return p.top1_agreement; });
    ints("has_mc", [](const auto& p) { return p.mc ? 1 : 0; });
    W.dataset(id, obj, "mc", {n, hsize_t(kMcColumns)}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, mc.data());
    reals("seconds_decompose", [](const auto& p) { return p.seconds_decompose; });
    reals("seconds_eval", [](const auto& p) { return p.seconds_eval; });
}

void write_content(const h5::Writer& W, hid_t root, const edits::SweepResult& r) {
    W.attr(root, "/", "format", kSweepHdf5Format);
    W.attr(root, "/", "format_version", kSweepHdf5FormatVersion);
    W.attr(root, "/", kContentHashAttribute, std::string(kContentHashPlaceholder));
    W.attr(root, "/", "tool_version", TENSORLLM_VERSION);
    W.attr(root, "/", "created_utc", now_utc());
    W.attr(root, "/", "model_path", r.model_path);
    W.attr(root, "/", "model_type", r.model_type);
    W.attr_u64(root, "/", "model_params", r.model_params);
    W.attr(root, "/", "text_source", r.text_source);
    W.attr(root, "/", "mc_source", r.mc_source);
    W.attr_u64(root, "/", "grid_size", std::uint64_t(r.grid_size));
    W.attr(root, "/", "cancelled", r.cancelled);
    W.attr(root, "/", "seconds", r.seconds);
    write_options(W, root, r);
    write_baseline(W, root, r.baseline);
    {
        Handle g = W.group(root, "/", "prefix_cache");
        const std::string obj = "/prefix_cache";
        const auto& p = r.prefix;
        W.attr_u64(g.get(), obj, "budget_bytes", p.budget_bytes);
        W.attr_u64(g.get(), obj, "used_bytes", p.used_bytes);
        W.attr(g.get(), obj, "seconds_baseline", p.seconds_baseline);
        W.attr(g.get(), obj, "seconds_per_layer", p.seconds_per_layer);
        W.attr(g.get(), obj, "seconds_saved", p.seconds_saved);
        W.attr(g.get(), obj, "passes", p.passes);
        W.dataset(g.get(), obj, "layers", int64s(p.layers));
    }
    write_points(W, root, r.points);
}

// ---------------------------------------------------------------------------------------
// Reading

int checked_int(const h5::Reader& R, const std::string& where, std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v < lo || v > hi)
        R.bad(where,
              "value " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int>(v);
}

std::vector<int> layer_list(const h5::Reader& R, hid_t loc, const std::string& obj, const std::string& name) {
    std::vector<std::int64_t> v;
    R.read(loc, obj, name, {-1}, v);
    std::vector<int> out;
    for (auto x : v) out.push_back(checked_int(R, obj + "/" + name, x, 0, kMaxLayer - 1));
    return out;
}

tucker::Method parse_method(const h5::Reader& R, const std::string& where, const std::string& s) {
    for (auto m : {tucker::Method::HOSVD, tucker::Method::STHOSVD, tucker::Method::HOOI})
        if (s == tucker::method_name(m)) return m;
    R.bad(where, "unknown method '" + s + "' (expected hosvd, sthosvd or hooi)");
}

void read_options(const h5::Reader& R, hid_t root, edits::SweepResult& r) {
    const std::string obj = "/options";
    Handle g = R.group(root, "/", "options");
    const hid_t id = g.get();
    auto& o = r.options;
    auto where = [&](const char* a) { return obj + " attribute '" + a + "'"; };
    o.tucker.method = parse_method(R, where("method"), R.attr_str(id, obj, "method", 64));
    o.tucker.init = parse_method(R, where("init"), R.attr_str(id, obj, "init", 64));
    const std::string solver = R.attr_str(id, obj, "solver", 64);
    if (solver == tucker::solver_name(tucker::Solver::Auto))
        o.tucker.solver = tucker::Solver::Auto;
    else if (solver == tucker::solver_name(tucker::Solver::Exact))
        o.tucker.solver = tucker::Solver::Exact;
    else
        R.bad(where("solver"), "unknown solver '" + solver + "'");
    o.tucker.max_iterations = int(R.attr_int(id, obj, "max_iterations", 0, 1 << 30));
    o.tucker.tolerance = R.attr_f64(id, obj, "hooi_tolerance");
    const auto tr = R.attr_ints(id, obj, "tucker_ranks", 3);
    for (std::size_t n = 0; n < 3; ++n) o.tucker.ranks[n] = checked_int(R, where("tucker_ranks"), tr[n], 1, kMaxHidden);
    o.combine = R.attr_int(id, obj, "combine", 0, 1) != 0;
    o.balance_slices = R.has_attr(id, "balance_slices") && R.attr_int(id, obj, "balance_slices", 0, 1) != 0;
    o.prefix_cache_bytes = R.attr_u64(id, obj, "prefix_cache_bytes");
    o.threads = int(R.attr_int(id, obj, "threads", 0, 1 << 20));
    o.ppl.ctx = int(R.attr_int(id, obj, "ctx", 0, 1 << 30));
    o.ppl.stride = int(R.attr_int(id, obj, "stride", 0, 1 << 30));
    o.ppl.max_tokens = R.attr_int(id, obj, "max_tokens", 0, std::int64_t(1) << 62);
    o.layers = layer_list(R, id, obj, "layers");
    r.layers = layer_list(R, id, obj, "swept_layers");
    std::vector<std::int64_t> mo;
    R.read(id, obj, "mode_order", {-1}, mo);
    if (mo.size() > 3) R.bad(obj + "/mode_order", "has " + std::to_string(mo.size()) + " entries, at most 3");
    for (auto v : mo) o.tucker.mode_order.push_back(checked_int(R, obj + "/mode_order", v, 0, 2));

    const auto kinds = R.strings(id, obj, "choice_kind", 1 << 16, 64);
    const std::int64_t c = std::int64_t(kinds.size());
    const auto spec = R.strings(id, obj, "choice_spec", 1 << 16);
    if (std::int64_t(spec.size()) != c)
        R.bad(obj + "/choice_spec",
              "has " + std::to_string(spec.size()) + " entries, choice_kind " + std::to_string(c));
    std::vector<std::int64_t> ranks, per;
    std::vector<double> tol, ratio;
    std::vector<std::uint64_t> params;
    R.read(id, obj, "choice_ranks", {c, 3}, ranks);
    R.read(id, obj, "choice_tolerance", {c}, tol);
    R.read(id, obj, "choice_ratio", {c}, ratio);
    R.read(id, obj, "choice_params", {c}, params);
    const auto pd = R.read(id, obj, "choice_per_layer", {-1, 5}, per);
    for (std::int64_t k = 0; k < c; ++k) {
        tucker::RankSpec s;
        const std::string& kn = kinds[std::size_t(k)];
        if (kn == "fixed")
            s.kind = Kind::Fixed;
        else if (kn == "tolerance")
            s.kind = Kind::Tolerance;
        else if (kn == "ratio")
            s.kind = Kind::Ratio;
        else if (kn == "params")
            s.kind = Kind::Params;
        else
            R.bad(obj + "/choice_kind", "entry " + std::to_string(k) + ": unknown kind '" + kn +
                                            "' (expected fixed, tolerance, ratio or params)");
        for (std::size_t n = 0; n < 3; ++n)
            s.ranks[n] = checked_int(R, obj + "/choice_ranks", ranks[std::size_t(3 * k) + n], 1, kMaxHidden);
        s.tolerance = tol[std::size_t(k)];
        s.ratio = ratio[std::size_t(k)];
        s.params = params[std::size_t(k)];
        o.choices.push_back(std::move(s));
    }
    for (std::size_t row = 0; row < pd[0]; ++row) {
        const std::string w = obj + "/choice_per_layer row " + std::to_string(row);
        const int k = checked_int(R, w, per[5 * row], 0, c - 1);
        const int l = checked_int(R, w, per[5 * row + 1], 0, kMaxLayer - 1);
        std::array<int, 3> rr{};
        for (std::size_t n = 0; n < 3; ++n) rr[n] = checked_int(R, w, per[5 * row + 2 + n], 1, kMaxHidden);
        if (!o.choices[std::size_t(k)].per_layer.emplace(l, rr).second)
            R.bad(w, "layer " + std::to_string(l) + " repeated");
    }

    const auto matrix = R.strings(id, obj, "laser_matrix", 1 << 16, 16);
    std::vector<std::int64_t> lrank;
    R.read(id, obj, "laser_rank", {std::int64_t(matrix.size())}, lrank);
    for (std::size_t k = 0; k < matrix.size(); ++k) {
        edits::LaserSpec l;
        bool known = false;
        for (auto m : {eval::MlpMatrix::Up, eval::MlpMatrix::Down, eval::MlpMatrix::Gate})
            if (matrix[k] == eval::mlp_matrix_name(m)) l.matrix = m, known = true;
        if (!known)
            R.bad(obj + "/laser_matrix",
                  "entry " + std::to_string(k) + ": unknown matrix '" + matrix[k] + "' (expected up, down or gate)");
        l.rank = checked_int(R, obj + "/laser_rank", lrank[k], 1, kMaxLaserRank);
        o.laser.push_back(l);
    }
}

void read_baseline(const h5::Reader& R, hid_t root, edits::SweepBaseline& b) {
    const std::string obj = "/baseline";
    Handle g = R.group(root, "/", "baseline");
    const hid_t id = g.get();
    auto& p = b.ppl;
    p.ctx = int(R.attr_int(id, obj, "ctx", 0, 1 << 30));
    p.stride = int(R.attr_int(id, obj, "stride", 0, 1 << 30));
    p.n_tokens = R.attr_int(id, obj, "tokens", 0, std::int64_t(1) << 62);
    p.n_scored = R.attr_int(id, obj, "scored_tokens", 0, std::int64_t(1) << 62);
    p.n_bytes = R.attr_int(id, obj, "scored_bytes", 0, std::int64_t(1) << 62);
    p.sum_nll = R.attr_f64(id, obj, "sum_nll");
    p.mean_nll = R.attr_f64(id, obj, "mean_nll");
    p.mean_nll_stderr = R.attr_f64(id, obj, "mean_nll_stderr");
    p.perplexity = R.attr_f64(id, obj, "perplexity");
    p.bits_per_byte = R.attr_f64(id, obj, "bits_per_byte");
    R.read(id, obj, "window_nll", {-1}, p.window_nll);
    std::vector<std::int64_t> ws;
    R.read(id, obj, "window_scored", {std::int64_t(p.window_nll.size())}, ws);
    p.window_scored.assign(ws.begin(), ws.end());
    if (R.attr_int(id, obj, "has_mc", 0, 1) == 0) {
        if (R.has(id, "mc")) R.bad(obj + "/mc", "present but has_mc is 0");
        return;
    }
    const std::string mo = "/baseline/mc";
    Handle mg = R.group(id, obj, "mc");
    const hid_t mid = mg.get();
    eval::McResult m;
    m.acc = R.attr_f64(mid, mo, "acc");
    m.acc_stderr = R.attr_f64(mid, mo, "acc_stderr");
    m.acc_norm = R.attr_f64(mid, mo, "acc_norm");
    m.acc_norm_stderr = R.attr_f64(mid, mo, "acc_norm_stderr");
    std::vector<std::int64_t> choices, answer, pick, pick_norm, bytes, tokens;
    std::vector<double> loglik;
    R.read(mid, mo, "choices", {-1}, choices);
    const std::int64_t n = std::int64_t(choices.size());
    R.read(mid, mo, "answer", {n}, answer);
    R.read(mid, mo, "pick", {n}, pick);
    R.read(mid, mo, "pick_norm", {n}, pick_norm);
    std::int64_t total = 0;
    for (auto c : choices) {
        checked_int(R, mo + "/choices", c, 1, 1 << 16);
        total += c;
    }
    R.read(mid, mo, "loglik", {total}, loglik);
    R.read(mid, mo, "choice_bytes", {total}, bytes);
    R.read(mid, mo, "choice_tokens", {total}, tokens);
    std::size_t at = 0;
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
        eval::McItemResult it;
        const std::size_t c = std::size_t(choices[i]);
        it.loglik.assign(loglik.begin() + std::ptrdiff_t(at), loglik.begin() + std::ptrdiff_t(at + c));
        it.bytes.assign(bytes.begin() + std::ptrdiff_t(at), bytes.begin() + std::ptrdiff_t(at + c));
        for (std::size_t k = at; k < at + c; ++k)
            it.n_tokens.push_back(checked_int(R, mo + "/choice_tokens", tokens[k], 0, 1 << 30));
        at += c;
        const std::int64_t hi = std::int64_t(c) - 1;
        it.answer = checked_int(R, mo + "/answer", answer[i], 0, hi);
        it.pick = checked_int(R, mo + "/pick", pick[i], 0, hi);
        it.pick_norm = checked_int(R, mo + "/pick_norm", pick_norm[i], 0, hi);
        m.items.push_back(std::move(it));
    }
    b.mc = std::move(m);
}

tucker::Status parse_status(const h5::Reader& R, const std::string& where, const std::string& s) {
    for (auto st :
         {tucker::Status::Ok, tucker::Status::NotConverged, tucker::Status::Cancelled, tucker::Status::Failed})
        if (s == tucker::status_name(st)) return st;
    R.bad(where, "unknown status '" + s + "' (expected ok, not_converged, cancelled or failed)");
}

void read_points(const h5::Reader& R, hid_t root, edits::SweepResult& r) {
    const std::string obj = "/points";
    Handle g = R.group(root, "/", "points");
    const hid_t id = g.get();
    std::vector<std::int64_t> layer, choice, laser, ranks, iterations, has_mc;
    R.read(id, obj, "layer", {-1}, layer);
    const std::int64_t n = std::int64_t(layer.size());
    if (R.attr_int(id, obj, "count", 0, kMaxCount) != n)
        R.bad(obj + " attribute 'count'", "differs from the " + std::to_string(n) + " rows of /points/layer");
    R.read(id, obj, "choice", {n}, choice);
    R.read(id, obj, "laser", {n}, laser);
    const auto label = R.strings(id, obj, "label", std::size_t(kMaxCount), 1 << 20);
    const auto status = R.strings(id, obj, "status", std::size_t(kMaxCount), 64);
    const auto message = R.strings(id, obj, "message", std::size_t(kMaxCount), 1 << 20);
    for (const auto* s : {&label, &status, &message})
        if (std::int64_t(s->size()) != n)
            R.bad(obj,
                  "a string column has " + std::to_string(s->size()) + " rows, /points/layer " + std::to_string(n));
    R.read(id, obj, "ranks", {n, 3}, ranks);
    R.read(id, obj, "iterations", {n}, iterations);
    R.read(id, obj, "has_mc", {n}, has_mc);
    std::vector<double> te, mc;
    R.read(id, obj, "type_error", {n, 4}, te);
    R.read(id, obj, "mc", {n, kMcColumns}, mc);
    const char* real_names[] = {"weight_error", "laser_error",    "layer_ratio",       "model_ratio",
                                "mean_nll",     "delta_nll",      "delta_nll_stderr",  "kl_mean",
                                "kl_p99",       "top1_agreement", "seconds_decompose", "seconds_eval"};
    std::vector<std::vector<double>> reals(std::size(real_names));
    for (std::size_t k = 0; k < reals.size(); ++k) R.read(id, obj, real_names[k], {n}, reals[k]);
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
        const std::string row = " row " + std::to_string(i);
        edits::SweepPoint p;
        p.spec.layer = checked_int(R, obj + "/layer" + row, layer[i], 0, kMaxLayer - 1);
        p.spec.choice =
            checked_int(R, obj + "/choice" + row, choice[i], -1, std::int64_t(r.options.choices.size()) - 1);
        p.spec.laser = checked_int(R, obj + "/laser" + row, laser[i], -1, std::int64_t(r.options.laser.size()) - 1);
        p.label = label[i];
        p.status = parse_status(R, obj + "/status" + row, status[i]);
        p.message = message[i];
        for (std::size_t k = 0; k < 3; ++k)
            p.ranks[k] = checked_int(R, obj + "/ranks" + row, ranks[3 * i + k], 0, kMaxHidden);
        for (std::size_t k = 0; k < 4; ++k) p.type_error[k] = te[4 * i + k];
        p.iterations = checked_int(R, obj + "/iterations" + row, iterations[i], 0, 1 << 30);
        double* dst[] = {&p.weight_error, &p.laser_error,    &p.layer_ratio,       &p.model_ratio,
                         &p.mean_nll,     &p.delta_nll,      &p.delta_nll_stderr,  &p.kl_mean,
                         &p.kl_p99,       &p.top1_agreement, &p.seconds_decompose, &p.seconds_eval};
        for (std::size_t k = 0; k < reals.size(); ++k) *dst[k] = reals[k][i];
        if (checked_int(R, obj + "/has_mc" + row, has_mc[i], 0, 1)) {
            const double* m = mc.data() + std::size_t(kMcColumns) * i;
            p.mc = edits::McScore{m[0], m[1], m[2], m[3], m[4], m[5]};
        }
        r.points.push_back(std::move(p));
    }
}

}  // namespace

void check_sweep(const edits::SweepResult& r, const std::string& where) {
    auto bad = [&](const std::string& field, const std::string& what) {
        throw std::runtime_error(where + ": " + field + ": " + what);
    };
    auto in = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
    auto layers = [&](const char* field, const std::vector<int>& v) {
        for (int l : v)
            if (!in(l, 0, kMaxLayer - 1)) bad(field, "layer " + std::to_string(l) + " out of range");
    };
    const auto& o = r.options;
    layers("options.layers", o.layers);
    layers("layers", r.layers);
    layers("prefix.layers", r.prefix.layers);
    for (std::size_t k = 0; k < o.choices.size(); ++k) {
        const auto& s = o.choices[k];
        const std::string f = "options.choices[" + std::to_string(k) + "]";
        for (int x : s.ranks)
            if (!in(x, 1, kMaxHidden))
                bad(f, "rank " + std::to_string(x) + " outside [1, " + std::to_string(kMaxHidden) + "]");
        for (const auto& [l, rr] : s.per_layer) {
            if (!in(l, 0, kMaxLayer - 1)) bad(f, "per-layer override of layer " + std::to_string(l) + " out of range");
            for (int x : rr)
                if (!in(x, 1, kMaxHidden)) bad(f, "per-layer rank " + std::to_string(x) + " out of range");
        }
        try {
            s.validate();
        } catch (const std::invalid_argument& e) {
            bad(f, e.what());
        }
    }
    for (std::size_t k = 0; k < o.laser.size(); ++k) {
        const auto& l = o.laser[k];
        const int m = static_cast<int>(l.matrix);
        if (!in(m, 0, 2) || !in(l.rank, 1, kMaxLaserRank))
            bad("options.laser[" + std::to_string(k) + "]",
                "matrix " + std::to_string(m) + ", rank " + std::to_string(l.rank) + " out of range");
    }
    if (o.tucker.mode_order.size() > 3) bad("options.tucker.mode_order", "more than 3 entries");
    for (int x : o.tucker.mode_order)
        if (!in(x, 0, 2)) bad("options.tucker.mode_order", "entry " + std::to_string(x) + " outside [0, 2]");
    for (int x : o.tucker.ranks)
        if (!in(x, 1, kMaxHidden)) bad("options.tucker.ranks", "rank " + std::to_string(x) + " out of range");
    if (!in(o.tucker.max_iterations, 0, 1 << 30)) bad("options.tucker.max_iterations", "out of range");
    if (!in(o.threads, 0, 1 << 20)) bad("options.threads", "out of range");
    if (!in(o.ppl.ctx, 0, 1 << 30) || !in(o.ppl.stride, 0, 1 << 30) || o.ppl.max_tokens < 0)
        bad("options.ppl", "ctx, stride or max_tokens out of range");
    const auto& b = r.baseline.ppl;
    if (!in(b.ctx, 0, 1 << 30) || !in(b.stride, 0, 1 << 30) || b.n_tokens < 0 || b.n_scored < 0 || b.n_bytes < 0)
        bad("baseline", "ctx, stride or a token count out of range");
    if (b.window_nll.size() != b.window_scored.size())
        bad("baseline.window_scored", std::to_string(b.window_scored.size()) + " entries for " +
                                          std::to_string(b.window_nll.size()) + " windows");
    if (r.baseline.mc)
        for (std::size_t i = 0; i < r.baseline.mc->items.size(); ++i) {
            const auto& it = r.baseline.mc->items[i];
            const std::string f = "baseline.mc.items[" + std::to_string(i) + "]";
            const std::size_t c = it.loglik.size();
            if (c < 1 || c > (1u << 16) || it.bytes.size() != c || it.n_tokens.size() != c)
                bad(f, "choices: " + std::to_string(c) + " log-likelihoods, " + std::to_string(it.bytes.size()) +
                           " byte counts, " + std::to_string(it.n_tokens.size()) + " token counts");
            for (int t : it.n_tokens)
                if (!in(t, 0, 1 << 30)) bad(f, "token count " + std::to_string(t) + " out of range");
            const std::int64_t hi = std::int64_t(c) - 1;
            if (!in(it.answer, 0, hi) || !in(it.pick, 0, hi) || !in(it.pick_norm, 0, hi))
                bad(f, "answer or pick outside the " + std::to_string(c) + " choices");
        }
    if (!in(r.prefix.passes, 0, 1 << 30)) bad("prefix.passes", "out of range");
    if (r.points.size() > std::size_t(kMaxCount)) bad("points", "too many");
    for (std::size_t i = 0; i < r.points.size(); ++i) {
        const auto& p = r.points[i];
        const std::string f = "points[" + std::to_string(i) + "]";
        if (!in(p.spec.layer, 0, kMaxLayer - 1)) bad(f, "layer " + std::to_string(p.spec.layer) + " out of range");
        if (!in(p.spec.choice, -1, std::int64_t(o.choices.size()) - 1))
            bad(f, "choice " + std::to_string(p.spec.choice) + " outside the " + std::to_string(o.choices.size()) +
                       " rank choices");
        if (!in(p.spec.laser, -1, std::int64_t(o.laser.size()) - 1))
            bad(f, "laser " + std::to_string(p.spec.laser) + " outside the " + std::to_string(o.laser.size()) +
                       " LASER choices");
        const int st = static_cast<int>(p.status);
        if (!in(st, 0, 3)) bad(f, "status " + std::to_string(st) + " unknown");
        for (int x : p.ranks)
            if (!in(x, 0, kMaxHidden)) bad(f, "rank " + std::to_string(x) + " out of range");
        if (!in(p.iterations, 0, 1 << 30)) bad(f, "iterations " + std::to_string(p.iterations) + " out of range");
    }
}

void write_sweep_hdf5(const std::string& path, const edits::SweepResult& r, const io::SourceSet& sources,
                      const util::Control& ctl) {
    if (path.empty()) throw io::UnsafeOutput("HDF5 sweep file: empty path");
    io::check_output_file(sources, "HDF5 sweep file", path);
    try {
        check_sweep(r, "sweep");
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());
    }
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw std::runtime_error(path + ": is a directory, not a file name");
    io::check_writable_beside(path);
    ctl.check();
    io::AtomicFile out(path);
    // Far less than 1 KiB per point; the in-memory file grows by this much at a time.
    const std::uint64_t increment =
        std::clamp<std::uint64_t>(std::uint64_t(r.points.size()) * 1024 + (256u << 10), 1ull << 20, 64ull << 20);
    h5::write_file_image(
        out, path, increment, 16ull << 10, [&](const h5::Writer& W, hid_t root) { write_content(W, root, r); }, ctl);
    out.commit();
    ctl.report(1.0f);
}

edits::SweepResult read_sweep_hdf5_in_process(const std::string& path) {
    const std::uint64_t size = results_file_size(path);
    h5::Session session;
    Handle file = h5::open_read_only(path, size);
    const h5::Reader R{path, size};
    const hid_t root = file.get();
    const std::string fmt = R.attr_str(root, "/", "format", 256);
    if (fmt != kSweepHdf5Format)
        R.bad("/ attribute 'format'",
              "is '" + fmt + "', expected '" + kSweepHdf5Format + "' (not a TensorLLM sweep file)");
    const auto version = R.attr_int(root, "/", "format_version", 1, 1 << 20);
    if (version > kSweepHdf5FormatVersion)
        R.bad("/ attribute 'format_version'", "is " + std::to_string(version) +
                                                  ": written by a newer version; this build reads version " +
                                                  std::to_string(kSweepHdf5FormatVersion));
    // Sweep files have always carried the checksum: one without it was altered.
    if (!R.has_attr(root, kContentHashAttribute))
        R.bad("/", std::string("attribute '") + kContentHashAttribute + "' missing (every sweep file has it)");
    h5::verify_content_hash(path, R.attr_str(root, "/", kContentHashAttribute, 64));

    edits::SweepResult r;
    r.model_path = R.attr_str(root, "/", "model_path", 1 << 16);
    r.model_type = R.attr_str(root, "/", "model_type", 256);
    r.model_params = R.attr_u64(root, "/", "model_params");
    r.text_source = R.attr_str(root, "/", "text_source", 1 << 16);
    r.mc_source = R.attr_str(root, "/", "mc_source", 1 << 16);
    r.grid_size = std::size_t(R.attr_u64(root, "/", "grid_size"));
    r.cancelled = R.attr_int(root, "/", "cancelled", 0, 1) != 0;
    r.seconds = R.attr_f64(root, "/", "seconds");
    read_options(R, root, r);
    read_baseline(R, root, r.baseline);
    {
        const std::string obj = "/prefix_cache";
        Handle g = R.group(root, "/", "prefix_cache");
        auto& p = r.prefix;
        p.budget_bytes = R.attr_u64(g.get(), obj, "budget_bytes");
        p.used_bytes = R.attr_u64(g.get(), obj, "used_bytes");
        p.seconds_baseline = R.attr_f64(g.get(), obj, "seconds_baseline");
        p.seconds_per_layer = R.attr_f64(g.get(), obj, "seconds_per_layer");
        p.seconds_saved = R.attr_f64(g.get(), obj, "seconds_saved");
        p.passes = int(R.attr_int(g.get(), obj, "passes", 0, 1 << 30));
        p.layers = layer_list(R, g.get(), obj, "layers");
    }
    read_points(R, root, r);
    check_sweep(r, path);
    return r;
}

std::string hdf5_format_in_process(const std::string& path) {
    const std::uint64_t size = results_file_size(path);
    h5::Session session;
    Handle file = h5::open_read_only(path, size);
    const h5::Reader R{path, size};
    const std::string fmt = R.attr_str(file.get(), "/", "format", 256);
    if (fmt != kHdf5Format && fmt != kSweepHdf5Format)
        R.bad("/ attribute 'format'", "is '" + fmt + "', expected '" + kHdf5Format + "' or '" + kSweepHdf5Format +
                                          "' (not a TensorLLM results or sweep file)");
    return fmt;
}

}  // namespace tllm::exporting
