// Template question engine: instantiates CLEVR-format question templates on a scene with CLEVR's rules
// (NULL / OUT_NEQ / NEQ constraints, synonyms, optional [..] words, unique only on one object, no empty
// `filter` node, no degenerate relate, answer balancing within a family reset every 250 images), producing
// released-format programs answered by the symbolic executor.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/scene_graph.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/clevr/clevr_templates.h"

namespace vqa::synth {

struct QuestionFamily {
  ClevrTemplate tmpl;
  int family_index = 0;  // global question_family_index
};

// Reads every *.json template file in `dir`. Files named like CLEVR's nine are numbered in the order of
// the released CLEVR_v1.0 question_family_index (compare_integer, comparison, three_hop, single_and,
// same_relate, single_or, one_hop, two_hop, zero_hop); other files follow in name order. Throws
// InputError("PATH: template K: PROBLEM") for a template that cannot make sensible questions (a text that is
// not a string or names an undeclared param, a NEQ / OUT_NEQ constraint between a param or node and itself).
std::vector<QuestionFamily> loadQuestionFamilies(const std::string& dir);

// The project's own template set (datasets/synth/templates).
std::string defaultTemplateDir();

struct QuestionEngineOptions {
  int tries_per_template = 40;     // instantiation attempts of one template on one scene
  int give_up_tries = 2000;        // a template with this many tries and no question is an error
  double balance_factor = 1.1;     // an answer may exceed the family's second most common by this factor
  double null_probability = 0.5;   // chance that an optional filter param is left out
  int reset_counts_every = 250;    // images after which answer and family counts start over (CLEVR's default)
};

struct GeneratedQuestion {
  std::string text;
  std::string answer;
  Program program;  // released spelling: function, inputs, value_inputs
  int family_index = 0;
  std::string template_filename;
};

class QuestionEngine {
 public:
  QuestionEngine(std::vector<QuestionFamily> families, QuestionEngineOptions options = {});

  // Up to `count` questions on `scene` from distinct templates, least-used families first (CLEVR's
  // order). Throws std::runtime_error naming a template that exhausted give_up_tries with no question.
  std::vector<GeneratedQuestion> generate(const SceneGraph& scene, int count, std::mt19937_64& rng);

  // One attempt budget for one template; false when no valid question was found.
  bool instantiate(const QuestionFamily& family, const SceneGraph& scene, std::mt19937_64& rng,
                   GeneratedQuestion* out);

  const std::vector<QuestionFamily>& families() const { return families_; }
  // Answers given per family since the last reset (the balancing state).
  const std::map<int, std::map<std::string, int>>& answerCounts() const { return answer_counts_; }
  // Questions made per family since the engine was built (never reset).
  const std::map<int, long>& questionsPerFamily() const { return family_totals_; }
  // Starts the balancing over, as CLEVR does every reset_counts_every images.
  void resetCounts();

 private:
  bool attempt(const QuestionFamily& family, const SceneGraph& scene, std::mt19937_64& rng, GeneratedQuestion* out);
  bool balanced(const QuestionFamily& family, const std::string& answer) const;

  std::vector<QuestionFamily> families_;
  QuestionEngineOptions options_;
  std::map<int, std::map<std::string, int>> answer_counts_;
  std::map<int, int> family_counts_;    // since the last reset: orders the families (least used first)
  std::map<int, long> family_totals_;   // since construction
  std::map<int, long> family_tries_;
  long images_seen_ = 0;
};

// CLEVR's is_degenerate, applied as CLEVR applies it: for a template with a `relate` node, true when
// replacing any relate step of `program` by `scene` (dropping the steps only it used) gives `answer` again.
bool isDegenerate(const ClevrTemplate& tmpl, const Program& program, const SceneGraph& scene,
                  const std::string& answer);

// "zero_hop.json #3: 'How many <Z> <C> <M> <S>s are there?'" for messages.
std::string templateLabel(const ClevrTemplate& t);

}  // namespace vqa::synth
