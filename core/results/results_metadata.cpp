// The model, source and options half of a results file (results/hdf5_results.h).
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "results/hdf5_results.h"
#include "util/sha256.h"

namespace tllm::exporting {

const jobs::LayerResult* ResultsFile::find(int layer) const {
    for (const auto& r : summary.layers)
        if (r.layer == layer) return &r;
    return nullptr;
}

SourceIdentity source_identity(const io::Checkpoint& c) {
    SourceIdentity s;
    std::error_code ec;
    const auto abs = std::filesystem::absolute(c.path(), ec);
    s.path = ec ? c.path() : abs.lexically_normal().string();
    util::Sha256 sha;
    for (const auto* shard : c.files()) {
        sha.update(shard->header_bytes());
        s.shard_files.push_back(std::filesystem::path(shard->path()).filename().string());
        s.shard_bytes.push_back(shard->file_size());
        s.total_bytes += shard->file_size();
    }
    s.header_sha256 = sha.hex_digest();
    return s;
}

ResultsMetadata results_metadata(const model::Model& m, const jobs::JobOptions& opt, const std::vector<int>& layers) {
    ResultsMetadata meta;
    meta.tool_version = TENSORLLM_VERSION;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    if (::gmtime_r(&now, &tm)) {
        char buf[32];
        if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) meta.created_utc = buf;
    }
    meta.architecture = m.architecture().name;
    meta.model_type = m.config().model_type;
    meta.shape = m.shape();
    meta.num_layers = m.config().num_layers;
    const int group = meta.shape.group();
    for (int i = 0; i < meta.shape.h; ++i) meta.kv_head_of_head.push_back(i / group);
    for (const auto& L : m.layers()) meta.mapped_layers.push_back(L.index);
    for (int l : layers) {
        const auto& L = m.layer(l);
        LayerLayout lay;
        lay.layer = l;
        for (int t = 0; t < 4; ++t) lay.part_tensors[std::size_t(t)] = L.parts[t].tensor;
        lay.tensors = L.tensors;
        lay.dtype = std::string(io::dtype_name(L.dtype));
        meta.layouts.push_back(std::move(lay));
    }
    meta.source = source_identity(m.checkpoint());
    meta.options = opt;
    return meta;
}

void verify_source(const ResultsMetadata& meta, const model::Model& m) {
    const SourceIdentity now = source_identity(m.checkpoint());
    if (now.header_sha256 != meta.source.header_sha256)
        throw std::runtime_error(m.checkpoint().path() + ": safetensors headers (SHA-256 " + now.header_sha256 +
                                 ") differ from those of the checkpoint the results were computed from (" +
                                 meta.source.path + ", SHA-256 " + meta.source.header_sha256 +
                                 "): a different or modified checkpoint");
}

}  // namespace tllm::exporting
