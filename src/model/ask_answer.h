// An answer from pixels as `vqa ask --json` and `vqa serve` give it: the question check both apply, and the
// JSON object of an answer (question, answer, probability, program, steps, detected objects).
#pragma once
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "model/pixel_answering.h"

namespace vqa::model {

constexpr size_t kMaxQuestionCharacters = 1000;

// Throws std::runtime_error("PATH: ...") when the model has no scene parser to read images with.
void requireSceneParser(const EngineModel& model, const std::string& path);

// "" when the question can be asked, else the problem ("the question is empty", too long).
std::string questionProblem(const std::string& question);

// The detected objects of a parsed image: [{pixel_coords, existence, 3d_coords, color, shape, material, size}].
nlohmann::json objectsJson(const ParsedImage& image);

// The `ask --json` object of one answer: question, answer, probability, program [tokens], steps [{token,
// attention [per object], answer}], objects, symbolic_answer, and error when the program could not run.
nlohmann::json answerJson(const std::string& question, const ParsedImage& image, const PixelAnswer& answer);

}  // namespace vqa::model
