#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "io/atomic_file.h"
#include "io/output_guard.h"

namespace tllm::io {
namespace {

constexpr std::uint64_t kMaxKeyBytes = 65535;
constexpr std::uint64_t kMaxNameBytes = 65535;

[[noreturn]] void fail(const std::string& path, const std::string& msg) { throw std::runtime_error(path + ": " + msg); }

std::string hex32(std::uint32_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s = "0x";
    for (int i = 7; i >= 0; --i) s.push_back(digits[(v >> (4 * i)) & 0xF]);
    return s;
}

// A key or name for a message: control characters shown as '?', long ones shortened.
std::string shown(const std::string& s) {
    std::string out = s.size() > 80 ? s.substr(0, 77) + "..." : s;
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

bool valid_value_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufValueType::F64); }

// Bytes of one element of a fixed-size value type (0 for strings and arrays).
std::uint64_t value_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8:
        case GgufValueType::I8:
        case GgufValueType::BOOL: return 1;
        case GgufValueType::U16:
        case GgufValueType::I16: return 2;
        case GgufValueType::U32:
        case GgufValueType::I32:
        case GgufValueType::F32: return 4;
        case GgufValueType::U64:
        case GgufValueType::I64:
        case GgufValueType::F64: return 8;
        default: return 0;
    }
}

bool is_int_type(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8:
        case GgufValueType::I8:
        case GgufValueType::U16:
        case GgufValueType::I16:
        case GgufValueType::U32:
        case GgufValueType::I32:
        case GgufValueType::U64:
        case GgufValueType::I64: return true;
        default: return false;
    }
}

// Replaces every byte that does not start a well-formed UTF-8 sequence with U+FFFD, so the
// decoded metadata can always be dumped as JSON. Returns true when something was replaced.
bool sanitize_utf8(std::string& s) {
    std::size_t i = 0;
    bool bad = false;
    std::string out;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok && len > 1) {  // overlong forms, surrogates and values past U+10FFFF
            std::uint32_t cp = c & (0x7F >> len);
            for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
            ok = !((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                   (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF);
        }
        if (ok) {
            if (bad) out.append(s, i, len);
            i += len;
            continue;
        }
        if (!bad) {
            out.assign(s, 0, i);
            bad = true;
        }
        out += "\xEF\xBF\xBD";
        ++i;
    }
    if (bad) s = std::move(out);
    return bad;
}

// Reads the little-endian fields of the header, each bounded by the bytes left in the file.
class Cursor {
public:
    Cursor(const std::string& path, std::span<const std::byte> bytes) : path_(path), bytes_(bytes) {}
    std::uint64_t pos() const { return pos_; }
    std::uint64_t left() const { return bytes_.size() - pos_; }

