// Helpers shared by the test suites: the shared data folder (VQA_SHARED_DIR) and scratch files.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vqa::testing {

// The folder VQA_SHARED_DIR names when it is set and exists (then every test that needs the data must run).
inline std::string namedSharedDir() {
  const char* env = std::getenv("VQA_SHARED_DIR");
  return env && *env && std::filesystem::is_directory(env) ? env : "";
}

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

inline std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One run of the built `vqa` command: exit status (-1 when it died of a signal), stdout and stderr.
struct RunResult {
  int rc = -1;
  std::string out, err;
};

// Runs `vqa ARGS` (a shell-quoted argument string) from this build tree, capturing its output in a folder of
// its own (the test's scratch folder is left alone).
inline RunResult runVqa(const std::string& args) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("vqa-run-" + std::string(info->test_suite_name()) + "-" + info->name())).string();
  std::filesystem::create_directories(dir);
  const std::string cmd = std::string(VQA_BINARY_DIR) + "/vqa " + args + " >" + dir + "/out.txt 2>" + dir + "/err.txt";
  RunResult r;
  const int status = std::system(cmd.c_str());
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = readText(dir + "/out.txt");
  r.err = readText(dir + "/err.txt");
  return r;
}

// The text after "vqa: error: " when the command printed exactly one such line on stderr (progress lines
// aside), else a description of what it printed instead.
inline std::string errorLine(const RunResult& r) {
  std::istringstream lines(r.err);
  std::string line, found;
  int count = 0;
  while (std::getline(lines, line))
    if (line.rfind("vqa: error: ", 0) == 0) {
      found = line.substr(12);
      ++count;
    }
  return count == 1 ? found : "expected exactly one error line, got: " + r.err;
}

}  // namespace vqa::testing

// Binds the shared data folder's path to `var`. Skips (saying why) when no shared data folder exists; fails
// when VQA_SHARED_DIR names an existing folder without the data, so a set-up that has the data never skips.
#define VQA_REQUIRE_SHARED(var)                                                                         \
  const std::string var = ::vqa::testing::sharedDir();                                                  \
  if (var.empty() && !::vqa::testing::namedSharedDir().empty())                                         \
    FAIL() << "VQA_SHARED_DIR=" << ::vqa::testing::namedSharedDir() << " exists but has no data/ folder"; \
  if (var.empty())                                                                                      \
    GTEST_SKIP() << "shared data not found (set VQA_SHARED_DIR; default " VQA_DEFAULT_SHARED_DIR ")";
