// `vqa average`: the weight average of models of one kind and architecture (a scene parser's or a floating-point
// engine's continuations of one run), written as a new model that every command loads like any other.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "model/engine_model.h"
#include "model/engine_quantization.h"
#include "training/model_file.h"
#include "training/weight_average.h"
#include "vision/trainer.h"

namespace {

struct AverageArgs {
  std::string out;
  std::vector<std::string> models;
};

// Throws "PATH: differs from FIRST in its KEY" where two models' descriptions (what fixes the architecture, the
// vocabularies and the training questions, as this build reads them) differ in an entry.
void requireSame(const nlohmann::json& first, const nlohmann::json& other, const std::string& first_path,
                 const std::string& path) {
  for (const auto& [key, value] : first.items()) {
    if (other.value(key, nlohmann::json()) != value)
      throw std::runtime_error(path + ": differs from " + first_path + " in its " + key +
                               " (only models of one architecture and training data can be averaged)");
  }
}

void averageSceneParsers(const AverageArgs& a) {
  std::vector<vqa::vision::LoadedSceneParser> loaded;
  for (const std::string& path : a.models) loaded.push_back(vqa::vision::loadSceneParser(path));
  auto describe = [](const vqa::vision::SceneParser& p) {
    return nlohmann::json{{"scene parser options", p->options().toJson()}};
  };
  std::vector<torch::nn::Module*> others;
  for (size_t k = 1; k < loaded.size(); ++k) {
    requireSame(describe(loaded[0].parser), describe(loaded[k].parser), a.models[0], a.models[k]);
    others.push_back(loaded[k].parser.get());
  }
  vqa::training::averageModules(*loaded[0].parser, others, a.models);
  vqa::vision::saveSceneParser(a.out, loaded[0].parser);
}

void averageEngines(const AverageArgs& a) {
  std::vector<vqa::model::LoadedEngineModel> loaded;
  for (const std::string& path : a.models) {
    loaded.push_back(vqa::model::loadEngineModel(path));
    vqa::model::requireFloatModel(*loaded.back().model, path);
  }
  auto describe = [](const vqa::model::EngineModel& m) {
    return nlohmann::json{{"scene source", m.options.scene},
                          {"concept mask", m.options.concept_mask},
                          {"phrase pointers", m.options.phrase_pointers},
                          {"program model options", m.parser->options().toJson()},
                          {"question tokenizer", m.tokenizer.toJson()},
                          {"scene parser options", m.vision ? m.vision->options().toJson() : nlohmann::json()},
                          {"training questions", m.trained_on}};
  };
  vqa::model::EngineModel& target = *loaded[0].model;
  std::vector<torch::nn::Module*> parsers, visions;
  for (size_t k = 1; k < loaded.size(); ++k) {
    requireSame(describe(target), describe(*loaded[k].model), a.models[0], a.models[k]);
    parsers.push_back(loaded[k].model->parser.get());
    if (target.vision) visions.push_back(loaded[k].model->vision.get());
  }
  vqa::training::averageModules(*target.parser, parsers, a.models);
  if (target.vision) vqa::training::averageModules(*target.vision, visions, a.models);
  vqa::model::saveEngineModel(a.out, target);
}

void run(const AverageArgs& a) {
  vqa::cli::checkOutputFile("--out", a.out);
  if (a.models.size() < 2) throw std::runtime_error("average: give at least two models");
  const std::string kind = vqa::training::readModelKind(a.models[0]);
  for (size_t k = 1; k < a.models.size(); ++k) {
    const std::string other = vqa::training::readModelKind(a.models[k]);
    if (other != kind)
      throw std::runtime_error(a.models[k] + ": is a '" + other + "' model, not a '" + kind + "' model as " +
                               a.models[0]);
  }
  if (kind == vqa::vision::kSceneParserKind) {
    averageSceneParsers(a);
  } else if (kind == vqa::model::kEngineModelKind) {
    averageEngines(a);
  } else {
    throw std::runtime_error(a.models[0] + ": a '" + kind +
                             "' model cannot be averaged (scene parsers and engines can)");
  }
  std::fprintf(stderr, "average: %zu '%s' models -> %s\n", a.models.size(), kind.c_str(), a.out.c_str());
}

const vqa::cli::Registrar kAverage(
    "average", "write the weight average of models of one kind and architecture (continuations of one run)",
    [](CLI::App& app) {
      auto args = std::make_shared<AverageArgs>();
      app.add_option("--out", args->out, "the averaged model (written atomically)")->required();
      app.add_option("models", args->models,
                     "two or more scene parsers, or floating-point engines, of one architecture")->required();
      app.callback([args] { run(*args); });
    });

}  // namespace
