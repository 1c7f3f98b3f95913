// What the `vqa serve` tests share: the tiny engine model they serve (trained once per build of `vqa`), a
// real CLEVR image from the shared data, and `vqa serve` run as a child process on a free loopback port.
#pragma once
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "generated_images.h"
#include "test_support.h"

extern char** environ;

namespace vqa::testing {

// The real CLEVR images of the shared data (images/val), or "" when the shared data is absent.
inline std::string clevrRealImages() {
  const std::string shared = sharedDir();
  const std::string dir = shared + "/data/clevr-real/images/val";
  return !shared.empty() && std::filesystem::exists(dir + "/CLEVR_val_000000.png") ? dir : "";
}

// A tiny engine model with a scene parser (vqa train --scene vision on 8 generated images), trained once per
// build of `vqa` and shared by the cases of the suite, which may run at the same time (a file lock orders them).
inline std::string tinyServeModel() {
  namespace fs = std::filesystem;
  const std::string dir = std::string(VQA_BINARY_DIR) + "/tests-serve";
  fs::create_directories(dir);
  const std::string model = dir + "/engine.bin";
  const int lock = ::open((dir + "/lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) throw std::runtime_error(dir + "/lock: cannot lock");
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  const fs::path vqa = fs::path(VQA_BINARY_DIR) / "vqa";
  if (fs::exists(model) && fs::last_write_time(model) >= fs::last_write_time(vqa)) return model;
  fs::remove_all(dir + "/data");
  makeImages(dir + "/data", "train", 8, 5);
  const RunResult r = runVqa("train --scene vision --data " + dir + "/data --out " + model +
                             " --vision-steps 3 --programs 20 --warm-steps 5 --rounds 1 --round-steps 3 --samples 2"
                             " --model-size 16 --heads 2 --layers 1 --val-questions 5 --threads 1");
  if (r.rc != 0) throw std::runtime_error("training the tiny model failed: " + r.err);
  return model;
}

// `vqa serve ARGS --port 0` as a child process: waits for its first line ("serve: listening on URL"); its log
// (stderr) goes to a file. The destructor stops it with SIGTERM.
class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, const std::string& log_path) : log_path_(log_path) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_adddup2(&files, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> argv_text{std::string(VQA_BINARY_DIR) + "/vqa", "serve", "--port", "0"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, argv[0], &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    ::close(out[1]);
    out_ = out[0];
    if (spawned != 0) throw std::runtime_error("cannot start " + argv_text[0]);
    const std::string line = firstLine(std::chrono::seconds(120));
    const std::string prefix = "serve: listening on ";
    if (line.rfind(prefix, 0) != 0) {
      stop();
      throw std::runtime_error("vqa serve did not start: '" + line + "'; log: " + readText(log_path_));
    }
    url_ = line.substr(prefix.size());
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  const std::string& url() const { return url_; }
  std::string log() const { return readText(log_path_); }

  // Sends SIGTERM and waits: the exit status (-1 when it died of a signal or was not running).
  int stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (out_ >= 0) ::close(out_);
    out_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::string firstLine(std::chrono::seconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char c = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      if (::read(out_, &c, 1) != 1 || c == '\n') break;
      line += c;
    }
    return line;
  }

  std::string log_path_, url_;
  pid_t pid_ = -1;
  int out_ = -1, port_ = 0;
};

}  // namespace vqa::testing
