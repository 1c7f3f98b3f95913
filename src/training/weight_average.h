// Weight averaging ("model soup"): the element-wise mean of models of one architecture that were trained on
// from a common ancestor (continuations of one run), which lands nearer the middle of the basin they share
// than any of them.
#pragma once
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace vqa::training {

// Sets every floating-point parameter and buffer of `target` to its mean over `target` and `others`
// (BatchNorm running statistics included); integer buffers (a norm's step counter) keep target's value.
// `names` label the modules in errors (target first). Throws std::runtime_error("NAME: problem") when a module
// lacks one of target's tensors or holds it with another shape.
void averageModules(torch::nn::Module& target, const std::vector<torch::nn::Module*>& others,
                    const std::vector<std::string>& names);

}  // namespace vqa::training
