#pragma once
// A SHA-256 checksum carried inside a JSON document (results.json, project files), so that a
// reader detects a file that was changed or damaged after it was written.
//
// The checksum is stored as the top-level member "checksum": {"sha256": HEX} and covers the
// document without that member in canonical form (keys sorted, no whitespace, numbers in
// nlohmann::json's shortest round-trip form), so it survives reformatting by the writer but
// not a change of any value.

#include <string>

#include <nlohmann/json.hpp>

namespace tllm::util {

/// Hex SHA-256 of `doc` without its "checksum" member, in canonical form.
std::string json_sha256(const nlohmann::json& doc);

/// Adds (or replaces) the "checksum" member of object `doc`.
void add_json_checksum(nlohmann::ordered_json& doc);

/// Checks the "checksum" member of object `doc`. A document without one is accepted (files
/// written before checksums existed; `had_checksum` tells which); a wrong one throws
/// std::runtime_error naming `source`.
void verify_json_checksum(const nlohmann::json& doc, const std::string& source, bool* had_checksum = nullptr);

}  // namespace tllm::util
