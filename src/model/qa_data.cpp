// Reading a dataset split as question-answer pairs over scenes.
#include "model/qa_data.h"

#include <filesystem>
#include <map>

#include "core/errors.h"

namespace vqa::model {

QaDataset openQaDataset(const std::string& dir, const std::string& split, bool need_answers) {
  QaDataset data;
  data.questions_path = dir + "/questions/CLEVR_" + split + "_questions.json";
  data.scenes_path = dir + "/scenes/CLEVR_" + split + "_scenes.json";
  for (const std::string& path : {data.questions_path, data.scenes_path})
    if (!std::filesystem::exists(path))
      throw InputError(path, "", "not found (a dataset folder has questions/ and scenes/ for split " +
                                         quotedValue(split) + ")");
  ClevrScenes scenes = readClevrScenes(data.scenes_path);
  data.scenes = std::move(scenes.scenes);
  std::map<int, int> by_image;
  for (size_t k = 0; k < data.scenes.size(); ++k) by_image.emplace(data.scenes[k].image_index, static_cast<int>(k));
  ClevrQuestions questions = readClevrQuestions(data.questions_path);
  data.questions = std::move(questions.questions);
  data.scene_of.reserve(data.questions.size());
  for (size_t k = 0; k < data.questions.size(); ++k) {
    const ClevrQuestion& q = data.questions[k];
    const std::string record = clevrQuestionLabel(k, q);
    if (need_answers && !q.has_answer) throw InputError(data.questions_path, record, "no answer");
    if (q.question.find_first_not_of(" \t\r\n") == std::string::npos)
      throw InputError(data.questions_path, record, "empty question");
    auto it = by_image.find(q.image_index);
    if (it == by_image.end())
      throw InputError(data.questions_path, record,
                       "image " + std::to_string(q.image_index) + " has no scene in " + data.scenes_path);
    data.scene_of.push_back(it->second);
  }
  return data;
}

}  // namespace vqa::model