    // Fails unless n more bytes exist; `what` names the field being read.
    void need(std::uint64_t n, const std::string& what) const {
        if (n > left())
            fail(path_, "truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                            std::to_string(pos_) + ", the file has " + std::to_string(left()) + " left (size " +
                            std::to_string(bytes_.size()) + ")");
    }
    template <class T>
    T get(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string str(const std::string& what, std::uint64_t max_len) {
        const auto n = get<std::uint64_t>(what + " length");
        if (n > max_len)
            fail(path_, what + ": string length " + std::to_string(n) + " exceeds the limit of " +
                            std::to_string(max_len) + " bytes");
        need(n, what + " (a string of " + std::to_string(n) + " bytes)");
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }

private:
    const std::string& path_;
    std::span<const std::byte> bytes_;
    std::uint64_t pos_ = 0;
};

nlohmann::json read_scalar(Cursor& c, GgufValueType t, const std::string& what, const std::string& path,
                           bool& replaced) {
    switch (t) {
        case GgufValueType::U8: return c.get<std::uint8_t>(what);
        case GgufValueType::I8: return c.get<std::int8_t>(what);
        case GgufValueType::U16: return c.get<std::uint16_t>(what);
        case GgufValueType::I16: return c.get<std::int16_t>(what);
        case GgufValueType::U32: return c.get<std::uint32_t>(what);
        case GgufValueType::I32: return c.get<std::int32_t>(what);
        case GgufValueType::U64: return c.get<std::uint64_t>(what);
        case GgufValueType::I64: return c.get<std::int64_t>(what);
        case GgufValueType::F32: return c.get<float>(what);
        case GgufValueType::F64: return c.get<double>(what);
        case GgufValueType::BOOL: {
            const auto b = c.get<std::uint8_t>(what);
            if (b > 1) fail(path, what + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
            return b == 1;
        }
        case GgufValueType::STRING: {
            std::string s = c.str(what, kGgufMaxStringBytes);
            if (sanitize_utf8(s)) replaced = true;
            return s;
        }
        default: break;
    }
    fail(path, what + ": value type " + std::to_string(static_cast<std::uint32_t>(t)) + " is not a scalar type");
}

}  // namespace

std::string gguf_value_type_name(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8: return "u8";
        case GgufValueType::I8: return "i8";
        case GgufValueType::U16: return "u16";
        case GgufValueType::I16: return "i16";
        case GgufValueType::U32: return "u32";
        case GgufValueType::I32: return "i32";
        case GgufValueType::F32: return "f32";
        case GgufValueType::BOOL: return "bool";
        case GgufValueType::STRING: return "string";
        case GgufValueType::ARRAY: return "array";
        case GgufValueType::U64: return "u64";
        case GgufValueType::I64: return "i64";
        case GgufValueType::F64: return "f64";
    }
    return "value type " + std::to_string(static_cast<std::uint32_t>(t));
}

std::uint64_t GgufTensorInfo::numel() const {
    std::uint64_t n = 1;
    for (auto d : ne) n *= d;
    return n;
}

std::vector<std::uint64_t> GgufTensorInfo::shape() const { return {ne.rbegin(), ne.rend()}; }

GgufFile::GgufFile(const std::string& path) : file_(path) {
    const auto bytes = file_.bytes();
    const std::uint64_t fsize = bytes.size();
    Cursor c(path, bytes);

    // Header.
    if (fsize < 4) fail(path, "file is " + std::to_string(fsize) + " bytes, too short for the GGUF magic");
    if (std::memcmp(bytes.data(), "GGUF", 4) != 0) {
        std::uint32_t m;
        std::memcpy(&m, bytes.data(), 4);
        fail(path, "not a GGUF file (magic " + hex32(m) + ", expected the bytes 'GGUF')");
    }
    c.get<std::uint32_t>("magic");
    version_ = c.get<std::uint32_t>("header field 'version'");
    if (version_ == 1)
        fail(path,
             "GGUF version 1 is not supported (it used 32-bit counts); convert the model with a current llama.cpp");
    if (version_ != 2 && version_ != 3) {
        const std::uint32_t swapped = __builtin_bswap32(version_);
        if (swapped >= 1 && swapped <= 3)
            fail(path, "big-endian GGUF (version field reads " + hex32(version_) +
                           ") is not supported; only little-endian files can be read");
        fail(path, "header field 'version': unsupported GGUF version " + std::to_string(version_) +
                       " (versions 2 and 3 are read)");
    }
    const auto tensor_count = c.get<std::uint64_t>("header field 'tensor_count'");
    const auto kv_count = c.get<std::uint64_t>("header field 'metadata_kv_count'");
    // Smallest possible entries: a key/value pair takes at least 8 + 4 + 1 bytes, a tensor info
    // 8 + 4 + 4 + 8; counts that cannot fit in the rest of the file are refused before any
    // allocation.
    if (tensor_count > kGgufMaxTensors)
        fail(path, "header field 'tensor_count': " + std::to_string(tensor_count) + " exceeds the limit of " +
                       std::to_string(kGgufMaxTensors));
    if (kv_count > c.left() / 13)
        fail(path, "header field 'metadata_kv_count': " + std::to_string(kv_count) +
                       " pairs cannot fit in the remaining " + std::to_string(c.left()) + " bytes");
    if (tensor_count > c.left() / 24)
        fail(path, "header field 'tensor_count': " + std::to_string(tensor_count) +
                       " tensor infos cannot fit in the remaining " + std::to_string(c.left()) + " bytes");

    // Metadata.
    kvs_.reserve(kv_count);
    bool replaced = false;
    for (std::uint64_t i = 0; i < kv_count; ++i) {
        GgufKV kv;
        kv.begin = c.pos();
        const std::string at = "metadata pair " + std::to_string(i);
        kv.key = c.str(at + " key", kMaxKeyBytes);
        if (kv.key.empty()) fail(path, at + ": empty key");
        const std::string what = "metadata key '" + shown(kv.key) + "'";
        if (kv_index_.count(kv.key)) fail(path, what + " appears twice");
        const auto type = c.get<std::uint32_t>(what + " value type");
        if (!valid_value_type(type)) fail(path, what + ": unknown value type " + std::to_string(type));
        kv.type = static_cast<GgufValueType>(type);
        if (kv.type == GgufValueType::ARRAY) {
            const auto et = c.get<std::uint32_t>(what + " array element type");
            if (!valid_value_type(et)) fail(path, what + ": unknown array element type " + std::to_string(et));
            kv.element_type = static_cast<GgufValueType>(et);
            if (kv.element_type == GgufValueType::ARRAY) fail(path, what + ": arrays of arrays are not supported");
            kv.count = c.get<std::uint64_t>(what + " array length");
            const std::uint64_t min_elem = kv.element_type == GgufValueType::STRING ? 8 : value_size(kv.element_type);
            if (kv.count > c.left() / min_elem)
                fail(path, what + ": array length " + std::to_string(kv.count) + " of " +
                               gguf_value_type_name(kv.element_type) + " cannot fit in the remaining " +
                               std::to_string(c.left()) + " bytes");
            kv.value = nlohmann::json::array();
            kv.value.get_ref<nlohmann::json::array_t&>().reserve(kv.count);
            for (std::uint64_t k = 0; k < kv.count; ++k)
                kv.value.push_back(
                    read_scalar(c, kv.element_type, what + " element " + std::to_string(k), path, replaced));
        } else {
            kv.value = read_scalar(c, kv.type, what + " value", path, replaced);
        }
        kv.end = c.pos();
        kv_index_.emplace(kv.key, kvs_.size());
        kvs_.push_back(std::move(kv));
    }
    if (replaced) warnings_.push_back(path + ": invalid UTF-8 in metadata strings was replaced by U+FFFD");

    if (const GgufKV* a = find_kv("general.alignment")) {
        if (a->type != GgufValueType::U32)
            fail(path, "metadata key 'general.alignment': expected u32, found " + gguf_value_type_name(a->type));
        const auto v = a->value.get<std::uint32_t>();
        if (v == 0 || (v & (v - 1)) != 0)
            fail(path, "metadata key 'general.alignment': " + std::to_string(v) + " is not a power of two");
        alignment_ = v;
    }

    // Tensor infos.
    tensors_.reserve(tensor_count);
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
        GgufTensorInfo t;
        const std::string at = "tensor info " + std::to_string(i);
        t.name = c.str(at + " name", kMaxNameBytes);
        if (t.name.empty()) fail(path, at + ": empty tensor name");
        const std::string what = "tensor " + shown(t.name);
        if (index_.count(t.name)) fail(path, what + ": the name appears twice");
        const auto n_dims = c.get<std::uint32_t>(what + " n_dims");
        if (n_dims > kGgufMaxDims)
            fail(path, what + ": n_dims " + std::to_string(n_dims) + " exceeds the maximum of " +
                           std::to_string(kGgufMaxDims));
        std::uint64_t numel = 1;
        bool overflow = false;
        for (std::uint32_t d = 0; d < n_dims; ++d) {
            const auto n = c.get<std::uint64_t>(what + " ne[" + std::to_string(d) + "]");
            if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(path, what + ": ne[" + std::to_string(d) + "] = " + std::to_string(n) +
                               " is negative as a signed 64-bit dimension");
            t.ne.push_back(n);
            if (n != 0 && numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / n)
                overflow = true;
            else
                numel *= n;
        }
        std::string dims;
        for (std::size_t d = 0; d < t.ne.size(); ++d) dims += (d ? ", " : "") + std::to_string(t.ne[d]);
        if (overflow) fail(path, what + ": shape ne = [" + dims + "] overflows 64 bits");
        const auto type = c.get<std::uint32_t>(what + " type");
        const GgmlTypeInfo* info = ggml_type_info(type);
        if (!info) {
            const std::string name = ggml_type_name(type);
            fail(path, what + ": unsupported ggml type " + std::to_string(type) +
                           (name.rfind("type ", 0) == 0 ? std::string() : " (" + name + ")"));
        }
        t.type = static_cast<GgmlType>(type);
        if (t.row_length() % info->block != 0)
            fail(path, what + ": ne[0] = " + std::to_string(t.row_length()) + " is not a multiple of the " +
                           info->name + " block size " + std::to_string(info->block));
        if (numel / info->block > std::numeric_limits<std::uint64_t>::max() / info->block_bytes)
            fail(path, what + ": byte size of shape ne = [" + dims + "] x " + info->name + " overflows 64 bits");
        t.bytes = numel / info->block * info->block_bytes;
        t.offset = c.get<std::uint64_t>(what + " offset");
        if (t.offset % alignment_ != 0)
            fail(path, what + ": offset " + std::to_string(t.offset) + " is not a multiple of general.alignment " +
                           std::to_string(alignment_));
        index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    // Data section: at the next multiple of the alignment after the tensor infos.
    const std::uint64_t end_of_infos = c.pos();
    data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
    std::uint64_t data_bytes_needed = 0;
    for (const auto& t : tensors_) data_bytes_needed = std::max(data_bytes_needed, t.bytes);
    if (data_offset_ > fsize) {
        if (data_bytes_needed > 0)
            fail(path, "truncated: the data section starts at offset " + std::to_string(data_offset_) +
                           " (general.alignment " + std::to_string(alignment_) + "), past the end of the file (size " +
                           std::to_string(fsize) + ")");
        data_offset_ = fsize;  // no tensor holds any byte: the padding may be absent
    }
    const std::uint64_t data_size = fsize - data_offset_;
    for (const auto& t : tensors_) {
        if (t.offset > data_size || t.bytes > data_size - t.offset)
            fail(path, "tensor " + shown(t.name) + ": offset " + std::to_string(t.offset) + " + " +
                           std::to_string(t.bytes) + " bytes (" + ggml_type_name(static_cast<std::uint32_t>(t.type)) +
                           ") runs past the end of the data section of " + std::to_string(data_size) +
                           " bytes (file truncated?)");
    }

    // Overlaps and gaps, in offset order.
    std::vector<const GgufTensorInfo*> order;
    order.reserve(tensors_.size());
    for (const auto& t : tensors_)
        if (t.bytes > 0) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
        return a->offset != b->offset ? a->offset < b->offset : a->bytes < b->bytes;
    });
    const auto align_up = [&](std::uint64_t v) { return (v + alignment_ - 1) / alignment_ * alignment_; };
    std::uint64_t prev_end = 0;
    const GgufTensorInfo* prev = nullptr;
    for (const auto* t : order) {
        if (prev && t->offset < prev_end)
            fail(path, "tensors " + shown(prev->name) + " and " + shown(t->name) + " overlap ([" +
                           std::to_string(prev->offset) + ", " + std::to_string(prev_end) + ") and [" +
                           std::to_string(t->offset) + ", " + std::to_string(t->offset + t->bytes) + "))");
        if (t->offset > align_up(prev_end))
            warnings_.push_back(path + ": " + std::to_string(t->offset - prev_end) + " unused bytes before tensor " +
                                shown(t->name));
        prev_end = t->offset + t->bytes;
        prev = t;
    }
    if (data_size > align_up(prev_end))
        warnings_.push_back(path + ": " + std::to_string(data_size - prev_end) +
                            " trailing bytes after the last tensor");
}

