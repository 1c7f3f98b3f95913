// Helpers shared by the test suites: the shared data folder (VQA_SHARED_DIR) and scratch files.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace vqa::testing {

// The shared data folder, or "" when it is absent.
inline std::string sharedDir() {
  const char* env = std::getenv("VQA_SHARED_DIR");
  const std::string dir = env && *env ? env : VQA_DEFAULT_SHARED_DIR;
  return std::filesystem::exists(dir + "/data") ? dir : "";
}

// A fresh scratch folder per test.
inline std::string scratchDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("vqa-test-" + std::string(info->test_suite_name()) + "-" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace vqa::testing

// Skips (saying why) when the shared data folder is absent; binds its path to `var`.
#define VQA_REQUIRE_SHARED(var)                                                                    \
  const std::string var = ::vqa::testing::sharedDir();                                             \
  if (var.empty())                                                                                 \
    GTEST_SKIP() << "shared data not found (set VQA_SHARED_DIR; default " VQA_DEFAULT_SHARED_DIR ")";
