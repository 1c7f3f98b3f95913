// AdamW (decoupled weight decay on matrices only, bias correction, global gradient-norm clipping) whose state
// is plain named tensors, so a checkpoint holds it exactly and a resumed run continues bit for bit; and the
// warm-up + cosine learning-rate schedule the trainers share.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "training/model_file.h"

namespace torch::nn { class Module; }

namespace vqa::training {

class AdamW {
 public:
  AdamW(torch::nn::Module& module, double weight_decay, double beta1 = 0.9, double beta2 = 0.999);
  void zeroGrad();
  // One step at learning rate lr after clipping the global gradient norm to max_norm; returns the norm. A step
  // whose gradient norm is not finite leaves the parameters and moments as they are (the step still counts).
  double step(double lr, double max_norm);
  int64_t steps() const { return steps_; }
  // "adam.m.<name>" / "adam.v.<name>" for every parameter.
  NamedTensors state() const;
  // Restores the moments from a file written with state() and sets the step count. Throws std::runtime_error
  // when a moment is missing or has the wrong shape.
  void load(const ModelFile& file, int64_t steps);

 private:
  double weight_decay_, beta1_, beta2_;
  int64_t steps_ = 0;
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_, m_, v_;
};

// Linear warm-up over `warmup` steps to `peak`, then cosine decay to floor x peak at step `total`.
double warmupCosine(double peak, int64_t step, int64_t total, int64_t warmup, double floor = 0.05);

}  // namespace vqa::training
