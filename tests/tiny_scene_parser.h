// The scene parser options the suites use when a test builds, trains or saves one: small enough to run in
// a test's seconds (8 channels, 16-wide slots, 8-wide prototypes, 2 heads).
#pragma once
#include "vision/scene_parser.h"

namespace vqa::testing {

inline vqa::vision::SceneParserOptions tinySceneParserOptions() {
  vqa::vision::SceneParserOptions o;
  o.channels = 8;
  o.slot_size = 16;
  o.prototype_size = 8;
  o.heads = 2;
  return o;
}

}  // namespace vqa::testing
