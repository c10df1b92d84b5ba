// libFuzzer harness: user architecture files (model::read_architectures: read_json_file's
// checks, then parse_architectures and the tensor-name patterns).
//
// For every accepted pattern, expanding it for a layer and prefix and matching the result
// must give back that layer: a pattern that can never match its own tensor names would
// leave a user's architecture silently without layers.
#include <algorithm>
#include <set>

#include "fuzz_common.h"
#include "model/architecture.h"

using namespace tllm;

namespace {

void check_pattern(const model::TensorPattern& p, const std::string& what) {
    if (p.empty()) return;
    const model::PatternMatcher m(p.pattern);
    for (int layer : {0, 7, 31, 123456789})
        for (const char* prefix : {"", "model.", "transformer.h2."}) {
            const std::string name = m.expand(layer, prefix);
            const auto got = m.match(name);
            fuzz::require(got.has_value() && got->layer == layer && m.expand(got->layer, got->prefix) == name,
                          what + " pattern '" + p.pattern + "' does not match its own expansion '" + name + "'");
        }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = (fuzz::scratch_dir() / "architectures.json").string();
    fuzz::write_file(path, data, size);
    fuzz::expect_clean(
        [&] {
            const auto specs = model::read_architectures(path);
            std::set<std::string> names;
            for (const auto& s : specs) {
                fuzz::require(!s.name.empty() && names.insert(s.name).second, "unique non-empty names");
                fuzz::require(!s.model_types.empty(), "model_types given");
                fuzz::require(!s.o.empty(), "o given");
                const bool separate = s.qkv_order == model::QkvOrder::Separate;
                fuzz::require(separate ? (!s.q.empty() && !s.k.empty() && !s.v.empty() && s.qkv.empty())
                                       : (s.q.empty() && s.k.empty() && s.v.empty() && !s.qkv.empty()),
                              "q/k/v xor qkv");
                for (const auto* p : {&s.q, &s.k, &s.v, &s.qkv, &s.o}) check_pattern(*p, s.name);
                // Lookup with the user specs first must find a spec serving the type.
                for (const auto& mt : s.model_types) {
                    const auto& found = model::find_architecture(mt, specs);
                    fuzz::require(
                        std::find(found.model_types.begin(), found.model_types.end(), mt) != found.model_types.end(),
                        "find_architecture('" + mt + "')");
                }
            }
        },
        path);
    return 0;
}
