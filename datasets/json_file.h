// Reading JSON files with one-line errors (missing, a folder, empty, truncated, out-of-range numbers) and
// writing files atomically, one at a time or as a set that is written all or none.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vqa {

// Deepest nesting of lists and objects a file may have (real CLEVR and GQA files stay under 10).
constexpr int kMaxJsonDepth = 512;

// Throws InputError("PATH: problem") when the file is missing, a folder, empty, nested deeper than
// kMaxJsonDepth or not valid JSON; syntax errors and numbers too large for a double name line, column and byte.
nlohmann::json readJsonFile(const std::string& path);

// Reads a file whose top level is an object one member at a time, handing each (key, value) to `visit` as soon
// as it is complete, so memory holds one member, never the whole document (GQA's 1.4 GB question files).
// The same one-line errors as readJsonFile; a top level that is not an object is "PATH: not_object_problem".
// Exceptions thrown by `visit` pass through unchanged.
void streamJsonObject(const std::string& path, const std::string& not_object_problem,
                      const std::function<void(std::string key, nlohmann::json value)>& visit);

// Writes to PATH.tmp.<pid> then renames over PATH, so readers never see a half-written file.
// Creates missing parent folders. Throws InputError("PATH: problem").
void writeFileAtomic(const std::string& path, const std::string& contents);
void writeJsonFileAtomic(const std::string& path, const nlohmann::json& value, int indent = -1);

// A command's output files, written all or none: commit() writes every file to a temporary beside its
// target, and only when all are written renames them into place. When anything fails, no output is left
// and the error names the option ("--json PATH: cannot write file (Permission denied)").
class OutputFiles {
 public:
  void add(const std::string& option, const std::string& path, std::string contents);
  void addJson(const std::string& option, const std::string& path, const nlohmann::json& value, int indent = 2);
  void commit();

 private:
  struct Output {
    std::string option, path, contents;
  };
  std::vector<Output> outputs_;
};

}  // namespace vqa
