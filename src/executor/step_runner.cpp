// The shared step loop of the symbolic executors.
#include "executor/step_runner.h"

#include <stdexcept>

namespace vqa {

ExecutionResult runSteps(const std::vector<int>& order, const std::vector<StepView>& steps,
                         const std::function<Value(int, const std::vector<Value>&)>& apply) {
  ExecutionResult r;
  if (steps.empty()) {
    r.error = "empty program";
    return r;
  }
  r.outputs.resize(steps.size());
  std::vector<bool> done(steps.size(), false);
  for (int i : order) {
    try {
      std::vector<Value> in;
      for (int k : *steps[i].inputs) {
        if (k < 0 || k >= static_cast<int>(steps.size()) || !done[k])
          throw std::runtime_error("input " + std::to_string(k) + " is not an earlier step");
        in.push_back(r.outputs[k]);
      }
      r.outputs[i] = apply(i, in);
      done[i] = true;
    } catch (const std::exception& e) {
      r.failed_step = i;
      r.error = "step " + std::to_string(i) + " (" + *steps[i].name + "): " + e.what();
      return r;
    }
  }
  r.ok = true;
  r.answer = r.outputs.back().answer();
  return r;
}

}  // namespace vqa
