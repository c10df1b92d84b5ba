#include "results/compare.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "io/mapped_file.h"
#include "results/hdf5_results.h"
#include "results/results_json_reader.h"
#include "results/results_reader_process.h"
#include "results/sweep_tables.h"
#include "util/format.h"
#include "util/json_checksum.h"

namespace tllm::exporting {
namespace {

namespace fs = std::filesystem;

// Largest JSON input accepted (a project of a large model with head spectra stays far below).
constexpr std::uint64_t kMaxJsonBytes = 1ull << 30;

[[noreturn]] void fail(const std::string& source, const std::string& msg) {
    throw std::runtime_error(source + ": " + msg);
}

// The statuses of the layers of a results document that did not complete (what
// layers_from_results_json leaves out), so the comparison can say why a layer is missing.
std::map<int, std::string> incomplete_layers(const nlohmann::json& doc) {
    std::map<int, std::string> out;
    for (const auto& l : doc["layers"]) {
        if (!l.is_object() || !l.contains("layer") || !l["layer"].is_number_integer()) continue;
        const std::string status = l.value("status", std::string("unknown"));
        if (status == "ok" || status == "not_converged") continue;
        const std::string msg = l.value("message", std::string());
        out[l["layer"].get<int>()] = msg.empty() ? status : status + ": " + msg;
    }
    return out;
}

std::string status_text(const jobs::LayerResult& r) {
    std::string s = tucker::status_name(r.status);
    if (!r.message.empty()) s += ": " + r.message;
    return s;
}

CompareSide side_from_results_file(const ResultsFile& f, const std::string& label) {
    CompareSide s;
    s.path = f.path;
    s.kind = "HDF5 results";
    s.label = label;
    s.model_path = f.meta.source.path;
    s.fingerprint = f.meta.source.header_sha256;
    s.shape = f.meta.shape;
    s.model_type = f.meta.model_type;
    s.rank_choice = f.meta.options.ranks.describe();
    s.method = tucker::method_name(f.meta.options.tucker.method);
    for (const auto& r : f.summary.layers) {
        if (r.complete())
            s.layers[r.layer] = r;
        else
            s.incomplete[r.layer] = status_text(r);
    }
    return s;
}

CompareSide side_from_sweep(edits::SweepResult r, const std::string& path, const std::string& kind,
                            const std::string& label) {
    CompareSide s;
    s.path = path;
    s.kind = kind;
    s.label = label;
    s.model_path = r.model_path;
    s.model_type = r.model_type;
    s.method = tucker::method_name(r.options.tucker.method);
    s.sweep = std::move(r);
    return s;
}

bool is_hdf5(const std::string& bytes) {
    static const char sig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
    return bytes.size() >= 8 && std::equal(sig, sig + 8, bytes.begin());
}

// The first bytes of a regular file (enough for the HDF5 signature).
std::string head_bytes(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(path, std::string("cannot open: ") + io::open_error(errno));
    char buf[8];
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    return std::string(buf, n);
}

// The point of `sweep` that edited `layer`'s attention alone at `ranks`, or null.
const edits::SweepPoint* point_at_ranks(const edits::SweepResult& sweep, int layer, const std::array<int, 3>& ranks) {
    for (const auto& p : sweep.points)
        if (p.spec.layer == layer && p.spec.choice >= 0 && p.spec.laser < 0 && p.ran() && p.ranks == ranks) return &p;
    return nullptr;
}

std::string ranks_text(const std::array<int, 3>& r, bool present) {
    if (!present) return "-";
    return std::to_string(r[0]) + "," + std::to_string(r[1]) + "," + std::to_string(r[2]);
}

// Shortest round-trip text of a double for CSV; empty for NaN (a value the side lacks).
std::string num(double v) {
    if (std::isnan(v)) return "";
    char b[32];
    const auto res = std::to_chars(b, b + sizeof b, v);
    return std::string(b, res.ptr);
}

nlohmann::ordered_json jnum(double v) {
    if (!std::isfinite(v)) return nullptr;
    return v;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return o + "\"";
}

nlohmann::ordered_json side_json(const CompareSide& s) {
    nlohmann::ordered_json j;
    j["label"] = s.label;
    j["path"] = s.path;
    j["kind"] = s.kind;
    j["model_path"] = s.model_path;
    j["fingerprint"] = s.fingerprint.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.fingerprint);
    j["model_type"] = s.model_type;
    if (s.shape)
        j["shape"] = {{"hidden_size", s.shape->d},
                      {"head_dim", s.shape->dv},
                      {"num_heads", s.shape->h},
                      {"num_kv_heads", s.shape->n_kv}};
    j["rank_choice"] = s.rank_choice;
    j["method"] = s.method;
    j["layers"] = s.layers.size();
    j["sweep_points"] = s.sweep ? s.sweep->points.size() : 0;
    return j;
}

}  // namespace

