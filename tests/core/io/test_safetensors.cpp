// The safetensors reader: round trips and a matrix of corrupt files, one per failure mode.
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "support/test_util.h"

using namespace tllm::io;
using tllm::test::TempDir;
using tllm::test::write_raw_safetensors;

namespace {

std::vector<std::uint8_t> f32_bytes(std::initializer_list<float> v) {
    std::vector<std::uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.begin(), b.size());
    return b;
}

// Expects opening `path` to throw a runtime_error whose message contains every fragment.
void expect_error(const std::string& path, std::initializer_list<std::string> fragments) {
    try {
        SafetensorsFile f(path);
        FAIL() << "expected an error for " << path;
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
        for (const auto& f : fragments)
            EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
    }
}

}  // namespace

TEST(Safetensors, ReadsHandBuiltFile) {
    TempDir dir;
    const std::string p = dir.file("a.safetensors");
    // Two tensors, deliberately listed out of offset order in the header.
    write_raw_safetensors(p,
                          R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                          R"("__metadata__":{"format":"pt"},)"
                          R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})",
                          f32_bytes({1.f, 2.f, 3.f, 4.f}));
    SafetensorsFile f(p);
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.tensors()[0].name, "a");  // sorted by offset
    EXPECT_EQ(f.metadata().at("format"), "pt");
    const TensorInfo* b = f.find("b");
    ASSERT_NE(b, nullptr);
    float v[2];
    f.read_f32(*b, v);
    EXPECT_EQ(v[0], 3.f);
    EXPECT_EQ(v[1], 4.f);
    f.read_f32(*f.find("a"), 1, 1, v);
    EXPECT_EQ(v[0], 2.f);
    EXPECT_EQ(f.find("c"), nullptr);
}

TEST(Safetensors, WriterRoundTripAllFloatTypes) {
    TempDir dir;
    const std::string p = dir.file("rt.safetensors");
    std::vector<TensorToWrite> ts;
    const std::vector<float> vals{0.5f, -1.25f, 3.0f, 100.0f, -0.0f, 7.75f};
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F64})
        ts.push_back(make_tensor(std::string(dtype_name(t)), t, {2, 3}, vals));
    std::vector<std::uint8_t> ints{1, 2, 3};
    TensorToWrite raw;
    raw.name = "ints";
    raw.dtype = DType::U8;
    raw.shape = {3};
    raw.data = std::as_bytes(std::span(ints));
    ts.push_back(raw);
    write_safetensors(p, ts, {{"k", "v"}});
    SafetensorsFile f(p);
    EXPECT_EQ(f.metadata().at("k"), "v");
    EXPECT_TRUE(f.warnings().empty());
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F64}) {
        const TensorInfo* ti = f.find(std::string(dtype_name(t)));
        ASSERT_NE(ti, nullptr);
        EXPECT_EQ(ti->dtype, t);
        EXPECT_EQ(ti->shape, (std::vector<std::uint64_t>{2, 3}));
        std::vector<float> back(6);
        f.read_f32(*ti, back.data());
        EXPECT_EQ(back, vals) << dtype_name(t);
    }
    const auto bytes = f.raw(*f.find("ints"));
    ASSERT_EQ(bytes.size(), 3u);
    EXPECT_EQ(std::to_integer<int>(bytes[2]), 3);
    std::vector<float> dummy(3);
    EXPECT_THROW(f.read_f32(*f.find("ints"), dummy.data()), std::runtime_error);
    // The data section starts 8-byte aligned.
    EXPECT_EQ(f.header_bytes().size() % 8, 0u);
    // No temporary file left beside it.
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
    EXPECT_EQ(n, 1);
}

TEST(Safetensors, EmptyTensorAndScalar) {
    TempDir dir;
    const std::string p = dir.file("e.safetensors");
    write_raw_safetensors(p,
                          R"({"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                          R"("scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                          f32_bytes({9.f}));
    SafetensorsFile f(p);
    EXPECT_EQ(f.find("empty")->numel(), 0u);
    float v;
    f.read_f32(*f.find("scalar"), &v);
    EXPECT_EQ(v, 9.f);
}

// ---- corrupt-file matrix: one case per failure mode ----

TEST(SafetensorsCorrupt, FileShorterThanLengthField) {
    TempDir dir;
    const std::string p = dir.file("short.safetensors");
    tllm::test::write_text(p, "abc");
    expect_error(p, {"shorter than the 8-byte header length"});
}

TEST(SafetensorsCorrupt, HeaderLengthLargerThanFile) {
    TempDir dir;
    const std::string p = dir.file("len.safetensors");
    write_raw_safetensors(p, "{}", {}, 1000);
    expect_error(p, {"header length 1000", "larger than the file"});
}

TEST(SafetensorsCorrupt, HeaderLengthAboveCap) {
    TempDir dir;
    const std::string p = dir.file("cap.safetensors");
    write_raw_safetensors(p, "{}", {}, std::int64_t(1) << 40);
    expect_error(p, {"exceeds the limit"});
}

TEST(SafetensorsCorrupt, HeaderNotJson) {
    TempDir dir;
    const std::string p = dir.file("json.safetensors");
    write_raw_safetensors(p, "{\"a\": [1, 2", {});
    expect_error(p, {"not valid JSON"});
}

