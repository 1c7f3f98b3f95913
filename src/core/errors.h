// The one error type for bad input: a message that names the file, the record and the problem.
#pragma once
#include <stdexcept>
#include <string>

namespace vqa {

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
