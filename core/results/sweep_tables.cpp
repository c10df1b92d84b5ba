#include "results/sweep_tables.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "io/staging_dir.h"
#include "results/results_tables.h"
#include "util/json_checksum.h"

namespace tllm::exporting {
namespace {

using nlohmann::ordered_json;

ordered_json num(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

double get_num(const nlohmann::json& j, const char* key, const std::string& where) {
    if (!j.contains(key)) throw std::runtime_error(where + ": missing field \"" + key + "\"");
    const auto& v = j.at(key);
    if (v.is_null()) return edits::SweepPoint::kNaN;
    if (!v.is_number()) throw std::runtime_error(where + ": field \"" + key + "\" is not a number");
    return v.get<double>();
}

const char* kind_name(tucker::RankSpec::Kind k) {
    switch (k) {
        case tucker::RankSpec::Kind::Fixed: return "ranks";
        case tucker::RankSpec::Kind::Tolerance: return "tolerance";
        case tucker::RankSpec::Kind::Ratio: return "ratio";
        case tucker::RankSpec::Kind::Params: return "params";
    }
    return "?";
}

ordered_json choice_json(const tucker::RankSpec& s) {
    ordered_json c;
    c["kind"] = kind_name(s.kind);
    switch (s.kind) {
        case tucker::RankSpec::Kind::Fixed: c["value"] = s.ranks; break;
        case tucker::RankSpec::Kind::Tolerance: c["value"] = s.tolerance; break;
        case tucker::RankSpec::Kind::Ratio: c["value"] = s.ratio; break;
        case tucker::RankSpec::Kind::Params: c["value"] = s.params; break;
    }
    return c;
}

tucker::RankSpec choice_from(const nlohmann::json& c, const std::string& where) {
    tucker::RankSpec s;
    const std::string k = c.value("kind", "");
    if (!c.contains("value")) throw std::runtime_error(where + ": missing field \"value\"");
    const auto& v = c.at("value");
    try {
        if (k == "ranks")
            s.kind = tucker::RankSpec::Kind::Fixed, s.ranks = v.get<std::array<int, 3>>();
        else if (k == "tolerance")
            s.kind = tucker::RankSpec::Kind::Tolerance, s.tolerance = v.get<double>();
        else if (k == "ratio")
            s.kind = tucker::RankSpec::Kind::Ratio, s.ratio = v.get<double>();
        else if (k == "params")
            s.kind = tucker::RankSpec::Kind::Params, s.params = v.get<std::uint64_t>();
        else
            throw std::runtime_error(where + ": unknown choice kind \"" + k + "\"");
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(where + ": bad \"value\" (" + e.what() + ")");
    }
    return s;
}

tucker::Status status_from(const std::string& s, const std::string& where) {
    for (auto st :
         {tucker::Status::Ok, tucker::Status::NotConverged, tucker::Status::Cancelled, tucker::Status::Failed})
        if (s == tucker::status_name(st)) return st;
    throw std::runtime_error(where + ": unknown status \"" + s + "\"");
}

std::string cell(double v, const char* fmt = "%.9g") {
    if (!std::isfinite(v)) return "";
    char b[40];
    std::snprintf(b, sizeof b, fmt, v);
    return b;
}

std::string csv_quote(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

}  // namespace

ordered_json sweep_json(const edits::SweepResult& r) {
    const auto& o = r.options;
    ordered_json j;
    j["format"] = "tensorllm-sweep";
    j["format_version"] = 1;
    j["tool_version"] = TENSORLLM_VERSION;
    j["model"] = {{"path", r.model_path}, {"model_type", r.model_type}, {"params", r.model_params}};
    j["text"] = {{"source", r.text_source},
                 {"ctx", r.baseline.ppl.ctx},
                 {"stride", r.baseline.ppl.stride},
                 {"tokens", r.baseline.ppl.n_tokens},
                 {"max_tokens", o.ppl.max_tokens}};
    j["mc"] = r.mc_source.empty() ? ordered_json(nullptr) : ordered_json({{"source", r.mc_source}});
    ordered_json opts;
    opts["layers"] = r.layers;
    opts["method"] = tucker::method_name(o.tucker.method);
    opts["init"] = tucker::method_name(o.tucker.init);
    opts["max_iterations"] = o.tucker.max_iterations;
    opts["tolerance"] = o.tucker.tolerance;
    opts["choices"] = ordered_json::array();
    for (const auto& c : o.choices) opts["choices"].push_back(choice_json(c));
    opts["laser"] = ordered_json::array();
    for (const auto& l : o.laser) opts["laser"].push_back(l.describe());
    opts["combine"] = o.combine;
    opts["balance_slices"] = o.balance_slices;
    opts["prefix_cache_bytes"] = o.prefix_cache_bytes;
    j["options"] = opts;
    const auto& b = r.baseline.ppl;
    ordered_json base = {{"mean_nll", num(b.mean_nll)},     {"mean_nll_stderr", num(b.mean_nll_stderr)},
                         {"perplexity", num(b.perplexity)}, {"bits_per_byte", num(b.bits_per_byte)},
                         {"scored_tokens", b.n_scored},     {"scored_bytes", b.n_bytes},
                         {"windows", b.n_windows()},        {"sum_nll", num(b.sum_nll)}};
    if (r.baseline.mc)
        base["mc"] = {{"items", r.baseline.mc->items.size()},
                      {"acc", r.baseline.mc->acc},
                      {"acc_stderr", r.baseline.mc->acc_stderr},
                      {"acc_norm", r.baseline.mc->acc_norm},
                      {"acc_norm_stderr", r.baseline.mc->acc_norm_stderr}};
    j["baseline"] = base;
    j["prefix_cache"] = {{"budget_bytes", r.prefix.budget_bytes},
                         {"used_bytes", r.prefix.used_bytes},
                         {"layers", r.prefix.layers},
                         {"seconds_baseline", r.prefix.seconds_baseline},
                         {"seconds_per_layer", r.prefix.seconds_per_layer},
                         {"seconds_saved", r.prefix.seconds_saved},
                         {"passes", r.prefix.passes}};
    j["grid_size"] = r.grid_size;
    j["cancelled"] = r.cancelled;
    j["seconds"] = r.seconds;
    auto& pts = j["points"] = ordered_json::array();
    for (const auto& p : r.points) {
        ordered_json e;
        e["layer"] = p.spec.layer;
        e["choice"] = p.spec.choice;
        e["laser"] = p.spec.laser;
        e["label"] = p.label;
        e["status"] = tucker::status_name(p.status);
        e["message"] = p.message;
        e["ranks"] = p.ranks;
        e["weight_error"] = num(p.weight_error);
        e["type_error"] = {num(p.type_error[0]), num(p.type_error[1]), num(p.type_error[2]), num(p.type_error[3])};
        e["iterations"] = p.iterations;
        e["laser_error"] = num(p.laser_error);
        e["layer_ratio"] = num(p.layer_ratio);
        e["model_ratio"] = num(p.model_ratio);
        e["mean_nll"] = num(p.mean_nll);
        e["delta_nll"] = num(p.delta_nll);
        e["delta_nll_stderr"] = num(p.delta_nll_stderr);
        e["kl_mean"] = num(p.kl_mean);
        e["kl_p99"] = num(p.kl_p99);
        e["top1_agreement"] = num(p.top1_agreement);
        if (p.mc)
            e["mc"] = {{"acc", p.mc->acc},
                       {"acc_stderr", p.mc->acc_stderr},
                       {"acc_norm", p.mc->acc_norm},
                       {"acc_norm_stderr", p.mc->acc_norm_stderr},
                       {"delta_acc", p.mc->delta_acc},
                       {"delta_acc_norm", p.mc->delta_acc_norm}};
        else
            e["mc"] = nullptr;
        e["seconds_decompose"] = p.seconds_decompose;
        e["seconds_eval"] = p.seconds_eval;
        pts.push_back(std::move(e));
    }
    return j;
}

edits::SweepResult sweep_from_json(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object() || j.value("format", "") != "tensorllm-sweep")
        throw std::runtime_error(source + ": not a tensorllm sweep (field \"format\" is not \"tensorllm-sweep\")");
    if (j.value("format_version", 0) != 1)
        throw std::runtime_error(source + ": sweep format_version " +
                                 j.value("format_version", nlohmann::json(0)).dump() + " is not supported (1 is)");
    edits::SweepResult r;
    try {
        r.model_path = j.at("model").at("path").get<std::string>();
        r.model_type = j.at("model").at("model_type").get<std::string>();
        r.model_params = j.at("model").at("params").get<std::uint64_t>();
        const auto& t = j.at("text");
        r.text_source = t.at("source").get<std::string>();
        r.baseline.ppl.ctx = t.at("ctx").get<int>();
        r.baseline.ppl.stride = t.at("stride").get<int>();
        r.baseline.ppl.n_tokens = t.at("tokens").get<std::int64_t>();
        r.options.ppl.ctx = r.baseline.ppl.ctx;
        r.options.ppl.stride = r.baseline.ppl.stride;
        r.options.ppl.max_tokens = t.at("max_tokens").get<std::int64_t>();
        if (!j.at("mc").is_null()) r.mc_source = j.at("mc").at("source").get<std::string>();
        const auto& o = j.at("options");
        r.layers = o.at("layers").get<std::vector<int>>();
        r.options.layers = r.layers;
        r.options.tucker.method = tucker::parse_method(o.at("method").get<std::string>());
        r.options.tucker.init = tucker::parse_method(o.at("init").get<std::string>());
        r.options.tucker.max_iterations = o.at("max_iterations").get<int>();
        r.options.tucker.tolerance = o.at("tolerance").get<double>();
        for (const auto& c : o.at("choices")) r.options.choices.push_back(choice_from(c, source + ": options.choices"));
        for (const auto& l : o.at("laser"))
            r.options.laser.push_back(
                edits::parse_laser_list(l.get<std::string>(), source + ": options.laser").front());
        r.options.combine = o.at("combine").get<bool>();
        r.options.balance_slices = o.value("balance_slices", false);
        r.options.prefix_cache_bytes = o.at("prefix_cache_bytes").get<std::uint64_t>();
        const auto& b = j.at("baseline");
        const std::string bw = source + ": baseline";
        r.baseline.ppl.mean_nll = get_num(b, "mean_nll", bw);
        r.baseline.ppl.mean_nll_stderr = get_num(b, "mean_nll_stderr", bw);
        r.baseline.ppl.perplexity = get_num(b, "perplexity", bw);
        r.baseline.ppl.bits_per_byte = get_num(b, "bits_per_byte", bw);
        r.baseline.ppl.sum_nll = get_num(b, "sum_nll", bw);
        r.baseline.ppl.n_scored = b.at("scored_tokens").get<std::int64_t>();
        r.baseline.ppl.n_bytes = b.at("scored_bytes").get<std::int64_t>();
        if (b.contains("mc")) {
            eval::McResult mc;
            mc.acc = b.at("mc").at("acc").get<double>();
            mc.acc_stderr = b.at("mc").at("acc_stderr").get<double>();
            mc.acc_norm = b.at("mc").at("acc_norm").get<double>();
            mc.acc_norm_stderr = b.at("mc").at("acc_norm_stderr").get<double>();
            mc.items.resize(b.at("mc").at("items").get<std::size_t>());
            r.baseline.mc = std::move(mc);
        }
        const auto& pc = j.at("prefix_cache");
        r.prefix.budget_bytes = pc.at("budget_bytes").get<std::uint64_t>();
        r.prefix.used_bytes = pc.at("used_bytes").get<std::uint64_t>();
        r.prefix.layers = pc.at("layers").get<std::vector<int>>();
        r.prefix.seconds_baseline = pc.at("seconds_baseline").get<double>();
        r.prefix.seconds_per_layer = pc.at("seconds_per_layer").get<double>();
        r.prefix.seconds_saved = pc.at("seconds_saved").get<double>();
        r.prefix.passes = pc.at("passes").get<int>();
        r.grid_size = j.at("grid_size").get<std::size_t>();
        r.cancelled = j.at("cancelled").get<bool>();
        r.seconds = j.at("seconds").get<double>();
        int k = 0;
        for (const auto& e : j.at("points")) {
            const std::string w = source + ": points[" + std::to_string(k++) + "]";
            edits::SweepPoint p;
            p.spec.layer = e.at("layer").get<int>();
            p.spec.choice = e.at("choice").get<int>();
            p.spec.laser = e.at("laser").get<int>();
            if (p.spec.choice >= int(r.options.choices.size()) || p.spec.laser >= int(r.options.laser.size()))
                throw std::runtime_error(w + ": choice or laser index outside the options");
            p.label = e.at("label").get<std::string>();
            p.status = status_from(e.at("status").get<std::string>(), w);
            p.message = e.at("message").get<std::string>();
            p.ranks = e.at("ranks").get<std::array<int, 3>>();
            p.weight_error = get_num(e, "weight_error", w);
            for (int i = 0; i < 4; ++i) {
                const auto& v = e.at("type_error").at(std::size_t(i));
                p.type_error[std::size_t(i)] = v.is_null() ? edits::SweepPoint::kNaN : v.get<double>();
            }
            p.iterations = e.at("iterations").get<int>();
            for (auto [key, dst] :
                 {std::pair{"laser_error", &p.laser_error}, std::pair{"layer_ratio", &p.layer_ratio},
                  std::pair{"model_ratio", &p.model_ratio}, std::pair{"mean_nll", &p.mean_nll},
                  std::pair{"delta_nll", &p.delta_nll}, std::pair{"delta_nll_stderr", &p.delta_nll_stderr},
                  std::pair{"kl_mean", &p.kl_mean}, std::pair{"kl_p99", &p.kl_p99},
                  std::pair{"top1_agreement", &p.top1_agreement}})
                *dst = get_num(e, key, w);
            if (!e.at("mc").is_null()) {
                edits::McScore s;
                const auto& m = e.at("mc");
                s.acc = m.at("acc").get<double>(), s.acc_stderr = m.at("acc_stderr").get<double>();
                s.acc_norm = m.at("acc_norm").get<double>(), s.acc_norm_stderr = m.at("acc_norm_stderr").get<double>();
                s.delta_acc = m.at("delta_acc").get<double>(), s.delta_acc_norm = m.at("delta_acc_norm").get<double>();
                p.mc = s;
            }
            p.seconds_decompose = e.at("seconds_decompose").get<double>();
            p.seconds_eval = e.at("seconds_eval").get<double>();
            r.points.push_back(std::move(p));
        }
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(source + ": malformed sweep (" + std::string(e.what()) + ")");
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(source + ": " + e.what());
    }
    return r;
}

std::string sweep_csv(const edits::SweepResult& r) {
    std::string s =
        "layer,label,method,R1,R2,R3,laser,weight_error,error_q,error_k,error_v,error_o,laser_error,layer_ratio,"
        "model_ratio,mean_nll,delta_nll,delta_nll_stderr,kl_mean,kl_p99,top1_agreement,acc,acc_norm,delta_acc,"
        "delta_acc_norm,status,seconds_decompose,seconds_eval\n";
    const std::string method = tucker::method_name(r.options.tucker.method);
    for (const auto& p : r.points) {
        const bool att = p.spec.choice >= 0;
        s += std::to_string(p.spec.layer) + "," + csv_quote(p.label) + "," + (att ? method : "") + ",";
        for (int n = 0; n < 3; ++n)
            s += (att && p.ranks[std::size_t(n)] > 0 ? std::to_string(p.ranks[std::size_t(n)]) : "") + ",";
        s += (p.spec.laser >= 0 ? r.options.laser[std::size_t(p.spec.laser)].describe() : "") + ",";
        for (double v : {p.weight_error, p.type_error[0], p.type_error[1], p.type_error[2], p.type_error[3],
                         p.laser_error, p.layer_ratio, p.model_ratio, p.mean_nll, p.delta_nll, p.delta_nll_stderr,
                         p.kl_mean, p.kl_p99, p.top1_agreement})
            s += cell(v) + ",";
        if (p.mc)
            s += cell(p.mc->acc) + "," + cell(p.mc->acc_norm) + "," + cell(p.mc->delta_acc) + "," +
                 cell(p.mc->delta_acc_norm) + ",";
        else
            s += ",,,,";
        s += std::string(tucker::status_name(p.status)) + "," + cell(p.seconds_decompose, "%.3f") + "," +
             cell(p.seconds_eval, "%.3f") + "\n";
    }
    return s;
}

void write_sweep_set(const std::string& dir, const io::SourceSet& sources, const std::string& option,
                     const edits::SweepResult& r, const std::function<void(const std::string&)>& extra,
                     const util::Control& ctl) {
    io::check_output_dir(sources, option, dir, kSweepKind, true);
    io::prepare_destination(dir);
    io::StagingDir stage(dir);
    const std::filesystem::path d(stage.path());
    auto doc = sweep_json(r);
    util::add_json_checksum(doc);
    write_text_file((d / "results.json").string(), doc.dump(1) + "\n");
    write_text_file((d / "sweep.csv").string(), sweep_csv(r));
    ctl.check();
    if (extra) extra(stage.path());
    io::write_output_marker(stage.path(), kSweepKind);
    ctl.check();
    stage.commit(true);
}

}  // namespace tllm::exporting
