// CLEVR v1.0 readers and writers.
#include "datasets/clevr/clevr_io.h"

#include <climits>
#include <cmath>
#include <map>

#include "core/errors.h"
#include "core/vocab.h"
#include "datasets/json_file.h"

namespace vqa {
namespace {

const nlohmann::json& field(const nlohmann::json& record, const char* key) {
  if (!record.is_object()) throw std::runtime_error("record is not an object");
  auto it = record.find(key);
  if (it == record.end()) throw std::runtime_error("missing " + quotedValue(key));
  return *it;
}

std::string stringField(const nlohmann::json& record, const char* key) {
  const auto& v = field(record, key);
  if (!v.is_string()) throw std::runtime_error(quotedValue(key) + " is not a string");
  return v.get<std::string>();
}

// Indices and counts are never negative.
int indexField(const nlohmann::json& record, const char* key) { return jsonInt(field(record, key), key, 0, INT_MAX); }


std::array<double, 3> vec3Field(const nlohmann::json& record, const char* key) {
  const auto& v = field(record, key);
  if (!v.is_array() || v.size() != 3) throw std::runtime_error(quotedValue(key) + " is not a 3-vector");
  std::array<double, 3> out{};
  for (int i = 0; i < 3; ++i) {
    if (!v[i].is_number()) throw std::runtime_error(quotedValue(key) + " holds a non-number");
    out[i] = v[i].get<double>();
  }
  return out;
}

std::string sceneLabel(size_t position, const nlohmann::json& record) {
  std::string label = "scene " + std::to_string(position);
  if (record.is_object() && record.contains("image_filename") && record["image_filename"].is_string())
    label += " (" + excerpt(record["image_filename"].get<std::string>()) + ")";
  return label;
}

const nlohmann::json& listIn(const nlohmann::json& root, const char* key, const std::string& path) {
  if (!root.is_object() || !root.contains(key) || !root[key].is_array())
    throw InputError(path, "", std::string("no '") + key + "' list at the top level");
  return root[key];
}

}  // namespace

nlohmann::json clevrInfo(const std::string& split) {
  return {{"split", split}, {"version", "1.0"}, {"date", "2/14/2017"},
          {"license", "Creative Commons Attribution (CC BY 4.0)"}};
}

SceneGraph clevrSceneFromJson(const nlohmann::json& record) {
  SceneGraph scene;
  if (record.contains("split") && record["split"].is_string()) scene.split = record["split"].get<std::string>();
  scene.image_index = indexField(record, "image_index");
  scene.image_filename = stringField(record, "image_filename");
  const auto& objects = field(record, "objects");
  if (!objects.is_array()) throw std::runtime_error("'objects' is not a list");
  for (size_t j = 0; j < objects.size(); ++j) {
    try {
      const auto& o = objects[j];
      SceneObject obj;
      for (clevr::Attribute a : clevr::attributes()) {
        const std::string& name = clevr::attributeName(a);
        const std::string value = stringField(o, name.c_str());
        if (clevr::valueIndex(a, value) < 0) throw std::runtime_error("unknown " + name + " " + quotedValue(value));
        obj.attributes[name] = value;
      }
      obj.coords = vec3Field(o, "3d_coords");
      obj.pixel = vec3Field(o, "pixel_coords");
      if (o.contains("rotation")) {
        if (!o["rotation"].is_number()) throw std::runtime_error("'rotation' is not a number");
        obj.rotation = o["rotation"].get<double>();
      }
      scene.addObject(std::move(obj));
    } catch (const std::exception& e) {
      throw std::runtime_error("object " + std::to_string(j) + ": " + e.what());
    }
  }
  if (record.contains("directions")) {
    const auto& dirs = record["directions"];
    if (!dirs.is_object()) throw std::runtime_error("'directions' is not an object");
    for (auto it = dirs.begin(); it != dirs.end(); ++it) scene.directions[it.key()] = vec3Field(dirs, it.key().c_str());
  }
  if (record.contains("relationships")) {
    const auto& rels = record["relationships"];
    if (!rels.is_object()) throw std::runtime_error("'relationships' is not an object");
    for (auto it = rels.begin(); it != rels.end(); ++it) {
      const std::string& rel = it.key();
      const auto& lists = it.value();
      if (!lists.is_array() || static_cast<int>(lists.size()) != scene.size())
        throw std::runtime_error("relationships " + quotedValue(rel) + " needs one list per object");
      for (int i = 0; i < scene.size(); ++i) {
        if (!lists[i].is_array()) throw std::runtime_error("relationships " + quotedValue(rel) + " entry is not a list");
        for (const auto& j : lists[i]) {
          const std::optional<int> index = jsonIntIfFits(j);
          if (!index || *index < 0 || *index >= scene.size())
            throw std::runtime_error("relationships " + quotedValue(rel) + "[" + std::to_string(i) + "] holds " + describeJson(j) +
                                     ", not an object index (0 to " + std::to_string(scene.size() - 1) + ")");
          scene.addRelation(*index, i, rel);  // j is `rel` of i
        }
      }
    }
  } else if (!scene.directions.empty()) {
    addClevrRelationships(scene);
  }
  return scene;
}

void addClevrRelationships(SceneGraph& scene, double eps) {
  for (const std::string& rel : clevr::relations()) {
    auto d = scene.directions.find(rel);
    if (d == scene.directions.end()) continue;
    for (int i = 0; i < scene.size(); ++i) {
      for (int j = 0; j < scene.size(); ++j) {
        if (i == j) continue;
        double dot = 0;
        for (int k = 0; k < 3; ++k) dot += (scene.object(j).coords[k] - scene.object(i).coords[k]) * d->second[k];
        if (dot > eps) scene.addRelation(j, i, rel);
      }
    }
  }
}

nlohmann::json clevrSceneToJson(const SceneGraph& scene) {
  nlohmann::json objects = nlohmann::json::array();
  for (int i = 0; i < scene.size(); ++i) {
    const SceneObject& o = scene.object(i);
    nlohmann::json j;
    for (clevr::Attribute a : clevr::attributes()) {
      auto it = o.attributes.find(clevr::attributeName(a));
      j[clevr::attributeName(a)] = it == o.attributes.end() ? "" : it->second;
    }
    j["3d_coords"] = o.coords;
    j["pixel_coords"] = {static_cast<int>(std::lround(o.pixel[0])), static_cast<int>(std::lround(o.pixel[1])),
                         o.pixel[2]};
    j["rotation"] = o.rotation;
    objects.push_back(std::move(j));
  }
  nlohmann::json relationships = nlohmann::json::object();
  for (const std::string& rel : clevr::relations()) {
    nlohmann::json lists = nlohmann::json::array();
    for (int i = 0; i < scene.size(); ++i) lists.push_back(scene.subjectsOf(i, rel));
    relationships[rel] = std::move(lists);
  }
  nlohmann::json out{{"split", scene.split}, {"image_index", scene.image_index},
                     {"image_filename", scene.image_filename}, {"objects", std::move(objects)},
                     {"relationships", std::move(relationships)}};
  if (!scene.directions.empty()) {
    nlohmann::json dirs = nlohmann::json::object();
    for (const auto& [k, v] : scene.directions) dirs[k] = v;
    out["directions"] = std::move(dirs);
  }
  return out;
}

ClevrScenes readClevrScenes(const std::string& path) {
  const nlohmann::json root = readJsonFile(path);
  ClevrScenes out;
  out.info = root.is_object() && root.contains("info") ? root["info"] : nlohmann::json::object();
  const auto& scenes = listIn(root, "scenes", path);
  const std::string fileSplit = out.info.is_object() && out.info.contains("split") && out.info["split"].is_string()
                                    ? out.info["split"].get<std::string>()
                                    : "";
  std::map<std::pair<std::string, int>, size_t> firstWithIndex;  // (split, image_index) -> scene position
  out.scenes.reserve(scenes.size());
  for (size_t k = 0; k < scenes.size(); ++k) {
    try {
      out.scenes.push_back(clevrSceneFromJson(scenes[k]));
    } catch (const std::exception& e) {
      throw InputError::in(path, sceneLabel(k, scenes[k]), e);
    }
    const SceneGraph& scene = out.scenes.back();
    const auto [it, added] =
        firstWithIndex.emplace(std::pair{scene.split.empty() ? fileSplit : scene.split, scene.image_index}, k);
    if (!added)
      throw InputError(path, sceneLabel(k, scenes[k]),
                       "image_index " + std::to_string(scene.image_index) + " is already used by scene " +
                           std::to_string(it->second));
  }
  return out;
}

void writeClevrScenes(const std::string& path, const std::vector<SceneGraph>& scenes, const nlohmann::json& info) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : scenes) list.push_back(clevrSceneToJson(s));
  writeJsonFileAtomic(path, {{"info", info}, {"scenes", std::move(list)}});
}

