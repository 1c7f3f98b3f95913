// GqaVocabulary (word lists, JSON round trip) and GqaSoftScene construction from GQA scene graphs.
#include "executor/gqa_soft_scene.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace vqa {

const std::string GqaVocabulary::kUnknown = "<unk>";

GqaWordList::GqaWordList() { add(GqaVocabulary::kUnknown); }

int64_t GqaWordList::add(const std::string& word) {
  if (word.empty()) return -1;
  auto it = index_.find(word);
  if (it != index_.end()) return it->second;
  const auto index = static_cast<int64_t>(words_.size());
  words_.push_back(word);
  index_.emplace(word, index);
  return index;
}

int64_t GqaWordList::find(const std::string& word) const {
  auto it = index_.find(word);
  return it == index_.end() ? -1 : it->second;
}

int64_t GqaWordList::indexOrUnknown(const std::string& word) const {
  const int64_t i = find(word);
  return i < 0 ? 0 : i;
}

void GqaVocabulary::addScene(const SceneGraph& scene) {
  for (int i = 0; i < scene.size(); ++i) {
    const SceneObject& o = scene.object(i);
    names_.add(o.name);
    for (const auto& l : o.labels) attributes_.add(l);
    for (const auto& [type, value] : o.attributes) attributes_.add(value);
  }
  for (const auto& [type, value] : scene.image_attributes) {
    image_attributes_.add(type);
    attributes_.add(value);
  }
  const auto& g = scene.graph();
  for (auto [it, end] = boost::edges(g); it != end; ++it) relations_.add(g[*it].name);
}

void GqaVocabulary::addProgram(const GqaProgram& program) {
  for (const auto& s : program.steps) {
    if (!s.name.empty() && s.name != "_" && s.name != "scene") names_.add(s.name);
    for (const auto& r : s.relations) relations_.add(r);
    if (s.op == GqaOp::Filter || s.op == GqaOp::Verify || s.op == GqaOp::Choose)
      for (const auto& v : s.values) attributes_.add(v);
  }
}

nlohmann::json GqaVocabulary::toJson() const {
  auto list = [](const GqaWordList& l) {
    return std::vector<std::string>(l.words().begin() + 1, l.words().end());
  };
  return {{"names", list(names_)},
          {"attributes", list(attributes_)},
          {"relations", list(relations_)},
          {"image_attributes", list(image_attributes_)}};
}

GqaVocabulary GqaVocabulary::fromJson(const nlohmann::json& json) {
  if (!json.is_object()) throw std::runtime_error("GQA vocabulary: not a JSON object");
  GqaVocabulary v;
  const std::pair<const char*, GqaWordList*> lists[] = {{"names", &v.names_},
                                                        {"attributes", &v.attributes_},
                                                        {"relations", &v.relations_},
                                                        {"image_attributes", &v.image_attributes_}};
  for (const auto& [key, list] : lists) {
    if (!json.contains(key) || !json[key].is_array())
      throw std::runtime_error(std::string("GQA vocabulary: missing list '") + key + "'");
    for (const auto& w : json[key]) {
      if (!w.is_string() || w.get<std::string>().empty() || w.get<std::string>() == kUnknown)
        throw std::runtime_error(std::string("GQA vocabulary: '") + key + "' holds an entry that is not a word");
      if (list->find(w.get<std::string>()) >= 0)
        throw std::runtime_error(std::string("GQA vocabulary: '") + key + "' lists '" + w.get<std::string>() +
                                 "' twice");
      list->add(w.get<std::string>());
    }
  }
  return v;
}

const std::vector<std::string>& gqaHorizontalPositions() {
  static const std::vector<std::string> p{"left", "middle", "right"};
  return p;
}
const std::vector<std::string>& gqaVerticalPositions() {
  static const std::vector<std::string> p{"top", "middle", "bottom"};
  return p;
}

namespace {

// Thirds of the image as gqa_executor.cpp computes them: 0 first, 1 middle, 2 last; -1 when the size is unknown.
int third(double start, double length, int image_size) {
  if (image_size <= 0) return -1;
  const double c = start + length / 2.0;
  return c < image_size / 3.0 ? 0 : c > 2.0 * image_size / 3.0 ? 2 : 1;
}

}  // namespace

