// CLEVR question template files (CLEVR_1.0_templates/*.json format): text paraphrases, program nodes with
// param-name side inputs, typed params and constraints.
#pragma once
#include <string>
#include <vector>

#include "core/program.h"

namespace vqa {

struct TemplateNode {
  std::string type;                      // a function, possibly template-only (filter_count, ...)
  std::vector<int> inputs;
  std::vector<std::string> side_inputs;  // param names such as "<Z>", "<R2>"
};

struct TemplateParam {
  std::string type;  // "Size", "Color", "Material", "Shape", "Relation"
  std::string name;  // "<Z>"
};

struct TemplateConstraint {
  std::string type;                 // "NULL", "OUT_NEQ", "NEQ"
  std::vector<std::string> params;  // param names (NULL, NEQ) or node indices as strings (OUT_NEQ)
};

struct ClevrTemplate {
  std::vector<std::string> text;
  std::vector<TemplateNode> nodes;
  std::vector<TemplateParam> params;
  std::vector<TemplateConstraint> constraints;
  std::string file;       // file name the template came from, e.g. "zero_hop.json"
  int index_in_file = 0;  // position in that file
};

// Reads one template file (a JSON list). Validates node functions (including template-only ones), inputs,
// param references and constraint types; throws InputError("PATH: template K: problem").
std::vector<ClevrTemplate> readClevrTemplates(const std::string& path);

}  // namespace vqa
