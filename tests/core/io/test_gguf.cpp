// io::GgufFile, io::GgufWriter and the ggml block formats: quantisation error bounds per
// type, closed-form blocks, writer round trips (metadata typed and copied byte for byte,
// alignment, atomic replacement, refusal to overwrite a source), typed getters, and the
// corrupt-file matrix (GgufCorrupt.*, mirrored in tests/bad_inputs/catalogue.json by
// tests/reference/gguf_corrupt.py, which builds the same bytes).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include "io/dtype.h"
#include "io/gguf.h"
#include "io/output_guard.h"
#include "support/test_util.h"

using namespace tllm;
using io::GgmlType;
namespace fs = std::filesystem;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed, float scale = 1.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x) {
    std::vector<std::byte> q(io::ggml_bytes(t, x.size()));
    io::quantize_row(t, x.data(), x.size(), q.data());
    std::vector<float> y(x.size());
    io::dequantize_row(t, q.data(), x.size(), y.data());
    return y;
}

// GGUF bytes built by hand (the same helpers as tests/reference/gguf_corrupt.py).
std::string u32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string u64(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
std::string gstr(const std::string& s, std::optional<std::uint64_t> len = {}) {
    return u64(len.value_or(s.size())) + s;
}
std::string kv_string(const std::string& k, const std::string& v, std::optional<std::uint64_t> len = {}) {
    return gstr(k) + u32(8) + gstr(v, len);
}
std::string kv_u32(const std::string& k, std::uint32_t v) { return gstr(k) + u32(4) + u32(v); }
std::string tinfo(const std::string& name, const std::vector<std::uint64_t>& ne, std::uint32_t type = 0,
                  std::uint64_t offset = 0) {
    std::string s = gstr(name) + u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) s += u64(d);
    return s + u32(type) + u64(offset);
}

struct Spec {
    std::vector<std::string> kvs = {kv_string("general.architecture", "llama"), kv_u32("general.alignment", 32)};
    std::vector<std::string> tensors = {tinfo("w", {32, 2})};
    std::string magic = "GGUF";
    std::string version = u32(3);
    std::optional<std::uint64_t> tensor_count, kv_count;
    std::size_t data = 256, alignment = 32;
    std::optional<std::size_t> truncate;
};

std::string build(const Spec& s) {
    std::string out =
        s.magic + s.version + u64(s.tensor_count.value_or(s.tensors.size())) + u64(s.kv_count.value_or(s.kvs.size()));
    for (const auto& kv : s.kvs) out += kv;
    for (const auto& t : s.tensors) out += t;
    out.append((s.alignment - out.size() % s.alignment) % s.alignment, '\0');
    out.append(s.data, '\0');
    if (s.truncate) out.resize(*s.truncate);
    return out;
}

std::string write_file(const test::TempDir& dir, const std::string& bytes, const std::string& name = "m.gguf") {
    const std::string p = dir.file(name);
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
}

// Opens the spec's file: it must fail with a std::runtime_error naming the file and holding
// every fragment.
void expect_refused(const Spec& spec, const std::vector<std::string>& fragments) {
    test::TempDir dir;
    const std::string p = write_file(dir, build(spec));
    try {
        io::GgufFile f(p);
        FAIL() << "opened without an error";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(p), std::string::npos) << msg;
        for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in " << msg;
    }
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// ---- block formats ----

