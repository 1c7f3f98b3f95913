// Matching, metrics and the evaluation loop of the scene parser.
#include "vision/scene_metrics.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/vocab.h"
#include "datasets/clevr/clevr_io.h"
#include "executor/symbolic_executor.h"

namespace vqa::vision {

std::vector<PredictedObject> detectedObjects(const SceneParse& parse, int64_t b, double threshold, int input_width,
                                             int image_width) {
  std::vector<PredictedObject> out;
  const double scale = static_cast<double>(image_width) / input_width;
  at::Tensor existence = parse.scene.mask[b].cpu(), centers = parse.centers[b].cpu();
  at::Tensor positions = parse.scene.positions[b].cpu();
  std::vector<at::Tensor> attributes;
  for (const auto& a : parse.scene.attributes) attributes.push_back(a[b].cpu());
  for (int64_t i = 0; i < existence.size(0); ++i) {
    const double e = existence[i].item<double>();
    if (e < threshold) continue;
    PredictedObject o;
    o.existence = e;
    o.pixel = {centers[i][0].item<double>() * scale, centers[i][1].item<double>() * scale};
    for (int k = 0; k < 3; ++k) o.position[static_cast<size_t>(k)] = positions[i][k].item<double>();
    for (size_t g = 0; g < attributes.size() && g < 4; ++g) {
      auto [value, index] = attributes[g][i].max(0);
      o.values[g] = static_cast<int>(index.item<int64_t>());
      o.confidence[g] = value.item<double>();
    }
    out.push_back(o);
  }
  return out;
}

SceneGraph predictedSceneGraph(const std::vector<PredictedObject>& objects, const SceneGraph& reference) {
  SceneGraph g;
  g.split = reference.split;
  g.image_index = reference.image_index;
  g.image_filename = reference.image_filename;
  g.directions = reference.directions;
  for (size_t i = 0; i < objects.size(); ++i) {
    SceneObject o;
    o.id = std::to_string(i);
    for (auto a : clevr::attributes())
      o.attributes[clevr::attributeName(a)] =
          clevr::attributeValues(a).at(static_cast<size_t>(objects[i].values[static_cast<size_t>(a)]));
    o.coords = objects[i].position;
    o.pixel = {objects[i].pixel[0], objects[i].pixel[1], 0.0};
    g.addObject(o);
  }
  addClevrRelationships(g, 0.2);
  return g;
}

SceneEvaluation::SceneEvaluation(double match_radius_px) : radius_(match_radius_px) {
  for (auto a : clevr::attributes()) {
    const size_t V = clevr::attributeValues(a).size();
    confusion_[static_cast<size_t>(a)].assign(V, std::vector<long>(V, 0));
  }
}

void SceneEvaluation::add(const std::vector<PredictedObject>& predicted, const SceneGraph& truth, int image_width,
                          const std::vector<double>* visible_pixels) {
  ++images_;
  auto band_of = [&](int t) -> Band* {
    if (!visible_pixels || static_cast<size_t>(t) >= visible_pixels->size()) return nullptr;
    size_t k = 0;
    while (k + 1 < kVisibleBands.size() && (*visible_pixels)[static_cast<size_t>(t)] >= kVisibleBands[k + 1]) ++k;
    return &bands_[k];
  };
  if (visible_pixels) {
    has_bands_ = true;
    for (int t = 0; t < truth.size(); ++t)
      if (Band* band = band_of(t)) ++band->annotated;
  }
  predicted_ += static_cast<long>(predicted.size());
  annotated_ += truth.size();
  const double radius = radius_ * image_width / 480.0;
  // Greedy matching by distance: the closest (prediction, object) pair within the radius first.
  std::vector<std::tuple<double, int, int>> pairs;
  for (size_t p = 0; p < predicted.size(); ++p)
    for (int t = 0; t < truth.size(); ++t) {
      const auto& px = truth.object(t).pixel;
      const double d = std::hypot(predicted[p].pixel[0] - px[0], predicted[p].pixel[1] - px[1]);
      if (d <= radius) pairs.emplace_back(d, static_cast<int>(p), t);
    }
  std::sort(pairs.begin(), pairs.end());
  std::vector<int> match_of_truth(static_cast<size_t>(truth.size()), -1), used(predicted.size(), 0);
  for (const auto& [d, p, t] : pairs) {
    if (used[static_cast<size_t>(p)] || match_of_truth[static_cast<size_t>(t)] >= 0) continue;
    used[static_cast<size_t>(p)] = 1;
    match_of_truth[static_cast<size_t>(t)] = p;
    ++matched_;
    pixel_errors_.push_back(d * 480.0 / image_width);
    const PredictedObject& o = predicted[static_cast<size_t>(p)];
    const SceneObject& obj = truth.object(t);
    Band* band = band_of(t);
    if (band) ++band->matched;
    for (auto a : clevr::attributes()) {
      const size_t g = static_cast<size_t>(a);
      const int v = clevr::valueIndex(a, obj.attributes.at(clevr::attributeName(a)));
      confusion_[g][static_cast<size_t>(v)][static_cast<size_t>(o.values[g])] += 1;
      attribute_correct_[g] += v == o.values[g] ? 1 : 0;
      if (band) band->attribute_correct[g] += v == o.values[g] ? 1 : 0;
    }
    position_errors_.push_back(std::sqrt(std::pow(o.position[0] - obj.coords[0], 2) +
                                         std::pow(o.position[1] - obj.coords[1], 2) +
                                         std::pow(o.position[2] - obj.coords[2], 2)));
  }
  // Relations between matched objects: predicted from back-projected positions with the scene's directions.
  const auto& names = clevr::relations();
  for (int i = 0; i < truth.size(); ++i)
    for (int j = 0; j < truth.size(); ++j) {
      if (i == j || match_of_truth[static_cast<size_t>(i)] < 0 || match_of_truth[static_cast<size_t>(j)] < 0) continue;
      const auto& pi = predicted[static_cast<size_t>(match_of_truth[static_cast<size_t>(i)])].position;
      const auto& pj = predicted[static_cast<size_t>(match_of_truth[static_cast<size_t>(j)])].position;
      for (const auto& r : names) {
        auto dir = truth.directions.find(r);
        if (dir == truth.directions.end()) continue;
        const double dot = (pj[0] - pi[0]) * dir->second[0] + (pj[1] - pi[1]) * dir->second[1] +
                           (pj[2] - pi[2]) * dir->second[2];
        const bool predicted_rel = dot > 0.2;
        const bool true_rel = truth.hasRelation(j, i, r);  // edge j --r--> i: j is r of i
        ++relation_pairs_;
        relation_correct_ += predicted_rel == true_rel ? 1 : 0;
      }
    }
}

double SceneEvaluation::precision() const { return predicted_ ? static_cast<double>(matched_) / predicted_ : 0.0; }
double SceneEvaluation::recall() const { return annotated_ ? static_cast<double>(matched_) / annotated_ : 0.0; }
double SceneEvaluation::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}
double SceneEvaluation::attributeAccuracy(int group) const {
  return matched_ ? static_cast<double>(attribute_correct_[static_cast<size_t>(group)]) / matched_ : 0.0;
}
double SceneEvaluation::relationAccuracy() const {
  return relation_pairs_ ? static_cast<double>(relation_correct_) / relation_pairs_ : 0.0;
}
double SceneEvaluation::meanPositionError() const {
  double s = 0;
  for (double e : position_errors_) s += e;
  return position_errors_.empty() ? 0.0 : s / position_errors_.size();
}

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}
}  // namespace

