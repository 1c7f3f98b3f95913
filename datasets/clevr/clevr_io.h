// CLEVR v1.0 scenes and questions: readers and writers for exactly CLEVR's JSON formats
// (released and generator spellings; CLOSURE-style extra keys are ignored).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/program.h"
#include "core/scene_graph.h"

namespace vqa {

struct ClevrScenes {
  nlohmann::json info;  // the file's "info" block
  std::vector<SceneGraph> scenes;
};

// Throws InputError("PATH: scene K (FILENAME): object J: problem") on bad records.
ClevrScenes readClevrScenes(const std::string& path);
void writeClevrScenes(const std::string& path, const std::vector<SceneGraph>& scenes, const nlohmann::json& info);
// One scene record <-> SceneGraph; parse errors are std::runtime_error without the file prefix.
SceneGraph clevrSceneFromJson(const nlohmann::json& record);
nlohmann::json clevrSceneToJson(const SceneGraph& scene);
// Adds CLEVR's relation edges from 3d coords and directions: j is r of i when (c_j - c_i) . dir_r > eps.
void addClevrRelationships(SceneGraph& scene, double eps = 0.2);
// The info block CLEVR writes for a split.
nlohmann::json clevrInfo(const std::string& split);

struct ClevrQuestion {
  int image_index = -1;
  std::string image_filename;
  std::string split;
  int question_index = -1;
  int question_family_index = -1;  // -1 when absent (test split)
  std::string question;
  std::string answer;  // empty when absent
  bool has_answer = false;
  Program program;
  bool has_program = false;
  std::string program_error;  // non-empty when the program could not be parsed
  std::string template_filename;  // generator output only
};

struct ClevrQuestions {
  nlohmann::json info;
  std::vector<ClevrQuestion> questions;
};

// Throws InputError for malformed files/records; a malformed program is recorded in program_error so that
// check-programs can count it (eval turns it into an error).
ClevrQuestions readClevrQuestions(const std::string& path);
void writeClevrQuestions(const std::string& path, const std::vector<ClevrQuestion>& questions,
                         const nlohmann::json& info, ProgramSpelling spelling = ProgramSpelling::Released);
nlohmann::json clevrQuestionToJson(const ClevrQuestion& q, ProgramSpelling spelling = ProgramSpelling::Released);

// "question K" or "question K (id N)", for error messages.
std::string clevrQuestionLabel(size_t position, const ClevrQuestion& q);

}  // namespace vqa
