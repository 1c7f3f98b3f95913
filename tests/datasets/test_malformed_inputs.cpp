// A corpus of malformed inputs built from the real sample files: small prefixes of the CLEVR scenes and
// questions and the GQA questions and scene graphs, mutated deterministically (truncated, values retyped,
// integers beyond int range, numbers too large for a double, required keys deleted, deep nesting). Every reader
// runs on every mutant; each must either accept it or throw vqa::InputError with one short line that starts with
// the file's path. Mutants that can only be wrong (truncation, 1e400, deep nesting, out-of-range indices) must be
// refused, by an InputError or, for a program, a recorded program error.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/gqa/gqa_io.h"
#include "datasets/gqa/gqa_metrics.h"
#include "datasets/json_file.h"
#include "test_support.h"

using nlohmann::json;

namespace {

// What a reader made of a file: accepted cleanly, or accepted with a recorded program error.
enum class Outcome { Accepted, ProgramError };
using Reader = std::function<Outcome(const std::string& path)>;

struct SampleFile {
  std::string name;
  json document;
  Reader read;
};

Outcome readClevrScenesFile(const std::string& path) {
  vqa::readClevrScenes(path);
  return Outcome::Accepted;
}

Outcome readClevrQuestionsFile(const std::string& path) {
  for (const auto& q : vqa::readClevrQuestions(path).questions) {
    if (!q.program_error.empty()) return Outcome::ProgramError;
    if (q.has_program) {
      try {
        vqa::validateProgram(q.program);
      } catch (const std::runtime_error&) {
        return Outcome::ProgramError;
      }
    }
  }
  return Outcome::Accepted;
}

Outcome readGqaQuestionsFile(const std::string& path) {
  for (const auto& q : vqa::readGqaQuestions(path))
    if (!q.program_error.empty()) return Outcome::ProgramError;
  return Outcome::Accepted;
}

Outcome readGqaSceneGraphsFile(const std::string& path) {
  vqa::readGqaSceneGraphs(path);
  return Outcome::Accepted;
}

// The first `n` entries of a list or object.
json prefix(const json& container, size_t n) {
  json out = container.is_array() ? json::array() : json::object();
  size_t k = 0;
  for (auto it = container.begin(); it != container.end() && k < n; ++it, ++k) {
    if (container.is_array()) out.push_back(*it);
    else out[it.key()] = *it;
  }
  return out;
}

std::vector<SampleFile> sampleFiles(const std::string& shared) {
  const std::string clevr = shared + "/data/clevr-real/", gqa = shared + "/data/gqa-real/";
  json scenes = vqa::readJsonFile(clevr + "scenes/CLEVR_val_scenes_first500.json");
  scenes["scenes"] = prefix(scenes["scenes"], 2);
  json questions = vqa::readJsonFile(clevr + "questions/CLEVR_val_questions_img0_7q.json");
  questions["questions"] = prefix(questions["questions"], 3);
  const json gqaQuestions =
      prefix(vqa::readJsonFile(gqa + "questions/train_questions_2_matching_sceneGraphs.json"), 2);
  const json graphs = prefix(vqa::readJsonFile(gqa + "sceneGraphs/graphvqa_debug_sceneGraphs_4images.json"), 1);
  return {{"clevr_scenes", scenes, readClevrScenesFile},
          {"clevr_questions", questions, readClevrQuestionsFile},
          {"gqa_questions", gqaQuestions, readGqaQuestionsFile},
          {"gqa_scene_graphs", graphs, readGqaSceneGraphsFile}};
}

// Every value's JSON pointer, in document order.
void collectPointers(const json& value, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (value.is_array())
    for (size_t i = 0; i < value.size(); ++i) collectPointers(value[i], at / i, out);
  else if (value.is_object())
    for (auto it = value.begin(); it != value.end(); ++it) collectPointers(it.value(), at / it.key(), out);
}

// Keys whose integer values are indices or counts: a value beyond int range there must be refused.
bool isIndexField(const json::json_pointer& at) {
  static const std::set<std::string> indexKeys{"image_index", "question_index", "question_family_index", "width",
                                               "height", "inputs", "dependencies"};
  if (at.to_string().find("/relationships/") != std::string::npos) return true;
  if (at.empty()) return false;
  if (indexKeys.count(at.back())) return true;
  const json::json_pointer parent = at.parent_pointer();
  return !parent.empty() && indexKeys.count(parent.back()) > 0;
}

struct Mutant {
  std::string label;  // for failure messages
  std::string text;
  bool must_refuse;
};

constexpr const char* kSentinel = "\"@@mutant@@\"";

// Deterministic mutants of one document: text truncations, then up to `maxPointers` evenly spaced values,
// each retyped, replaced by out-of-range numbers or deep nesting, or deleted.
std::vector<Mutant> mutantsOf(const json& document, size_t maxPointers) {
  std::vector<Mutant> out;
  const std::string text = document.dump();
  for (double cut : {0.0, 0.1, 0.33, 0.5, 0.77, 0.99})
    out.push_back({"truncated at " + std::to_string(cut), text.substr(0, 1 + static_cast<size_t>(cut * (text.size() - 2))),
                   true});

  std::vector<json::json_pointer> pointers;
  collectPointers(document, json::json_pointer(), pointers);
  const size_t step = std::max<size_t>(1, pointers.size() / maxPointers);
  for (size_t k = 1; k < pointers.size(); k += step) {
    const json::json_pointer& at = pointers[k];
    const json& original = document.at(at);
    const bool integerIndex = original.is_number_integer() && isIndexField(at);
    auto replaced = [&](const json& value) {
      json copy = document;
      copy.at(at) = value;
      return copy.dump();
    };
    auto withText = [&](const std::string& raw) {
      json copy = document;
      copy.at(at) = "@@mutant@@";
      std::string t = copy.dump();
      t.replace(t.find(kSentinel), std::string(kSentinel).size(), raw);
      return t;
    };
    const std::string where = at.to_string();
    out.push_back({where + " -> \"text\"", replaced("text\nwith a new line"), false});
    out.push_back({where + " -> 7", replaced(7), false});
    out.push_back({where + " -> 2.5", replaced(2.5), false});
    out.push_back({where + " -> []", replaced(json::array()), false});
    out.push_back({where + " -> {}", replaced(json::object()), false});
    out.push_back({where + " -> null", replaced(nullptr), false});
    out.push_back({where + " -> -1", replaced(-1), false});
    out.push_back({where + " -> 4294967297", withText("4294967297"), integerIndex});
    out.push_back({where + " -> 2^63", withText("9223372036854775808"), integerIndex});
    out.push_back({where + " -> 1e400", withText("1e400"), true});
    out.push_back({where + " -> deep nesting", withText(std::string(5000, '[') + std::string(5000, ']')), true});
    out.push_back({where + " -> long string", replaced(std::string(100000, 'z')), false});
    json parentCopy = document;
    json& parent = parentCopy.at(at.parent_pointer());
    if (parent.is_object()) {
      parent.erase(at.back());
      out.push_back({where + " deleted", parentCopy.dump(), false});
    }
  }
  return out;
}

}  // namespace

