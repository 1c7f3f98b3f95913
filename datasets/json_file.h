// Reading JSON files with one-line errors (missing, empty, truncated) and writing files atomically.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace vqa {

// Throws InputError("PATH: problem") when the file is missing, empty or not valid JSON.
nlohmann::json readJsonFile(const std::string& path);

// Writes to PATH.tmp.<pid> then renames over PATH, so readers never see a half-written file.
// Creates missing parent folders.
void writeFileAtomic(const std::string& path, const std::string& contents);
void writeJsonFileAtomic(const std::string& path, const nlohmann::json& value, int indent = -1);

}  // namespace vqa