const GgufKV* GgufFile::find_kv(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const GgufKV& kv, const std::string& expected) {
    std::string found = gguf_value_type_name(kv.type);
    if (kv.type == GgufValueType::ARRAY) found += "[" + gguf_value_type_name(kv.element_type) + "]";
    fail(path, "metadata key '" + shown(kv.key) + "': expected " + expected + ", found " + found);
}
}  // namespace

std::optional<std::int64_t> GgufFile::get_int(const std::string& key) const {
    const GgufKV* kv = find_kv(key);
    if (!kv) return std::nullopt;
    if (!is_int_type(kv->type)) wrong_type(path(), *kv, "an integer");
    if (kv->type == GgufValueType::U64) {
        const auto v = kv->value.get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            fail(path(), "metadata key '" + shown(key) + "': " + std::to_string(v) + " is out of range");
        return static_cast<std::int64_t>(v);
    }
    return kv->value.get<std::int64_t>();
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
    const GgufKV* kv = find_kv(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::F32 && kv->type != GgufValueType::F64 && !is_int_type(kv->type))
        wrong_type(path(), *kv, "a number");
    return kv->value.get<double>();
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
    const GgufKV* kv = find_kv(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::BOOL) wrong_type(path(), *kv, "bool");
    return kv->value.get<bool>();
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
    const GgufKV* kv = find_kv(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::STRING) wrong_type(path(), *kv, "string");
    return kv->value.get<std::string>();
}

