// Every entry of tests/bad_inputs/catalogue.json, built in a fresh directory and opened with
// the reader for its kind: each must fail with a std::runtime_error (never a crash, never
// another exception type) whose message names the file and contains the expected fragments.
// The file's "about" lines describe the format.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/tokenizer.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/architecture.h"
#include "model/model.h"
#include "support/test_util.h"

using namespace tllm;
using nlohmann::json;
using tllm::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kCataloguePath = std::string(TLLM_TEST_DIR) + "/bad_inputs/catalogue.json";

struct CatalogueEntry {
    std::string id;
    json spec;
    std::string load_error;  ///< set on a placeholder entry when the catalogue cannot be read
};

// gtest prints parameters in test names and failure messages; the id is what matters.
[[maybe_unused]] void PrintTo(const CatalogueEntry& e, std::ostream* os) { *os << e.id; }

json load_catalogue_json() {
    std::ifstream in(kCataloguePath);
    if (!in) throw std::runtime_error(kCataloguePath + ": cannot open");
    return json::parse(in);
}

std::vector<CatalogueEntry> load_entries() {
    try {
        std::vector<CatalogueEntry> out;
        const json doc = load_catalogue_json();
        for (const auto& e : doc.at("entries")) out.push_back({e.at("id").get<std::string>(), e, ""});
        if (out.empty()) throw std::runtime_error("no entries");
        return out;
    } catch (const std::exception& e) {
        return {{"unreadable_catalogue", json(), kCataloguePath + ": " + e.what()}};
    }
}

// A text value: a string, or a list of parts (string | {"repeat": s, "times": n} | {"hex": ".."}).
std::string build_text(const json& t) {
    if (t.is_string()) return t.get<std::string>();
    std::string out;
    for (const auto& part : t) {
        if (part.is_string()) {
            out += part.get<std::string>();
        } else if (part.contains("repeat")) {
            const auto s = part.at("repeat").get<std::string>();
            for (int i = 0, n = part.at("times").get<int>(); i < n; ++i) out += s;
        } else {
            const auto hex = part.at("hex").get<std::string>();
            for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
                out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
        }
    }
    return out;
}

