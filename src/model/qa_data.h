// A CLEVR-layout dataset split as question-answer pairs over scenes: the questions of
// DIR/questions/CLEVR_<split>_questions.json, each with the scene of its image from
// DIR/scenes/CLEVR_<split>_scenes.json.
#pragma once
#include <string>
#include <vector>

#include "core/scene_graph.h"
#include "datasets/clevr/clevr_io.h"

namespace vqa::model {

struct QaDataset {
  std::string questions_path, scenes_path;
  std::vector<SceneGraph> scenes;
  std::vector<ClevrQuestion> questions;
  std::vector<int> scene_of;  // per question: its image's index into `scenes`
};

// Throws InputError naming the file and the record: a missing file, a question without an answer (when
// need_answers), an empty question, a question whose image has no scene.
QaDataset openQaDataset(const std::string& dir, const std::string& split, bool need_answers = true);

}  // namespace vqa::model