const nlohmann::json* GgufFile::get_array(const std::string& key) const {
    const GgufKV* kv = find_kv(key);
    if (!kv) return nullptr;
    if (kv->type != GgufValueType::ARRAY) wrong_type(path(), *kv, "an array");
    return &kv->value;
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::raw(const GgufTensorInfo& t) const {
    if (!file_.still_intact())
        fail(path(), "file changed size since it was opened (truncated or replaced); reopen the model");
    return file_.bytes().subspan(data_offset_ + t.offset, t.bytes);
}

void GgufFile::read_rows_f32(const GgufTensorInfo& t, std::uint64_t row, std::uint64_t count, float* dst) const {
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(t.type));
    if (!info || !info->dequantizable)
        fail(path(), "tensor " + shown(t.name) + ": ggml type " + ggml_type_name(static_cast<std::uint32_t>(t.type)) +
                         " cannot be read as float32");
    if (row > t.rows() || count > t.rows() - row)
        throw std::out_of_range(path() + ": tensor " + shown(t.name) + ": rows [" + std::to_string(row) + ", " +
                                std::to_string(row + count) + ") out of " + std::to_string(t.rows()));
    const auto bytes = raw(t);
    const std::uint64_t n = t.row_length();
    const std::uint64_t row_bytes = n / info->block * info->block_bytes;
    const auto rows = [&](std::uint64_t begin, std::uint64_t end) {
        for (std::uint64_t r = begin; r < end; ++r)
            dequantize_row(t.type, bytes.data() + (row + r) * row_bytes, n, dst + r * n);
    };
    // Rows are independent, so the result is the same whatever the number of threads; small
    // reads stay on the calling thread.
    if (count * n < (1u << 16)) {
        rows(0, count);
        return;
    }
    const std::uint64_t grain = std::max<std::uint64_t>(1, (1u << 14) / std::max<std::uint64_t>(n, 1));
    tbb::parallel_for(tbb::blocked_range<std::uint64_t>(0, count, grain),
                      [&](const tbb::blocked_range<std::uint64_t>& r) { rows(r.begin(), r.end()); });
}