const char* verdict_name(CheckpointVerdict v) {
    switch (v) {
        case CheckpointVerdict::Same: return "same";
        case CheckpointVerdict::Different: return "different";
        case CheckpointVerdict::Unknown: break;
    }
    return "unknown";
}

CompareSide side_from_results_json(const nlohmann::json& doc, const std::string& source, const std::string& label) {
    if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object())
        fail(source, "field 'model' missing or not an object");
    const auto& m = doc["model"];
    auto field_int = [&](const char* k) {
        if (!m.contains(k) || !m[k].is_number_integer()) fail(source, std::string("model: field '") + k + "' missing");
        const auto v = m[k].get<long long>();
        if (v < 1 || v > kMaxHidden) fail(source, std::string("model: field '") + k + "' = " + std::to_string(v));
        return int(v);
    };
    model::AttentionShape S;
    S.d = field_int("hidden_size");
    S.dv = field_int("head_dim");
    S.h = field_int("num_heads");
    S.n_kv = field_int("num_kv_heads");
    CompareSide s;
    s.path = source;
    s.kind = "results set";
    s.label = label;
    s.shape = S;
    s.model_path = m.value("path", std::string());
    s.model_type = m.value("model_type", std::string());
    if (doc.contains("options") && doc["options"].is_object()) {
        s.rank_choice = doc["options"].value("rank_choice", std::string());
        s.method = doc["options"].value("method", std::string());
    }
    for (auto& r : layers_from_results_json(doc, S, source)) {
        const int l = r.layer;
        if (s.layers.count(l)) fail(source, "layer " + std::to_string(l) + " appears twice");
        s.layers.emplace(l, std::move(r));
    }
    s.incomplete = incomplete_layers(doc);
    return s;
}

CompareSide load_compare_side(const std::string& path, const std::string& label, const util::Control& ctl,
                              const std::string& reader) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) fail(path, "no such file or directory");
    std::string file = path;
    if (fs::is_directory(st)) {
        file = (fs::path(path) / "results.json").string();
        if (!fs::exists(file, ec))
            fail(path,
                 "a directory without results.json (expected the output of 'tensorllm decompose --out' or "
                 "'tensorllm sweep --out')");
    }
    if (!fs::is_regular_file(file, ec)) fail(file, "not a regular file");
    if (is_hdf5(head_bytes(file))) {
        Hdf5ReadOptions ro;
        ro.factors = false;
        auto c = read_hdf5_isolated(file, ro, ctl, reader);
        if (c.sweep) return side_from_sweep(std::move(*c.sweep), file, "HDF5 sweep", label);
        return side_from_results_file(*c.results, label);
    }
    const std::string text = io::read_regular_file(file, kMaxJsonBytes, "a results file");
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        fail(file,
             "not a results file: neither HDF5 nor a JSON document (expected results.json, a project file or an "
             "HDF5 results or sweep file)");
    const std::string format =
        doc.contains("format") && doc["format"].is_string() ? doc["format"].get<std::string>() : std::string("(none)");
    util::verify_json_checksum(doc, file);
    if (format == "tensorllm-results/1") return side_from_results_json(doc, file, label);
    if (format == "tensorllm-sweep") return side_from_sweep(sweep_from_json(doc, file), file, "sweep set", label);
    if (format == "tensorllm-project/1") {
        // A project holds a results document and, optionally, a sweep (ui/main/project_file.h).
        CompareSide s;
        if (doc.contains("results")) {
            s = side_from_results_json(doc["results"], file + ": results", label);
        } else {
            s.label = label;
        }
        s.path = file;
        s.kind = "project";
        if (doc.contains("model_path") && doc["model_path"].is_string())
            s.model_path = doc["model_path"].get<std::string>();
        if (doc.contains("sweep")) s.sweep = sweep_from_json(doc["sweep"], file + ": sweep");
        if (s.layers.empty() && !s.sweep && s.incomplete.empty()) fail(file, "the project holds no results");
        return s;
    }
    fail(file, "field 'format' is '" + format +
                   "', not a results file (tensorllm-results/1, tensorllm-sweep or tensorllm-project/1)");
}