nlohmann::json SceneEvaluation::toJson() const {
  nlohmann::json j;
  j["images"] = images_;
  j["detection"] = {{"precision", precision()}, {"recall", recall()}, {"f1", f1()}, {"predicted", predicted_},
                    {"annotated", annotated_}, {"matched", matched_}, {"match_radius_px", radius_}};
  nlohmann::json attrs = nlohmann::json::object(), confusion = nlohmann::json::object();
  for (auto a : clevr::attributes()) {
    const size_t g = static_cast<size_t>(a);
    attrs[clevr::attributeName(a)] = attributeAccuracy(static_cast<int>(g));
    confusion[clevr::attributeName(a)] = {{"values", clevr::attributeValues(a)},
                                          {"rows_truth_columns_predicted", confusion_[g]}};
  }
  j["attributes"] = attrs;
  j["confusion"] = confusion;
  j["relations"] = relationAccuracy();
  j["relation_pairs"] = relation_pairs_;
  double pixel_mean = 0;
  for (double e : pixel_errors_) pixel_mean += e;
  if (!pixel_errors_.empty()) pixel_mean /= pixel_errors_.size();
  std::vector<double> sorted_px = pixel_errors_;
  std::sort(sorted_px.begin(), sorted_px.end());
  const double pixel_p90 = sorted_px.empty() ? 0.0 : sorted_px[static_cast<size_t>(0.9 * (sorted_px.size() - 1))];
  j["position_error"] = {{"mean", meanPositionError()}, {"median", median(position_errors_)},
                         {"center_px_mean", pixel_mean}, {"center_px_median", median(pixel_errors_)},
                         {"center_px_p90", pixel_p90}};
  if (questions_ > 0) {
    j["oracle_program_vqa"] = static_cast<double>(correct_answers_) / questions_;
    j["oracle_program_questions"] = questions_;
  }
  if (has_bands_) {
    nlohmann::json bands = nlohmann::json::array();
    for (size_t k = 0; k < bands_.size(); ++k) {
      const Band& b = bands_[k];
      nlohmann::json band = {{"min_pixels", kVisibleBands[k]}, {"annotated", b.annotated}, {"matched", b.matched},
                             {"recall", b.annotated ? static_cast<double>(b.matched) / b.annotated : 0.0}};
      if (k + 1 < bands_.size()) band["max_pixels"] = kVisibleBands[k + 1];
      nlohmann::json attrs = nlohmann::json::object();
      for (auto a : clevr::attributes()) {
        const size_t g = static_cast<size_t>(a);
        attrs[clevr::attributeName(a)] = b.matched ? static_cast<double>(b.attribute_correct[g]) / b.matched : 0.0;
      }
      band["attributes"] = attrs;
      bands.push_back(band);
    }
    j["by_visible_pixels"] = bands;
  }
  return j;
}

