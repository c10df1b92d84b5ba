// No output option can change or remove a byte of the model it reads: every writer of the CLI
// is pointed at the source's files, its directory and each of its parents (by several
// spellings), with and without --overwrite, and the source's bytes are compared afterwards.
// Also: the lock on an output, leftovers of a dead run, FIFOs, contradicting configs and the
// checksums of results files.
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "results/hdf5_results.h"
#include "io/output_guard.h"
#include "support/test_util.h"
#include "util/json_checksum.h"

namespace fs = std::filesystem;
using tllm::test::TempDir;

namespace {

struct Run {
    int code;
    std::string out;
};

Run run_cli(const std::string& args) {
    const std::string cmd = std::string("timeout 60 ") + TLLM_CLI + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// The report command needs the GUI library; builds without it (the sanitizer build) lack it.
bool cli_has_report() {
    static const bool has = run_cli("report --help").out.find("no GUI library") == std::string::npos;
    return has;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every regular file under `root` with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> m;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) m[fs::relative(e.path(), root).string()] = read_all(e.path());
    return m;
}

// A copy of stories260K in <tmp>/par/self.
struct SourceCopy {
    TempDir tmp;
    fs::path par, self;
    SourceCopy() {
        par = tmp.path() / "par";
        self = par / "self";
        fs::create_directories(self);
        for (const auto& e : fs::directory_iterator(tllm::test::stories_path()))
            fs::copy_file(e.path(), self / e.path().filename());
    }
};

}  // namespace

TEST(OutputGuard, TheTwoReproductionsAreRefusedWithExit2) {
    TLLM_REQUIRE_STORIES(stories);
    SourceCopy s;
    const auto before = snapshot(s.self);
    auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --h5 " + q(s.self / "model.safetensors"));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("a file this run reads"), std::string::npos) << r.out;
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --h5 " + q(s.self / "config.json"));
    EXPECT_EQ(r.code, 2) << r.out;
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --denoised " + q(s.par) + " --overwrite");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("contains the source"), std::string::npos) << r.out;
    EXPECT_EQ(snapshot(s.self), before);
    EXPECT_TRUE(fs::exists(s.self / "model.safetensors"));
    const auto info = run_cli("info " + q(s.self));
    EXPECT_EQ(info.code, 0) << info.out;
}

TEST(OutputGuard, EveryWriterAgainstEverySourcePathLeavesTheSourceIntact) {
    TLLM_REQUIRE_STORIES(stories);
    SourceCopy s;
    fs::create_symlink(s.self, s.tmp.path() / "link-to-self");
    fs::create_hard_link(s.self / "model.safetensors", s.tmp.path() / "hard.safetensors");
    const auto before = snapshot(s.self);
    const std::vector<fs::path> files = {s.self / "model.safetensors",
                                         s.self / "config.json",
                                         s.self / "tokenizer.model",
                                         s.tmp.path() / "hard.safetensors",
                                         s.tmp.path() / "link-to-self" / "model.safetensors",
                                         s.par / "self" / ".." / "self" / "config.json"};
    const std::vector<fs::path> dirs = {s.self,
                                        s.par,
                                        s.tmp.path(),
                                        s.tmp.path() / "link-to-self",
                                        s.self / ".." / "self",
                                        fs::path(s.self.string() + "/"),
                                        s.self / "config.json"};
    int refused = 0;
    for (const char* overwrite : {"", " --overwrite"}) {
        for (const auto& f : files) {
            const auto r =
                run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --no-spectra --h5 " + q(f) + overwrite);
            EXPECT_EQ(r.code, 2) << "--h5 " << f << overwrite << ": " << r.out;
            refused += r.code == 2;
        }
        for (const auto& d : dirs) {
            for (const char* opt : {"--out", "--denoised", "--factorised"}) {
                const auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --no-spectra " + opt +
                                       " " + q(d) + overwrite);
                EXPECT_EQ(r.code, 2) << opt << " " << d << overwrite << ": " << r.out;
                refused += r.code == 2;
            }
            if (!cli_has_report()) continue;
            const auto r = run_cli("report " + q(s.self) + " --ranks 8,8,4 --layers 0 --out " + q(d));
            EXPECT_EQ(r.code, 2) << "report --out " << d << ": " << r.out;
            refused += r.code == 2;
        }
        ASSERT_EQ(snapshot(s.self), before) << "after the runs" << overwrite;
    }
    std::printf("output guard: %d writer/path combinations refused, source unchanged\n", refused);
    // Files the loader would read, added to the source directory, are refused too.
    const auto r =
        run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --h5 " + q(s.self / "extra.safetensors"));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_EQ(snapshot(s.self), before);
}