TEST(GgmlTypes, GeometryAndNames) {
    EXPECT_EQ(io::ggml_bytes(GgmlType::Q8_0, 64), 68u);
    EXPECT_EQ(io::ggml_bytes(GgmlType::Q4_K, 512), 288u);
    EXPECT_EQ(io::ggml_bytes(GgmlType::Q6_K, 256), 210u);
    EXPECT_EQ(io::ggml_bytes(GgmlType::Q5_K, 256), 176u);
    EXPECT_EQ(io::ggml_bytes(GgmlType::BF16, 3), 6u);
    EXPECT_THROW(io::ggml_bytes(GgmlType::Q4_0, 33), std::invalid_argument);
    EXPECT_EQ(io::parse_ggml_type("q4_k"), GgmlType::Q4_K);
    EXPECT_EQ(io::parse_ggml_type("BF16"), GgmlType::BF16);
    EXPECT_FALSE(io::parse_ggml_type("q4_k_m").has_value());
    EXPECT_EQ(io::ggml_type_name(23), "IQ4_XS");
    EXPECT_EQ(io::ggml_type_name(99), "type 99");
    EXPECT_EQ(io::ggml_type_info(99), nullptr);
    EXPECT_FALSE(io::ggml_type_info(10)->dequantizable);  // Q2_K is known but not read
}

// Q8_0: every element within half a step (d / 2, d = amax / 127) of its value, plus what
// storing d in fp16 moves the largest quant (127 * |fp16(d) - d|).
TEST(GgmlBlocks, Q8_0ErrorWithinHalfAStep) {
    const auto x = random_values(32 * 64, 1);
    const auto y = round_trip(GgmlType::Q8_0, x);
    for (std::size_t b = 0; b < 64; ++b) {
        float amax = 0;
        for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
        const float d = amax / 127.f;
        const float d16 = io::half_to_float(io::float_to_half(d));
        const float bound = d / 2 + 127.f * std::fabs(d16 - d) + 1e-6f * d;
        for (std::size_t j = 0; j < 32; ++j)
            EXPECT_LE(std::fabs(y[32 * b + j] - x[32 * b + j]), bound) << b << "," << j;
    }
}

// The 32-element types: the error bound of each scheme, relative to the block's range.
TEST(GgmlBlocks, LegacyQuantsWithinTheirStep) {
    struct Case {
        GgmlType t;
        float levels;  // steps across the block's range
        bool symmetric;
    };
    for (const Case c : {Case{GgmlType::Q4_0, 8, true}, Case{GgmlType::Q5_0, 16, true}, Case{GgmlType::Q4_1, 15, false},
                         Case{GgmlType::Q5_1, 31, false}}) {
        SCOPED_TRACE(io::ggml_type_name(static_cast<std::uint32_t>(c.t)));
        const auto x = random_values(32 * 64, 2);
        const auto y = round_trip(c.t, x);
        for (std::size_t b = 0; b < 64; ++b) {
            float lo = x[32 * b], hi = lo, amax = 0;
            for (std::size_t j = 0; j < 32; ++j) {
                lo = std::min(lo, x[32 * b + j]);
                hi = std::max(hi, x[32 * b + j]);
                amax = std::max(amax, std::fabs(x[32 * b + j]));
            }
            // Symmetric: step amax / levels; the far end of the range is clipped by at most one step.
            const float step = c.symmetric ? amax / c.levels : (hi - lo) / c.levels;
            const float bound = c.symmetric ? step * 1.01f : step / 2 * 1.01f + 1e-3f * step;
            for (std::size_t j = 0; j < 32; ++j) EXPECT_LE(std::fabs(y[32 * b + j] - x[32 * b + j]), bound);
        }
    }
}

// K types: relative RMS error within what their bits allow, and exact zeros stay zero.
TEST(GgmlBlocks, KQuantsWithinExpectedAccuracy) {
    const auto x = random_values(256 * 32, 3, 0.02f);
    double norm = 0;
    for (float v : x) norm += double(v) * v;
    for (const auto& [t, max_rel] :
         {std::pair{GgmlType::Q4_K, 0.12}, std::pair{GgmlType::Q5_K, 0.06}, std::pair{GgmlType::Q6_K, 0.03}}) {
        SCOPED_TRACE(io::ggml_type_name(static_cast<std::uint32_t>(t)));
        const auto y = round_trip(t, x);
        double err = 0;
        for (std::size_t i = 0; i < x.size(); ++i) err += double(y[i] - x[i]) * (y[i] - x[i]);
        EXPECT_LT(std::sqrt(err / norm), max_rel);
        const std::vector<float> zeros(256, 0.f);
        for (float v : round_trip(t, zeros)) EXPECT_EQ(v, 0.f);
    }
}

