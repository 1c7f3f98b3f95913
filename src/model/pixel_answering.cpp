// Answering from pixels: images -> SoftScenes (and detected scene graphs), questions -> programs,
// programs run by the SoftExecutor on the SoftScenes.
#include "model/pixel_answering.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <stdexcept>

#include "core/vocab.h"
#include "executor/soft_executor.h"
#include "vision/image_io.h"

namespace vqa::model {

namespace {

// The batch rows of several one-image scenes, stacked (features are left out: execution does not read them).
SoftScene stackScenes(const std::vector<const SoftScene*>& scenes) {
  std::vector<at::Tensor> mask, relations, positions;
  std::vector<std::vector<at::Tensor>> attributes(clevr::kNumAttributes);
  for (const SoftScene* s : scenes) {
    mask.push_back(s->mask);
    relations.push_back(s->relations);
    positions.push_back(s->positions);
    for (size_t g = 0; g < attributes.size(); ++g) attributes[g].push_back(s->attributes[g]);
  }
  SoftScene out;
  out.mask = at::cat(mask, 0);
  out.relations = at::cat(relations, 0);
  out.positions = at::cat(positions, 0);
  for (auto& a : attributes) out.attributes.push_back(at::cat(a, 0));
  return out;
}

}  // namespace

std::vector<ParsedImage> parseImages(EngineModel& model, const std::vector<cv::Mat>& images, int batch_size,
                                     const std::vector<const SceneGraph*>& reference) {
  if (!model.vision) throw std::invalid_argument("parseImages: the model has no scene parser (--scene oracle)");
  if (!reference.empty() && reference.size() != images.size())
    throw std::invalid_argument("parseImages: one reference scene per image");
  vision::SceneParser& parser = model.vision;
  const vision::SceneParserOptions& po = parser->options();
  // The parser's own camera directions: the soft relations and the detected scenes' relationships agree.
  const at::Tensor directions = parser->groundPlane().directions().to(at::kDouble);
  const char* names[4] = {"left", "right", "behind", "front"};

  torch::NoGradGuard no_grad;
  std::vector<ParsedImage> out;
  out.reserve(images.size());
  const size_t step = static_cast<size_t>(std::max(1, batch_size));
  for (size_t start = 0; start < images.size(); start += step) {
    const size_t end = std::min(images.size(), start + step);
    std::vector<at::Tensor> batch;
    for (size_t k = start; k < end; ++k)
      batch.push_back(vision::imageToTensor(images[k], static_cast<int>(po.imageWidth()), static_cast<int>(po.imageHeight())));
    const vision::SceneParse parse = parser->parse(at::stack(batch));
    for (size_t k = start; k < end; ++k) {
      const int64_t b = static_cast<int64_t>(k - start);
      ParsedImage p;
      p.width = images[k].cols;
      p.height = images[k].rows;
      p.scene = selectScenes(parse.scene, at::tensor({b}, at::kLong));
      p.scene.features = at::Tensor();
      p.objects = vision::detectedObjects(parse, b, po.detection_threshold, static_cast<int>(po.input_width), p.width);
      const at::Tensor existence = parse.scene.mask[b];
      for (int64_t i = 0; i < existence.size(0); ++i)
        if (existence[i].item<double>() >= po.detection_threshold) p.object_slots.push_back(i);
      SceneGraph frame;
      if (!reference.empty() && reference[k]) frame = *reference[k];
      for (int r = 0; r < 4; ++r)
        frame.directions[names[r]] = {directions[r][0].item<double>(), directions[r][1].item<double>(),
                                      directions[r][2].item<double>()};
      p.graph = vision::predictedSceneGraph(p.objects, frame);
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::vector<PixelAnswer> answerOnImages(EngineModel& model, const std::vector<std::string>& questions,
                                        const std::vector<const ParsedImage*>& images, int batch_size,
                                        int retry_samples) {
  if (questions.size() != images.size()) throw std::invalid_argument("answerOnImages: one image per question");
  std::vector<const SceneGraph*> graphs;
  for (const ParsedImage* p : images) graphs.push_back(&p->graph);
  const std::vector<AnsweredQuestion> chosen = answerWithScenes(model, questions, graphs, batch_size, retry_samples);

  const SoftExecutor executor;
  const auto& answers = clevr::answers();
  std::vector<PixelAnswer> out(questions.size());
  torch::NoGradGuard no_grad;
  const size_t step = static_cast<size_t>(std::max(1, batch_size));
  for (size_t start = 0; start < questions.size(); start += step) {
    const size_t end = std::min(questions.size(), start + step);
    std::vector<std::vector<int>> programs;
    std::vector<const SoftScene*> scenes;
    for (size_t k = start; k < end; ++k) {
      programs.push_back(chosen[k].program);
      scenes.push_back(&images[k]->scene);
    }
    const SoftExecution run = executor.run(oneHotTokens(programs), stackScenes(scenes));
    for (size_t k = start; k < end; ++k) {
      const int64_t b = static_cast<int64_t>(k - start);
      PixelAnswer& a = out[k];
      a.program = chosen[k].program;
      a.symbolic_answer = chosen[k].answer;
      a.error = chosen[k].error;
      if (a.program.empty()) {
        if (a.error.empty()) a.error = "no program";
        continue;
      }
      const at::Tensor dist = run.answer[b];
      const int64_t best = dist.argmax().item<int64_t>();
      a.answer = answers.at(static_cast<size_t>(best));
      a.probability = dist[best].item<double>();
      const ParsedImage& image = *images[k];
      for (size_t t = 0; t < a.program.size(); ++t) {
        const at::Tensor masses = run.step_masses[b][static_cast<int64_t>(t)];
        const at::Tensor step_answer = run.step_answers[b][static_cast<int64_t>(t)];
        std::vector<double> attention;
        for (int64_t slot : image.object_slots) attention.push_back(masses[slot].item<double>());
        a.step_attention.push_back(std::move(attention));
        a.step_answers.push_back(step_answer.sum().item<double>() > 0.5
                                     ? answers.at(static_cast<size_t>(step_answer.argmax().item<int64_t>()))
                                     : std::string());
      }
    }
  }
  return out;
}

}  // namespace vqa::model