// Materialises a file spec (see the catalogue's "about").
void write_spec(const fs::path& path, const json& spec) {
    if (spec.value("absent", false)) return;
    if (spec.value("fifo", false)) {
        if (::mkfifo(path.c_str(), 0644) != 0) throw std::logic_error("catalogue: cannot make a FIFO");
        return;
    }
    if (spec.contains("symlink_to")) {
        fs::create_symlink(spec.at("symlink_to").get<std::string>(), path);
        return;
    }
    if (spec.value("directory", false)) {
        fs::create_directories(path);
        return;
    }
    std::string bytes;
    if (spec.contains("header")) {
        const std::string header = build_text(spec.at("header"));
        const std::uint64_t n = spec.value("header_length", static_cast<std::uint64_t>(header.size()));
        bytes.assign(reinterpret_cast<const char*>(&n), 8);  // little-endian host
        bytes += header;
        bytes.append(spec.value("data_length", std::size_t{0}), '\0');
    } else {
        bytes = build_text(spec.at("text"));
    }
    {
        std::ofstream out(path, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    if (spec.contains("size")) fs::resize_file(path, spec.at("size").get<std::uintmax_t>());
}

struct PreparedCase {
    std::function<void()> open;  ///< throws the error under test
    std::string must_name;       ///< path the message must contain
};

PreparedCase prepare(const json& e, const fs::path& dir) {
    const std::string kind = e.at("kind").get<std::string>();
    const auto named = [&](const fs::path& dflt) {
        return e.contains("names") ? (dir / e.at("names").get<std::string>()).string() : dflt.string();
    };
    if (kind == "safetensors") {
        const fs::path p = dir / "input.safetensors";
        write_spec(p, e.at("file"));
        if (e.contains("after_open")) {
            const json after = e.at("after_open");
            return {[p, after] {
                        io::SafetensorsFile f(p.string());
                        fs::resize_file(p, after.at("truncate_to").get<std::uintmax_t>());
                        const auto* t = f.find(after.at("read_tensor").get<std::string>());
                        if (!t) throw std::logic_error("catalogue: after_open names a tensor the file lacks");
                        std::vector<float> v(t->numel());
                        f.read_f32(*t, v.data());
                    },
                    named(p)};
        }
        return {[p] { io::SafetensorsFile f(p.string()); }, named(p)};
    }
    if (kind == "gguf") {
        const fs::path p = dir / "input.gguf";
        write_spec(p, e.at("file"));
        return {[p] { io::GgufFile f(p.string()); }, named(p)};
    }
    if (kind == "index") {
        const fs::path index = dir / "model.safetensors.index.json";
        write_spec(index, e.at("index"));
        const json shards = e.value("shards", json::object());
        for (const auto& [name, spec] : shards.items()) write_spec(dir / name, spec);
        return {[dir] { io::Checkpoint c(dir.string()); }, named(index)};
    }
    if (kind == "config") {
        const fs::path p = dir / "config.json";
        write_spec(p, e.at("file"));
        return {[p] { io::read_model_config(p.string()); }, named(p)};
    }
    if (kind == "model") {
        write_spec(dir / "config.json", e.at("config"));
        write_spec(dir / "model.safetensors", e.at("file"));
        return {[dir] { model::Model m(dir.string()); }, named(dir)};
    }
    if (kind == "tokenizer") {
        // The files of a model directory; the tokenizer is chosen as for a model.
        for (const auto& [name, spec] : e.at("files").items()) write_spec(dir / name, spec);
        const int vocab = e.value("model_vocab_size", 100000);
        const std::string names = e.at("names").get<std::string>();
        return {[dir, vocab] { (void)eval::load_tokenizer(dir.string(), vocab); },
                names == "." ? dir.string() : (dir / names).string()};
    }
    if (kind == "architecture") {
        const fs::path p = dir / "architectures.json";
        write_spec(p, e.at("file"));
        return {[p] { model::read_architectures(p.string()); }, named(p)};
    }
    throw std::logic_error("catalogue: unknown kind '" + kind + "'");
}

class BadInputCatalogue : public ::testing::TestWithParam<CatalogueEntry> {};

}  // namespace

TEST_P(BadInputCatalogue, FailsWithAnErrorNamingFileAndField) {
    const CatalogueEntry& entry = GetParam();
    ASSERT_TRUE(entry.load_error.empty()) << entry.load_error;
    TempDir dir;
    const PreparedCase c = prepare(entry.spec, dir.path());
    try {
        c.open();
        FAIL() << entry.id << ": opened without an error";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(c.must_name), std::string::npos)
            << entry.id << ": message does not name " << c.must_name << ": " << msg;
        for (const auto& f : entry.spec.at("expect"))
            EXPECT_NE(msg.find(f.get<std::string>()), std::string::npos)
                << entry.id << ": missing '" << f.get<std::string>() << "' in: " << msg;
    } catch (const std::exception& e) {
        FAIL() << entry.id << ": expected std::runtime_error, got " << typeid(e).name() << ": " << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputCatalogue, ::testing::ValuesIn(load_entries()),
                         [](const ::testing::TestParamInfo<CatalogueEntry>& info) {
                             std::string name = info.param.id;
                             for (char& ch : name)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return name;
                         });

// The catalogue itself: well-formed, unique ids, every kind present, and every case of the
// corrupt-file matrices in test_safetensors.cpp and test_gguf.cpp reproduced (so a new matrix
// case must be catalogued too).
TEST(BadInputCatalogueFile, CoversTheMatrixAndEveryKind) {
    const json doc = load_catalogue_json();
    ASSERT_EQ(doc.at("format"), "tensorllm-bad-inputs/1");
    std::set<std::string> ids, from;
    std::map<std::string, int> per_kind;
    for (const auto& e : doc.at("entries")) {
        const auto id = e.at("id").get<std::string>();
        EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id;
        EXPECT_FALSE(e.at("expect").empty()) << id << ": no expected fragment";
        ++per_kind[e.at("kind").get<std::string>()];
        if (e.contains("from")) from.insert(e.at("from").get<std::string>());
    }
    const std::vector<std::string> kinds = {"safetensors", "index",     "config", "architecture",
                                            "model",       "tokenizer", "gguf"};
    for (const auto& kind : kinds) EXPECT_GE(per_kind[kind], 5) << "too few '" << kind << "' entries";
    EXPECT_EQ(per_kind.size(), kinds.size());

    for (const auto& [file, suite] : {std::pair<std::string, std::string>{"test_safetensors.cpp", "SafetensorsCorrupt"},
                                      {"test_gguf.cpp", "GgufCorrupt"}}) {
        std::ifstream in(std::string(TLLM_TEST_DIR) + "/core/io/" + file);
        ASSERT_TRUE(in) << file;
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string src = ss.str();
        const std::regex test_re("TEST\\((" + suite + "),\\s*(\\w+)\\)");
        int matrix = 0;
        for (auto it = std::sregex_iterator(src.begin(), src.end(), test_re); it != std::sregex_iterator(); ++it) {
            ++matrix;
            const std::string name = (*it)[1].str() + "." + (*it)[2].str();
            EXPECT_TRUE(from.count(name)) << "corrupt-file matrix case " << name << " is not in the catalogue";
        }
        EXPECT_GE(matrix, 10) << file;
    }
}