// A constant block is reproduced closely by every type (min/scale and symmetric alike).
TEST(GgmlBlocks, ConstantAndFloatTypes) {
    const std::vector<float> c(256, 0.75f);
    for (const char* name : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"}) {
        SCOPED_TRACE(name);
        for (float v : round_trip(*io::parse_ggml_type(name), c)) EXPECT_NEAR(v, 0.75f, 0.75f / 7);
    }
    const std::vector<float> exact = {1.f, -2.f, 0.5f, 65504.f};
    EXPECT_EQ(round_trip(GgmlType::F32, exact), exact);
    EXPECT_EQ(round_trip(GgmlType::F16, exact), exact);
    const auto bf = round_trip(GgmlType::BF16, exact);
    EXPECT_EQ(bf[0], 1.f);
    EXPECT_EQ(bf[2], 0.5f);
}

// A Q8_0 block and a Q4_0 block by hand: values are d * q (and d * (q - 8)).
TEST(GgmlBlocks, HandMadeLegacyBlocks) {
    std::vector<std::byte> q8(34);
    const std::uint16_t half_quarter = 0x3400;  // fp16 0.25
    std::memcpy(q8.data(), &half_quarter, 2);
    for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(j - 16));
    std::vector<float> y(32);
    io::dequantize_row(GgmlType::Q8_0, q8.data(), 32, y.data());
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * static_cast<float>(j - 16));
    std::vector<std::byte> q4(18);
    std::memcpy(q4.data(), &half_quarter, 2);
    for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<std::byte>(j | ((15 - j) << 4));
    io::dequantize_row(GgmlType::Q4_0, q4.data(), 32, y.data());
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.25f * static_cast<float>(j - 8));
        EXPECT_EQ(y[j + 16], 0.25f * static_cast<float>(7 - j));
    }
}

// Non-finite input gives some block, never undefined behaviour (run under UBSan in CI).
TEST(GgmlBlocks, NonFiniteInputIsEncodedWithoutCrashing) {
    std::vector<float> x(256, 1.f);
    x[3] = std::nanf("");
    x[100] = INFINITY;
    x[200] = -INFINITY;
    for (const char* name : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "f16", "bf16"})
        (void)round_trip(*io::parse_ggml_type(name), x);
}

// ---- writer and reader ----

TEST(GgufWriter, RoundTripsMetadataTensorsAndAlignment) {
    test::TempDir dir;
    io::GgufWriter w;
    w.set_alignment(64);
    w.add_string("general.architecture", "llama");
    w.add_u32("general.alignment", 64);
    w.add_i32("x.i32", -5);
    w.add_u64("x.u64", 1ull << 40);
    w.add_f32("x.f32", 0.125f);
    w.add_bool("x.bool", true);
    w.add_string_array("x.strings", {"a", "", "\xE2\x96\x81the"});
    w.add_f32_array("x.floats", {1.5f, -2.f});
    w.add_i32_array("x.ints", {});
    const auto a = random_values(64 * 3, 4);
    const auto b = random_values(256 * 2, 5);
    w.add_tensor("a", GgmlType::F32, {64, 3},
                 [&](std::span<std::byte> d) { std::memcpy(d.data(), a.data(), d.size()); });
    w.add_tensor("b", GgmlType::Q6_K, {256, 2},
                 [&](std::span<std::byte> d) { io::quantize_row(GgmlType::Q6_K, b.data(), b.size(), d.data()); });
    w.add_tensor("scalar", GgmlType::F32, {}, [](std::span<std::byte> d) {
        const float v = 3.f;
        std::memcpy(d.data(), &v, 4);
    });
    const std::string p = dir.file("out.gguf");
    w.write(p);
    EXPECT_EQ(fs::file_size(p), w.file_size());

    const io::GgufFile f(p);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    EXPECT_TRUE(f.warnings().empty());
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("x.i32"), -5);
    EXPECT_EQ(f.get_int("x.u64"), 1ll << 40);
    EXPECT_EQ(f.get_float("x.f32"), 0.125);
    EXPECT_EQ(f.get_float("general.alignment"), 64.0);  // integers are numbers too
    EXPECT_EQ(f.get_bool("x.bool"), true);
    EXPECT_EQ(f.get_array("x.strings")->size(), 3u);
    EXPECT_EQ((*f.get_array("x.strings"))[2], "\xE2\x96\x81the");
    EXPECT_EQ(f.get_array("x.ints")->size(), 0u);
    EXPECT_FALSE(f.get_int("absent").has_value());
    EXPECT_EQ(f.get_array("absent"), nullptr);
    ASSERT_EQ(f.tensors().size(), 3u);
    for (const auto& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u) << t.name;
    std::vector<float> ra(a.size());
    f.read_f32(*f.find("a"), ra.data());
    EXPECT_EQ(ra, a);
    EXPECT_EQ(f.find("a")->shape(), (std::vector<std::uint64_t>{3, 64}));
    std::vector<float> rb(b.size());
    f.read_f32(*f.find("b"), rb.data());
    EXPECT_EQ(rb, round_trip(GgmlType::Q6_K, b));
    float s = 0;
    f.read_f32(*f.find("scalar"), &s);
    EXPECT_EQ(s, 3.f);
    f.release(*f.find("a"));
}