std::string SceneEvaluation::summary() const {
  char line[512];
  std::ostringstream out;
  std::snprintf(line, sizeof line, "images %d  detection P %.4f R %.4f F1 %.4f (%ld predicted, %ld annotated, %ld matched)\n",
                images_, precision(), recall(), f1(), predicted_, annotated_, matched_);
  out << line;
  std::snprintf(line, sizeof line, "attributes: color %.4f  shape %.4f  material %.4f  size %.4f\n",
                attributeAccuracy(0), attributeAccuracy(1), attributeAccuracy(2), attributeAccuracy(3));
  out << line;
  std::snprintf(line, sizeof line, "relations %.4f (%ld pair-relations)  position error mean %.3f median %.3f\n",
                relationAccuracy(), relation_pairs_, meanPositionError(), median(position_errors_));
  out << line;
  if (questions_ > 0) {
    std::snprintf(line, sizeof line, "oracle-program VQA on predicted scenes: %ld/%ld = %.4f\n", correct_answers_,
                  questions_, static_cast<double>(correct_answers_) / questions_);
    out << line;
  }
  for (size_t k = 0; has_bands_ && k < bands_.size(); ++k) {
    const Band& b = bands_[k];
    const double m = static_cast<double>(std::max(1L, b.matched));
    char band[32];
    if (k + 1 < bands_.size()) std::snprintf(band, sizeof band, "%.0f-%.0f", kVisibleBands[k], kVisibleBands[k + 1]);
    else std::snprintf(band, sizeof band, "%.0f+", kVisibleBands[k]);
    std::snprintf(line, sizeof line,
                  "visible px %-9s %5ld objects, recall %.4f  color %.4f shape %.4f material %.4f size %.4f\n", band,
                  b.annotated, b.annotated ? static_cast<double>(b.matched) / b.annotated : 0.0,
                  b.attribute_correct[0] / m, b.attribute_correct[1] / m, b.attribute_correct[2] / m,
                  b.attribute_correct[3] / m);
    out << line;
  }
  return out.str();
}