std::string clevrQuestionLabel(size_t position, const ClevrQuestion& q) {
  std::string label = "question " + std::to_string(position);
  if (q.question_index >= 0 && q.question_index != static_cast<int>(position))
    label += " (question_index " + std::to_string(q.question_index) + ")";
  return label;
}

ClevrQuestions readClevrQuestions(const std::string& path) {
  const nlohmann::json root = readJsonFile(path);
  ClevrQuestions out;
  out.info = root.is_object() && root.contains("info") ? root["info"] : nlohmann::json::object();
  const auto& list = listIn(root, "questions", path);
  for (size_t k = 0; k < list.size(); ++k) {
    const auto& r = list[k];
    ClevrQuestion q;
    try {
      q.image_index = indexField(r, "image_index");
      q.question = stringField(r, "question");
      if (r.contains("question_index")) q.question_index = indexField(r, "question_index");
      if (r.contains("image_filename")) q.image_filename = stringField(r, "image_filename");
      if (r.contains("split")) q.split = stringField(r, "split");
      if (r.contains("question_family_index")) q.question_family_index = indexField(r, "question_family_index");
      if (r.contains("template_filename")) q.template_filename = stringField(r, "template_filename");
      if (r.contains("answer")) {
        const auto& a = r["answer"];
        // Released answers are strings; the generator's raw output may hold booleans and integers.
        if (a.is_string()) q.answer = a.get<std::string>();
        else if (a.is_boolean()) q.answer = a.get<bool>() ? "yes" : "no";
        else if (a.is_number_integer()) q.answer = std::to_string(jsonInt(a, "answer", 0, INT_MAX));
        else throw std::runtime_error("'answer' is not a string");
        q.has_answer = true;
      }
      if (r.contains("program")) {
        q.has_program = true;
        try {
          q.program = parseProgram(r["program"]);
        } catch (const std::exception& e) {
          q.program_error = e.what();
        }
      }
    } catch (const std::exception& e) {
      throw InputError::in(path, "question " + std::to_string(k), e);
    }
    out.questions.push_back(std::move(q));
  }
  return out;
}

nlohmann::json clevrQuestionToJson(const ClevrQuestion& q, ProgramSpelling spelling) {
  nlohmann::json j{{"image_index", q.image_index}, {"image_filename", q.image_filename}, {"split", q.split},
                   {"question_index", q.question_index}, {"question", q.question}};
  if (q.question_family_index >= 0) j["question_family_index"] = q.question_family_index;
  if (q.has_answer) j["answer"] = q.answer;
  if (q.has_program) j["program"] = programToJson(q.program, spelling);
  if (!q.template_filename.empty() && spelling == ProgramSpelling::Generator)
    j["template_filename"] = q.template_filename;
  return j;
}

void writeClevrQuestions(const std::string& path, const std::vector<ClevrQuestion>& questions,
                         const nlohmann::json& info, ProgramSpelling spelling) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& q : questions) list.push_back(clevrQuestionToJson(q, spelling));
  writeJsonFileAtomic(path, {{"info", info}, {"questions", std::move(list)}});
}

}  // namespace vqa