TEST(GgufWriter, TypedGettersNameFileKeyAndBothTypes) {
    test::TempDir dir;
    io::GgufWriter w;
    w.add_string("general.name", "x");
    w.add_f32("x.f", 1.f);
    const std::string p = dir.file("t.gguf");
    w.write(p);
    const io::GgufFile f(p);
    try {
        (void)f.get_int("general.name");
        FAIL();
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(p), std::string::npos);
        EXPECT_NE(m.find("general.name"), std::string::npos);
        EXPECT_NE(m.find("expected an integer, found string"), std::string::npos) << m;
    }
    EXPECT_THROW((void)f.get_string("x.f"), std::runtime_error);
    EXPECT_THROW((void)f.get_bool("x.f"), std::runtime_error);
    EXPECT_THROW((void)f.get_array("x.f"), std::runtime_error);
}

// A copy carries metadata (raw) and tensors (raw) byte for byte: the header and data equal.
TEST(GgufWriter, RawCopyIsByteForByte) {
    test::TempDir dir;
    io::GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "a", "b"});
    w.add_f32("x.eps", 1e-5f);
    const auto v = random_values(512, 6);
    w.add_tensor("t", GgmlType::Q4_K, {256, 2},
                 [&](std::span<std::byte> d) { io::quantize_row(GgmlType::Q4_K, v.data(), v.size(), d.data()); });
    w.add_tensor("u", GgmlType::Q8_0, {32},
                 [&](std::span<std::byte> d) { io::quantize_row(GgmlType::Q8_0, v.data(), 32, d.data()); });
    const std::string src = dir.file("src.gguf");
    w.write(src);

    const io::GgufFile f(src);
    io::GgufWriter copy;
    for (const auto& kv : f.metadata()) copy.add_raw_kv(f, kv);
    for (const auto& t : f.tensors()) copy.add_tensor_copy(f, t);
    const std::string dst = dir.file("dst.gguf");
    copy.write(dst);
    EXPECT_EQ(slurp(src), slurp(dst));
    EXPECT_THROW(copy.add_raw_kv(f, f.metadata()[0]), std::invalid_argument);  // key added twice
    EXPECT_THROW(copy.add_tensor_copy(f, f.tensors()[0]), std::invalid_argument);
    EXPECT_THROW(copy.add_tensor("bad", GgmlType::Q8_0, {33}, {}), std::invalid_argument);
    EXPECT_THROW(copy.set_alignment(24), std::invalid_argument);
}