std::vector<int> Comparison::only_a() const {
    std::vector<int> v;
    for (const auto& r : layers)
        if (r.in_a && !r.in_b) v.push_back(r.layer);
    return v;
}

std::vector<int> Comparison::only_b() const {
    std::vector<int> v;
    for (const auto& r : layers)
        if (r.in_b && !r.in_a) v.push_back(r.layer);
    return v;
}

namespace {

// Whether two stored checkpoint paths name the same place: results.json keeps the path as it
// was given ("tests/../models/x"), HDF5 files the absolute one.
bool same_path(const std::string& a, const std::string& b) {
    if (a == b) return true;
    if (a.empty() || b.empty()) return false;
    std::error_code ea, eb;
    const auto ca = fs::weakly_canonical(a, ea), cb = fs::weakly_canonical(b, eb);
    return !ea && !eb && ca == cb;
}

std::pair<CheckpointVerdict, std::string> checkpoint_verdict(const CompareSide& a, const CompareSide& b) {
    const std::string A = a.label, B = b.label;
    auto where = [](const CompareSide& s) {
        return s.model_path.empty() ? std::string("(path not stored)") : s.model_path;
    };
    if (!a.fingerprint.empty() && !b.fingerprint.empty()) {
        if (a.fingerprint == b.fingerprint && same_path(a.model_path, b.model_path))
            return {CheckpointVerdict::Same, "same checkpoint: " + A + " and " + B + " were computed from " + where(a) +
                                                 " with the same header fingerprint (SHA-256 " + a.fingerprint + ")"};
        // The fingerprint covers tensor names, dtypes, shapes and offsets, not the weights: a
        // fine-tuned copy of a model has the base model's.
        if (a.fingerprint == b.fingerprint)
            return {CheckpointVerdict::Unknown,
                    "checkpoints at different paths with the same layout: " + A + " names " + where(a) + ", " + B +
                        " names " + where(b) + "; their header fingerprints agree (SHA-256 " + a.fingerprint +
                        "), which does not cover the weights (a fine-tuned copy has the same)"};
        return {CheckpointVerdict::Different, "different checkpoints: " + A + " was computed from " + where(a) +
                                                  " (SHA-256 of headers " + a.fingerprint + "), " + B + " from " +
                                                  where(b) + " (" + b.fingerprint + ")"};
    }
    if (a.shape && b.shape &&
        (a.shape->d != b.shape->d || a.shape->dv != b.shape->dv || a.shape->h != b.shape->h ||
         a.shape->n_kv != b.shape->n_kv)) {
        auto sh = [](const model::AttentionShape& s) {
            return "d " + std::to_string(s.d) + ", head_dim " + std::to_string(s.dv) + ", " + std::to_string(s.h) +
                   " heads";
        };
        return {CheckpointVerdict::Different, "different checkpoints: " + A + " (" + where(a) + ") has " +
                                                  sh(*a.shape) + ", " + B + " (" + where(b) + ") has " + sh(*b.shape)};
    }
    if (!a.model_type.empty() && !b.model_type.empty() && a.model_type != b.model_type)
        return {CheckpointVerdict::Different, "different checkpoints: " + A + " is a " + a.model_type + " model (" +
                                                  where(a) + "), " + B + " a " + b.model_type + " model (" + where(b) +
                                                  ")"};
    std::string missing;
    for (const auto* s : {&a, &b})
        if (s->fingerprint.empty()) missing += (missing.empty() ? "" : ", ") + s->label + " (" + s->kind + ")";
    const std::string why = "no header fingerprint stored by " + missing;
    if (same_path(a.model_path, b.model_path))
        return {CheckpointVerdict::Unknown, "checkpoint not verified: both name " + where(a) + ", but " + why +
                                                "; a checkpoint changed in place "
                                                "would not be noticed"};
    return {CheckpointVerdict::Unknown,
            "checkpoints may differ: " + A + " names " + where(a) + ", " + B + " names " + where(b) + "; " + why};
}

}  // namespace

