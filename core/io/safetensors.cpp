#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tllm::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& msg) { throw std::runtime_error(path + ": " + msg); }

std::string json_excerpt(const nlohmann::json& j) {
    std::string s = j.dump();
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

}  // namespace

void check_json_depth(std::string_view text, int max_depth, const std::string& what) {
    int depth = 0;
    bool in_string = false, escape = false;
    for (char c : text) {
        if (in_string) {
            if (escape)
                escape = false;
            else if (c == '\\')
                escape = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                throw std::runtime_error(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
        } else if (c == '}' || c == ']')
            --depth;
    }
}

nlohmann::json parse_json_unique(std::string_view text, const std::string& what, const char* invalid) {
    std::vector<std::set<std::string>> keys;  // one set per open object
    std::string duplicate;
    auto cb = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (ev == E::object_start)
            keys.emplace_back();
        else if (ev == E::object_end && !keys.empty())
            keys.pop_back();
        else if (ev == E::key && !keys.empty() && duplicate.empty() && parsed.is_string()) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys.back().insert(k).second) duplicate = k;
        }
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, cb);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(what + invalid + e.what());
    }
    if (!duplicate.empty()) {
        std::string shown = duplicate.size() > 80 ? duplicate.substr(0, 77) + "..." : duplicate;
        for (char& c : shown)
            if (static_cast<unsigned char>(c) < 0x20) c = '?';
        throw std::runtime_error(what + ": the key '" + shown + "' appears twice in one object");
    }
    return j;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
    const auto bytes = file_.bytes();
    const std::uint64_t fsize = bytes.size();
    if (fsize < 8) fail(path, "file is " + std::to_string(fsize) + " bytes, shorter than the 8-byte header length");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    const bool text_start = std::all_of(bytes.begin(), bytes.begin() + 8, [](std::byte b) {
        const auto c = static_cast<unsigned char>(b);
        return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t';
    });
    if (n > kMaxHeaderBytes && text_start)
        fail(path, "not a safetensors file (it begins with text, not an 8-byte header length)");
    if (n > kMaxHeaderBytes)
        fail(path, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                       " bytes");
    if (n > fsize - 8)
        fail(path, "header length " + std::to_string(n) + " is larger than the file allows (" +
                       std::to_string(fsize - 8) + " bytes after the length field)");
    data_start_ = 8 + n;
    const std::uint64_t data_size = fsize - data_start_;

    std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
    check_json_depth(text, kMaxJsonDepth, path + ": header");
    nlohmann::json header;
    try {
        header = parse_json_unique(text, "header", " is not valid JSON: ");
    } catch (const std::runtime_error& e) {
        fail(path, e.what());
    }
    if (!header.is_object()) fail(path, "header is not a JSON object");

    tensors_.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const auto& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail(path, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string())
                    fail(path, "__metadata__." + m.key() + ": expected a string, got " + json_excerpt(m.value()));
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor '" + name + "'";
        if (!v.is_object()) fail(path, where + ": entry is not an object");
        TensorInfo t;
        t.name = name;
        auto dt = v.find("dtype");
        if (dt == v.end() || !dt->is_string()) fail(path, where + ": field 'dtype' missing or not a string");
        auto parsed = parse_dtype(dt->get<std::string>());
        if (!parsed) fail(path, where + ": unknown dtype '" + dt->get<std::string>() + "'");
        t.dtype = *parsed;

        auto sh = v.find("shape");
        if (sh == v.end() || !sh->is_array()) fail(path, where + ": field 'shape' missing or not an array");
        std::uint64_t numel = 1;
        bool overflow = false;
        for (std::size_t k = 0; k < sh->size(); ++k) {
            const auto& d = (*sh)[k];
            if (!d.is_number_unsigned())
                fail(path, where + ": shape[" + std::to_string(k) + "] must be a non-negative integer, got " +
                               json_excerpt(d));
            const std::uint64_t dim = d.get<std::uint64_t>();
            t.shape.push_back(dim);
            if (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim)
                overflow = true;
            else
                numel *= dim;
        }
        if (overflow) fail(path, where + ": shape " + json_excerpt(*sh) + " overflows 64 bits");

        auto off = v.find("data_offsets");
        if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
            !(*off)[1].is_number_unsigned())
            fail(path, where + ": field 'data_offsets' must be two non-negative integers, got " +
                           (off == v.end() ? std::string("nothing") : json_excerpt(*off)));
        t.begin = (*off)[0].get<std::uint64_t>();
        t.end = (*off)[1].get<std::uint64_t>();
        if (t.end < t.begin)
            fail(path, where + ": data_offsets end " + std::to_string(t.end) + " < begin " + std::to_string(t.begin));
        if (t.end > data_size)
            fail(path, where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                           ") outside the data section of " + std::to_string(data_size) + " bytes");
        const std::uint64_t esize = dtype_size(t.dtype);
        if (numel > std::numeric_limits<std::uint64_t>::max() / esize)
            fail(path, where + ": byte size of shape " + json_excerpt(*sh) + " overflows 64 bits");
        if (numel * esize != t.end - t.begin)
            fail(path, where + ": size mismatch: shape " + json_excerpt(*sh) + " x " +
                           std::string(dtype_name(t.dtype)) + " needs " + std::to_string(numel * esize) +
                           " bytes, data_offsets give " + std::to_string(t.end - t.begin));
        tensors_.push_back(std::move(t));
    }

    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t prev_end = 0;
    const TensorInfo* prev = nullptr;
    for (const auto& t : tensors_) {
        if (t.begin == t.end) continue;  // empty tensors occupy no bytes
        if (prev && t.begin < prev_end)
            fail(path, "tensors '" + prev->name + "' and '" + t.name + "' overlap ([" + std::to_string(prev->begin) +
                           ", " + std::to_string(prev->end) + ") and [" + std::to_string(t.begin) + ", " +
                           std::to_string(t.end) + "))");
        if (t.begin > prev_end)
            warnings_.push_back(path + ": " + std::to_string(t.begin - prev_end) + " unused bytes before tensor '" +
                                t.name + "'");
        prev_end = t.end;
        prev = &t;
    }
    if (prev_end < data_size)
        warnings_.push_back(path + ": " + std::to_string(data_size - prev_end) +
                            " trailing bytes after the last tensor");
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::raw(const TensorInfo& t) const {
    // A file truncated after it was mapped would raise SIGBUS on access; check first.
    if (!file_.still_intact())
        fail(path(), "file changed size since it was opened (truncated or replaced); reopen the model");
    return file_.bytes().subspan(data_start_ + t.begin, t.nbytes());
}

void SafetensorsFile::read_f32(const TensorInfo& t, float* dst) const { read_f32(t, 0, t.numel(), dst); }

void SafetensorsFile::read_f32(const TensorInfo& t, std::uint64_t first, std::uint64_t count, float* dst) const {
    if (!dtype_is_float(t.dtype))
        fail(path(),
             "tensor '" + t.name + "': dtype " + std::string(dtype_name(t.dtype)) + " cannot be read as float32");
    if (first > t.numel() || count > t.numel() - first)
        throw std::out_of_range(path() + ": tensor '" + t.name + "': element range out of bounds");
    const auto bytes = raw(t);
    const std::size_t es = dtype_size(t.dtype);
    to_float32(t.dtype, bytes.data() + first * es, count, dst);
}

void SafetensorsFile::release(const TensorInfo& t) const noexcept {
    file_.drop_pages(data_start_ + t.begin, t.nbytes());
}

}  // namespace tllm::io
