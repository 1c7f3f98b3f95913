// SoftExecutor: differentiable, batched execution of (soft) CLEVR programs on SoftScenes, in probability space.
// A program is a distribution over program tokens per step (typed_program.h's vocabulary, postfix order); a
// differentiable stack holds the intermediate results (each cell an object mass [N] and an answer
// distribution [A]); every module runs at every step and the step's result is the mixture of the modules'
// results weighted by the token distribution, so gradients reach the tokens and the scene alike. On one-hot
// scenes and programs every module is exact, so the answers equal the symbolic executor's.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/typed_program.h"
#include "executor/soft_scene.h"
#include "hopfield/association.h"

namespace vqa {

struct SoftExecutorOptions {
  // The association of `unique`'s retrieval over the objects (Softmax_1 by default: a selection with no
  // object retrieves nothing; plain softmax would retrieve the uniform average instead).
  hopfield::AssociationOptions association;
  // Retrieval scores are beta * (2 m - 1): objects whose mass is above 1/2 are retrieved. With beta = 30 a
  // one-hot mass retrieves its object with weight 1 in float32 (the others get about e^-60).
  double retrieval_beta = 30.0;
  // Stack cells (one is the empty-stack sentinel). CLEVR's programs need at most 4 in postfix order.
  int64_t stack_depth = 8;
};

struct SoftExecution {
  at::Tensor answer;        // [B, A] the answer distribution (clevr::answers() order); sums to 1 for a valid
                            // program unless an empty selection reached `unique` (then less)
  at::Tensor step_masses;   // [B, T, N] each step's result as an object mass (zero for answer-valued steps)
  at::Tensor step_answers;  // [B, T, A] each step's result as an answer distribution (zero for object steps)
};

class SoftExecutor {
 public:
  explicit SoftExecutor(SoftExecutorOptions options = {});

  // tokens [B, T, K] with K = numProgramTokens(): a distribution over tokens per step (one-hot for a discrete
  // program; <pad>, <start> and <end> leave the stack as it is). scene: batched like tokens (SoftScene shapes).
  // Throws std::invalid_argument on shapes that disagree.
  SoftExecution run(const at::Tensor& tokens, const SoftScene& scene) const;

  // Building blocks, public for tests and explanations.
  // `unique`: Hopfield retrieval over the objects of a mass [B, N]; slots whose mask is 0 are never retrieved.
  at::Tensor retrieve(const at::Tensor& mass, const at::Tensor& mask) const;
  // `count`: P(sum of independent Bernoulli(mass_i) = k) for k = 0..10 [B, 11]; mass beyond 10 goes to 10.
  static at::Tensor countDistribution(const at::Tensor& mass);

  const SoftExecutorOptions& options() const { return options_; }

 private:
  SoftExecutorOptions options_;
};

// One-hot token distributions [B, T, K] for token-id sequences, each padded with <pad> to T steps (0: the
// longest sequence). Throws std::invalid_argument for an unknown id or a sequence longer than `steps`.
at::Tensor oneHotTokens(const std::vector<std::vector<int>>& programs, int64_t steps = 0,
                        at::ScalarType dtype = at::kFloat);

// The rows of a batched SoftScene at `index` (a list of batch positions, repeats allowed).
SoftScene selectScenes(const SoftScene& scene, const at::Tensor& index);

}  // namespace vqa
