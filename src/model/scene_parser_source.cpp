// The scene parser of a scene-parser file or of an engine (see scene_parser_source.h).
#include "model/scene_parser_source.h"

#include "model/ask_answer.h"
#include "model/engine_model.h"
#include "training/model_file.h"
#include "vision/trainer.h"

namespace vqa::model {

SceneParserSource loadSceneParserOrEngine(const std::string& path) {
  SceneParserSource out;
  if (training::readModelKind(path) == kEngineModelKind) {
    out.engine = loadEngineModel(path).model;
    requireSceneParser(*out.engine, path);
    out.parser = out.engine->vision;
  } else {
    out.parser = vision::loadSceneParser(path).parser;
  }
  return out;
}

}  // namespace vqa::model