// The writer replaces atomically and refuses to overwrite a file the run reads.
TEST(GgufWriter, AtomicAndRefusesToOverwriteASource) {
    test::TempDir dir;
    io::GgufWriter w;
    w.add_string("general.name", "first");
    const std::string p = dir.file("m.gguf");
    w.write(p);
    io::SourceSet sources;
    sources.add_file(p);
    EXPECT_THROW(w.write(p, sources), io::UnsafeOutput);
    io::GgufWriter w2;
    w2.add_string("general.name", "second");
    w2.add_tensor("t", GgmlType::F32, {4}, [](std::span<std::byte>) { throw std::runtime_error("fill failed"); });
    EXPECT_THROW(w2.write(p), std::runtime_error);
    EXPECT_EQ(io::GgufFile(p).get_string("general.name"), "first");  // untouched
    for (const auto& e : fs::directory_iterator(dir.path()))
        EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
    w.write(dir.file("other.gguf"), sources);
    EXPECT_TRUE(fs::exists(dir.file("other.gguf")));
}

// A large read runs in parallel over rows; the values equal those of one thread and of
// rows read one at a time.
TEST(GgufFile, ParallelReadDoesNotDependOnThreads) {
    test::TempDir dir;
    const auto v = random_values(256 * 512, 7);
    io::GgufWriter w;
    w.add_tensor("big", GgmlType::Q4_K, {256, 512},
                 [&](std::span<std::byte> d) { io::quantize_row(GgmlType::Q4_K, v.data(), v.size(), d.data()); });
    const std::string p = dir.file("big.gguf");
    w.write(p);
    const io::GgufFile f(p);
    const auto& t = f.tensors()[0];
    std::vector<float> all(t.numel()), one_thread(t.numel()), by_row(t.numel());
    f.read_f32(t, all.data());
    {
        const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
        f.read_f32(t, one_thread.data());
    }
    for (std::uint64_t r = 0; r < t.rows(); ++r) f.read_rows_f32(t, r, 1, by_row.data() + r * t.row_length());
    EXPECT_EQ(all, one_thread);
    EXPECT_EQ(all, by_row);
    EXPECT_EQ(all, round_trip(GgmlType::Q4_K, v));
    EXPECT_THROW(f.read_rows_f32(t, 511, 2, by_row.data()), std::out_of_range);
}

TEST(GgufFile, Version2AndWarnings) {
    Spec s;
    s.version = u32(2);
    s.data = 256 + 64;  // trailing bytes beyond the alignment padding
    test::TempDir dir;
    const io::GgufFile f(write_file(dir, build(s)));
    EXPECT_EQ(f.version(), 2u);
    ASSERT_EQ(f.warnings().size(), 1u);
    EXPECT_NE(f.warnings()[0].find("trailing bytes"), std::string::npos);
    EXPECT_EQ(f.metadata()[0].begin, 24u);
    EXPECT_EQ(f.metadata()[0].end, 24u + 8 + 20 + 4 + 8 + 5);
}

TEST(GgufFile, ReadingATruncatedFileFailsCleanly) {
    test::TempDir dir;
    const std::string p = write_file(dir, build(Spec{}));
    const io::GgufFile f(p);
    fs::resize_file(p, 200);
    std::vector<float> v(64);
    EXPECT_THROW(f.read_f32(f.tensors()[0], v.data()), std::runtime_error);
}

TEST(GgufFile, NonDequantizableTypeIsNamed) {
    Spec s;
    s.tensors = {tinfo("w", {256, 1}, 10)};  // Q2_K: 84 bytes
    test::TempDir dir;
    const io::GgufFile f(write_file(dir, build(s)));
    std::vector<float> v(256);
    try {
        f.read_f32(f.tensors()[0], v.data());
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("tensor w: ggml type Q2_K cannot be read as float32"), std::string::npos)
            << e.what();
    }
}

