// Answering from pixels: the engine's SceneParser turns images into SoftScenes (and their detections into
// symbolic scenes), the ProgramParser writes each question's program (execution-guided on the image's
// detected scene, as answerWithScenes does), and the SoftExecutor runs that program on the SoftScene: the
// answer distribution, and per step the mass over the detected objects (what the step attends).
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "core/scene_graph.h"
#include "executor/soft_scene.h"
#include "model/engine_model.h"
#include "vision/scene_metrics.h"

namespace vqa::model {

struct ParsedImage {
  SoftScene scene;                                 // batch 1: every slot, existence as the mask
  std::vector<vision::PredictedObject> objects;    // detections (existence >= the parser's threshold)
  std::vector<int64_t> object_slots;               // the slot of each detection
  SceneGraph graph;                                // the detections as a symbolic scene (argmax values)
  int width = 0, height = 0;                       // the image's own size (objects' pixels are in it)
};

// Parses 8-bit BGR images (vision/image_io.h: readSceneImage / toBgr8) in batches; `reference` (optional,
// one per image) gives each scene graph its image fields. Requires model.vision.
std::vector<ParsedImage> parseImages(EngineModel& model, const std::vector<cv::Mat>& images, int batch_size = 16,
                                     const std::vector<const SceneGraph*>& reference = {});

struct PixelAnswer {
  std::vector<int> program;                      // postfix program tokens
  std::string answer;                            // the SoftExecutor's most probable answer ("" on error)
  double probability = 0;                        // its probability
  std::string error;                             // the program could not run on the detected scene
  std::string symbolic_answer;                   // the exact executor on the detections' scene graph
  std::vector<std::vector<double>> step_attention;  // [step][detection] object mass of each object-valued step
  std::vector<std::string> step_answers;         // [step] most probable answer of an answer-valued step, else ""
};

// Answers questions[k] about images[k] (pointers into parseImages' result; repeats allowed).
std::vector<PixelAnswer> answerOnImages(EngineModel& model, const std::vector<std::string>& questions,
                                        const std::vector<const ParsedImage*>& images, int batch_size = 64,
                                        int retry_samples = kDefaultRetrySamples);

}  // namespace vqa::model