GqaSoftScene GqaSoftScene::fromSceneGraphs(const std::vector<SceneGraph>& scenes, const GqaVocabulary& vocabulary,
                                           int64_t max_objects) {
  const auto B = static_cast<int64_t>(scenes.size());
  int64_t N = max_objects;
  if (N <= 0) {
    N = 0;
    for (const auto& s : scenes) N = std::max<int64_t>(N, s.size());
  }
  const int64_t R = vocabulary.relations().size(), K = vocabulary.imageAttributes().size();
  GqaSoftScene out;
  out.mask = at::zeros({B, N});
  out.names = at::zeros({B, N, vocabulary.names().size()});
  out.attributes = at::zeros({B, N, vocabulary.attributes().size()});
  out.relations = at::zeros({B, R, N, N});
  out.hpositions = at::zeros({B, N, 3});
  out.vpositions = at::zeros({B, N, 3});
  out.image_attributes = at::zeros({B, K, vocabulary.attributes().size()});
  auto mask = out.mask.accessor<float, 2>();
  auto names = out.names.accessor<float, 3>();
  auto attrs = out.attributes.accessor<float, 3>();
  auto rels = out.relations.accessor<float, 4>();
  auto hpos = out.hpositions.accessor<float, 3>();
  auto vpos = out.vpositions.accessor<float, 3>();
  auto image = out.image_attributes.accessor<float, 3>();

  for (int64_t b = 0; b < B; ++b) {
    const SceneGraph& scene = scenes[static_cast<size_t>(b)];
    const std::string where = "scene " + (scene.image_id.empty() ? std::to_string(b) : scene.image_id) + ": ";
    if (scene.size() > N)
      throw std::runtime_error(where + std::to_string(scene.size()) + " objects, more than the " +
                               std::to_string(N) + " slots");
    std::vector<std::string> ids(static_cast<size_t>(N));
    for (int i = 0; i < scene.size(); ++i) {
      const SceneObject& o = scene.object(i);
      if (o.id.empty()) throw std::runtime_error(where + "object at index " + std::to_string(i) + ": no id");
      if (o.name.empty()) throw std::runtime_error(where + "object " + o.id + ": no name");
      ids[static_cast<size_t>(i)] = o.id;
      mask[b][i] = 1.0f;
      names[b][i][vocabulary.names().indexOrUnknown(o.name)] = 1.0f;
      for (const auto& l : o.labels) attrs[b][i][vocabulary.attributes().indexOrUnknown(l)] = 1.0f;
      for (const auto& [type, value] : o.attributes) attrs[b][i][vocabulary.attributes().indexOrUnknown(value)] = 1.0f;
      if (int h = third(o.box[0], o.box[2], scene.width); h >= 0) hpos[b][i][h] = 1.0f;
      if (int v = third(o.box[1], o.box[3], scene.height); v >= 0) vpos[b][i][v] = 1.0f;
    }
    const auto& g = scene.graph();
    for (auto [it, end] = boost::edges(g); it != end; ++it) {
      const auto s = static_cast<int64_t>(boost::source(*it, g)), t = static_cast<int64_t>(boost::target(*it, g));
      const std::string& name = g[*it].name;
      if (name.empty()) throw std::runtime_error(where + "object " + scene.object(static_cast<int>(s)).id +
                                                 ": a relation without a name");
      rels[b][vocabulary.relations().indexOrUnknown(name)][s][t] = 1.0f;
    }
    for (const auto& [type, value] : scene.image_attributes) {
      const int64_t k = vocabulary.imageAttributes().find(type);
      if (k < 0 || value.empty()) continue;  // a type the vocabulary does not know is not represented
      image[b][k][vocabulary.attributes().indexOrUnknown(value)] = 1.0f;
    }
    out.object_ids.push_back(std::move(ids));
    out.image_ids.push_back(scene.image_id);
  }
  return out;
}

void GqaSoftScene::checkShapes(const GqaVocabulary& vocabulary) const {
  if (!mask.defined() || mask.dim() != 2) throw std::runtime_error("GqaSoftScene: mask must be [B, N]");
  const int64_t B = mask.size(0), N = mask.size(1);
  auto expect = [](const at::Tensor& t, const char* name, const std::vector<int64_t>& shape) {
    if (!t.defined() || t.sizes() != at::IntArrayRef(shape))
      throw std::runtime_error(std::string("GqaSoftScene: ") + name + " has the wrong shape");
  };
  const int64_t V = vocabulary.attributes().size();
  expect(names, "names", {B, N, vocabulary.names().size()});
  expect(attributes, "attributes", {B, N, V});
  expect(relations, "relations", {B, vocabulary.relations().size(), N, N});
  expect(hpositions, "hpositions", {B, N, 3});
  expect(vpositions, "vpositions", {B, N, 3});
  expect(image_attributes, "image_attributes", {B, vocabulary.imageAttributes().size(), V});
  if (static_cast<int64_t>(object_ids.size()) != B)
    throw std::runtime_error("GqaSoftScene: object_ids needs one list per batch row");
  for (const auto& ids : object_ids)
    if (static_cast<int64_t>(ids.size()) != N)
      throw std::runtime_error("GqaSoftScene: object_ids needs one id per slot");
}

}  // namespace vqa