TEST(OutputGuard, OverwriteReplacesOnlyAnEarlierOutputOfTheSameKind) {
    TLLM_REQUIRE_STORIES(stories);
    SourceCopy s;
    const fs::path foreign = s.tmp.path() / "foreign";
    fs::create_directories(foreign);
    tllm::test::write_text((foreign / "notes.txt").string(), "my notes");
    auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --denoised " + q(foreign) + " --overwrite");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("not an earlier tensorllm output"), std::string::npos) << r.out;
    EXPECT_EQ(read_all(foreign / "notes.txt"), "my notes");

    const fs::path den = s.tmp.path() / "den";
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --denoised " + q(den));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(tllm::io::output_kind_of(den.string()), "denoised");
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 1 --denoised " + q(den));
    EXPECT_EQ(r.code, 2) << "an earlier output needs --overwrite: " << r.out;
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 1 --factorised " + q(den) + " --overwrite");
    EXPECT_EQ(r.code, 2) << "a denoised output is not replaced by a factorised one: " << r.out;
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 1 --denoised " + q(den) + " --overwrite");
    EXPECT_EQ(r.code, 0) << r.out;
    // --out replaces an earlier results set as a whole.
    const fs::path out = s.tmp.path() / "out";
    ASSERT_EQ(run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --out " + q(out)).code, 0);
    tllm::test::write_text((out / "stray.csv").string(), "x");
    ASSERT_EQ(run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 1 --out " + q(out)).code, 0);
    EXPECT_FALSE(fs::exists(out / "stray.csv")) << "the set is replaced as a whole";
    const auto doc = nlohmann::json::parse(read_all(out / "results.json"));
    EXPECT_NO_THROW(tllm::util::verify_json_checksum(doc, "results.json"));
    EXPECT_EQ(doc["layers"].size(), 1u);
}

TEST(OutputGuard, ALockedOutputAndLeftoversOfADeadRun) {
    TLLM_REQUIRE_STORIES(stories);
    SourceCopy s;
    const fs::path out = s.tmp.path() / "out";
    {
        tllm::io::OutputLock held(out.string());
        const auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --out " + q(out));
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.out.find("another tensorllm run (pid " + std::to_string(::getpid()) + ")"), std::string::npos)
            << r.out;
        EXPECT_FALSE(fs::exists(out));
    }
    // A pid that is not running: a child that has exited and been reaped.
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ::waitpid(dead, nullptr, 0);
    const fs::path stale_dir = s.tmp.path() / ("out.tmp-" + std::to_string(dead) + "-abcdef");
    const fs::path stale_file = s.tmp.path() / ("r.h5.tmp-" + std::to_string(dead) + "-abcdef");
    const fs::path live = s.tmp.path() / ("out.tmp-" + std::to_string(::getpid()) + "-abcdef");
    fs::create_directories(stale_dir);
    fs::create_directories(live);
    tllm::test::write_text(stale_file.string(), "partial");
    const auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --out " + q(out) + " --h5 " +
                           q(s.tmp.path() / "r.h5"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_FALSE(fs::exists(stale_dir));
    EXPECT_FALSE(fs::exists(stale_file));
    EXPECT_TRUE(fs::exists(live)) << "a live process's temporary directory is kept";
    EXPECT_NE(r.out.find("note: removed " + stale_dir.string()), std::string::npos) << r.out;
}

TEST(OutputGuard, UsageErrorsAndMessages) {
    TLLM_REQUIRE_STORIES(stories);
    SourceCopy s;
    auto r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --h5 ''");
    EXPECT_EQ(r.code, 2) << r.out;
    r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --out " + q(s.tmp.path() / "a") + " --denoised " +
                q(s.tmp.path() / "a"));
    EXPECT_EQ(r.code, 2) << r.out;
    if (::geteuid() != 0) {  // root writes into read-only directories
        const fs::path ro = s.tmp.path() / "ro";
        fs::create_directories(ro);
        ::chmod(ro.c_str(), 0555);
        r = run_cli("decompose " + q(s.self) + " --ranks 8,8,4 --layers 0 --h5 " + q(ro / "r.h5"));
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_EQ(r.out.find("free space"), std::string::npos) << r.out;
    }
}

TEST(OutputGuard, AFifoIsRefusedAtOnce) {
    TempDir d;
    const fs::path dir = d.path() / "m";
    fs::create_directories(dir);
    fs::copy_file(fs::path(tllm::test::stories_path()) / "config.json", dir / "config.json");
    ASSERT_EQ(::mkfifo((dir / "model.safetensors").c_str(), 0644), 0);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_cli("info " + q(dir));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("not a regular file (a FIFO)"), std::string::npos) << r.out;
    // A FIFO as config.json, too.
    fs::remove(dir / "model.safetensors");
    fs::copy_file(fs::path(tllm::test::stories_path()) / "model.safetensors", dir / "model.safetensors");
    fs::remove(dir / "config.json");
    ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0644), 0);
    const auto r2 = run_cli("info " + q(dir));
    EXPECT_EQ(r2.code, 1) << r2.out;
    EXPECT_NE(r2.out.find("not a regular file (a FIFO)"), std::string::npos) << r2.out;
}

