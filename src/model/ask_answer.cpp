// The question check and the JSON form of an answer from pixels, shared by `vqa ask` and `vqa serve`.
#include "model/ask_answer.h"

#include <stdexcept>

#include "core/typed_program.h"
#include "core/vocab.h"

namespace vqa::model {

void requireSceneParser(const EngineModel& model, const std::string& path) {
  if (!model.vision)
    throw std::runtime_error(path + ": an oracle-scene model has no scene parser to read images (train it with --scene vision)");
}

std::string questionProblem(const std::string& question) {
  if (question.find_first_not_of(" \t\r\n") == std::string::npos) return "the question is empty";
  if (question.size() > kMaxQuestionCharacters)
    return "the question has " + std::to_string(question.size()) + " characters, more than the " +
           std::to_string(kMaxQuestionCharacters) + " allowed";
  return "";
}

nlohmann::json objectsJson(const ParsedImage& image) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : image.objects) {
    nlohmann::json j = {{"pixel_coords", {o.pixel[0], o.pixel[1]}}, {"existence", o.existence},
                        {"3d_coords", o.position}};
    for (auto attr : clevr::attributes())
      j[clevr::attributeName(attr)] =
          clevr::attributeValues(attr).at(static_cast<size_t>(o.values[static_cast<size_t>(attr)]));
    objects.push_back(j);
  }
  return objects;
}

nlohmann::json answerJson(const std::string& question, const ParsedImage& image, const PixelAnswer& a) {
  const auto& tokens = programTokens();
  nlohmann::json program = nlohmann::json::array(), steps = nlohmann::json::array();
  for (size_t t = 0; t < a.program.size(); ++t) {
    const std::string& token = tokens.at(static_cast<size_t>(a.program[t])).text;
    program.push_back(token);
    nlohmann::json step = {{"token", token}, {"attention", a.step_attention[t]}};
    if (!a.step_answers[t].empty()) step["answer"] = a.step_answers[t];
    steps.push_back(step);
  }
  nlohmann::json j = {{"question", question}, {"answer", a.answer}, {"probability", a.probability},
                      {"program", program}, {"steps", steps}, {"objects", objectsJson(image)},
                      {"symbolic_answer", a.symbolic_answer}};
  if (!a.error.empty()) j["error"] = a.error;
  return j;
}

}  // namespace vqa::model