Comparison compare_results(CompareSide a, CompareSide b) {
    if (a.layers.empty() && b.layers.empty() && !a.sweep && !b.sweep)
        throw std::invalid_argument("nothing to compare: neither " + a.path + " nor " + b.path +
                                    " holds complete layers or a sweep");
    Comparison c;
    std::tie(c.verdict, c.checkpoint_note) = checkpoint_verdict(a, b);
    std::set<int> all;
    for (const auto* s : {&a, &b}) {
        for (const auto& [l, r] : s->layers) all.insert(l);
        for (const auto& [l, m] : s->incomplete) all.insert(l);
    }
    auto fill = [](const CompareSide& s, int l, bool& in, std::string& status, std::array<int, 3>& ranks, double& err,
                   std::array<double, 4>& terr, double& ratio, double& dnll) {
        auto it = s.layers.find(l);
        if (it == s.layers.end()) {
            auto inc = s.incomplete.find(l);
            status = inc == s.incomplete.end() ? "absent" : inc->second;
            return;
        }
        const auto& r = it->second;
        in = true;
        status = tucker::status_name(r.status);
        ranks = r.ranks;
        err = r.measures.rel_error;
        terr = r.measures.type_error;
        ratio = r.measures.ratio;
        if (s.sweep)
            if (const auto* p = point_at_ranks(*s.sweep, l, r.ranks)) dnll = p->delta_nll;
    };
    for (int l : all) {
        CompareLayerRow row;
        row.layer = l;
        fill(a, l, row.in_a, row.status_a, row.ranks_a, row.error_a, row.type_error_a, row.ratio_a, row.delta_nll_a);
        fill(b, l, row.in_b, row.status_b, row.ranks_b, row.error_b, row.type_error_b, row.ratio_b, row.delta_nll_b);
        c.layers.push_back(std::move(row));
        if (!c.layers.back().in_a || !c.layers.back().in_b) continue;
        const auto& ma = a.layers.at(l).measures;
        const auto& mb = b.layers.at(l).measures;
        const std::size_t nh = std::max(ma.head_error.size(), mb.head_error.size());
        for (std::size_t i = 0; i < nh; ++i) {
            CompareHeadRow h;
            h.layer = l;
            h.head = int(i);
            if (i < ma.head_error.size()) h.error_a = ma.head_error[i];
            if (i < mb.head_error.size()) h.error_b = mb.head_error[i];
            if (i < ma.head_type_error.size()) h.type_error_a = ma.head_type_error[i];
            if (i < mb.head_type_error.size()) h.type_error_b = mb.head_type_error[i];
            c.heads.push_back(h);
        }
    }
    // Sweep points: A's in its order, then B's that A lacks; sorted by layer (stable).
    auto method_of = [](const CompareSide& s) {
        return std::string(tucker::method_name(s.sweep->options.tucker.method));
    };
    auto put = [](CompareSweepRow& row, const edits::SweepPoint& p, bool side_b) {
        (side_b ? row.in_b : row.in_a) = true;
        (side_b ? row.ranks_b : row.ranks_a) = p.ranks;
        (side_b ? row.weight_error_b : row.weight_error_a) = p.weight_error;
        (side_b ? row.layer_ratio_b : row.layer_ratio_a) = p.layer_ratio;
        (side_b ? row.delta_nll_b : row.delta_nll_a) = p.delta_nll;
        (side_b ? row.kl_mean_b : row.kl_mean_a) = p.kl_mean;
        (side_b ? row.top1_b : row.top1_a) = p.top1_agreement;
        (side_b ? row.delta_acc_b : row.delta_acc_a) = p.mc ? p.mc->delta_acc : kNaN;
    };
    std::map<std::tuple<int, std::string, std::string>, std::size_t> index;
    for (const auto* s : {&a, &b}) {
        if (!s->sweep) continue;
        const bool side_b = s == &b;
        const std::string method = method_of(*s);
        for (const auto& p : s->sweep->points) {
            if (!p.ran()) continue;
            const auto key = std::make_tuple(p.spec.layer, method, p.label);
            auto it = index.find(key);
            if (it == index.end()) {
                CompareSweepRow row;
                row.layer = p.spec.layer;
                row.label = p.label;
                row.method = method;
                it = index.emplace(key, c.sweep.size()).first;
                c.sweep.push_back(row);
            }
            put(c.sweep[it->second], p, side_b);
        }
    }
    std::stable_sort(c.sweep.begin(), c.sweep.end(), [](const auto& x, const auto& y) { return x.layer < y.layer; });
    if (a.sweep) c.baseline_nll_a = a.sweep->baseline.ppl.mean_nll;
    if (b.sweep) c.baseline_nll_b = b.sweep->baseline.ppl.mean_nll;
    c.a = std::move(a);
    c.b = std::move(b);
    return c;
}

