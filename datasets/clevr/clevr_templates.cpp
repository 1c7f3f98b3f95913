// Reader and validator for CLEVR template files.
#include "datasets/clevr/clevr_templates.h"

#include <algorithm>
#include <filesystem>

#include "core/errors.h"
#include "datasets/json_file.h"

namespace vqa {
namespace {

std::vector<std::string> strings(const nlohmann::json& j, const char* what) {
  if (!j.is_array()) throw std::runtime_error(std::string("'") + what + "' is not a list");
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
    else if (v.is_number_integer()) out.push_back(std::to_string(jsonInt(v, what)));
    else throw std::runtime_error(std::string("'") + what + "' holds a value that is neither string nor integer");
  }
  return out;
}

int toIndex(const std::string& s) {
  size_t used = 0;
  int k = -1;
  try {
    k = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) throw std::runtime_error(quotedValue(s) + " is not a node index");
  return k;
}

ClevrTemplate parseTemplate(const nlohmann::json& t) {
  if (!t.is_object()) throw std::runtime_error("template is not an object");
  for (const char* key : {"text", "nodes", "params"})
    if (!t.contains(key)) throw std::runtime_error(std::string("missing '") + key + "'");
  ClevrTemplate out;
  out.text = strings(t["text"], "text");
  if (out.text.empty()) throw std::runtime_error("no text");
  if (!t["params"].is_array()) throw std::runtime_error("'params' is not a list");
  for (const auto& p : t["params"]) {
    if (!p.is_object() || !p.contains("type") || !p.contains("name") || !p["type"].is_string() ||
        !p["name"].is_string())
      throw std::runtime_error("a param needs string 'type' and 'name'");
    TemplateParam param{p["type"].get<std::string>(), p["name"].get<std::string>()};
    ValueType vt;
    if (!parseValueType(param.type, &vt) || vt < ValueType::Color)
      throw std::runtime_error("param " + excerpt(param.name) + " has type " + quotedValue(param.type) + " with no values");
    out.params.push_back(param);
  }
  auto hasParam = [&](const std::string& name) {
    return std::any_of(out.params.begin(), out.params.end(), [&](const auto& p) { return p.name == name; });
  };
  if (!t["nodes"].is_array() || t["nodes"].empty()) throw std::runtime_error("'nodes' is not a non-empty list");
  for (size_t i = 0; i < t["nodes"].size(); ++i) {
    const auto& n = t["nodes"][i];
    const std::string where = "node " + std::to_string(i) + ": ";
    if (!n.is_object() || !n.contains("type") || !n["type"].is_string())
      throw std::runtime_error(where + "missing 'type'");
    TemplateNode node;
    node.type = n["type"].get<std::string>();
    const FunctionSignature* sig = findFunction(node.type);
    if (!sig) throw std::runtime_error(where + "unknown function " + quotedValue(node.type));
    if (n.contains("inputs")) {
      for (const auto& in : strings(n["inputs"], "inputs")) {
        const int k = toIndex(in);
        if (k < 0 || k >= static_cast<int>(i)) throw std::runtime_error(where + "input " + excerpt(in) + " is not an earlier node");
        node.inputs.push_back(k);
      }
    }
    if (node.inputs.size() != sig->inputs.size())
      throw std::runtime_error(where + "'" + node.type + "' takes " + std::to_string(sig->inputs.size()) + " inputs");
    if (n.contains("side_inputs")) node.side_inputs = strings(n["side_inputs"], "side_inputs");
    for (const auto& s : node.side_inputs)
      if (!hasParam(s)) throw std::runtime_error(where + "side input " + quotedValue(s) + " is not a declared param");
    out.nodes.push_back(std::move(node));
  }
  if (t.contains("constraints")) {
    if (!t["constraints"].is_array()) throw std::runtime_error("'constraints' is not a list");
    for (const auto& c : t["constraints"]) {
      if (!c.is_object() || !c.contains("type") || !c["type"].is_string() || !c.contains("params"))
        throw std::runtime_error("a constraint needs 'type' and 'params'");
      TemplateConstraint con{c["type"].get<std::string>(), strings(c["params"], "params")};
      if (con.type == "NULL" || con.type == "NEQ") {
        for (const auto& p : con.params)
          if (!hasParam(p)) throw std::runtime_error(excerpt(con.type) + " constraint names unknown param " + quotedValue(p));
      } else if (con.type == "OUT_NEQ") {
        if (con.params.size() != 2) throw std::runtime_error("OUT_NEQ constraint needs two node indices");
        for (const auto& p : con.params) {
          const int k = toIndex(p);
          if (k < 0 || k >= static_cast<int>(out.nodes.size()))
            throw std::runtime_error("OUT_NEQ constraint names node " + excerpt(p) + " out of range");
        }
      } else {
        throw std::runtime_error("unknown constraint type " + quotedValue(con.type));
      }
      out.constraints.push_back(std::move(con));
    }
  }
  return out;
}

}  // namespace

std::vector<ClevrTemplate> readClevrTemplates(const std::string& path) {
  const nlohmann::json root = readJsonFile(path);
  if (!root.is_array()) throw InputError(path, "", "a template file is a JSON list of templates");
  const std::string file = std::filesystem::path(path).filename().string();
  std::vector<ClevrTemplate> out;
  for (size_t k = 0; k < root.size(); ++k) {
    try {
      ClevrTemplate t = parseTemplate(root[k]);
      t.file = file;
      t.index_in_file = static_cast<int>(k);
      out.push_back(std::move(t));
    } catch (const std::exception& e) {
      throw InputError::in(path, "template " + std::to_string(k), e);
    }
  }
  return out;
}

}  // namespace vqa
