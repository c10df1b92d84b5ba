#include "util/json_checksum.h"

#include <cstdio>
#include <stdexcept>

#include "util/sha256.h"

namespace tllm::util {

std::string json_sha256(const nlohmann::json& doc) {
    std::string text;
    if (doc.is_object() && doc.contains("checksum")) {
        nlohmann::json copy = doc;
        copy.erase("checksum");
        text = copy.dump();
    } else {
        text = doc.dump();
    }
    Sha256 h;
    h.update(text);
    const auto d = h.digest();
    std::string hex;
    hex.reserve(64);
    for (auto b : d) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02x", b);
        hex += buf;
    }
    return hex;
}

void add_json_checksum(nlohmann::ordered_json& doc) {
    doc.erase("checksum");
    // Canonical form: through nlohmann::json, whose objects keep their keys sorted.
    const nlohmann::json canonical = nlohmann::json::parse(doc.dump());
    doc["checksum"] = {{"sha256", json_sha256(canonical)}};
}

void verify_json_checksum(const nlohmann::json& doc, const std::string& source, bool* had_checksum) {
    if (had_checksum) *had_checksum = false;
    if (!doc.is_object() || !doc.contains("checksum")) return;
    const auto& c = doc["checksum"];
    if (!c.is_object() || !c.contains("sha256") || !c["sha256"].is_string())
        throw std::runtime_error(source + ": field 'checksum' must be {\"sha256\": HEX}");
    if (had_checksum) *had_checksum = true;
    const std::string want = c["sha256"].get<std::string>();
    const std::string got = json_sha256(doc);
    if (want != got)
        throw std::runtime_error(source + ": checksum mismatch (stored sha256 " + want.substr(0, 12) + "..., content " +
                                 got.substr(0, 12) + "...): the file was changed or damaged after it was written");
}

}  // namespace tllm::util