void GgufFile::read_f32(const GgufTensorInfo& t, float* dst) const { read_rows_f32(t, 0, t.rows(), dst); }

void GgufFile::release(const GgufTensorInfo& t) const noexcept { file_.drop_pages(data_offset_ + t.offset, t.bytes); }

// ---- writer ----

namespace {
template <class T>
void append(std::vector<std::byte>& out, const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}
void append_string(std::vector<std::byte>& out, const std::string& s) {
    append(out, static_cast<std::uint64_t>(s.size()));
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), p, p + s.size());
}
}  // namespace

void GgufWriter::begin_kv(const std::string& key, GgufValueType type) {
    if (key.empty()) throw std::invalid_argument("GGUF writer: empty metadata key");
    if (!keys_.insert(key).second) throw std::invalid_argument("GGUF writer: metadata key '" + key + "' added twice");
    append_string(kv_bytes_, key);
    append(kv_bytes_, static_cast<std::uint32_t>(type));
    ++kv_count_;
}

void GgufWriter::add_raw_kv(const GgufFile& source, const GgufKV& kv) {
    const auto header = source.header_bytes();
    if (kv.begin > kv.end || kv.end > header.size())
        throw std::invalid_argument("GGUF writer: metadata pair '" + kv.key + "' is not in " + source.path());
    if (!keys_.insert(kv.key).second)
        throw std::invalid_argument("GGUF writer: metadata key '" + kv.key + "' added twice");
    const auto bytes = header.subspan(kv.begin, kv.end - kv.begin);
    kv_bytes_.insert(kv_bytes_.end(), bytes.begin(), bytes.end());
    ++kv_count_;
}

