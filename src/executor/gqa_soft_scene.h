// GqaSoftScene: the tensor form of a batch of GQA scene graphs that the differentiable GQA executor
// (gqa_soft_executor.h) reads, and GqaVocabulary, the names / attribute values / relations / image attribute
// types its tensors are indexed by (with an <unk> entry each, and a JSON form a model file can record).
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/gqa_program.h"
#include "core/scene_graph.h"

namespace vqa {

// One indexed word list with <unk> at index 0.
class GqaWordList {
 public:
  GqaWordList();
  int64_t add(const std::string& word);      // the word's index (added when new; "" is ignored: -1)
  int64_t find(const std::string& word) const;  // -1 when absent
  int64_t indexOrUnknown(const std::string& word) const;  // 0 (<unk>) when absent
  const std::string& word(int64_t index) const { return words_.at(static_cast<size_t>(index)); }
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::map<std::string, int64_t> index_;
};

class GqaVocabulary {
 public:
  static const std::string kUnknown;  // "<unk>"

  // Object names, labels and typed attribute values, relation names, image attribute types and values.
  void addScene(const SceneGraph& scene);
  // Names, values and relations a program's arguments mention ("_" and "scene" are not names).
  void addProgram(const GqaProgram& program);

  const GqaWordList& names() const { return names_; }
  const GqaWordList& attributes() const { return attributes_; }  // attribute values ("white", "wooden", ...)
  const GqaWordList& relations() const { return relations_; }
  const GqaWordList& imageAttributes() const { return image_attributes_; }  // types: "location", "weather"

  // {"names": [...], "attributes": [...], "relations": [...], "image_attributes": [...]} (each without <unk>).
  nlohmann::json toJson() const;
  // Throws std::runtime_error("GQA vocabulary: ...") for a malformed document.
  static GqaVocabulary fromJson(const nlohmann::json& json);

 private:
  GqaWordList names_, attributes_, relations_, image_attributes_;
};

// The positions GQA derives from a bounding box (thirds of the image), in the tensors' order.
const std::vector<std::string>& gqaHorizontalPositions();  // left, middle, right
const std::vector<std::string>& gqaVerticalPositions();    // top, middle, bottom

struct GqaSoftScene {
  at::Tensor mask;              // [B, N] existence probability (one-hot scenes: 1 for objects, 0 for padding)
  at::Tensor names;             // [B, N, V_names] distribution over object names
  at::Tensor attributes;        // [B, N, V_attr] independent P(object has attribute value v) (labels and typed)
  at::Tensor relations;         // [B, R, N, N] P(object i --rel r--> object j) (GQA's edge direction)
  at::Tensor hpositions;        // [B, N, 3] left/middle/right (all 0 when the image width is unknown)
  at::Tensor vpositions;        // [B, N, 3] top/middle/bottom (all 0 when the image height is unknown)
  at::Tensor image_attributes;  // [B, K, V_attr] per image attribute type (location, weather): its value
                                // (all 0 when the image has none of that type)
  // Not differentiable: the GQA object id of every slot ("" for padding), to resolve grounded arguments.
  std::vector<std::vector<std::string>> object_ids;
  std::vector<std::string> image_ids;

  int64_t batchSize() const { return mask.size(0); }
  int64_t numSlots() const { return mask.size(1); }

  // One-hot scenes from scene graphs (object i in slot i), padded to max_objects slots (0: the largest scene).
  // Words missing from the vocabulary map to <unk>. Throws std::runtime_error("scene ID: object OID: problem")
  // for an object without a name or id, and ("scene ID: ...") for more objects than slots.
  static GqaSoftScene fromSceneGraphs(const std::vector<SceneGraph>& scenes, const GqaVocabulary& vocabulary,
                                      int64_t max_objects = 0);

  // Throws std::runtime_error naming the first tensor whose shape disagrees with mask and the vocabulary.
  void checkShapes(const GqaVocabulary& vocabulary) const;
};

}  // namespace vqa
