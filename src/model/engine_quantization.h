// W8A8 post-training quantization of the whole engine. The scene parser's BatchNorms are folded into its
// convolutions; every convolution and linear layer of the scene parser and the program parser (attention
// projections, feed-forward layers, output layers) gets symmetric int8 weights and calibrated asymmetric uint8
// activations on its input and output, and the attention scores and association weights of every Hopfield
// layer are quantized too (their matmuls run on int8 codes). Embeddings, LayerNorms, prototypes and the
// executor stay in floating point. Calibration runs the inference path itself (images through the scene
// parser, questions through greedy decoding) with running min-max observers; a point that saw no data is an
// error. The quantized model file stores the weights as int8 codes with their scales and the calibrated
// ranges; loading it runs the int8 kernels (ATen's quantized engines where this LibTorch has them).
#pragma once
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "model/engine_model.h"
#include "training/model_file.h"

namespace vqa::model {

struct QuantizeOptions {
  int batch_size = 16;      // images (and questions) per calibration batch
  double momentum = 0.9;    // running min-max observers
  double percentile = 0.0;  // 0: min-max; p in (50, 100): the batch range is the p-th percentile range
};

// Folds, calibrates on `images` (8-bit BGR) and `questions`, and switches the model to int8: afterwards
// model.quantization describes what was done (and `source` is recorded in it). The model must be a floating
// point one; throws std::runtime_error naming the first quantization point that saw no calibration data.
void quantizeEngine(EngineModel& model, const std::vector<cv::Mat>& images, const std::vector<std::string>& questions,
                    const QuantizeOptions& options, const nlohmann::json& source = nullptr);

// Puts a model whose layers hold calibrated ranges in int8 mode (loading a quantized model file).
void activateInt8(EngineModel& model);

// The model's tensors for its file: with `quantized`, the weights of every quantized layer as int8 codes
// (NAME) and their scales (NAME.scale), everything else as it is.
training::NamedTensors engineTensors(EngineModel& model, bool quantized);
// Turns int8 weight codes of a model file back into floating point weights, so loadModuleTensors reads them.
void expandQuantizedWeights(training::ModelFile& file, const std::string& path);

// Throws "PATH: a quantized model cannot be trained ..." for a quantized model.
void requireFloatModel(const EngineModel& model, const std::string& path);

}  // namespace vqa::model