TEST(MalformedInputs, EveryReaderRefusesWithOneShortLocatedLineOrAccepts) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  int mutants = 0, refused = 0;
  for (const SampleFile& sample : sampleFiles(shared)) {
    const std::string basePath = vqa::testing::writeFile(dir + "/" + sample.name + ".json", sample.document.dump());
    ASSERT_EQ(sample.read(basePath), Outcome::Accepted) << sample.name << ": the unmutated prefix must load";
    for (const Mutant& m : mutantsOf(sample.document, 60)) {
      const std::string path = vqa::testing::writeFile(dir + "/" + sample.name + "_mutant.json", m.text);
      ++mutants;
      const std::string label = sample.name + ": " + m.label;
      try {
        const Outcome outcome = sample.read(path);
        EXPECT_TRUE(!m.must_refuse || outcome == Outcome::ProgramError) << label << ": accepted";
      } catch (const vqa::InputError& e) {
        ++refused;
        const std::string message = e.what();
        EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << label << ": " << message.substr(0, 300);
        EXPECT_EQ(message.find('\n'), std::string::npos) << label << ": " << message.substr(0, 300);
        EXPECT_LE(message.size(), 300u) << label << ": " << message.substr(0, 300);
      } catch (const std::exception& e) {
        ADD_FAILURE() << label << ": not an InputError: " << std::string(e.what()).substr(0, 300);
      }
    }
  }
  EXPECT_GT(mutants, 1000);
  EXPECT_GT(refused, mutants / 4);
}

TEST(MalformedInputs, PredictionsAndChoicesFilesRefuseWithLocatedLines) {
  const std::string dir = vqa::testing::scratchDir();
  using vqa::testing::writeFile;
  const std::vector<std::pair<std::string, std::string>> predictions{
      {"[{\"questionId\": \"1\", \"prediction\": \"yes\"}", "invalid or truncated JSON"},
      {"[{\"questionId\": \"1\", \"prediction\": 1e400}]", "number too large"},
      {"[{\"questionId\": [], \"prediction\": \"yes\"}]", "prediction 0: 'questionId' is not a string"},
      {"{\"questionId\": \"1\"}", "predictions are a list"}};
  for (const auto& [text, problem] : predictions) {
    const std::string path = writeFile(dir + "/predictions.json", text);
    try {
      vqa::readGqaPredictions(path);
      ADD_FAILURE() << text << ": accepted";
    } catch (const vqa::InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    }
  }
  // A questionId of 2^63 stays its own digits rather than wrapping around.
  const std::string big = writeFile(dir + "/big.json", "[{\"questionId\": 9223372036854775808, \"prediction\": \"no\"}]");
  EXPECT_EQ(vqa::readGqaPredictions(big).count("9223372036854775808"), 1u);
  const std::string choices = writeFile(dir + "/choices.json", "{\"1\": {\"valid\": [\"a\"]}}");
  try {
    vqa::readGqaChoices(choices);
    ADD_FAILURE() << "choices without 'plausible' accepted";
  } catch (const vqa::InputError& e) {
    EXPECT_EQ(std::string(e.what()), choices + ": question 1: missing list 'plausible'");
  }
}