TEST(GgufFile, InvalidUtf8IsReplacedAndWarned) {
    Spec s;
    s.kvs.push_back(kv_string("general.name", std::string("a\xff") + "b"));
    test::TempDir dir;
    const io::GgufFile f(write_file(dir, build(s)));
    EXPECT_EQ(f.get_string("general.name"),
              "a\xEF\xBF\xBD"
              "b");
    EXPECT_FALSE(f.warnings().empty());
}

// ---- the corrupt-file matrix (each case also in tests/bad_inputs/catalogue.json) ----

TEST(GgufCorrupt, BadMagic) {
    Spec s;
    s.magic = "GGML";
    expect_refused(s, {"not a GGUF file"});
}
TEST(GgufCorrupt, Version1) {
    Spec s;
    s.version = u32(1);
    expect_refused(s, {"version 1 is not supported"});
}
TEST(GgufCorrupt, BigEndian) {
    Spec s;
    s.version = std::string("\0\0\0\3", 4);
    expect_refused(s, {"big-endian", "0x03000000"});
}
TEST(GgufCorrupt, TruncatedHeader) {
    Spec s;
    s.truncate = 10;
    expect_refused(s, {"truncated", "tensor_count"});
}
TEST(GgufCorrupt, TruncatedInMetadata) {
    Spec s;
    s.truncate = 60;
    expect_refused(s, {"truncated", "metadata key 'general.architecture'"});
}
TEST(GgufCorrupt, TruncatedInTensorInfo) {
    Spec s;
    s.truncate = 120;
    expect_refused(s, {"truncated", "tensor w"});
}
TEST(GgufCorrupt, TruncatedData) {
    Spec s;
    s.truncate = 300;
    expect_refused(s, {"tensor w", "offset 0 + 256 bytes", "runs past the end"});
}
TEST(GgufCorrupt, HugeTensorCount) {
    Spec s;
    s.tensor_count = 1ull << 40;
    expect_refused(s, {"tensor_count", "1099511627776", "exceeds the limit"});
}
TEST(GgufCorrupt, TensorCountPastFileSize) {
    Spec s;
    s.tensor_count = 1000000;
    expect_refused(s, {"tensor_count", "1000000", "cannot fit"});
}
TEST(GgufCorrupt, HugeKvCount) {
    Spec s;
    s.kv_count = 1ull << 62;
    expect_refused(s, {"metadata_kv_count", "4611686018427387904", "cannot fit"});
}
TEST(GgufCorrupt, HugeStringLength) {
    Spec s;
    s.kvs = {kv_string("general.architecture", "llama", 1ull << 60)};
    expect_refused(s,
                   {"metadata key 'general.architecture'", "string length 1152921504606846976", "exceeds the limit"});
}
TEST(GgufCorrupt, StringLengthPastEnd) {
    Spec s;
    s.kvs = {kv_string("general.architecture", "llama", 100000)};
    expect_refused(s, {"truncated", "metadata key 'general.architecture'", "100000"});
}
TEST(GgufCorrupt, HugeArrayLength) {
    Spec s;
    s.kvs.push_back(gstr("tokenizer.ggml.scores") + u32(9) + u32(6) + u64(1ull << 50));
    expect_refused(s, {"metadata key 'tokenizer.ggml.scores'", "array length 1125899906842624", "cannot fit"});
}
TEST(GgufCorrupt, NestedArray) {
    Spec s;
    s.kvs.push_back(gstr("x.nested") + u32(9) + u32(9) + u64(1) + u32(4) + u64(0));
    expect_refused(s, {"metadata key 'x.nested'", "arrays of arrays"});
}
TEST(GgufCorrupt, UnknownValueType) {
    Spec s;
    s.kvs.push_back(gstr("x.odd") + u32(13) + u32(0));
    expect_refused(s, {"metadata key 'x.odd'", "unknown value type 13"});
}
TEST(GgufCorrupt, BoolNotZeroOrOne) {
    Spec s;
    s.kvs.push_back(gstr("x.flag") + u32(7) + std::string("\x02", 1));
    expect_refused(s, {"metadata key 'x.flag'", "bool value 2"});
}
TEST(GgufCorrupt, DuplicateKey) {
    Spec s;
    s.kvs.push_back(kv_string("general.architecture", "gpt2"));
    expect_refused(s, {"metadata key 'general.architecture'", "appears twice"});
}
TEST(GgufCorrupt, AlignmentNotU32) {
    Spec s;
    s.kvs = {kv_string("general.alignment", "32")};
    expect_refused(s, {"general.alignment", "expected u32", "string"});
}
TEST(GgufCorrupt, AlignmentNotPowerOfTwo) {
    Spec s;
    s.kvs = {kv_u32("general.alignment", 24)};
    s.alignment = 24;
    expect_refused(s, {"general.alignment", "24 is not a power of two"});
}
TEST(GgufCorrupt, UnknownGgmlType) {
    Spec s;
    s.tensors = {tinfo("w", {32, 2}, 99)};
    expect_refused(s, {"tensor w", "unsupported ggml type", "99"});
}
TEST(GgufCorrupt, UnsupportedIqType) {
    Spec s;
    s.tensors = {tinfo("w", {256, 1}, 23)};
    expect_refused(s, {"tensor w", "IQ4_XS", "23"});
}
TEST(GgufCorrupt, MisalignedOffset) {
    Spec s;
    s.tensors = {tinfo("w", {32, 2}, 0, 4)};
    expect_refused(s, {"tensor w", "offset 4 is not a multiple of general.alignment 32"});
}
TEST(GgufCorrupt, OverlappingTensors) {
    Spec s;
    s.tensors = {tinfo("w", {32, 2}), tinfo("w2", {32, 2}, 0, 128)};
    s.data = 512;
    expect_refused(s, {"tensors w and w2 overlap", "[0, 256)", "[128, 384)"});
}
TEST(GgufCorrupt, OffsetPastEnd) {
    Spec s;
    s.tensors = {tinfo("w", {32, 2}, 0, 1024)};
    expect_refused(s, {"tensor w", "offset 1024", "runs past the end of the data section of 256 bytes"});
}
TEST(GgufCorrupt, ShapeLargerThanItsData) {
    Spec s;
    s.tensors = {tinfo("w", {32, 4})};
    expect_refused(s, {"tensor w", "offset 0 + 512 bytes (F32)", "data section of 256 bytes"});
}
TEST(GgufCorrupt, RowNotMultipleOfBlock) {
    Spec s;
    s.tensors = {tinfo("w", {33, 2}, 8)};
    expect_refused(s, {"tensor w", "ne[0] = 33 is not a multiple of the Q8_0 block size 32"});
}
TEST(GgufCorrupt, ShapeOverflows) {
    Spec s;
    s.tensors = {tinfo("w", {1ull << 32, 1ull << 32, 4})};
    expect_refused(s, {"tensor w", "overflows 64 bits"});
}
TEST(GgufCorrupt, ShapeBytesOverflow) {
    Spec s;
    s.tensors = {tinfo("w", {1ull << 62, 1})};
    expect_refused(s, {"tensor w", "byte size of shape ne = [4611686018427387904, 1] x F32 overflows 64 bits"});
}
TEST(GgufCorrupt, NegativeDimension) {
    Spec s;
    s.tensors = {tinfo("w", {1ull << 63, 1})};
    expect_refused(s, {"tensor w", "ne[0] = 9223372036854775808"});
}
TEST(GgufCorrupt, TooManyDimensions) {
    Spec s;
    s.tensors = {tinfo("w", {32, 1, 1, 1, 2})};
    expect_refused(s, {"tensor w", "n_dims 5"});
}
TEST(GgufCorrupt, DuplicateTensorNames) {
    Spec s;
    s.tensors = {tinfo("w", {32, 1}), tinfo("w", {32, 1}, 0, 128)};
    expect_refused(s, {"tensor w", "appears twice"});
}
TEST(GgufCorrupt, EmptyTensorName) {
    Spec s;
    s.tensors = {tinfo("", {32, 2})};
    expect_refused(s, {"tensor info 0", "empty tensor name"});
}
