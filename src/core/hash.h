// FNV-1a, the 64-bit hash used for model-file checksums and for seeds that must depend only on a text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace vqa {

constexpr uint64_t kFnv1aOffset = 1469598103934665603ull;

inline uint64_t fnv1a(const char* data, size_t n, uint64_t h = kFnv1aOffset) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

inline uint64_t fnv1a(const std::string& text) { return fnv1a(text.data(), text.size()); }

}  // namespace vqa