TEST(OutputGuard, ShardSymlinkLoopIsNamedAsSuch) {
    TempDir d;
    const fs::path dir = d.path() / "m";
    fs::create_directories(dir);
    fs::copy_file(fs::path(tllm::test::stories_path()) / "config.json", dir / "config.json");
    fs::create_symlink("model.safetensors", dir / "model.safetensors");
    const auto r = run_cli("info " + q(dir));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("symbolic link loop"), std::string::npos) << r.out;
}

TEST(OutputGuard, ContradictingConfigsAreErrors) {
    TLLM_REQUIRE_STORIES(stories);
    const auto base = nlohmann::json::parse(read_all(fs::path(stories) / "config.json"));
    struct Case {
        const char* field;
        nlohmann::json value;
        const char* expect;
    };
    const std::vector<Case> cases = {{"head_dim", 16, "head_dim 16"},
                                     {"hidden_size", 32, "hidden_size"},
                                     {"hidden_size", 128, "hidden_size"},
                                     {"num_key_value_heads", nullptr, "num_key_value_heads 8 (absent or null"},
                                     {"model_type", "gpt2", "no attention layer found"}};
    for (const auto& c : cases) {
        SourceCopy s;
        auto cfg = base;
        cfg[c.field] = c.value;
        tllm::test::write_text((s.self / "config.json").string(), cfg.dump());
        const auto r = run_cli("decompose " + q(s.self) + " --ranks 4,4,2 --out " + q(s.tmp.path() / "out"));
        EXPECT_EQ(r.code, 1) << c.field << ": " << r.out;
        EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.field << ": " << r.out;
        EXPECT_FALSE(fs::exists(s.tmp.path() / "out"));
    }
}

