// Scene parser evaluation: detections matched to annotated objects (predicted centre within 10 px of
// pixel_coords at 480x320, greedy by distance), detection precision / recall / F1, per-attribute accuracy
// and confusion over matched objects, relation accuracy over matched pairs, 3-D position error, and the
// oracle-program VQA accuracy on the predicted scenes. Where the data has object masks, recall and attribute
// accuracy are also broken down by the pixels each object shows (at 480x320).
#pragma once
#include <array>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/scene_graph.h"
#include "vision/scene_data.h"
#include "vision/scene_parser.h"

namespace vqa::vision {

struct PredictedObject {
  std::array<double, 2> pixel{};     // image pixels of the evaluated image
  double existence = 0;
  std::array<int, 4> values{};       // argmax value index per attribute group (vocab order)
  std::array<double, 4> confidence{};
  std::array<double, 3> position{};  // back-projected 3-D centre
};

// Detected objects (existence >= threshold) of image b of a parse. image_width scales input pixels back.
std::vector<PredictedObject> detectedObjects(const SceneParse& parse, int64_t b, double threshold, int input_width,
                                             int image_width);

// A symbolic scene of the detections: attributes by argmax, 3d_coords from the back-projection, pixel
// coordinates, the reference scene's image fields and directions, and CLEVR's relationships from positions.
SceneGraph predictedSceneGraph(const std::vector<PredictedObject>& objects, const SceneGraph& reference);

class SceneEvaluation {
 public:
  explicit SceneEvaluation(double match_radius_px = 10.0);
  // image_width: the evaluated image's width (the 10 px radius is at 480 wide and scales with it).
  // visible_pixels, when given: per annotated object, the pixels it shows at 480x320 (from its object mask).
  void add(const std::vector<PredictedObject>& predicted, const SceneGraph& truth, int image_width,
           const std::vector<double>* visible_pixels = nullptr);
  void addQuestion(bool correct) { ++questions_; correct_answers_ += correct ? 1 : 0; }

  int images() const { return images_; }
  double precision() const;
  double recall() const;
  double f1() const;
  double attributeAccuracy(int group) const;
  double relationAccuracy() const;
  double meanPositionError() const;
  nlohmann::json toJson() const;
  std::string summary() const;  // a few lines for people

  // The visible-pixel bands of the breakdown: [0, 400), [400, 800), [800, 1500), [1500, inf).
  static constexpr std::array<double, 4> kVisibleBands{0, 400, 800, 1500};

 private:
  struct Band {
    long annotated = 0, matched = 0;
    std::array<long, 4> attribute_correct{};
  };
  std::array<Band, kVisibleBands.size()> bands_{};
  bool has_bands_ = false;
  double radius_;
  int images_ = 0;
  long predicted_ = 0, annotated_ = 0, matched_ = 0;
  std::array<long, 4> attribute_correct_{};
  std::array<std::vector<std::vector<long>>, 4> confusion_;  // [group][truth][predicted]
  long relation_pairs_ = 0, relation_correct_ = 0;
  std::vector<double> position_errors_;
  std::vector<double> pixel_errors_;
  long questions_ = 0, correct_answers_ = 0;
};

struct EvaluateOptions {
  int batch_size = 8;
  int loader_threads = 2;
  int max_images = 0;          // 0: all
  std::string questions_path;  // CLEVR questions with programs; empty: no VQA figure
  // When set, receives the predicted scene of every evaluated image, in evaluation order (predictedSceneGraph).
  std::vector<SceneGraph>* predicted_scenes = nullptr;
};

// Runs the parser over a dataset (eval mode, no gradients) and evaluates it. `progress(done, total)` is called
// after every batch when set. Also records images/s in the JSON as "images_per_second".
nlohmann::json evaluateSceneParser(SceneParser& parser, const SceneDataset& data, const EvaluateOptions& options,
                                   const std::function<void(int, int)>& progress = {},
                                   SceneEvaluation* evaluation_out = nullptr);

}  // namespace vqa::vision