void GgufWriter::add_string(const std::string& key, const std::string& value) {
    begin_kv(key, GgufValueType::STRING);
    append_string(kv_bytes_, value);
}
void GgufWriter::add_u32(const std::string& key, std::uint32_t value) {
    begin_kv(key, GgufValueType::U32);
    append(kv_bytes_, value);
}
void GgufWriter::add_i32(const std::string& key, std::int32_t value) {
    begin_kv(key, GgufValueType::I32);
    append(kv_bytes_, value);
}
void GgufWriter::add_u64(const std::string& key, std::uint64_t value) {
    begin_kv(key, GgufValueType::U64);
    append(kv_bytes_, value);
}
void GgufWriter::add_f32(const std::string& key, float value) {
    begin_kv(key, GgufValueType::F32);
    append(kv_bytes_, value);
}
void GgufWriter::add_bool(const std::string& key, bool value) {
    begin_kv(key, GgufValueType::BOOL);
    append(kv_bytes_, static_cast<std::uint8_t>(value ? 1 : 0));
}
void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
    begin_kv(key, GgufValueType::ARRAY);
    append(kv_bytes_, static_cast<std::uint32_t>(GgufValueType::STRING));
    append(kv_bytes_, static_cast<std::uint64_t>(values.size()));
    for (const auto& v : values) append_string(kv_bytes_, v);
}
void GgufWriter::add_f32_array(const std::string& key, const std::vector<float>& values) {
    begin_kv(key, GgufValueType::ARRAY);
    append(kv_bytes_, static_cast<std::uint32_t>(GgufValueType::F32));
    append(kv_bytes_, static_cast<std::uint64_t>(values.size()));
    for (float v : values) append(kv_bytes_, v);
}
void GgufWriter::add_i32_array(const std::string& key, const std::vector<std::int32_t>& values) {
    begin_kv(key, GgufValueType::ARRAY);
    append(kv_bytes_, static_cast<std::uint32_t>(GgufValueType::I32));
    append(kv_bytes_, static_cast<std::uint64_t>(values.size()));
    for (auto v : values) append(kv_bytes_, v);
}