TEST(SafetensorsCorrupt, HeaderNotObject) {
    TempDir dir;
    const std::string p = dir.file("arr.safetensors");
    write_raw_safetensors(p, "[1,2]", {});
    expect_error(p, {"not a JSON object"});
}

TEST(SafetensorsCorrupt, NestingTooDeep) {
    TempDir dir;
    const std::string p = dir.file("deep.safetensors");
    write_raw_safetensors(p, std::string(10000, '[') + std::string(10000, ']'), {});
    expect_error(p, {"nested deeper"});
}

TEST(SafetensorsCorrupt, UnknownDtype) {
    TempDir dir;
    const std::string p = dir.file("dtype.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F24","shape":[1],"data_offsets":[0,3]}})", {0, 0, 0});
    expect_error(p, {"tensor 'w'", "unknown dtype 'F24'"});
}

TEST(SafetensorsCorrupt, NegativeShape) {
    TempDir dir;
    const std::string p = dir.file("neg.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})",
                          std::vector<std::uint8_t>(16));
    expect_error(p, {"tensor 'w'", "shape[0]", "-1"});
}

TEST(SafetensorsCorrupt, NonIntegerShape) {
    TempDir dir;
    const std::string p = dir.file("float.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})",
                          std::vector<std::uint8_t>(8));
    expect_error(p, {"tensor 'w'", "shape[0]", "2.5"});
}

TEST(SafetensorsCorrupt, ShapeProductOverflow) {
    TempDir dir;
    const std::string p = dir.file("ovf.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})",
                          std::vector<std::uint8_t>(16));
    expect_error(p, {"tensor 'w'", "overflows"});
}

TEST(SafetensorsCorrupt, ByteSizeOverflow) {
    TempDir dir;
    const std::string p = dir.file("ovf2.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,16]}})",
                          std::vector<std::uint8_t>(16));
    expect_error(p, {"tensor 'w'", "overflows"});
}

TEST(SafetensorsCorrupt, OffsetsOutsideData) {
    TempDir dir;
    const std::string p = dir.file("off.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                          std::vector<std::uint8_t>(8));
    expect_error(p, {"tensor 'w'", "outside the data section"});
}

TEST(SafetensorsCorrupt, OffsetsReversed) {
    TempDir dir;
    const std::string p = dir.file("rev.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::vector<std::uint8_t>(8));
    expect_error(p, {"tensor 'w'", "< begin"});
}

TEST(SafetensorsCorrupt, OffsetsMalformed) {
    TempDir dir;
    const std::string p = dir.file("offm.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", std::vector<std::uint8_t>(4));
    expect_error(p, {"tensor 'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
    TempDir dir;
    const std::string p = dir.file("overlap.safetensors");
    write_raw_safetensors(p,
                          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          std::vector<std::uint8_t>(12));
    expect_error(p, {"'a'", "'b'", "overlap"});
}

TEST(SafetensorsCorrupt, SizeNotMatchingDtypeTimesShape) {
    TempDir dir;
    const std::string p = dir.file("size.safetensors");
    write_raw_safetensors(p, R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})",
                          std::vector<std::uint8_t>(8));
    expect_error(p, {"tensor 'w'", "size mismatch", "needs 6 bytes", "give 8"});
}

TEST(SafetensorsCorrupt, TruncatedFile) {
    TempDir dir;
    const std::string p = dir.file("trunc.safetensors");
    write_safetensors(p, {make_tensor("w", DType::F32, {64}, std::vector<float>(64, 1.f))});
    std::filesystem::resize_file(p, std::filesystem::file_size(p) - 10);
    expect_error(p, {"tensor 'w'", "outside the data section"});
}

TEST(SafetensorsCorrupt, MetadataNotStrings) {
    TempDir dir;
    const std::string p = dir.file("meta.safetensors");
    write_raw_safetensors(p, R"({"__metadata__":{"n":3}})", {});
    expect_error(p, {"__metadata__.n"});
}

TEST(SafetensorsCorrupt, MissingFields) {
    TempDir dir;
    const std::string p = dir.file("fields.safetensors");
    write_raw_safetensors(p, R"({"w":{"shape":[1],"data_offsets":[0,4]}})", std::vector<std::uint8_t>(4));
    expect_error(p, {"tensor 'w'", "'dtype'"});
    write_raw_safetensors(p, R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", std::vector<std::uint8_t>(4));
    expect_error(p, {"tensor 'w'", "'shape'"});
}

TEST(SafetensorsCorrupt, TruncatedAfterOpenIsReportedNotSigbus) {
    TempDir dir;
    const std::string p = dir.file("shrink.safetensors");
    write_safetensors(p, {make_tensor("w", DType::F32, {4096}, std::vector<float>(4096, 1.f))});
    SafetensorsFile f(p);
    std::filesystem::resize_file(p, 16);
    std::vector<float> v(4096);
    EXPECT_THROW(f.read_f32(*f.find("w"), v.data()), std::runtime_error);
}

TEST(SafetensorsCorrupt, MissingFile) {
    EXPECT_THROW(SafetensorsFile("/nonexistent/x.safetensors"), std::runtime_error);
}
