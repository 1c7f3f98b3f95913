// GQA questions (dict of id -> record with `semantic` programs) and GQA scene graphs.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/gqa_program.h"
#include "core/scene_graph.h"

namespace vqa {

struct GqaQuestion {
  std::string id;
  std::string image_id;
  std::string question;
  std::string answer;  // empty when absent
  bool has_answer = false;
  std::string full_answer;
  bool balanced = true;
  std::string structural, semantic_type, detailed;  // types.*
  std::string global_group;                         // groups.global ("" when absent)
  bool has_global_group = false;                    // false when groups.global is null or missing
  std::vector<std::string> entailed, equivalent;
  GqaProgram program;
  bool has_program = false;
  std::string program_error;  // non-empty when `semantic` could not be parsed
};

// One question record (the value under its id). Throws std::runtime_error("problem").
GqaQuestion gqaQuestionFromJson(const std::string& id, const nlohmann::json& record);

// Hands each question to `visit` in file order as soon as its record is read: memory holds one record, so a
// file of any size (GQA's train_balanced is 1.4 GB) is read in bounded memory. Same errors as below.
void forEachGqaQuestion(const std::string& path, const std::function<void(GqaQuestion)>& visit);

// Questions in question-id order, read record by record (memory holds the questions, not the document). Throws InputError("PATH: question ID: problem") for malformed records; a
// malformed program is recorded in program_error (check-programs counts it, eval refuses it).
std::vector<GqaQuestion> readGqaQuestions(const std::string& path);

// imageId -> scene graph, read graph by graph. Throws InputError("PATH: image ID: object OID: problem").
std::map<std::string, SceneGraph> readGqaSceneGraphs(const std::string& path);
SceneGraph gqaSceneFromJson(const std::string& image_id, const nlohmann::json& record);

}  // namespace vqa
