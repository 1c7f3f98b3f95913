// A CLEVR-layout dataset split as question-answer pairs over scenes: the questions of
// DIR/questions/CLEVR_<split>_questions.json, each with the scene of its image from
// DIR/scenes/CLEVR_<split>_scenes.json.
#pragma once
#include <cstdint>
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

// The questions a training run uses, chosen from the seed alone (a resumed run, and a fine-tuning of the same
// run, choose the same): `programs` questions whose supervised program is used, spread round-robin over the
// families, and the first qa_fraction of all questions in a seeded order as question-answer pairs (the
// supervised ones excluded). Throws std::runtime_error when the split has fewer than `programs` questions.
struct QuestionSelection {
  std::vector<int> warm;  // questions whose supervised program is used
  std::vector<int> qa;    // questions used as question-answer pairs only, sorted
};
QuestionSelection selectQuestions(const QaDataset& data, uint64_t seed, int64_t programs, double qa_fraction);

}  // namespace vqa::model