std::string comparison_text(const Comparison& c) {
    std::ostringstream o;
    for (const auto* s : {&c.a, &c.b}) {
        o << s->label << ": " << s->path << " (" << s->kind;
        if (!s->rank_choice.empty()) o << "; " << s->rank_choice;
        if (!s->method.empty()) o << "; " << s->method;
        o << "; " << s->layers.size() << " layer" << (s->layers.size() == 1 ? "" : "s");
        if (s->sweep) o << ", sweep of " << s->sweep->points.size() << " points";
        o << ")\n";
    }
    o << "checkpoint: " << c.checkpoint_note << "\n";
    const auto oa = c.only_a(), ob = c.only_b();
    auto list = [](const std::vector<int>& v) {
        std::string t;
        for (int l : v) t += (t.empty() ? "" : ",") + std::to_string(l);
        return t;
    };
    if (!oa.empty()) o << "layers only in " << c.a.label << ": " << list(oa) << "\n";
    if (!ob.empty()) o << "layers only in " << c.b.label << ": " << list(ob) << "\n";
    const std::string A = c.a.label, B = c.b.label;
    if (!c.layers.empty()) {
        // Loss columns only when a sweep gives a layer's loss at its ranks.
        bool loss = false;
        for (const auto& r : c.layers) loss = loss || !std::isnan(r.delta_nll_a) || !std::isnan(r.delta_nll_b);
        auto h = [](const std::string& s, int w) {
            char b[64];
            std::snprintf(b, sizeof b, " %*s", w, s.substr(0, std::size_t(w)).c_str());
            return std::string(b);
        };
        std::size_t rw = 7;
        for (const auto& r : c.layers)
            rw = std::max({rw, ranks_text(r.ranks_a, r.in_a).size(), ranks_text(r.ranks_b, r.in_b).size()});
        const int w = int(rw);
        o << "\n(ranks R1,R2,R3; err: relative error; ratio: compression ratio";
        if (loss) o << "; dloss: change in mean NLL of the sweep point at these ranks";
        o << "; B-A: " << B << " minus " << A << ")\n";
        char line[512];
        std::snprintf(line, sizeof line, "%-5s  %-*s  %-*s", "layer", w, A.substr(0, rw).c_str(), w,
                      B.substr(0, rw).c_str());
        o << line << h("err " + A, 9) << h("err " + B, 9) << h("err B-A", 9) << h("ratio " + A, 9) << h("ratio " + B, 9)
          << h("ratio B-A", 9);
        if (loss) o << h("dloss " + A, 10) << h("dloss " + B, 10) << h("dloss B-A", 10);
        o << "\n";
        for (const auto& r : c.layers) {
            std::snprintf(line, sizeof line, "%-5d  %-*s  %-*s %s %s %s %s %s %s", r.layer, w,
                          ranks_text(r.ranks_a, r.in_a).c_str(), w, ranks_text(r.ranks_b, r.in_b).c_str(),
                          util::fixed_or_dash(r.error_a, 9, 5).c_str(), util::fixed_or_dash(r.error_b, 9, 5).c_str(),
                          util::fixed_or_dash(r.error_diff(), 9, 5).c_str(),
                          util::fixed_or_dash(r.ratio_a, 9, 2).c_str(), util::fixed_or_dash(r.ratio_b, 9, 2).c_str(),
                          util::fixed_or_dash(r.ratio_diff(), 9, 2).c_str());
            o << line;
            if (loss)
                o << ' ' << util::fixed_or_dash(r.delta_nll_a, 10, 5) << ' '
                  << util::fixed_or_dash(r.delta_nll_b, 10, 5) << ' ' << util::fixed_or_dash(r.delta_nll_diff(), 10, 5);
            if (!r.in_a) o << "  (" << A << ": " << r.status_a << ")";
            if (!r.in_b) o << "  (" << B << ": " << r.status_b << ")";
            o << "\n";
        }
    }
    if (!c.sweep.empty()) {
        o << "\nsweep: unedited mean NLL " << A << " " << util::fixed_or_dash(c.baseline_nll_a, 0, 5) << ", " << B
          << " " << util::fixed_or_dash(c.baseline_nll_b, 0, 5) << " nats/token\n";
        std::size_t lw = 4;
        for (const auto& r : c.sweep) lw = std::max(lw, r.label.size());
        char line[512];
        std::snprintf(line, sizeof line, "%-5s  %-*s %-6s %10s %10s %10s %9s %9s %9s %8s %8s %8s\n", "layer", int(lw),
                      "edit", "method", ("dnll " + A).substr(0, 10).c_str(), ("dnll " + B).substr(0, 10).c_str(),
                      "dnll B-A", ("kl " + A).substr(0, 9).c_str(), ("kl " + B).substr(0, 9).c_str(), "kl B-A",
                      ("top1 " + A).substr(0, 8).c_str(), ("top1 " + B).substr(0, 8).c_str(), "top1 B-A");
        o << line;
        for (const auto& r : c.sweep) {
            std::snprintf(
                line, sizeof line, "%-5d  %-*s %-6s %s %s %s %s %s %s %s %s %s\n", r.layer, int(lw), r.label.c_str(),
                r.method.c_str(), util::fixed_or_dash(r.delta_nll_a, 10, 5).c_str(),
                util::fixed_or_dash(r.delta_nll_b, 10, 5).c_str(),
                util::fixed_or_dash(r.delta_nll_diff(), 10, 5).c_str(), util::fixed_or_dash(r.kl_mean_a, 9, 5).c_str(),
                util::fixed_or_dash(r.kl_mean_b, 9, 5).c_str(), util::fixed_or_dash(r.kl_mean_diff(), 9, 5).c_str(),
                util::fixed_or_dash(r.top1_a, 8, 4).c_str(), util::fixed_or_dash(r.top1_b, 8, 4).c_str(),
                util::fixed_or_dash(r.top1_diff(), 8, 4).c_str());
            o << line;
        }
    }
    return o.str();
}

