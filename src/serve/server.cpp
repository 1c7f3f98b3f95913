// The server behind `vqa serve`: routes, request admission, the parsed-image cache and the model calls.
#include "serve/server.h"

#include <ATen/core/grad_mode.h>
#include <httplib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/hash.h"
#include "model/ask_answer.h"
#include "model/engine_model.h"
#include "model/explain.h"
#include "model/pixel_answering.h"
#include "serve/lru_cache.h"
#include "serve/request_gate.h"
#include "serve/web_assets.h"
#include "vision/image_io.h"

namespace vqa::serve {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A request that cannot be answered: its HTTP status and one line saying why.
struct HttpError : std::runtime_error {
  HttpError(int status_code, const std::string& message) : std::runtime_error(message), status(status_code) {}
  int status;
};

// An uploaded image, decoded and parsed once, kept by id.
struct CachedImage {
  std::string id;
  std::string bytes;  // the upload as sent: an id is reused only for the very same bytes
  cv::Mat bgr;
  model::ParsedImage parsed;
  nlohmann::json objects;
};

struct Upload {
  std::string bytes, name;
};

std::string contentType(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  return "application/octet-stream";
}

// The image formats the scene parser reads from a sample folder.
bool isImageName(const std::string& name) {
  const std::string type = contentType(name);
  return type == "image/png" || type == "image/jpeg";
}

// A file name fit for a URL and a folder listing: letters, digits, '.', '_' and '-', not starting with '.'.
bool isPlainFileName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

std::string escapeRegex(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::strchr(".^$|()[]{}*+?\\", c)) out += '\\';
    out += c;
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += digits[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | (two ? static_cast<uint8_t>(bytes[i + 1]) << 8 : 0);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += two ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void sendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  // Questions and file names may hold invalid UTF-8: replaced, never an exception while answering.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void sendError(httplib::Response& res, int status, const std::string& message) {
  if (status == 503) res.set_header("Retry-After", "1");
  sendJson(res, status, {{"error", message}});
}

// Decodes an upload and checks it with the very code that reads image files (vision::readSceneImage: format,
// size, CLEVR's 3:2 framing, bit depth), through an in-memory file, so uploads and files meet one standard.
cv::Mat decodeSceneImage(const std::string& bytes) {
  const int fd = memfd_create("vqa-upload", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("cannot hold the upload in memory: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  for (size_t written = 0; written < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("cannot hold the upload in memory: ") + std::strerror(errno));
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    return vision::readSceneImage(path);
  } catch (const std::exception& e) {
    std::string problem = e.what();
    if (problem.rfind(path + ": ", 0) == 0) problem.erase(0, path.size() + 2);
    throw HttpError(400, "the upload is not a usable image: " + problem);
  }
}

// The image of a request: the form field "image" (or the form's first file), else the whole body.
Upload uploadedImage(const httplib::Request& req, size_t max_bytes) {
  Upload upload;
  if (req.is_multipart_form_data()) {
    const httplib::MultipartFormData* file = nullptr;
    for (const auto& [field, part] : req.files)
      if (field == "image" || (!file && !part.filename.empty())) file = &part;
    if (!file) throw HttpError(400, "the form holds no image (send it as the file field 'image')");
    upload.bytes = file->content;
    upload.name = file->filename;
  } else {
    upload.bytes = req.body;
  }
  if (upload.bytes.empty()) throw HttpError(400, "the request holds no image");
  if (upload.bytes.size() > max_bytes)
    throw HttpError(413, "the image has " + std::to_string(upload.bytes.size()) + " bytes, more than the " +
                             std::to_string(max_bytes) + " allowed (--max-upload-mb)");
  return upload;
}

// Regular image files with plain names in `dir`, sorted ("" : none).
std::vector<std::string> sampleNames(const std::string& dir) {
  std::vector<std::string> names;
  if (dir.empty()) return names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && isPlainFileName(name) && isImageName(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error(path + ": cannot be read");
  return text.str();
}

}  // namespace

struct Server::State {
  State(ServeOptions o, std::ostream& log_stream)
      : options(std::move(o)),
        log(log_stream),
        gate(options.workers, options.queue < 0 ? 2 * options.workers : options.queue,
             std::chrono::seconds(options.max_wait_seconds)),
        images(options.cache_images),
        id_key(std::random_device{}() | static_cast<uint64_t>(std::random_device{}()) << 32) {}

  ServeOptions options;
  std::ostream& log;
  std::mutex log_mutex;
  std::unique_ptr<model::EngineModel> model;
  nlohmann::json model_info;
  // The engine model answers one call at a time: its Hopfield layers store the last association they computed
  // in the module (hopfield.cpp: last_association_), so two forwards at once would race on that tensor.
  // Reading and decoding the upload, drawing and PNG-encoding the explanation and sending the answer run
  // outside this lock, concurrently up to --workers. Measured with bench_serve (a trained engine, a 480x320
  // CLEVR image, 8 clients, 2 cores shared with other work): with the explanation picture the lock was held
  // 38-78% of the time, so drawing and encoding run beside the model; without it 98%, the model alone bounds
  // the throughput (about 11-14 ms a question on a quiet core).
  std::mutex model_mutex;
  RequestGate gate;
  LruCache<CachedImage> images;
  const uint64_t id_key;  // a per-process key mixed into image ids; an id is reused only for identical bytes
  httplib::Server http;
  Clock::time_point started = Clock::now();
  std::atomic<long> images_uploaded{0}, images_parsed{0}, objects_detected{0}, questions_answered{0},
      requests_rejected{0}, requests_failed{0};
  std::atomic<int64_t> model_busy_us{0};  // time the model lock was held
  std::atomic<bool> stopping{false}, run_entered{false}, run_finished{false};

  void logLine(const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    log << "serve: " << line << std::endl;
  }

  // Runs a model call under the model lock, without gradients, adding its time to model_busy.
  template <class Call>
  auto callModel(Call&& call) {
    std::lock_guard<std::mutex> lock(model_mutex);
    at::NoGradGuard no_grad;
    const auto start = Clock::now();
    auto result = call();
    model_busy_us += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    return result;
  }

  RequestGate::Pass admit() {
    std::optional<RequestGate::Pass> pass = gate.enter();
    if (!pass) {
      ++requests_rejected;
      throw HttpError(503, "the server is busy (" + std::to_string(gate.workers()) + " requests answered at once, " +
                               std::to_string(gate.queue()) + " waiting at most); try again shortly");
    }
    return std::move(*pass);
  }

  // The upload parsed, from the cache when the same bytes were parsed before.
  std::shared_ptr<const CachedImage> parsedImage(const Upload& upload) {
    ++images_uploaded;
    char id[17];
    std::snprintf(id, sizeof id, "%016llx",
                  static_cast<unsigned long long>(fnv1a(upload.bytes.data(), upload.bytes.size(), id_key)));
    if (auto hit = images.find(id); hit && hit->bytes == upload.bytes) return hit;
    auto entry = std::make_shared<CachedImage>();
    entry->id = id;
    entry->bytes = upload.bytes;
    entry->bgr = decodeSceneImage(upload.bytes);
    entry->parsed = callModel([&] { return std::move(model::parseImages(*model, {entry->bgr}, 1).front()); });
    ++images_parsed;
    objects_detected += static_cast<long>(entry->parsed.objects.size());
    entry->objects = model::objectsJson(entry->parsed);
    images.insert(entry->id, entry);
    return entry;
  }

  nlohmann::json imageJson(const CachedImage& image) const {
    return {{"id", image.id}, {"width", image.parsed.width}, {"height", image.parsed.height}, {"objects", image.objects}};
  }

  void handleUpload(const httplib::Request& req, httplib::Response& res) {
    const RequestGate::Pass pass = admit();
    sendJson(res, 200, imageJson(*parsedImage(uploadedImage(req, options.max_upload_bytes))));
  }

  void handleAsk(const httplib::Request& req, httplib::Response& res) {
    const RequestGate::Pass pass = admit();
    std::string question, image_id;
    bool explain = true;
    std::shared_ptr<const CachedImage> image;
    if (req.is_multipart_form_data()) {
      if (req.has_file("question")) question = req.get_file_value("question").content;
      if (req.has_file("explanation")) explain = req.get_file_value("explanation").content != "false";
    } else {
      const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
      if (body.is_discarded()) throw HttpError(400, "the request body is not valid JSON");
      if (!body.is_object()) throw HttpError(400, "the request body must be a JSON object {\"image_id\": ..., \"question\": ...}");
      if (!body.contains("question") || !body["question"].is_string()) throw HttpError(400, "\"question\" must be a string");
      if (!body.contains("image_id") || !body["image_id"].is_string()) throw HttpError(400, "\"image_id\" must be a string");
      if (body.contains("explanation") && !body["explanation"].is_boolean())
        throw HttpError(400, "\"explanation\" must be true or false");
      question = body["question"].get<std::string>();
      image_id = body["image_id"].get<std::string>();
      explain = body.value("explanation", true);
    }
    if (const std::string problem = model::questionProblem(question); !problem.empty()) throw HttpError(400, problem);
    if (req.is_multipart_form_data()) {
      image = parsedImage(uploadedImage(req, options.max_upload_bytes));
    } else if (!(image = images.find(image_id))) {
      throw HttpError(404, "unknown image id " + quotedValue(image_id) + " (upload the image first: POST /api/images)");
    }

    const int retry_samples = options.retry_samples < 0 ? model::kDefaultRetrySamples : options.retry_samples;
    const model::PixelAnswer answer = callModel(
        [&] { return std::move(model::answerOnImages(*model, {question}, {&image->parsed}, 1, retry_samples).front()); });
    ++questions_answered;
    nlohmann::json j = model::answerJson(question, image->parsed, answer);
    j["image_id"] = image->id;
    if (explain)
      j["explanation_png"] = "data:image/png;base64," +
                             base64(model::encodePng(model::drawExplanation(image->bgr, image->parsed, question, answer)));
    sendJson(res, 200, j);
  }

  void handleSamples(const httplib::Request&, httplib::Response& res) {
    nlohmann::json list = nlohmann::json::array();
    for (const std::string& name : sampleNames(options.samples))
      list.push_back({{"name", name}, {"url", "/api/samples/" + name}});
    sendJson(res, 200, {{"samples", list}});
  }

  void handleSample(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const std::vector<std::string> names = sampleNames(options.samples);
    // Only names listed from the folder itself are served: no path reaches outside it.
    if (!isPlainFileName(name) || std::find(names.begin(), names.end(), name) == names.end())
      throw HttpError(404, "no sample image named " + quotedValue(name));
    res.set_header("Cache-Control", "max-age=3600");
    res.set_content(readFile((fs::path(options.samples) / name).string()), contentType(name));
  }

  // Fills in an error response httplib made itself (no route, body too large, malformed request) and logs
  // every request answered with an error, one line each.
  void handleError(const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      if (res.status == 413)
        sendError(res, 413, "the request is larger than the " + std::to_string(options.max_upload_bytes >> 20) +
                                " MB upload limit (--max-upload-mb)");
      else if (res.status == 404)
        sendError(res, 404, "no such page: " + quotedValue(req.path, 200));
      else
        sendError(res, res.status, "the request could not be answered (HTTP " + std::to_string(res.status) + ")");
    }
    ++requests_failed;
    const nlohmann::json body = nlohmann::json::parse(res.body, nullptr, false);
    const std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                                    ? body["error"].get<std::string>()
                                    : std::string("(no message)");
    logLine(std::to_string(res.status) + " " + excerpt(req.method, 16) + " " + excerpt(req.path, 200) + ": " +
            excerpt(message, 300));
  }

  // A route's handler: every failure becomes a JSON error response, never an exception out of the handler.
  httplib::Server::Handler guarded(void (State::*handler)(const httplib::Request&, httplib::Response&)) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        (this->*handler)(req, res);
      } catch (const HttpError& e) {
        sendError(res, e.status, e.what());
      } catch (const std::exception& e) {
        sendError(res, 500, std::string("internal error: ") + excerpt(e.what(), 300));
      } catch (...) {
        sendError(res, 500, "internal error");
      }
    };
  }

  void addRoutes() {
    http.Get("/api/health", [this](const httplib::Request&, httplib::Response& res) { sendJson(res, 200, health()); });
    http.Post("/api/images", guarded(&State::handleUpload));
    http.Post("/api/ask", guarded(&State::handleAsk));
    http.Get("/api/samples", guarded(&State::handleSamples));
    http.Get("/api/samples/(.*)", guarded(&State::handleSample));
    for (const WebAsset& asset : webAssets()) {
      const std::string path(asset.path), type = contentType(path);
      const std::string body(asset.body);
      auto serve = [body, type](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-cache");
        res.set_content(body, type);
      };
      http.Get(escapeRegex(path), serve);
      if (path == "/index.html") http.Get("/", serve);
    }
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { handleError(req, res); });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      sendError(res, 500, "internal error");
    });
  }

  nlohmann::json health() const {
    return {{"status", "ok"},
            {"model", model_info},
            {"images_uploaded", images_uploaded.load()},
            {"images_parsed", images_parsed.load()},
            {"images_cached", images.size()},
            {"objects_detected", objects_detected.load()},
            {"questions_answered", questions_answered.load()},
            {"requests_rejected", requests_rejected.load()},
            {"requests_failed", requests_failed.load()},
            {"model_busy_seconds", static_cast<double>(model_busy_us.load()) * 1e-6},
            {"answering", gate.active()},
            {"waiting", gate.waiting()},
            {"workers", gate.workers()},
            {"queue", gate.queue()},
            {"samples", sampleNames(options.samples).size()},
            {"uptime_seconds", std::chrono::duration<double>(Clock::now() - started).count()}};
  }
};

