// GQA readers.
#include "datasets/gqa/gqa_io.h"

#include <algorithm>
#include <climits>

#include "core/errors.h"
#include "core/program.h"
#include "datasets/json_file.h"

namespace vqa {
namespace {

std::string optString(const nlohmann::json& r, const char* key) {
  if (!r.contains(key) || r[key].is_null()) return "";
  if (!r[key].is_string()) throw std::runtime_error(std::string("'") + key + "' is not a string");
  return r[key].get<std::string>();
}

std::vector<std::string> idList(const nlohmann::json& r, const char* key) {
  std::vector<std::string> out;
  if (!r.contains(key) || r[key].is_null()) return out;
  if (!r[key].is_array()) throw std::runtime_error(std::string("'") + key + "' is not a list");
  for (const auto& v : r[key]) {
    if (!v.is_string()) throw std::runtime_error(std::string("'") + key + "' holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

double number(const nlohmann::json& o, const char* key) {
  if (!o.contains(key)) throw std::runtime_error(std::string("missing '") + key + "'");
  if (!o[key].is_number()) throw std::runtime_error(std::string("'") + key + "' is not a number");
  return o[key].get<double>();
}

}  // namespace

GqaQuestion gqaQuestionFromJson(const std::string& id, const nlohmann::json& r) {
  GqaQuestion q;
  q.id = id;
  if (!r.is_object()) throw std::runtime_error("record is not an object");
  q.image_id = optString(r, "imageId");
  if (q.image_id.empty()) throw std::runtime_error("missing 'imageId'");
  q.question = optString(r, "question");
  if (r.contains("answer") && !r["answer"].is_null()) {
    q.answer = optString(r, "answer");
    q.has_answer = true;
  }
  q.full_answer = optString(r, "fullAnswer");
  if (r.contains("isBalanced") && r["isBalanced"].is_boolean()) q.balanced = r["isBalanced"].get<bool>();
  if (r.contains("types") && r["types"].is_object()) {
    q.structural = optString(r["types"], "structural");
    q.semantic_type = optString(r["types"], "semantic");
    q.detailed = optString(r["types"], "detailed");
  }
  if (r.contains("groups") && r["groups"].is_object() && r["groups"].contains("global") &&
      !r["groups"]["global"].is_null()) {
    q.global_group = optString(r["groups"], "global");
    q.has_global_group = true;
  }
  q.entailed = idList(r, "entailed");
  q.equivalent = idList(r, "equivalent");
  if (r.contains("semantic")) {
    q.has_program = true;
    try {
      q.program = parseGqaProgram(r["semantic"]);
    } catch (const std::exception& e) {
      q.program_error = e.what();
    }
  }
  return q;
}

void forEachGqaQuestion(const std::string& path, const std::function<void(GqaQuestion)>& visit) {
  streamJsonObject(path, "a GQA questions file is an object of questionId -> record",
                   [&](std::string id, nlohmann::json record) {
                     GqaQuestion q;
                     try {
                       q = gqaQuestionFromJson(id, record);
                     } catch (const std::exception& e) {
                       throw InputError::in(path, "question " + excerpt(id), e);
                     }
                     visit(std::move(q));
                   });
}

std::vector<GqaQuestion> readGqaQuestions(const std::string& path) {
  std::vector<GqaQuestion> out;
  forEachGqaQuestion(path, [&](GqaQuestion q) { out.push_back(std::move(q)); });
  std::sort(out.begin(), out.end(), [](const GqaQuestion& a, const GqaQuestion& b) { return a.id < b.id; });
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i].id == out[i - 1].id) throw InputError(path, "question " + excerpt(out[i].id), "appears twice");
  return out;
}

SceneGraph gqaSceneFromJson(const std::string& image_id, const nlohmann::json& record) {
  if (!record.is_object()) throw std::runtime_error("scene graph is not an object");
  SceneGraph scene;
  scene.image_id = image_id;
  if (record.contains("width")) scene.width = jsonInt(record["width"], "width", 0, INT_MAX);
  if (record.contains("height")) scene.height = jsonInt(record["height"], "height", 0, INT_MAX);
  for (const char* key : {"location", "weather"}) {
    const std::string v = optString(record, key);
    if (!v.empty()) scene.image_attributes[key] = v;
  }
  if (!record.contains("objects") || !record["objects"].is_object())
    throw std::runtime_error("missing 'objects' (an object of id -> object)");
  const auto& objects = record["objects"];
  for (auto it = objects.begin(); it != objects.end(); ++it) {
    try {
      const auto& o = it.value();
      if (!o.is_object()) throw std::runtime_error("not an object");
      SceneObject obj;
      obj.id = it.key();
      obj.name = optString(o, "name");
      if (obj.name.empty()) throw std::runtime_error("missing 'name'");
      obj.box = {number(o, "x"), number(o, "y"), number(o, "w"), number(o, "h")};
      obj.labels = idList(o, "attributes");
      scene.addObject(std::move(obj));
    } catch (const std::exception& e) {
      throw std::runtime_error("object " + excerpt(it.key()) + ": " + e.what());
    }
  }
  for (auto it = objects.begin(); it != objects.end(); ++it) {
    const auto& o = it.value();
    if (!o.contains("relations")) continue;
    const std::string where = "object " + excerpt(it.key()) + ": ";
    if (!o["relations"].is_array()) throw std::runtime_error(where + "'relations' is not a list");
    const int subject = scene.findObject(it.key());
    for (const auto& rel : o["relations"]) {
      if (!rel.is_object() || !rel.contains("name") || !rel.contains("object") || !rel["name"].is_string() ||
          !rel["object"].is_string())
        throw std::runtime_error(where + "a relation needs string 'name' and 'object'");
      const int target = scene.findObject(rel["object"].get<std::string>());
      if (target < 0)
        throw std::runtime_error(where + "relation " + quotedValue(rel["name"].get<std::string>()) +
                                 " names unknown object " + excerpt(rel["object"].get<std::string>()));
      scene.addRelation(subject, target, rel["name"].get<std::string>());
    }
  }
  return scene;
}

std::map<std::string, SceneGraph> readGqaSceneGraphs(const std::string& path) {
  std::map<std::string, SceneGraph> out;
  streamJsonObject(path, "a GQA scene graph file is an object of imageId -> graph",
                   [&](std::string id, nlohmann::json record) {
                     const std::string where = "image " + excerpt(id);
                     try {
                       SceneGraph graph = gqaSceneFromJson(id, record);
                       if (!out.emplace(id, std::move(graph)).second) throw std::runtime_error("appears twice");
                     } catch (const std::exception& e) {
                       throw InputError::in(path, where, e);
                     }
                   });
  return out;
}

}  // namespace vqa