std::string comparison_csv(const Comparison& c) {
    std::ostringstream o;
    o << "layer,in_a,in_b,status_a,status_b,R1_a,R2_a,R3_a,R1_b,R2_b,R3_b,rel_error_a,rel_error_b,rel_error_diff";
    for (const char* t : {"Q", "K", "V", "O"}) o << ",error_" << t << "_a,error_" << t << "_b";
    o << ",ratio_a,ratio_b,ratio_diff,delta_nll_a,delta_nll_b,delta_nll_diff\n";
    for (const auto& r : c.layers) {
        o << r.layer << ',' << int(r.in_a) << ',' << int(r.in_b) << ',' << csv_field(r.status_a) << ','
          << csv_field(r.status_b);
        for (const auto* rk : {&r.ranks_a, &r.ranks_b}) {
            const bool in = rk == &r.ranks_a ? r.in_a : r.in_b;
            for (int n = 0; n < 3; ++n) o << ',' << (in ? std::to_string((*rk)[std::size_t(n)]) : std::string());
        }
        o << ',' << num(r.error_a) << ',' << num(r.error_b) << ',' << num(r.error_diff());
        for (std::size_t t = 0; t < 4; ++t) o << ',' << num(r.type_error_a[t]) << ',' << num(r.type_error_b[t]);
        o << ',' << num(r.ratio_a) << ',' << num(r.ratio_b) << ',' << num(r.ratio_diff()) << ',' << num(r.delta_nll_a)
          << ',' << num(r.delta_nll_b) << ',' << num(r.delta_nll_diff()) << '\n';
    }
    return o.str();
}