Server::Server(ServeOptions options, std::ostream& log) {
  if (options.workers < 1) throw std::runtime_error("--workers must be at least 1");
  std::error_code ec;
  if (!options.samples.empty() && !fs::is_directory(options.samples, ec))
    throw std::runtime_error("--samples " + options.samples + ": not a folder");
  state_ = std::make_unique<State>(std::move(options), log);
  State& s = *state_;
  model::LoadedEngineModel loaded = model::loadEngineModel(s.options.model);  // its tensors are dropped below
  model::requireSceneParser(*loaded.model, s.options.model);
  s.model = std::move(loaded.model);
  s.model_info = {{"path", s.options.model},
                  {"kind", loaded.file.header.value("kind", "")},
                  {"format_version", loaded.file.header.value("format_version", 0)},
                  {"scene", s.model->options.scene}};
  // Enough connection threads for every admitted and waiting request plus the cheap ones (page, health,
  // samples) and idle keep-alive connections; the gate, not the thread pool, decides who waits.
  const size_t threads = static_cast<size_t>(s.gate.workers() + s.gate.queue() + 8);
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // The body may exceed the image limit by a form's framing; the image itself is checked exactly.
  s.http.set_payload_max_length(s.options.max_upload_bytes + (64u << 10));
  s.http.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"Content-Security-Policy",
                               "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'"}});
  s.addRoutes();
}

Server::~Server() = default;

int Server::bind() {
  State& s = *state_;
  int port = s.options.port;
  if (port == 0) port = s.http.bind_to_any_port(s.options.host);
  else if (!s.http.bind_to_port(s.options.host, port)) port = -1;
  if (port < 0)
    throw std::runtime_error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                             " (address in use or not available)");
  return port;
}

void Server::run() {
  State& s = *state_;
  s.run_entered = true;
  const bool listened = s.stopping || s.http.listen_after_bind();
  s.run_finished = true;
  if (!listened) throw std::runtime_error("stopped listening on " + s.options.host + ": accepting a connection failed");
  s.logLine("stopped after " + std::to_string(s.questions_answered.load()) + " questions about " +
            std::to_string(s.images_parsed.load()) + " images");
}

void Server::stop() {
  State& s = *state_;
  s.stopping = true;
  // run() may be between its check and listening: wait until it listens (or has given up), then stop it.
  if (s.run_entered)
    while (!s.http.is_running() && !s.run_finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.http.stop();
}

nlohmann::json Server::health() const { return state_->health(); }

}  // namespace vqa::serve
