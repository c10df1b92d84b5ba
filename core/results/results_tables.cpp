#include "results/results_tables.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "io/staging_dir.h"
#include "io/atomic_file.h"
#include "io/output_guard.h"
#include "util/json_checksum.h"

namespace tllm::exporting {
namespace {

const char* kTypes[4] = {"Q", "K", "V", "O"};

// Shortest round-trip representation of a double for CSV and JSON readers.
std::string num(double v) {
    if (std::isnan(v)) return "nan";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

nlohmann::ordered_json spectra_json(const analysis::ModeSpectra& sp) {
    nlohmann::ordered_json j;
    j["norm_sq"] = sp.norm_sq;
    for (int n = 0; n < 4; ++n) j["mode" + std::to_string(n + 1)] = sp.singular_values[n];
    return j;
}

}  // namespace

void write_text_file(const std::string& path, const std::string& text) {
    io::AtomicFile f(path);
    f.write(text.data(), text.size());
    f.commit();
}

nlohmann::ordered_json seconds_json(const jobs::LayerResult& r) {
    return {{"load", r.seconds_load},
            {"spectra", r.seconds_spectra},
            {"decompose", r.seconds_decompose},
            {"measures", r.seconds_measures},
            {"total", r.seconds_total}};
}

nlohmann::ordered_json layer_result_json(const jobs::LayerResult& r) {
    nlohmann::ordered_json l;
    l["layer"] = r.layer;
    l["status"] = tucker::status_name(r.status);
    if (!r.message.empty()) l["message"] = r.message;
    if (!r.complete()) return l;
    const auto& M = r.measures;
    if (!r.warnings.empty()) l["warnings"] = r.warnings;
    l["ranks"] = r.ranks;
    l["rel_error"] = M.rel_error;
    l["worst_slice"] = {{"type", std::string(1, "QKVO"[analysis::worst_slice(M)])},
                        {"rel_error", M.type_error[std::size_t(analysis::worst_slice(M))]}};
    l["type_error"] = {{"Q", M.type_error[0]}, {"K", M.type_error[1]}, {"V", M.type_error[2]}, {"O", M.type_error[3]}};
    l["head_error"] = M.head_error;
    l["head_type_error"] = M.head_type_error;
    if (!M.head_type_sv.empty()) l["head_type_sv"] = M.head_type_sv;
    l["original_params"] = M.original_params;
    l["compressed_params"] = M.compressed_params;
    l["compression_ratio"] = M.ratio;
    l["head_original_params"] = M.head_original_params;
    l["head_compressed_params"] = M.head_compressed_params;
    l["head_compression_ratio"] = M.head_ratio;
    l["captured_energy"] = M.captured_energy;
    l["iterations"] = r.tucker.iterations;
    l["trace"] = r.tucker.trace;
    if (r.spectra) l["spectra"] = spectra_json(*r.spectra);
    return l;
}

nlohmann::ordered_json results_json(const model::Model& m, const jobs::JobOptions& opt, const jobs::JobSummary& s) {
    nlohmann::ordered_json j;
    j["format"] = "tensorllm-results/1";
    j["tool_version"] = TENSORLLM_VERSION;
    const auto& S = m.shape();
    j["model"] = {{"path", m.checkpoint().path()},
                  {"model_type", m.config().model_type},
                  {"architecture", m.architecture().name},
                  {"hidden_size", S.d},
                  {"head_dim", S.dv},
                  {"num_heads", S.h},
                  {"num_kv_heads", S.n_kv}};
    j["options"] = {{"rank_choice", opt.ranks.describe()},
                    {"method", tucker::method_name(opt.tucker.method)},
                    {"init", tucker::method_name(opt.tucker.init)},
                    {"max_iterations", opt.tucker.max_iterations},
                    {"tolerance", opt.tucker.tolerance},
                    {"balance_slices", opt.balance_slices},
                    {"threads", opt.threads}};
    j["cancelled"] = s.cancelled;
    j["failed_layers"] = s.failed;
    j["seconds"] = s.seconds;
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& r : s.layers) {
        nlohmann::ordered_json l = layer_result_json(r);
        if (r.complete()) l["seconds"] = seconds_json(r);
        j["layers"].push_back(std::move(l));
    }
    return j;
}

std::string layers_csv(const jobs::JobSummary& s) {
    std::ostringstream o;
    o << "layer,status,R1,R2,R3,rel_error,error_Q,error_K,error_V,error_O,original_params,compressed_params,"
         "compression_ratio,iterations,seconds,message\n";
    for (const auto& r : s.layers) {
        const auto& M = r.measures;
        o << r.layer << ',' << tucker::status_name(r.status) << ',';
        if (r.complete()) {
            o << r.ranks[0] << ',' << r.ranks[1] << ',' << r.ranks[2] << ',' << num(M.rel_error);
            for (int t = 0; t < 4; ++t) o << ',' << num(M.type_error[t]);
            o << ',' << M.original_params << ',' << M.compressed_params << ',' << num(M.ratio) << ','
              << r.tucker.iterations << ',' << num(r.seconds_total) << ',';
        } else {
            o << ",,,,,,,,,,,,," << num(r.seconds_total) << ',';
        }
        std::string msg = r.message;
        for (auto& c : msg)
            if (c == '"') c = '\'';
        o << '"' << msg << "\"\n";
    }
    return o.str();
}

std::string heads_csv(const jobs::JobSummary& s) {
    std::ostringstream o;
    o << "layer,head,type,rel_error,head_error,head_compression_ratio\n";
    for (const auto& r : s.layers) {
        if (!r.complete()) continue;
        const auto& M = r.measures;
        for (std::size_t i = 0; i < M.head_type_error.size(); ++i)
            for (int t = 0; t < 4; ++t)
                o << r.layer << ',' << i << ',' << kTypes[t] << ',' << num(M.head_type_error[i][t]) << ','
                  << num(M.head_error[i]) << ',' << num(M.head_ratio) << '\n';
    }
    return o.str();
}

std::string spectra_csv(const jobs::JobSummary& s) {
    std::ostringstream o;
    o << "layer,mode,index,singular_value,captured_energy,chosen_rank\n";
    for (const auto& r : s.layers) {
        if (!r.complete() || !r.spectra) continue;
        for (int n = 0; n < 4; ++n) {
            const auto& sv = r.spectra->singular_values[n];
            for (std::size_t k = 0; k < sv.size(); ++k)
                o << r.layer << ',' << n + 1 << ',' << k + 1 << ',' << num(sv[k]) << ','
                  << num(r.spectra->captured(n, int(k + 1))) << ',' << (n < 3 ? std::to_string(r.ranks[n]) : "")
                  << '\n';
        }
    }
    return o.str();
}

std::string head_spectra_csv(const jobs::JobSummary& s) {
    std::ostringstream o;
    o << "layer,head,type,index,singular_value\n";
    for (const auto& r : s.layers) {
        if (!r.complete()) continue;
        const auto& sv = r.measures.head_type_sv;
        for (std::size_t i = 0; i < sv.size(); ++i)
            for (int t = 0; t < 4; ++t)
                for (std::size_t k = 0; k < sv[i][t].size(); ++k)
                    o << r.layer << ',' << i << ',' << kTypes[t] << ',' << k + 1 << ',' << num(sv[i][t][k]) << '\n';
    }
    return o.str();
}

std::string trace_csv(const jobs::JobSummary& s) {
    std::ostringstream o;
    o << "layer,iteration,rel_error\n";
    for (const auto& r : s.layers) {
        if (!r.complete()) continue;
        for (std::size_t k = 0; k < r.tucker.trace.size(); ++k)
            o << r.layer << ',' << k << ',' << num(r.tucker.trace[k]) << '\n';
    }
    return o.str();
}

void write_results(const std::string& dir, const model::Model& m, const jobs::JobOptions& opt,
                   const jobs::JobSummary& s, const util::Control& ctl) {
    // The whole set or nothing: the files are written into a staging directory that replaces
    // the destination (an earlier results set, or nothing) only once all are complete.
    io::check_output_dir(m.checkpoint().sources(), "results directory", dir, kResultsKind, true);
    io::prepare_destination(dir);
    io::StagingDir stage(dir);
    const std::filesystem::path d(stage.path());
    auto doc = results_json(m, opt, s);
    util::add_json_checksum(doc);
    const std::pair<const char*, std::string> files[] = {{"results.json", doc.dump(1) + "\n"},
                                                         {"layers.csv", layers_csv(s)},
                                                         {"heads.csv", heads_csv(s)},
                                                         {"spectra.csv", spectra_csv(s)},
                                                         {"head_spectra.csv", head_spectra_csv(s)},
                                                         {"trace.csv", trace_csv(s)}};
    for (const auto& [name, text] : files) {
        ctl.check();
        write_text_file((d / name).string(), text);
    }
    io::write_output_marker(stage.path(), kResultsKind);
    ctl.check();
    stage.commit(true);
}

}  // namespace tllm::exporting