std::string comparison_heads_csv(const Comparison& c) {
    std::ostringstream o;
    o << "layer,head,error_a,error_b,error_diff";
    for (const char* t : {"Q", "K", "V", "O"}) o << ",error_" << t << "_a,error_" << t << "_b";
    o << '\n';
    for (const auto& h : c.heads) {
        o << h.layer << ',' << h.head << ',' << num(h.error_a) << ',' << num(h.error_b) << ',' << num(h.error_diff());
        for (std::size_t t = 0; t < 4; ++t) o << ',' << num(h.type_error_a[t]) << ',' << num(h.type_error_b[t]);
        o << '\n';
    }
    return o.str();
}

std::string comparison_sweep_csv(const Comparison& c) {
    std::ostringstream o;
    o << "layer,edit,method,in_a,in_b,R1_a,R2_a,R3_a,R1_b,R2_b,R3_b,weight_error_a,weight_error_b,layer_ratio_a,"
         "layer_ratio_b,delta_nll_a,delta_nll_b,delta_nll_diff,kl_mean_a,kl_mean_b,kl_mean_diff,top1_a,top1_b,"
         "top1_diff,delta_acc_a,delta_acc_b,delta_acc_diff\n";
    for (const auto& r : c.sweep) {
        o << r.layer << ',' << csv_field(r.label) << ',' << r.method << ',' << int(r.in_a) << ',' << int(r.in_b);
        for (const auto* rk : {&r.ranks_a, &r.ranks_b})
            for (int n = 0; n < 3; ++n) o << ',' << (*rk)[std::size_t(n)];
        o << ',' << num(r.weight_error_a) << ',' << num(r.weight_error_b) << ',' << num(r.layer_ratio_a) << ','
          << num(r.layer_ratio_b) << ',' << num(r.delta_nll_a) << ',' << num(r.delta_nll_b) << ','
          << num(r.delta_nll_diff()) << ',' << num(r.kl_mean_a) << ',' << num(r.kl_mean_b) << ','
          << num(r.kl_mean_diff()) << ',' << num(r.top1_a) << ',' << num(r.top1_b) << ',' << num(r.top1_diff()) << ','
          << num(r.delta_acc_a) << ',' << num(r.delta_acc_b) << ',' << num(r.delta_acc_diff()) << '\n';
    }
    return o.str();
}

