// The page `vqa serve` serves (web/serve/*), compiled into the binary by embed_web_assets.cmake.
#pragma once
#include <string_view>
#include <vector>

namespace vqa::serve {

struct WebAsset {
  std::string_view path;  // "/index.html", "/app.js", ...
  std::string_view body;  // the file's bytes
};

const std::vector<WebAsset>& webAssets();

}  // namespace vqa::serve
