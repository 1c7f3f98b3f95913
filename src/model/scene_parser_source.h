// The scene parser a command reads from a file: a scene-parser file (vqa train-vision) or the one inside an
// engine (vqa train --scene vision, vqa quantize), so that `eval-scenes` scores and `train --vision` starts
// from the parser an engine answers with.
#pragma once
#include <memory>
#include <string>

#include "vision/scene_parser.h"

namespace vqa::model {

class EngineModel;

struct SceneParserSource {
  vision::SceneParser parser{nullptr};
  std::shared_ptr<EngineModel> engine;  // the engine it came from (kept alive with it); null for a parser file
};

// Throws std::runtime_error("PATH: problem") for a missing, foreign, truncated or corrupt file, or an engine
// without a scene parser (--scene oracle).
SceneParserSource loadSceneParserOrEngine(const std::string& path);

}  // namespace vqa::model
