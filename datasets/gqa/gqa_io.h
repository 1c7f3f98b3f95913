// GQA questions (dict of id -> record with `semantic` programs) and GQA scene graphs.
#pragma once
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

// Questions in question-id order. Throws InputError("PATH: question ID: problem") for malformed records; a
// malformed program is recorded in program_error (check-programs counts it, eval refuses it).
std::vector<GqaQuestion> readGqaQuestions(const std::string& path);

// imageId -> scene graph. Throws InputError("PATH: image ID: object OID: problem").
std::map<std::string, SceneGraph> readGqaSceneGraphs(const std::string& path);
SceneGraph gqaSceneFromJson(const std::string& image_id, const nlohmann::json& record);

}  // namespace vqa
