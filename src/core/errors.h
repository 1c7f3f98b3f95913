// The one error type for bad input: a message that names the file, the record and the problem.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>

namespace vqa {

// A value from an input file made fit for a one-line message: control characters escaped and anything
// past `limit` characters cut off with "...". Every message that echoes input text goes through this.
inline std::string excerpt(const std::string& value, size_t limit = 60) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (out.size() >= limit && (c & 0xC0) != 0x80) return out + "...";  // never cuts a UTF-8 character
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "\\x%02x", c);
      out += code;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// excerpt() in single quotes: "'red'".
inline std::string quotedValue(const std::string& value, size_t limit = 60) { return "'" + excerpt(value, limit) + "'"; }

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  // "FILE: RECORD: PROBLEM" (empty parts are left out).
  InputError(const std::string& file, const std::string& record, const std::string& problem)
      : std::runtime_error(join(file, record, problem)) {}

  // Prefixes a lower-level message with the file and record it came from.
  static InputError in(const std::string& file, const std::string& record, const std::exception& e) {
    return InputError(file, record, e.what());
  }

 private:
  static std::string join(const std::string& file, const std::string& record, const std::string& problem) {
    std::string out;
    for (const std::string* part : {&file, &record, &problem}) {
      if (part->empty()) continue;
      if (!out.empty()) out += ": ";
      out += *part;
    }
    return out;
  }
};

}  // namespace vqa
