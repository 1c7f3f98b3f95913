// Whole-engine W8A8: BatchNorm folding, calibration on the inference path, int8 activation, and the int8
// weight codes of the quantized model file.
#include "model/engine_quantization.h"

#include <ATen/core/grad_mode.h>

#include <map>
#include <set>
#include <stdexcept>

#include "hopfield/int8.h"
#include "hopfield/quantization.h"
#include "model/pixel_answering.h"

namespace vqa::model {

namespace {

const char* kCodeScaleSuffix = ".scale";

// The parts of the engine with their file prefixes.
std::vector<std::pair<std::string, torch::nn::Module*>> parts(EngineModel& model) {
  std::vector<std::pair<std::string, torch::nn::Module*>> out = {{"program", model.parser.get()}};
  if (model.vision) out.emplace_back("vision", model.vision.get());
  return out;
}

void setMode(EngineModel& model, const hopfield::QuantSettings& settings) {
  for (auto& [prefix, module] : parts(model)) {
    try {
      hopfield::set_quant_mode(*module, settings);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(prefix + ": " + e.what());
    }
  }
}

// PREFIX.module.weight -> per output channel (convolutions) or per tensor (linear layers).
std::map<std::string, bool> quantizedWeights(EngineModel& model) {
  std::map<std::string, bool> out;
  for (auto& [prefix, module] : parts(model)) {
    for (const auto& item : module->named_modules()) {
      const std::string name = prefix + "." + (item.key().empty() ? "" : item.key() + ".") + "weight";
      if (dynamic_cast<const hopfield::QuantLinearImpl*>(item.value().get())) out[name] = false;
      if (dynamic_cast<const hopfield::QuantConv2dImpl*>(item.value().get())) out[name] = true;
    }
  }
  return out;
}

std::string int8Backends(EngineModel& model) {
  std::set<std::string> names;
  for (auto& [prefix, module] : parts(model)) {
    for (const auto& item : module->named_modules()) {
      if (auto* l = dynamic_cast<const hopfield::QuantLinearImpl*>(item.value().get()))
        names.insert("linear " + l->backend_name());
      if (auto* c = dynamic_cast<const hopfield::QuantConv2dImpl*>(item.value().get()))
        names.insert("conv " + c->backend_name());
    }
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void requireFloatModel(const EngineModel& model, const std::string& path) {
  if (!model.quantization.is_null())
    throw std::runtime_error(path + ": a quantized model cannot be trained or quantized again (use the floating "
                                    "point model it was made from)");
}

void quantizeEngine(EngineModel& model, const std::vector<cv::Mat>& images, const std::vector<std::string>& questions,
                    const QuantizeOptions& options, const nlohmann::json& source) {
  requireFloatModel(model, "the model");
  if (questions.empty()) throw std::runtime_error("quantize: no calibration questions");
  if (model.vision && images.empty()) throw std::runtime_error("quantize: no calibration images");
  if (model.vision) {
    model.vision->eval();
    model.vision = vision::foldBatchNorms(*model.vision);
  }
  model.parser->eval();
  hopfield::QuantSettings settings;
  settings.mode = hopfield::QuantMode::Calibrate;
  settings.momentum = options.momentum;
  settings.percentile = options.percentile;
  setMode(model, settings);
  {
    torch::NoGradGuard no_grad;
    size_t detected = 0;
    if (model.vision)
      for (const ParsedImage& p : parseImages(model, images, options.batch_size)) detected += p.objects.size();
    if (model.vision && detected == 0)
      throw std::runtime_error("quantize: the scene parser detected no object in the " + std::to_string(images.size()) +
                               " calibration images, so its object layers cannot be calibrated");
    model.parse(questions, options.batch_size);
  }
  for (auto& [prefix, module] : parts(model)) {
    const std::vector<std::string> missing = hopfield::uncalibrated_points(*module);
    if (!missing.empty())
      throw std::runtime_error("quantize: point " + prefix + "." + missing.front() + " saw no calibration data" +
                               (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : ""));
  }
  settings.mode = hopfield::QuantMode::Int8;
  setMode(model, settings);

  size_t linear = 0, conv = 0;
  for (const auto& [name, per_channel] : quantizedWeights(model)) (per_channel ? conv : linear)++;
  nlohmann::json points = nlohmann::json::object();
  for (auto& [prefix, module] : parts(model)) points[prefix] = hopfield::count_quant_points(*module);
  model.quantization = {
      {"scheme", "W8A8"},
      {"weights", {{"linear", "int8 symmetric, per tensor"}, {"conv", "int8 symmetric, per output channel"}}},
      {"activations", "uint8 asymmetric, per tensor, calibrated ranges"},
      {"observer", {{"kind", options.percentile > 0 ? "percentile" : "min-max"},
                    {"momentum", options.momentum},
                    {"percentile", options.percentile}}},
      {"batch_norm", model.vision ? "folded into the convolutions" : "none"},
      {"layers", {{"linear", linear}, {"conv", conv}}},
      {"activation_points", points},
      {"floating_point", "embeddings, LayerNorms, concept prototypes, the executor"},
      {"kernels", int8Backends(model)},
      {"calibration", {{"images", model.vision ? images.size() : 0},
                       {"questions", questions.size()},
                       {"batch_size", options.batch_size}}},
      {"source", source}};
}

void activateInt8(EngineModel& model) {
  hopfield::QuantSettings settings;
  settings.mode = hopfield::QuantMode::Int8;
  setMode(model, settings);
}

training::NamedTensors engineTensors(EngineModel& model, bool quantized) {
  training::NamedTensors all;
  for (auto& [prefix, module] : parts(model)) training::appendModuleTensors(*module, prefix, &all);
  if (!quantized) return all;
  const std::map<std::string, bool> weights = quantizedWeights(model);
  training::NamedTensors out;
  for (auto& [name, tensor] : all) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      out.emplace_back(name, tensor);
      continue;
    }
    hopfield::WeightCodes codes = hopfield::quantize_weight_codes(tensor, it->second);
    out.emplace_back(name, codes.codes);
    out.emplace_back(name + kCodeScaleSuffix, codes.scales);
  }
  return out;
}

void expandQuantizedWeights(training::ModelFile& file, const std::string& path) {
  std::set<std::string> scale_names;
  for (const auto& [name, tensor] : file.tensors)
    if (tensor.scalar_type() == at::kChar) scale_names.insert(name + kCodeScaleSuffix);
  training::NamedTensors out;
  for (auto& [name, tensor] : file.tensors) {
    if (tensor.scalar_type() != at::kChar) {
      if (!scale_names.count(name)) out.emplace_back(name, tensor);
      continue;
    }
    const at::Tensor* scales = file.find(name + kCodeScaleSuffix);
    if (!scales || scales->dim() != 1 || (scales->numel() != 1 && scales->numel() != tensor.size(0)))
      throw std::runtime_error(path + ": int8 weight " + name + " has no matching scales");
    out.emplace_back(name, hopfield::dequantize_weight_codes({tensor, *scales}));
  }
  file.tensors = std::move(out);
}

}  // namespace vqa::model
