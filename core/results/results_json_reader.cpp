#include "results/results_json_reader.h"

#include <stdexcept>

namespace tllm::exporting {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& where, const std::string& msg) {
    throw std::runtime_error(source + ": " + where + ": " + msg);
}

template <class T>
T get(const nlohmann::json& j, const char* key, const std::string& source, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end()) fail(source, where, std::string("field '") + key + "' missing");
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail(source, where, std::string("field '") + key + "' has the wrong type: " + it->dump().substr(0, 60));
    }
}

}  // namespace

std::vector<jobs::LayerResult> layers_from_results_json(const nlohmann::json& doc, const model::AttentionShape& S,
                                                        const std::string& source) {
    std::vector<jobs::LayerResult> out;
    if (!doc.is_object() || !doc.contains("layers") || !doc["layers"].is_array())
        fail(source, "results", "field 'layers' missing or not an array");
    for (const auto& l : doc["layers"]) {
        const std::string where = "layers[" + std::to_string(out.size()) + "]";
        const std::string status = get<std::string>(l, "status", source, where);
        if (status != "ok" && status != "not_converged") continue;
        jobs::LayerResult r;
        r.layer = get<int>(l, "layer", source, where);
        r.status = status == "ok" ? tucker::Status::Ok : tucker::Status::NotConverged;
        r.ranks = get<std::array<int, 3>>(l, "ranks", source, where);
        if (l.contains("warnings")) r.warnings = get<std::vector<std::string>>(l, "warnings", source, where);
        const int lim[3] = {S.d, S.dv, 4};
        for (int n = 0; n < 3; ++n)
            if (r.ranks[n] < 1 || r.ranks[n] > lim[n])
                fail(source, where,
                     "ranks[" + std::to_string(n) + "] = " + std::to_string(r.ranks[n]) + " outside 1.." +
                         std::to_string(lim[n]));
        auto& M = r.measures;
        M.rel_error = get<double>(l, "rel_error", source, where);
        const auto& te = l.at("type_error");
        const char* types[4] = {"Q", "K", "V", "O"};
        for (int t = 0; t < 4; ++t) M.type_error[t] = get<double>(te, types[t], source, where + ".type_error");
        M.head_error = get<std::vector<double>>(l, "head_error", source, where);
        M.head_type_error = get<std::vector<std::array<double, 4>>>(l, "head_type_error", source, where);
        if (M.head_error.size() != std::size_t(S.h) || M.head_type_error.size() != std::size_t(S.h))
            fail(source, where,
                 "per-head arrays have " + std::to_string(M.head_error.size()) + " entries, the model has " +
                     std::to_string(S.h) + " heads");
        if (l.contains("head_type_sv")) {
            M.head_type_sv = get<std::vector<std::array<std::vector<double>, 4>>>(l, "head_type_sv", source, where);
            if (M.head_type_sv.size() != std::size_t(S.h))
                fail(source, where, "head_type_sv has the wrong number of heads");
        }
        M.original_params = get<std::uint64_t>(l, "original_params", source, where);
        M.compressed_params = get<std::uint64_t>(l, "compressed_params", source, where);
        M.ratio = get<double>(l, "compression_ratio", source, where);
        M.head_original_params = get<double>(l, "head_original_params", source, where);
        M.head_compressed_params = get<double>(l, "head_compressed_params", source, where);
        M.head_ratio = get<double>(l, "head_compression_ratio", source, where);
        M.captured_energy = get<std::array<double, 3>>(l, "captured_energy", source, where);
        r.tucker.ranks = r.ranks;
        r.tucker.iterations = get<int>(l, "iterations", source, where);
        r.tucker.trace = get<std::vector<double>>(l, "trace", source, where);
        r.tucker.rel_error = M.rel_error;
        r.tucker.status = r.status;
        if (l.contains("seconds")) {
            const auto& s = l["seconds"];
            r.seconds_load = s.value("load", 0.0);
            r.seconds_spectra = s.value("spectra", 0.0);
            r.seconds_decompose = s.value("decompose", 0.0);
            r.seconds_measures = s.value("measures", 0.0);
            r.seconds_total = s.value("total", 0.0);
        }
        if (l.contains("spectra")) {
            analysis::ModeSpectra sp;
            sp.norm_sq = get<double>(l["spectra"], "norm_sq", source, where + ".spectra");
            for (int n = 0; n < 4; ++n)
                sp.singular_values[n] = get<std::vector<double>>(l["spectra"], ("mode" + std::to_string(n + 1)).c_str(),
                                                                 source, where + ".spectra");
            const std::size_t want[4] = {std::size_t(S.d), std::size_t(S.dv), 4, std::size_t(S.h)};
            for (int n = 0; n < 4; ++n)
                if (sp.singular_values[n].size() != want[n])
                    fail(source, where,
                         "spectra.mode" + std::to_string(n + 1) + " has " +
                             std::to_string(sp.singular_values[n].size()) + " values, expected " +
                             std::to_string(want[n]));
            r.spectra = std::move(sp);
        }
        out.push_back(std::move(r));
    }
    return out;
}

