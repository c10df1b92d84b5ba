#include "io/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace fs = std::filesystem;

namespace tllm::io {
namespace {
// The value with control characters escaped, so an error message stays one readable line.
std::string printable(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Checkpoint::Checkpoint(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        if (ec == std::errc::too_many_symbolic_link_levels)
            throw std::runtime_error(path + ": symbolic link loop (too many levels of symbolic links)");
        throw std::runtime_error(path + ": no such file or directory");
    }
    std::string single;
    if (fs::is_directory(path, ec)) {
        dir_ = path;
        const fs::path index = fs::path(path) / "model.safetensors.index.json";
        const fs::path model = fs::path(path) / "model.safetensors";
        if (fs::exists(fs::symlink_status(index, ec))) {
            index_path_ = index.string();
        } else if (fs::exists(fs::symlink_status(model, ec))) {
            single = model.string();
        } else {
            std::vector<std::string> found, ggufs;
            for (const auto& e : fs::directory_iterator(path, ec)) {
                if (e.is_regular_file() && ends_with(e.path().filename().string(), ".safetensors"))
                    found.push_back(e.path().string());
                if (e.is_regular_file() && ends_with(e.path().filename().string(), ".gguf"))
                    ggufs.push_back(e.path().string());
            }
            if (found.size() == 1) {
                single = found.front();
            } else if (found.empty() && ggufs.size() == 1) {
                single = ggufs.front();
            } else if (found.empty() && ggufs.size() > 1) {
                throw std::runtime_error(path + ": " + std::to_string(ggufs.size()) +
                                         " .gguf files and no safetensors; open one of the .gguf files by name");
            } else {
                std::vector<std::string> idx;
                for (const auto& e : fs::directory_iterator(path, ec))
                    if (ends_with(e.path().filename().string(), ".safetensors.index.json"))
                        idx.push_back(e.path().string());
                if (idx.size() == 1)
                    index_path_ = idx.front();
                else
                    throw std::runtime_error(path + ": no model.safetensors or model.safetensors.index.json" +
                                             (found.empty() ? std::string(" (no .safetensors file at all)")
                                                            : " and " + std::to_string(found.size()) +
                                                                  " .safetensors files without an index"));
            }
        }
    } else {
        dir_ = fs::path(path).parent_path().string();
        if (dir_.empty()) dir_ = ".";
        if (ends_with(path, ".json"))
            index_path_ = path;
        else
            single = path;
    }

    if (!index_path_.empty()) {
        const auto j = read_json_file(index_path_);
        if (!j.is_object()) throw std::runtime_error(index_path_ + ": index is not a JSON object");
        auto wm = j.find("weight_map");
        if (wm == j.end() || !wm->is_object())
            throw std::runtime_error(index_path_ + ": field 'weight_map' missing or not an object");
        std::map<std::string, std::size_t> shard_of_file;
        std::vector<std::pair<std::string, std::size_t>> wanted;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (!it.value().is_string())
                throw std::runtime_error(index_path_ + ": weight_map['" + it.key() + "'] is not a string");
            const std::string file = it.value().get<std::string>();
            const bool control =
                std::any_of(file.begin(), file.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
            if (file.empty() || file.size() > 255 || control || file.find('/') != std::string::npos ||
                file.find('\\') != std::string::npos || file == "." || file == "..")
                throw std::runtime_error(index_path_ + ": weight_map['" + printable(it.key()) + "'] = '" +
                                         printable(file) + "' is not a plain file name in the checkpoint directory");
            auto [pos, inserted] = shard_of_file.emplace(file, shards_.size());
            if (inserted) {
                const fs::path shard = fs::path(dir_) / file;
                std::error_code shard_ec;
                if (!fs::exists(shard, shard_ec) && shard_ec == std::errc::too_many_symbolic_link_levels)
                    throw std::runtime_error(index_path_ + ": shard '" + file + "' named in weight_map is a " +
                                             "symbolic link loop (too many levels of symbolic links)");
                if (!fs::exists(shard, shard_ec))
                    throw std::runtime_error(index_path_ + ": shard '" + file + "' named in weight_map (for '" +
                                             it.key() + "') does not exist in " + dir_);
                shards_.push_back(std::make_unique<SafetensorsFile>(shard.string()));
            }
            wanted.emplace_back(it.key(), pos->second);
        }
        for (const auto& [name, s] : wanted) {
            const TensorInfo* info = shards_[s]->find(name);
            if (!info)
                throw std::runtime_error(index_path_ + ": tensor '" + name + "' is mapped to shard '" +
                                         fs::path(shards_[s]->path()).filename().string() +
                                         "', which does not contain it");
            refs_.emplace(name, TensorRef{shards_[s].get(), info});
        }
        for (const auto& sh : shards_)
            for (const auto& t : sh->tensors())
                if (!refs_.count(t.name))
                    warnings_.push_back(sh->path() + ": tensor '" + t.name + "' is not listed in the index; ignored");
    } else if (is_gguf_file(single)) {
        gguf_ = std::make_unique<GgufModel>(single);
        for (const auto& t : gguf_->tensors()) refs_.emplace(t.info.name, TensorRef{gguf_.get(), &t.info});
        warnings_ = gguf_->file().warnings();
        warnings_.insert(warnings_.end(), gguf_->warnings().begin(), gguf_->warnings().end());
    } else {
        shards_.push_back(std::make_unique<SafetensorsFile>(single));
        for (const auto& t : shards_.front()->tensors()) refs_.emplace(t.name, TensorRef{shards_.front().get(), &t});
    }
    for (const auto& sh : shards_) warnings_.insert(warnings_.end(), sh->warnings().begin(), sh->warnings().end());

    names_.reserve(refs_.size());
    for (const auto& [name, _] : refs_) names_.push_back(name);
    std::sort(names_.begin(), names_.end());

    const fs::path cfg = fs::path(dir_) / "config.json";
    if (gguf_)
        config_ = parse_model_config(gguf_->config_json(), gguf_->path() + " (GGUF metadata)");
    else if (fs::exists(fs::symlink_status(cfg, ec)))
        config_ = read_model_config(cfg.string());
}

std::vector<const TensorSource*> Checkpoint::files() const {
    std::vector<const TensorSource*> out;
    for (const auto& sh : shards_) out.push_back(sh.get());
    if (gguf_) out.push_back(gguf_.get());
    return out;
}

std::optional<TensorRef> Checkpoint::find(const std::string& name) const {
    auto it = refs_.find(name);
    if (it == refs_.end()) return std::nullopt;
    return it->second;
}

SourceSet Checkpoint::sources() const {
    SourceSet s;
    std::error_code ec;
    if (fs::is_directory(path_, ec)) {
        s.add_directory(path_);
    } else if (gguf_) {
        // A GGUF file is the whole model: other files beside it (a denoised GGUF, say) do
        // not change what it holds, so its directory is not guarded as a checkpoint's is.
        s.add_file(path_);
    } else {
        s.add_file(path_);
        s.add_file(dir_);
    }
    if (!index_path_.empty()) s.add_file(index_path_);
    for (const auto* f : files()) s.add_file(f->path());
    const fs::path cfg = fs::path(dir_) / "config.json";
    if (!gguf_ && fs::exists(cfg, ec)) s.add_file(cfg.string());
    return s;
}

TensorRef Checkpoint::at(const std::string& name) const {
    auto r = find(name);
    if (!r) throw std::runtime_error(path_ + ": tensor '" + name + "' not found");
    return *r;
}

std::uint64_t Checkpoint::total_bytes() const {
    std::uint64_t n = 0;
    for (const auto* f : files()) n += f->file_size();
    return n;
}

}  // namespace tllm::io
