// Tests of `vqa serve`'s JSON API with the server as a child process: health, a real CLEVR image uploaded and
// parsed once, questions about it by id, every kind of bad input answered with a 4xx JSON error and one log
// line while the server keeps serving, 503 when the queue is full, samples without path traversal, the page,
// and a clean stop on SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>

#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve_fixture.h"
#include "test_support.h"

namespace vqa::testing {
namespace {

using nlohmann::json;

#define VQA_REQUIRE_CLEVR_REAL(var)                                                 \
  VQA_REQUIRE_SHARED(shared_dir_);                                                  \
  const std::string var = clevrRealImages();                                        \
  if (var.empty()) GTEST_SKIP() << "shared data not found: no data/clevr-real/images/val in " << shared_dir_;

httplib::Client client(const ServeProcess& server) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(120, 0);
  c.set_write_timeout(60, 0);
  return c;
}

json body(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

json health(httplib::Client& c) {
  auto r = c.Get("/api/health");
  EXPECT_TRUE(r && r->status == 200);
  return body(r);
}

// Lines of the server log that report a request answered with an error.
int errorLines(const ServeProcess& server) {
  std::istringstream lines(server.log());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) n += line.rfind("serve: 4", 0) == 0 || line.rfind("serve: 5", 0) == 0;
  return n;
}

TEST(ServeApi, AnswersQuestionsAboutAnUploadedImageAndRejectsBadInput) {
  VQA_REQUIRE_CLEVR_REAL(samples);
  const std::string dir = scratchDir();
  const std::string image_path = samples + "/CLEVR_val_000000.png";
  const std::string image = readText(image_path);
  ServeProcess server({"--model", tinyServeModel(), "--samples", samples, "--max-upload-mb", "1", "--threads", "1"},
                      dir + "/serve.log");
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()));
  httplib::Client c = client(server);

  json h = health(c);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["model"]["kind"], "vqa-model");
  EXPECT_EQ(h["model"]["scene"], "vision");
  EXPECT_EQ(h["images_parsed"], 0);
  EXPECT_EQ(h["workers"], 2);
  EXPECT_EQ(h["queue"], 4);

  // Upload (multipart, as the page sends it): parsed once, cached by id.
  auto r = c.Post("/api/images", httplib::MultipartFormDataItems{{"image", image, "CLEVR_val_000000.png", "image/png"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json uploaded = body(r);
  const std::string id = uploaded["id"];
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(uploaded["width"], 480);
  EXPECT_EQ(uploaded["height"], 320);
  ASSERT_TRUE(uploaded["objects"].is_array());

  // Two questions about the same id: the ask --json object plus the explanation, no second parse.
  int asked = 0;
  for (const char* question : {"How many cubes are there?", "What color is the large sphere?"}) {
    r = c.Post("/api/ask", json{{"image_id", id}, {"question", question}}.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ++asked;
    const json a = body(r);
    for (const char* key : {"question", "answer", "probability", "program", "steps", "objects", "symbolic_answer"})
      EXPECT_TRUE(a.contains(key)) << key;
    EXPECT_EQ(a["question"], question);
    EXPECT_EQ(a["image_id"], id);
    EXPECT_EQ(a["objects"], uploaded["objects"]);
    EXPECT_EQ(a["steps"].size(), a["program"].size());
    for (const auto& step : a["steps"]) EXPECT_EQ(step["attention"].size(), a["objects"].size());
    const std::string png = a["explanation_png"];
    EXPECT_EQ(png.rfind("data:image/png;base64,", 0), 0u);
    EXPECT_GT(png.size(), 1000u);
    h = health(c);
    EXPECT_EQ(h["images_parsed"], 1);
    EXPECT_EQ(h["questions_answered"], asked);
  }
  // The same bytes as a raw body, and a form with image and question together: the cached parse again.
  r = c.Post("/api/images", image, "image/png");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(body(r)["id"], id);
  r = c.Post("/api/ask", httplib::MultipartFormDataItems{{"image", image, "scene.png", "image/png"},
                                                          {"question", "Is there a cylinder?", "", ""},
                                                          {"explanation", "false", "", ""}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
  EXPECT_EQ(body(r)["image_id"], id);
  EXPECT_FALSE(body(r).contains("explanation_png"));
  h = health(c);
  EXPECT_EQ(h["images_parsed"], 1);
  EXPECT_EQ(h["images_uploaded"], 3);
  EXPECT_EQ(h["questions_answered"], 3);

  // Bad input: the right 4xx with a JSON error, one log line each, and the server still healthy.
  std::vector<unsigned char> square;
  cv::imencode(".png", cv::Mat(100, 100, CV_8UC3, cv::Scalar(90, 90, 90)), square);
  const std::string too_big(2u << 20, 'x');
  struct Bad {
    std::string what;
    std::function<httplib::Result()> send;
    int status;
    std::string error;
  };
  const std::vector<Bad> bad{
      {"text as an image", [&] { return c.Post("/api/images", "this is not an image", "image/png"); }, 400,
       "the upload is not a usable image: not a readable image"},
      {"a square image", [&] { return c.Post("/api/images", std::string(square.begin(), square.end()), "image/png"); },
       400, "3:2"},
      {"an empty upload", [&] { return c.Post("/api/images", "", "image/png"); }, 400, "holds no image"},
      {"a form without a file",
       [&] { return c.Post("/api/images", httplib::MultipartFormDataItems{{"note", "hello", "", ""}}); }, 400,
       "the form holds no image"},
      {"an upload over the limit", [&] { return c.Post("/api/images", too_big, "image/png"); }, 413, "1 MB upload limit"},
      {"an empty question",
       [&] { return c.Post("/api/ask", json{{"image_id", id}, {"question", "  "}}.dump(), "application/json"); }, 400,
       "the question is empty"},
      {"a 10000-character question",
       [&] {
         return c.Post("/api/ask", json{{"image_id", id}, {"question", std::string(10000, 'a')}}.dump(), "application/json");
       },
       400, "the question has 10000 characters, more than the 1000 allowed"},
      {"malformed JSON", [&] { return c.Post("/api/ask", "{\"image_id\": ", "application/json"); }, 400, "not valid JSON"},
      {"a JSON list", [&] { return c.Post("/api/ask", "[1, 2]", "application/json"); }, 400, "must be a JSON object"},
      {"a question that is a number",
       [&] { return c.Post("/api/ask", json{{"image_id", id}, {"question", 7}}.dump(), "application/json"); }, 400,
       "\"question\" must be a string"},
      {"an unknown image id",
       [&] {
         return c.Post("/api/ask", json{{"image_id", "0123456789abcdef"}, {"question", "Is there a cube?"}}.dump(),
                       "application/json");
       },
       404, "unknown image id '0123456789abcdef'"},
      {"a sample outside the folder", [&] { return c.Get("/api/samples/..%2F..%2F..%2Fetc%2Fpasswd"); }, 404, ""},
      {"a hidden sample name", [&] { return c.Get("/api/samples/..png"); }, 404, "no sample image named"},
      {"a missing sample", [&] { return c.Get("/api/samples/CLEVR_val_999999.png"); }, 404, "no sample image named"},
      {"an unknown page", [&] { return c.Get("/nowhere"); }, 404, "no such page"},
  };
  int bad_sent = 0;
  for (const Bad& b : bad) {
    r = b.send();
    ++bad_sent;
    ASSERT_TRUE(r) << b.what << ": no response";
    EXPECT_EQ(r->status, b.status) << b.what << ": " << r->body;
    const json e = body(r);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << b.what << ": " << r->body;
    EXPECT_NE(e["error"].get<std::string>().find(b.error), std::string::npos) << b.what << ": " << e["error"];
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << b.what;
    EXPECT_EQ(health(c)["status"], "ok") << "after " << b.what;
    EXPECT_EQ(errorLines(server), bad_sent) << "after " << b.what << "; log:\n" << server.log();
  }
  r = c.Post("/api/ask", json{{"image_id", id}, {"question", "How many spheres are there?"}}.dump(), "application/json");
  ASSERT_TRUE(r && r->status == 200);

  // Samples: the folder's images by plain name.
  r = c.Get("/api/samples");
  ASSERT_TRUE(r && r->status == 200);
  const json listing = body(r);
  bool listed = false;
  for (const auto& s : listing["samples"]) listed = listed || s["name"] == "CLEVR_val_000000.png";
  EXPECT_TRUE(listed) << r->body;
  r = c.Get("/api/samples/CLEVR_val_000000.png");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
  EXPECT_TRUE(r->body == image);

  // The page, from the binary itself.
  for (const char* page : {"/", "/index.html", "/app.js", "/style.css"}) {
    r = c.Get(page);
    ASSERT_TRUE(r && r->status == 200) << page;
    EXPECT_FALSE(r->body.empty()) << page;
  }
  EXPECT_NE(c.Get("/")->body.find("/app.js"), std::string::npos);
  EXPECT_EQ(c.Get("/app.js")->get_header_value("Content-Type"), "text/javascript; charset=utf-8");

  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(server.log().find("serve: SIGTERM, stopping"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("serve: stopped after 4 questions about 1 images"), std::string::npos) << server.log();
}

// With one worker and no queue, concurrent requests beyond the one being answered get 503 at once, and the
// server goes on answering afterwards.
TEST(ServeApi, BusyServerAnswers503AndKeepsServing) {
  VQA_REQUIRE_CLEVR_REAL(samples);
  const std::string dir = scratchDir();
  const std::string image = readText(samples + "/CLEVR_val_000001.png");
  ServeProcess server({"--model", tinyServeModel(), "--workers", "1", "--queue", "0"}, dir + "/serve.log");
  constexpr int kClients = 8, kRequestsEach = 4;
  std::atomic<int> ready{0}, ok{0}, busy{0}, other{0};
  std::vector<std::thread> clients;
  for (int k = 0; k < kClients; ++k)
    clients.emplace_back([&] {
      httplib::Client c = client(server);
      ++ready;
      while (ready < kClients) std::this_thread::yield();
      for (int i = 0; i < kRequestsEach; ++i) {
        auto r = c.Post("/api/ask", httplib::MultipartFormDataItems{{"image", image, "scene.png", "image/png"},
                                                                    {"question", "How many things are there?", "", ""}});
        if (r && r->status == 200) ++ok;
        else if (r && r->status == 503 && body(r).contains("error") && r->has_header("Retry-After")) ++busy;
        else ++other;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
  EXPECT_EQ(other, 0);
  httplib::Client c = client(server);
  const json h = health(c);
  EXPECT_EQ(h["requests_rejected"], busy.load());
  EXPECT_EQ(h["questions_answered"], ok.load());
  EXPECT_EQ(h["images_parsed"], 1);
  auto r = c.Post("/api/ask", httplib::MultipartFormDataItems{{"image", image, "scene.png", "image/png"},
                                                              {"question", "Is there a cube?", "", ""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServeApi, BadModelOrSamplesFolderIsOneLineError) {
  const std::string dir = scratchDir();
  writeFile(dir + "/not-a-model.bin", "nothing here");
  RunResult r = runVqa("serve --port 0 --model " + dir + "/not-a-model.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find(dir + "/not-a-model.bin: "), std::string::npos) << r.err;
  r = runVqa("serve --port 0 --model " + dir + "/not-a-model.bin --samples " + dir + "/nowhere");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "--samples " + dir + "/nowhere: not a folder");
  r = runVqa("serve --port 0 --model " + dir + "/not-a-model.bin --workers 0");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--workers"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vqa::testing