nlohmann::json options_to_json(const jobs::JobOptions& o) {
    nlohmann::json j;
    j["layers"] = o.layers;
    const char* kinds[4] = {"fixed", "tolerance", "ratio", "params"};
    j["rank_kind"] = kinds[static_cast<int>(o.ranks.kind)];
    j["ranks"] = o.ranks.ranks;
    nlohmann::json per = nlohmann::json::object();
    for (const auto& [l, r] : o.ranks.per_layer) per[std::to_string(l)] = r;
    j["per_layer"] = per;
    j["tolerance"] = o.ranks.tolerance;
    j["ratio"] = o.ranks.ratio;
    j["params"] = o.ranks.params;
    j["method"] = tucker::method_name(o.tucker.method);
    j["init"] = tucker::method_name(o.tucker.init);
    j["max_iterations"] = o.tucker.max_iterations;
    j["hooi_tolerance"] = o.tucker.tolerance;
    j["threads"] = o.threads;
    return j;
}

jobs::JobOptions options_from_json(const nlohmann::json& j, const std::string& source) {
    jobs::JobOptions o;
    const std::string where = "options";
    o.layers = get<std::vector<int>>(j, "layers", source, where);
    const auto kind = get<std::string>(j, "rank_kind", source, where);
    if (kind == "fixed")
        o.ranks.kind = tucker::RankSpec::Kind::Fixed;
    else if (kind == "tolerance")
        o.ranks.kind = tucker::RankSpec::Kind::Tolerance;
    else if (kind == "ratio")
        o.ranks.kind = tucker::RankSpec::Kind::Ratio;
    else if (kind == "params")
        o.ranks.kind = tucker::RankSpec::Kind::Params;
    else
        fail(source, where, "rank_kind '" + kind + "' is not fixed, tolerance, ratio or params");
    o.ranks.ranks = get<std::array<int, 3>>(j, "ranks", source, where);
    if (j.contains("per_layer"))
        for (auto it = j["per_layer"].begin(); it != j["per_layer"].end(); ++it) {
            try {
                o.ranks.per_layer[std::stoi(it.key())] = it.value().get<std::array<int, 3>>();
            } catch (const std::exception&) {
                fail(source, where + ".per_layer", "entry '" + it.key() + "' is not layer: [R1, R2, R3]");
            }
        }
    o.ranks.tolerance = get<double>(j, "tolerance", source, where);
    o.ranks.ratio = get<double>(j, "ratio", source, where);
    o.ranks.params = get<std::uint64_t>(j, "params", source, where);
    try {
        o.tucker.method = tucker::parse_method(get<std::string>(j, "method", source, where));
        o.tucker.init = tucker::parse_method(get<std::string>(j, "init", source, where));
    } catch (const std::invalid_argument& e) {
        fail(source, where, e.what());
    }
    o.tucker.max_iterations = get<int>(j, "max_iterations", source, where);
    o.tucker.tolerance = get<double>(j, "hooi_tolerance", source, where);
    o.threads = get<int>(j, "threads", source, where);
    return o;
}

}  // namespace tllm::exporting