void GgufWriter::set_alignment(std::uint64_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > std::numeric_limits<std::uint32_t>::max())
        throw std::invalid_argument("GGUF writer: alignment " + std::to_string(alignment) +
                                    " is not a power of two that fits in u32");
    alignment_ = alignment;
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<std::uint64_t> ne, Fill fill) {
    if (name.empty()) throw std::invalid_argument("GGUF writer: empty tensor name");
    if (names_.count(name)) throw std::invalid_argument("GGUF writer: tensor '" + name + "' added twice");
    if (ne.size() > kGgufMaxDims)
        throw std::invalid_argument("GGUF writer: tensor '" + name + "' has " + std::to_string(ne.size()) +
                                    " dimensions, at most " + std::to_string(kGgufMaxDims) + " are allowed");
    const auto* info = ggml_type_info(static_cast<std::uint32_t>(type));
    if (!info) throw std::invalid_argument("GGUF writer: tensor '" + name + "': unknown ggml type");
    std::uint64_t numel = 1;
    for (auto d : ne) {
        if (d != 0 && numel > (std::numeric_limits<std::uint64_t>::max() / 8) / d)
            throw std::invalid_argument("GGUF writer: tensor '" + name + "': shape overflows");
        numel *= d;
    }
    const std::uint64_t row = ne.empty() ? 1 : ne[0];
    if (row % info->block != 0)
        throw std::invalid_argument("GGUF writer: tensor '" + name + "': ne[0] = " + std::to_string(row) +
                                    " is not a multiple of the " + info->name + " block size " +
                                    std::to_string(info->block));
    const std::uint64_t bytes = numel / info->block * info->block_bytes;
    names_.emplace(name, tensors_.size());
    tensors_.push_back({name, type, std::move(ne), bytes, std::move(fill)});
}

void GgufWriter::add_tensor_copy(const GgufFile& source, const GgufTensorInfo& t, const std::string& name) {
    add_tensor(name.empty() ? t.name : name, t.type, t.ne, [&source, &t](std::span<std::byte> dst) {
        const auto bytes = source.raw(t);
        std::memcpy(dst.data(), bytes.data(), bytes.size());
    });
}

std::uint64_t GgufWriter::file_size() const {
    std::uint64_t pos = 4 + 4 + 8 + 8 + kv_bytes_.size();
    for (const auto& t : tensors_) pos += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
    const auto align_up = [&](std::uint64_t v) { return (v + alignment_ - 1) / alignment_ * alignment_; };
    pos = align_up(pos);
    for (const auto& t : tensors_) pos += align_up(t.bytes);
    return pos;
}

void GgufWriter::write(const std::string& path) const {
    const auto align_up = [&](std::uint64_t v) { return (v + alignment_ - 1) / alignment_ * alignment_; };
    std::vector<std::byte> head;
    head.insert(head.end(), reinterpret_cast<const std::byte*>("GGUF"), reinterpret_cast<const std::byte*>("GGUF") + 4);
    append(head, std::uint32_t{3});
    append(head, static_cast<std::uint64_t>(tensors_.size()));
    append(head, kv_count_);
    head.insert(head.end(), kv_bytes_.begin(), kv_bytes_.end());
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
        append_string(head, t.name);
        append(head, static_cast<std::uint32_t>(t.ne.size()));
        for (auto d : t.ne) append(head, d);
        append(head, static_cast<std::uint32_t>(t.type));
        append(head, offset);
        offset += align_up(t.bytes);
    }
    head.resize(align_up(head.size()), std::byte{0});

    AtomicFile out(path);
    out.write(head);
    std::vector<std::byte> buf;
    for (const auto& t : tensors_) {
        buf.assign(align_up(t.bytes), std::byte{0});
        if (t.fill) t.fill(std::span<std::byte>(buf.data(), t.bytes));
        out.write(buf);
    }
    out.commit();
}

void GgufWriter::write(const std::string& path, const SourceSet& sources) const {
    check_output_file(sources, "GGUF output", path);
    const OutputLock lock(path);
    write(path);
}

}  // namespace tllm::io
