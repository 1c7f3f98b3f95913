// Test of the `vqa serve` page as a person sees it: headless Chromium opens the deep link
// /?sample=NAME&q=QUESTION (a real CLEVR sample fetched and uploaded like a dropped file, then the question
// asked); the rendered page shows the answer and the explanation picture, and a screenshot is kept.
#include <gtest/gtest.h>
#include <httplib.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "serve_fixture.h"
#include "test_support.h"

namespace vqa::testing {
namespace {

// The Chromium binary on PATH, or "".
std::string chromiumBinary() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    for (const char* name : {"chromium", "chromium-browser"}) {
      const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
      if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    start = end + 1;
  }
  return "";
}

// Runs headless Chromium on `url` with `mode` (--dump-dom, --screenshot=FILE ...); its stdout goes to `out`.
int runChromium(const std::string& chromium, const std::string& profile, const std::string& mode,
                const std::string& url, const std::string& out, const std::string& log) {
  const std::string cmd = "timeout 120 " + chromium + " --headless=new --no-sandbox --disable-gpu" +
                          " --no-first-run --disable-extensions --user-data-dir=" + profile +
                          " --virtual-time-budget=30000 " + mode + " '" + url + "' >" + out + " 2>>" + log;
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServeBrowser, DeepLinkAsksAboutASampleInHeadlessChromium) {
  const std::string chromium = chromiumBinary();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (apt-get install chromium)";
  VQA_REQUIRE_SHARED(shared);
  const std::string samples = clevrRealImages();
  if (samples.empty()) GTEST_SKIP() << "shared data not found: no data/clevr-real/images/val in " << shared;
  const std::string dir = scratchDir();
  ServeProcess server({"--model", tinyServeModel(), "--samples", samples}, dir + "/serve.log");
  const std::string url = server.url() + "/?sample=CLEVR_val_000002.png&q=How%20many%20cubes%20are%20there%3F";

  const std::string chromium_log = dir + "/chromium.log";
  ASSERT_EQ(runChromium(chromium, dir + "/profile", "--dump-dom", url, dir + "/dom.html", chromium_log), 0)
      << readText(chromium_log);
  const std::string dom = readText(dir + "/dom.html");
  EXPECT_NE(dom.find("data-state=\"answered\""), std::string::npos) << dom.substr(0, 4000);
  const size_t answer = dom.find("<span id=\"answer\">");
  ASSERT_NE(answer, std::string::npos) << dom.substr(0, 4000);
  EXPECT_NE(dom[answer + std::string("<span id=\"answer\">").size()], '<') << "the answer is empty";
  const size_t explanation = dom.find("<img id=\"explanation\"");
  ASSERT_NE(explanation, std::string::npos) << dom.substr(0, 4000);
  const std::string tag = dom.substr(explanation, dom.find('>', explanation) - explanation);
  EXPECT_NE(tag.find(" src=\"data:image/png;base64,"), std::string::npos) << tag.substr(0, 300);
  EXPECT_NE(dom.find("CLEVR_val_000002.png: 480×320"), std::string::npos) << "the sample was not uploaded";

  const std::string screenshot = dir + "/serve.png";
  ASSERT_EQ(runChromium(chromium, dir + "/profile", "--screenshot=" + screenshot + " --window-size=1280,1000", url,
                        dir + "/screenshot.out", chromium_log),
            0)
      << readText(chromium_log);
  const cv::Mat picture = cv::imread(screenshot);
  ASSERT_FALSE(picture.empty()) << screenshot;
  EXPECT_EQ(picture.cols, 1280);
  EXPECT_EQ(picture.rows, 1000);
  std::cout << "screenshot: " << screenshot << std::endl;

  // Both page loads went through the API: the sample parsed once, the question asked twice.
  httplib::Client c("127.0.0.1", server.port());
  const auto h = nlohmann::json::parse(c.Get("/api/health")->body);
  EXPECT_EQ(h["images_parsed"], 1);
  EXPECT_EQ(h["images_uploaded"], 2);
  EXPECT_EQ(h["questions_answered"], 2);
  EXPECT_EQ(h["requests_failed"], 0) << server.log();
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace vqa::testing
