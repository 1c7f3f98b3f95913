// `vqa serve`: a page and a JSON API over one engine model: upload (or pick) an image, ask questions about it,
// see the answer, its probability, the program step by step and the explanation picture. Stops cleanly on
// SIGINT / SIGTERM.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli/command.h"
#include "hopfield/threads.h"
#include "serve/server.h"

namespace {

struct ServeArgs {
  vqa::serve::ServeOptions server;
  int threads = 1;
  double max_upload_mb = 10;
};

// The write end of the pipe that turns SIGINT / SIGTERM into a byte a thread can wait for.
int stop_pipe_write = -1;

extern "C" void onStopSignal(int signal_number) {
  const char byte = static_cast<char>(signal_number);
  [[maybe_unused]] const ssize_t n = write(stop_pipe_write, &byte, 1);  // async-signal-safe
}

// Runs the server until SIGINT or SIGTERM. The handler only writes the signal to a pipe (whichever thread
// it lands on); one thread reads it and stops the server like any other caller.
void serveUntilSignalled(const vqa::serve::ServeOptions& options) {
  vqa::serve::Server server(options, std::cerr);
  const int port = server.bind();

  int stop_pipe[2];
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) throw std::runtime_error("cannot create the signal pipe");
  stop_pipe_write = stop_pipe[1];
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that goes away mid-answer is the server's business, not a crash

  std::printf("serve: listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stdout);
  std::atomic<bool> finished{false};
  std::thread stopper([&] {
    char byte = 0;
    while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (finished) return;
    std::cerr << "serve: " << (byte == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping" << std::endl;
    server.stop();
  });
  std::exception_ptr failure;
  try {
    server.run();
  } catch (...) {
    failure = std::current_exception();
  }
  finished = true;
  onStopSignal(0);  // wakes the stopper when the server stopped by itself
  stopper.join();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  close(stop_pipe[0]);
  close(stop_pipe[1]);
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

static vqa::cli::Registrar reg(
    "serve", "Serve a page and a JSON API to ask questions about images (POST /api/images, POST /api/ask)",
    [](CLI::App& app) {
      auto a = std::make_shared<ServeArgs>();
      vqa::serve::ServeOptions& o = a->server;
      app.add_option("--model", o.model, "engine model with a scene parser (vqa train --scene vision)")
          ->required()->type_name("MODEL");
      app.add_option("--host", o.host, "address to listen on")->capture_default_str();
      app.add_option("--port", o.port, "port (0: any free one; the first line of output names it)")
          ->check(CLI::Range(0, 65535))->capture_default_str();
      app.add_option("--workers", o.workers, "requests (uploads, questions) answered at once")
          ->check(CLI::Range(1, 64))->capture_default_str();
      app.add_option("--queue", o.queue, "requests waiting for a worker beyond those; more are answered 503 (default 2 x workers)")
          ->check(CLI::Range(0, 1024));
      app.add_option("--samples", o.samples, "folder of sample images (PNG/JPEG) the page offers")->type_name("DIR");
      app.add_option("--threads", a->threads, "torch intra-op threads of the model calls")
          ->check(CLI::Range(1, 256))->capture_default_str();
      app.add_option("--max-upload-mb", a->max_upload_mb, "largest image upload, in MiB")
          ->check(CLI::Range(0.001, 1024.0))->capture_default_str();
      app.add_option("--cache-images", o.cache_images, "parsed images kept by id (least recently used forgotten first)")
          ->check(CLI::Range(1, 100000))->capture_default_str();
      app.add_option("--retry-samples", o.retry_samples,
                     "sampled programs tried where the greedy one cannot run on the detected scene (default: as ask)")
          ->check(CLI::Range(0, 1024));
      app.callback([a] {
        a->server.max_upload_bytes = static_cast<size_t>(a->max_upload_mb * (1 << 20));
        vqa::hopfield::set_compute_threads(a->threads);
        serveUntilSignalled(a->server);
      });
    });
