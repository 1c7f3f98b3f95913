// The loop both symbolic executors share: run steps in order, feed each the outputs of its inputs, stop at
// the first step that fails and say which one and why.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "executor/symbolic_executor.h"

namespace vqa {

struct StepView {
  const std::vector<int>* inputs;  // indices of the steps whose outputs this step reads
  const std::string* name;         // function or operation, for error messages
};

ExecutionResult runSteps(const std::vector<int>& order, const std::vector<StepView>& steps,
                         const std::function<Value(int step, const std::vector<Value>& inputs)>& apply);

}  // namespace vqa