nlohmann::ordered_json comparison_json(const Comparison& c) {
    nlohmann::ordered_json j;
    j["format"] = "tensorllm-compare/1";
    j["tool_version"] = TENSORLLM_VERSION;
    j["a"] = side_json(c.a);
    j["b"] = side_json(c.b);
    j["checkpoints"] = {{"verdict", verdict_name(c.verdict)}, {"note", c.checkpoint_note}};
    j["only_a"] = c.only_a();
    j["only_b"] = c.only_b();
    auto ranks = [](const std::array<int, 3>& r, bool in) {
        return in ? nlohmann::ordered_json(r) : nlohmann::ordered_json(nullptr);
    };
    auto types = [](const std::array<double, 4>& e) {
        return nlohmann::ordered_json{{"Q", jnum(e[0])}, {"K", jnum(e[1])}, {"V", jnum(e[2])}, {"O", jnum(e[3])}};
    };
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& r : c.layers)
        j["layers"].push_back({{"layer", r.layer},
                               {"in_a", r.in_a},
                               {"in_b", r.in_b},
                               {"status_a", r.status_a},
                               {"status_b", r.status_b},
                               {"ranks_a", ranks(r.ranks_a, r.in_a)},
                               {"ranks_b", ranks(r.ranks_b, r.in_b)},
                               {"rel_error_a", jnum(r.error_a)},
                               {"rel_error_b", jnum(r.error_b)},
                               {"rel_error_diff", jnum(r.error_diff())},
                               {"type_error_a", types(r.type_error_a)},
                               {"type_error_b", types(r.type_error_b)},
                               {"ratio_a", jnum(r.ratio_a)},
                               {"ratio_b", jnum(r.ratio_b)},
                               {"ratio_diff", jnum(r.ratio_diff())},
                               {"delta_nll_a", jnum(r.delta_nll_a)},
                               {"delta_nll_b", jnum(r.delta_nll_b)},
                               {"delta_nll_diff", jnum(r.delta_nll_diff())}});
    j["heads"] = nlohmann::ordered_json::array();
    for (const auto& h : c.heads)
        j["heads"].push_back({{"layer", h.layer},
                              {"head", h.head},
                              {"error_a", jnum(h.error_a)},
                              {"error_b", jnum(h.error_b)},
                              {"error_diff", jnum(h.error_diff())},
                              {"type_error_a", types(h.type_error_a)},
                              {"type_error_b", types(h.type_error_b)}});
    // Each side's mode spectra summary at its ranks: how much energy each rank cut keeps.
    j["spectra"] = nlohmann::ordered_json::array();
    for (const auto& r : c.layers) {
        if (!r.in_a || !r.in_b) continue;
        const auto& la = c.a.layers.at(r.layer);
        const auto& lb = c.b.layers.at(r.layer);
        if (!la.spectra || !lb.spectra) continue;
        j["spectra"].push_back({{"layer", r.layer},
                                {"captured_energy_a", la.measures.captured_energy},
                                {"captured_energy_b", lb.measures.captured_energy}});
    }
    j["sweep"] = {{"baseline_mean_nll_a", jnum(c.baseline_nll_a)},
                  {"baseline_mean_nll_b", jnum(c.baseline_nll_b)},
                  {"baseline_mean_nll_diff", jnum(c.baseline_nll_b - c.baseline_nll_a)},
                  {"points", nlohmann::ordered_json::array()}};
    for (const auto& r : c.sweep)
        j["sweep"]["points"].push_back({{"layer", r.layer},
                                        {"edit", r.label},
                                        {"method", r.method},
                                        {"in_a", r.in_a},
                                        {"in_b", r.in_b},
                                        {"ranks_a", ranks(r.ranks_a, r.in_a)},
                                        {"ranks_b", ranks(r.ranks_b, r.in_b)},
                                        {"weight_error_a", jnum(r.weight_error_a)},
                                        {"weight_error_b", jnum(r.weight_error_b)},
                                        {"layer_ratio_a", jnum(r.layer_ratio_a)},
                                        {"layer_ratio_b", jnum(r.layer_ratio_b)},
                                        {"delta_nll_a", jnum(r.delta_nll_a)},
                                        {"delta_nll_b", jnum(r.delta_nll_b)},
                                        {"delta_nll_diff", jnum(r.delta_nll_diff())},
                                        {"kl_mean_a", jnum(r.kl_mean_a)},
                                        {"kl_mean_b", jnum(r.kl_mean_b)},
                                        {"kl_mean_diff", jnum(r.kl_mean_diff())},
                                        {"top1_a", jnum(r.top1_a)},
                                        {"top1_b", jnum(r.top1_b)},
                                        {"top1_diff", jnum(r.top1_diff())},
                                        {"delta_acc_a", jnum(r.delta_acc_a)},
                                        {"delta_acc_b", jnum(r.delta_acc_b)},
                                        {"delta_acc_diff", jnum(r.delta_acc_diff())}});
    util::add_json_checksum(j);
    return j;
}

}  // namespace tllm::exporting
