// Reading a dataset split as question-answer pairs over scenes.
#include "model/qa_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

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

QuestionSelection selectQuestions(const QaDataset& data, uint64_t seed, int64_t programs, double qa_fraction) {
  const int n = static_cast<int>(data.questions.size());
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 random(seed * 0x9E3779B97F4A7C15ull + 17);
  std::shuffle(order.begin(), order.end(), random);
  QuestionSelection s;
  // Warm start: round-robin over the families, each family's questions in the shuffled order.
  std::map<int, std::vector<int>> by_family;
  for (int i : order) by_family[data.questions[i].question_family_index].push_back(i);
  std::set<int> warm;
  for (size_t pass = 0; static_cast<int64_t>(warm.size()) < programs; ++pass) {
    bool any = false;
    for (auto& [family, members] : by_family) {
      if (static_cast<int64_t>(warm.size()) >= programs) break;
      if (pass < members.size()) {
        warm.insert(members[pass]);
        any = true;
      }
    }
    if (!any) break;
  }
  if (static_cast<int64_t>(warm.size()) < programs)
    throw std::runtime_error("--programs: the split has only " + std::to_string(warm.size()) + " questions");
  s.warm.assign(warm.begin(), warm.end());
  const int64_t qa_count = std::max<int64_t>(1, std::llround(qa_fraction * n));
  for (int64_t k = 0; k < n && static_cast<int64_t>(s.qa.size()) < qa_count; ++k)
    if (!warm.count(order[k])) s.qa.push_back(order[k]);
  std::sort(s.qa.begin(), s.qa.end());
  return s;
}

}  // namespace vqa::model
