// Bench: `vqa serve` under load. Starts the server in this process on a free loopback port, uploads one image,
// then CLIENTS concurrent HTTP clients ask questions about it (POST /api/ask, explanation picture included
// unless --no-explanation) for DURATION seconds. Prints the settings, requests/s, p50/p99 latency, the count
// of errors (503s counted apart), the share of the time the (serialised) model calls held the model, and the
// process's resident memory at start, middle and end.
// Usage: bench_serve --model MODEL --image PNG [--clients 8] [--duration 60] [--workers 2] [--queue N]
//                    [--threads 1] [--no-explanation]
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hopfield/threads.h"
#include "serve/server.h"

namespace {

using Clock = std::chrono::steady_clock;

// Resident memory of this process in MiB (VmRSS from /proc/self/status), or -1.
double residentMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

double percentile(std::vector<double> sorted_ms, double p) {
  if (sorted_ms.empty()) return 0;
  const size_t k = std::min(sorted_ms.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted_ms.size())));
  return sorted_ms[k];
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vqa serve under load: requests/s, latency, errors and memory with concurrent clients"};
  vqa::serve::ServeOptions options;
  std::string image_path;
  int clients = 8, threads = 1, queue = -1;
  double duration = 60;
  bool no_explanation = false;
  app.add_option("--model", options.model, "engine model with a scene parser")->required();
  app.add_option("--image", image_path, "the image the questions are about (CLEVR framing)")->required();
  app.add_option("--clients", clients, "concurrent HTTP clients")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--duration", duration, "seconds of load")->check(CLI::Range(1.0, 86400.0))->capture_default_str();
  app.add_option("--workers", options.workers, "server workers")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--queue", queue, "server queue (default: as many as clients, so none is turned away)");
  app.add_option("--threads", threads, "torch intra-op threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_flag("--no-explanation", no_explanation, "ask without the explanation picture");
  CLI11_PARSE(app, argc, argv);
  options.port = 0;
  options.queue = queue < 0 ? clients : queue;
  vqa::hopfield::set_compute_threads(threads);

  const std::vector<std::string> questions{
      "How many cubes are there?",          "What color is the large sphere?",
      "Is there a red cylinder?",           "How many things are left of the cube?",
      "What material is the small sphere?", "Are there more spheres than cubes?",
      "What shape is the large metal thing?", "Is the cube the same color as the cylinder?"};
  const std::string image = readFile(image_path);
  if (image.empty()) {
    std::cerr << "bench_serve: " << image_path << ": cannot be read\n";
    return 1;
  }
  std::ostringstream server_log;
  vqa::serve::Server server(options, server_log);
  const int port = server.bind();
  std::thread serving([&] {
    try {
      server.run();
    } catch (const std::exception& e) {
      std::cerr << "bench_serve: " << e.what() << "\n";
    }
  });
  const double rss_start = residentMiB();

  httplib::Client setup("127.0.0.1", port);
  setup.set_read_timeout(120, 0);
  const auto uploaded = setup.Post("/api/images", image, "image/png");
  if (!uploaded || uploaded->status != 200) {
    std::cerr << "bench_serve: upload failed: " << (uploaded ? uploaded->body : httplib::to_string(uploaded.error())) << "\n";
    server.stop();
    serving.join();
    return 1;
  }
  const nlohmann::json image_info = nlohmann::json::parse(uploaded->body);
  const std::string image_id = image_info["id"];

  std::printf("bench_serve: model %s, image %s (%zu objects detected), %d clients, %.0f s, workers %d, queue %d, "
              "torch threads %d, explanation %s, hardware threads %u\n",
              options.model.c_str(), image_path.c_str(), image_info["objects"].size(), clients, duration,
              options.workers, options.queue, threads, no_explanation ? "off" : "on", std::thread::hardware_concurrency());
  std::fflush(stdout);

  // Seconds the model lock has been held so far, from the server's own health figures.
  auto modelBusySeconds = [&] {
    const auto r = setup.Get("/api/health");
    return r && r->status == 200 ? nlohmann::json::parse(r->body)["model_busy_seconds"].get<double>() : 0.0;
  };
  const double busy_before = modelBusySeconds();
  std::mutex merge;
  std::vector<double> latencies_ms;
  std::atomic<long> errors{0}, busy{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  std::vector<std::thread> workers;
  for (int k = 0; k < clients; ++k)
    workers.emplace_back([&, k] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(120, 0);
      std::vector<double> mine;
      for (size_t i = static_cast<size_t>(k); Clock::now() < end; ++i) {
        const nlohmann::json request = {{"image_id", image_id},
                                        {"question", questions[i % questions.size()]},
                                        {"explanation", !no_explanation}};
        const auto t = Clock::now();
        const auto r = c.Post("/api/ask", request.dump(), "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
        if (r && r->status == 200) mine.push_back(ms);
        else if (r && r->status == 503) ++busy;
        else ++errors;
      }
      std::lock_guard<std::mutex> lock(merge);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(duration / 2));
  const double rss_middle = residentMiB();
  for (auto& t : workers) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double rss_end = residentMiB();
  const double model_busy = modelBusySeconds() - busy_before;
  server.stop();
  serving.join();

  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("answered %zu questions in %.1f s: %.1f requests/s, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              latencies_ms.size(), seconds, static_cast<double>(latencies_ms.size()) / seconds,
              percentile(latencies_ms, 0.5), percentile(latencies_ms, 0.99),
              latencies_ms.empty() ? 0.0 : latencies_ms.back());
  std::printf("model calls (serialised) held the model %.1f%% of the time, %.1f ms per question\n",
              100.0 * model_busy / seconds, latencies_ms.empty() ? 0.0 : 1e3 * model_busy / static_cast<double>(latencies_ms.size()));
  std::printf("errors %ld, busy (503) %ld\n", errors.load(), busy.load());
  std::printf("resident memory: start %.0f MiB, middle %.0f MiB, end %.0f MiB\n", rss_start, rss_middle, rss_end);
  if (!server_log.str().empty()) std::printf("server log:\n%s", server_log.str().c_str());
  return errors.load() == 0 ? 0 : 1;
}
