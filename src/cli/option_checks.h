// Checks shared by the subcommands' options, run before any work starts: output paths that can be
// written, plain names. Each throws std::runtime_error with one line naming the option.
#pragma once
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace vqa::cli {

// Help of --mirror-average, the same for every command that reads images with a scene parser.
inline constexpr const char* kMirrorAverageHelp =
    "also read each object's attributes from the mirrored image and average (twice the parsing)";

// An output file option (--json, --out, --predictions): a non-empty path that is not a folder and whose
// parent folder exists or can be created. Parent folders are created here so a later write cannot fail on them.
inline void checkOutputFile(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw std::runtime_error(option + ": the path is empty");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw std::runtime_error(option + " " + path + ": is a folder, not a file");
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  if (fs::exists(parent, ec) && !fs::is_directory(parent, ec))
    throw std::runtime_error(option + " " + path + ": " + parent.string() + " is not a folder");
  fs::create_directories(parent, ec);
  if (ec) throw std::runtime_error(option + " " + path + ": cannot create folder " + parent.string() + " (" + ec.message() + ")");
}

// A name used inside file names (a split such as "train"): letters, digits, '_' and '-', not empty.
inline void checkPlainName(const std::string& option, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!ok) throw std::runtime_error(option + ": '" + name.substr(0, 64) + "' is not a plain name (letters, digits, _ and -)");
}

}  // namespace vqa::cli