nlohmann::json evaluateSceneParser(SceneParser& parser, const SceneDataset& data, const EvaluateOptions& options,
                                   const std::function<void(int, int)>& progress, SceneEvaluation* evaluation_out) {
  const SceneParserOptions& po = parser->options();
  const int total = options.max_images > 0 ? std::min<int>(options.max_images, static_cast<int>(data.records.size()))
                                           : static_cast<int>(data.records.size());
  // Questions per image filename (only those with programs and answers).
  std::map<std::string, std::vector<const ClevrQuestion*>> questions_of;
  ClevrQuestions questions;
  if (!options.questions_path.empty()) {
    questions = readClevrQuestions(options.questions_path);
    for (const auto& q : questions.questions)
      if (q.has_program && q.has_answer && q.program_error.empty()) questions_of[q.image_filename].push_back(&q);
  }
  LoaderOptions lo;
  lo.batch_size = std::max(1, options.batch_size);
  lo.input_width = static_cast<int>(po.input_width);
  lo.input_height = static_cast<int>(po.input_height);
  lo.image_scale = static_cast<int>(po.imageScale());
  lo.output_stride = static_cast<int>(SceneParserOptions::kOutputStride);
  lo.max_objects = static_cast<int>(po.max_objects);
  lo.threads = options.loader_threads;
  lo.object_ids = !data.masks_dir.empty();  // for the breakdown by visible pixels
  const int batches = (total + lo.batch_size - 1) / lo.batch_size;
  auto order = [&](int64_t k) {
    std::vector<int> idx;
    for (int i = static_cast<int>(k) * lo.batch_size; i < std::min(total, static_cast<int>(k + 1) * lo.batch_size); ++i)
      idx.push_back(i);
    return idx;
  };
  SceneEvaluation evaluation;
  const ClevrExecutor executor;
  const bool was_training = parser->is_training();
  parser->eval();
  torch::NoGradGuard no_grad;
  double compute_seconds = 0;
  int done = 0;
  {
    BatchLoader loader(data, lo, order, 0, batches);
    for (int k = 0; k < batches; ++k) {
      SceneBatch batch = loader.next();
      const auto start = std::chrono::steady_clock::now();
      SceneParse parse = parser->parse(batch.images);
      compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      for (size_t b = 0; b < batch.indices.size(); ++b) {
        const SceneGraph& truth = data.records[static_cast<size_t>(batch.indices[b])].scene;
        auto objects = detectedObjects(parse, static_cast<int64_t>(b), po.detection_threshold,
                                       static_cast<int>(po.input_width), batch.image_widths[b]);
        std::vector<double> visible;
        if (lo.object_ids) {
          // Pixels per object id at the loaded size, counted at 480x320.
          const at::Tensor ids = batch.object_ids[static_cast<int64_t>(b)].flatten().to(at::kLong);
          const at::Tensor counts = at::bincount(ids, {}, truth.size() + 1).to(at::kDouble);
          const double per_pixel = (480.0 * 320.0) / static_cast<double>(ids.numel());
          for (int t = 0; t < truth.size(); ++t) visible.push_back(counts[t + 1].item<double>() * per_pixel);
        }
        evaluation.add(objects, truth, batch.image_widths[b], lo.object_ids ? &visible : nullptr);
        auto it = questions_of.find(truth.image_filename);
        const bool asked = it != questions_of.end();
        if (!asked && !options.predicted_scenes) continue;
        SceneGraph predicted = predictedSceneGraph(objects, truth);
        if (asked) {
          for (const ClevrQuestion* q : it->second) {
            ExecutionResult r = executor.run(q->program, predicted);
            evaluation.addQuestion(r.ok && r.answer == q->answer);
          }
        }
        if (options.predicted_scenes) options.predicted_scenes->push_back(std::move(predicted));
      }
      done += static_cast<int>(batch.indices.size());
      if (progress) progress(done, total);
    }
  }
  if (was_training) parser->train();
  nlohmann::json j = evaluation.toJson();
  j["images_per_second"] = compute_seconds > 0 ? done / compute_seconds : 0.0;
  j["detection_threshold"] = po.detection_threshold;
  if (evaluation_out) *evaluation_out = evaluation;
  return j;
}

}  // namespace vqa::vision
