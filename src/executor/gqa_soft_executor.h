// GqaSoftExecutor: the differentiable counterpart of GqaExecutor. It runs a GQA `semantic` program (resolved
// once against a GqaVocabulary into a GqaSoftProgram) on one row of a GqaSoftScene in probability space:
// object-set steps give an object mass [N], yes/no steps a distribution over {yes, no}, word steps a
// distribution over that step's candidate words. Every step's result is kept for explanations. A distribution
// sums to the probability that the step ran (on one-hot scenes 1, or 0 where GqaExecutor fails; the failure
// is then reported with GqaExecutor's message). Everything is differentiable w.r.t. the scene tensors.
//
// Semantics mirror gqa_executor.cpp step by step; on one-hot scenes the results are exact, with one known
// difference: an object with several labels of one attribute type (two colors) answers `query`/`same`/
// `common` with the first of them in the lexicon's (alphabetical) order, GqaExecutor with the first in the
// scene graph's label order (a soft scene holds independent probabilities, not an order). Typed attributes
// (SceneObject::attributes) are treated as labels for the same reason.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/gqa_program.h"
#include "executor/gqa_soft_scene.h"
#include "executor/symbolic_executor.h"

namespace vqa {

// How one step tests "object has value v" (GqaExecutor's hasValue), resolved to vocabulary indices.
struct GqaValueTest {
  enum class Kind { Horizontal, Vertical, General } kind = Kind::General;
  int64_t position = -1;  // Horizontal / Vertical: index in gqaHorizontalPositions() / gqaVerticalPositions()
  int64_t name = -1;      // General: the value as an object name (-1: not in the vocabulary)
  int64_t value = -1;     // General: the value as an attribute value (-1: not in the vocabulary)
};

// The values an object has for an attribute type (GqaExecutor's valueOf), resolved to vocabulary indices.
struct GqaValueSpace {
  enum class Kind { Name, Horizontal, Vertical, Lexicon } kind = Kind::Lexicon;
  std::vector<std::string> words;  // candidate answers
  std::vector<int64_t> values;     // Lexicon: attribute-value indices of `words` (their first present is taken)
};

struct GqaSoftStep {
  GqaOp op = GqaOp::Select;
  std::string operation, argument;  // as written, for messages
  std::vector<int> dependencies;
  std::string static_error;         // a failure that does not depend on the scene ("unknown comparative ...")
  // select / relate / verify rel / choose rel
  bool any_name = false, global = false, absent = false, subject = false;
  int64_t name = -1;
  std::vector<std::string> object_ids;
  std::vector<int64_t> relations;   // relation indices (-1: not in the vocabulary)
  // filter / verify / choose / compare (more, less)
  bool negated = false;
  std::vector<GqaValueTest> tests;
  std::vector<std::string> options;  // choose / choose rel: the candidate words
  // query / same / different / common
  std::string attribute;
  std::vector<GqaValueSpace> spaces;  // query, same, different: one; common: color, material, shape
  int64_t image_attribute = -1;       // query: the image attribute type index (-1: none)
};

struct GqaSoftProgram {
  std::vector<GqaSoftStep> steps;
  std::vector<int> order;
};

struct GqaSoftStepOutput {
  enum class Kind { Objects, Bool, Word } kind = Kind::Objects;
  at::Tensor mass;                 // Objects: [N]
  std::vector<std::string> words;  // Bool: {"yes", "no"}; Word: the candidates
  at::Tensor distribution;         // Bool / Word: [K]; sums to `valid`
  at::Tensor valid;                // scalar: P(the step ran) (1 for object steps)
  bool computed = false;           // false for steps after a failure that stops the run
};

struct GqaSoftResult {
  bool ok = false;
  int failed_step = -1;
  std::string error;                       // GqaExecutor's message ("step 2 (query): ...") when not ok
  std::vector<GqaSoftStepOutput> outputs;  // one per program step
  std::string answer;                      // the last step's most probable answer (object sets: "[i,j]")
  at::Tensor answer_probability;           // scalar, differentiable: P(answer) (0 when the last step did not run)
  double probability = 0.0;                // the same as a number
};

class GqaSoftExecutor {
 public:
  // The vocabulary the scenes were built with; the lexicon types attribute values (as for GqaExecutor).
  explicit GqaSoftExecutor(const GqaVocabulary& vocabulary, const GqaLexicon* lexicon = nullptr);

  // Resolves the argument strings to vocabulary indices once.
  GqaSoftProgram compile(const GqaProgram& program) const;

  // Runs on batch row `row` of `scene`. A failure GqaExecutor would report (an empty selection reaching
  // `query`, a wrong input type, ...) is reported in `error` with GqaExecutor's message: a step fails when the
  // probability that it ran is below 1/2, and the first such step in execution order is reported. Later steps
  // still run (their results stay differentiable) unless the failure does not depend on the scene (a wrong
  // input type, an unknown operation): that stops the run, as in GqaExecutor. Throws std::runtime_error for a
  // scene whose shapes disagree with the vocabulary, std::invalid_argument for a row outside the batch.
  GqaSoftResult run(const GqaSoftProgram& program, const GqaSoftScene& scene, int64_t row) const;
  GqaSoftResult run(const GqaProgram& program, const GqaSoftScene& scene, int64_t row) const;

 private:
  GqaValueTest valueTest(const std::string& type, const std::string& value) const;
  GqaValueSpace valueSpace(const std::string& type) const;

  const GqaVocabulary& vocabulary_;
  const GqaLexicon* lexicon_;
};

}  // namespace vqa
