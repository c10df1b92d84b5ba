#pragma once
// SHA-256 (FIPS 180-4), small and dependency-free: used to fingerprint checkpoint headers
// so a result file names exactly the checkpoint it was computed from.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tllm::util {

/// Incremental SHA-256. Feed bytes with update() in any number of pieces, then call
/// digest() once; the result equals sha256() of the concatenation. Cost: about 15 cycles
/// per byte, no allocation.
class Sha256 {
public:
    Sha256();
    /// Appends bytes to the message. Precondition: digest() not yet called (checked: throws
    /// std::logic_error).
    void update(std::span<const std::byte> data);
    void update(std::string_view text) {
        update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
    }
    /// Finishes the message and returns the 32-byte digest. Call once.
    std::array<std::uint8_t, 32> digest();
    /// digest() as 64 lowercase hexadecimal digits.
    std::string hex_digest();

private:
    void block(const std::uint8_t* p);
    std::array<std::uint32_t, 8> h_;
    std::array<std::uint8_t, 64> buf_{};
    std::size_t buf_len_ = 0;
    std::uint64_t total_ = 0;
    bool done_ = false;
};

/// SHA-256 of `data` as 64 lowercase hexadecimal digits.
std::string sha256_hex(std::span<const std::byte> data);
std::string sha256_hex(std::string_view text);

}  // namespace tllm::util
