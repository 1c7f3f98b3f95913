// Weight averaging: the mean of matching parameters and buffers (see weight_average.h).
#include "training/weight_average.h"

#include <torch/nn/module.h>
#include <torch/utils.h>

#include <stdexcept>

namespace vqa::training {
namespace {

void averageTensors(const torch::OrderedDict<std::string, at::Tensor>& target,
                    const std::vector<torch::OrderedDict<std::string, at::Tensor>>& others,
                    const std::vector<std::string>& names) {
  for (const auto& item : target) {
    at::Tensor t = item.value();
    if (!t.is_floating_point()) continue;
    at::Tensor sum = t.to(at::kDouble);
    for (size_t k = 0; k < others.size(); ++k) {
      const at::Tensor* other = others[k].find(item.key());
      const std::string& name = names.at(k + 1);
      if (!other) throw std::runtime_error(name + ": has no tensor " + item.key() + " (another architecture)");
      if (!other->sizes().equals(t.sizes()))
        throw std::runtime_error(name + ": tensor " + item.key() + " has another shape (another architecture)");
      sum.add_(other->to(at::kDouble));
    }
    t.copy_(sum / static_cast<double>(others.size() + 1));
  }
}

}  // namespace

void averageModules(torch::nn::Module& target, const std::vector<torch::nn::Module*>& others,
                    const std::vector<std::string>& names) {
  if (names.size() != others.size() + 1) throw std::invalid_argument("averageModules: one name per module");
  torch::NoGradGuard no_grad;
  std::vector<torch::OrderedDict<std::string, at::Tensor>> parameters, buffers;
  for (torch::nn::Module* m : others) {
    parameters.push_back(m->named_parameters(true));
    buffers.push_back(m->named_buffers(true));
  }
  averageTensors(target.named_parameters(true), parameters, names);
  averageTensors(target.named_buffers(true), buffers, names);
}

}  // namespace vqa::training
