// The server behind `vqa serve`: one engine model loaded once, a JSON API (health, image upload parsed once
// and cached, questions about an uploaded image with the explanation picture, sample images from a folder)
// and the page in web/serve, over HTTP on one address.
#pragma once
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace vqa::serve {

struct ServeOptions {
  std::string model;               // engine model with a scene parser (vqa train --scene vision)
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (bind() says which)
  int workers = 2;                 // requests answered at once
  int queue = -1;                  // requests waiting for a worker beyond that (-1: 2 * workers); more get 503
  int max_wait_seconds = 60;       // a waiting request gives up (503) after this long
  std::string samples;             // folder of sample images offered by the page ("" : none)
  size_t max_upload_bytes = 10u << 20;
  size_t cache_images = 32;        // parsed images kept by id (least recently used forgotten first)
  int retry_samples = -1;          // sampled programs tried where the greedy one cannot run (-1: ask's default)
};

class Server {
 public:
  // Loads the model (throws std::runtime_error "PATH: problem" for a bad model or one without a scene parser)
  // and checks the samples folder. Log lines (start, stop, every request answered with an error) go to `log`.
  Server(ServeOptions options, std::ostream& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; returns the port (the chosen one for port 0). Throws when the address cannot be bound.
  int bind();
  // Serves until stop(); returns once the requests in progress are answered. Throws when listening fails.
  void run();
  // Stops run(); safe from any thread, before or while run() serves.
  void stop();

  // What GET /api/health answers: the model, counters and the settings.
  nlohmann::json health() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vqa::serve