TEST(OutputGuard, FlippedBytesInAnHdf5ResultsFileAreDetected) {
    TLLM_REQUIRE_STORIES(stories);
    TempDir d;
    const fs::path h5 = d.path() / "r.h5";
    ASSERT_EQ(run_cli("decompose " + q(stories) + " --ranks 16,4,2 --layers 0,1 --h5 " + q(h5)).code, 0);
    const auto good = tllm::exporting::read_results_hdf5(h5.string());
    ASSERT_EQ(good.summary.layers.size(), 2u);
    // The bytes of layer 1's relative error (a float64 attribute) are found in the file and
    // one bit of them is flipped; then one bit of a dataset's data (a head's error).
    const double e = good.summary.layers[1].measures.rel_error;
    std::string bytes = read_all(h5);
    const std::string pattern(reinterpret_cast<const char*>(&e), sizeof e);
    const auto pos = bytes.find(pattern);
    ASSERT_NE(pos, std::string::npos);
    bytes[pos + 3] = static_cast<char>(bytes[pos + 3] ^ 0x10);
    tllm::test::write_text(h5.string(), bytes);
    try {
        tllm::exporting::read_results_hdf5(h5.string());
        FAIL() << "a flipped attribute byte was not detected";
    } catch (const std::runtime_error& ex) {
        EXPECT_NE(std::string(ex.what()).find("checksum mismatch"), std::string::npos) << ex.what();
    }
    auto r = run_cli("show " + q(h5));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
    bytes[pos + 3] = static_cast<char>(bytes[pos + 3] ^ 0x10);  // restored
    const double he = good.summary.layers[1].measures.head_error[3];
    const std::string hp(reinterpret_cast<const char*>(&he), sizeof he);
    const auto hpos = bytes.find(hp);
    ASSERT_NE(hpos, std::string::npos);
    bytes[hpos + 5] = static_cast<char>(bytes[hpos + 5] ^ 0x01);
    tllm::test::write_text(h5.string(), bytes);
    if (!cli_has_report()) return;
    r = run_cli("report --from " + q(h5) + " --out " + q(d.path() / "rep"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("checksum"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(d.path() / "rep"));
}

TEST(OutputGuard, JsonChecksumDetectsAChangedValue) {
    nlohmann::ordered_json doc = {{"a", 1.25}, {"b", {{"c", "text"}, {"d", {1, 2, 3}}}}};
    tllm::util::add_json_checksum(doc);
    const auto parsed = nlohmann::json::parse(doc.dump(1));
    EXPECT_NO_THROW(tllm::util::verify_json_checksum(parsed, "doc"));
    auto changed = parsed;
    changed["a"] = 1.5;
    EXPECT_THROW(tllm::util::verify_json_checksum(changed, "doc"), std::runtime_error);
    // The checksum is a SHA-256 of the canonical text (sorted keys, compact).
    EXPECT_EQ(parsed["checksum"]["sha256"].get<std::string>().size(), 64u);
}

TEST(OutputGuard, OverflowingWeightsFailNamingTheCause) {
    // Finite weights near the largest float (3.4e38): every method fails the layer (exit 3)
    // and says that the magnitudes overflow, never "ok" with a NaN error.
    TempDir d;
    const int dm = 32, heads = 4, dv = 8;
    std::string header = "{";
    std::vector<std::uint8_t> data;
    std::uint64_t off = 0;
    std::uint32_t seed = 12345;
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
        const std::uint64_t bytes = 4ull * dm * heads * dv;
        header += std::string(off ? "," : "") + "\"model.layers.0.self_attn." + n +
                  ".weight\":{\"dtype\":\"F32\",\"shape\":[" +
                  std::to_string(std::string(n) == "o_proj" ? dm : heads * dv) + "," +
                  std::to_string(std::string(n) == "o_proj" ? heads * dv : dm) + "],\"data_offsets\":[" +
                  std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
        for (std::uint64_t k = 0; k < bytes / 4; ++k) {
            seed = seed * 1664525u + 1013904223u;
            const float v = (float(seed >> 8) / float(1u << 24) * 2.0f - 1.0f) * 3.3e38f;
            const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
            data.insert(data.end(), p, p + 4);
        }
        off += bytes;
    }
    header += "}";
    tllm::test::write_raw_safetensors(d.file("model.safetensors"), header, data);
    tllm::test::write_text(d.file("config.json"),
                           R"({"model_type":"llama","hidden_size":32,"num_attention_heads":4,"num_hidden_layers":1})");
    for (const char* method : {"hosvd", "sthosvd", "hooi"}) {
        const auto r = run_cli("decompose " + q(d.path()) + " --ranks 8,4,2 --method " + method + " --out " +
                               q(d.path() / (std::string("out-") + method)));
        EXPECT_EQ(r.code, 3) << method << ": " << r.out;
        EXPECT_NE(r.out.find("overflow single precision"), std::string::npos) << method << ": " << r.out;
    }
}
