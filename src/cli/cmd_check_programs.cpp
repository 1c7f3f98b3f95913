// `vqa check-programs`: parses and validates every program of a CLEVR or GQA questions file and lists
// the failures. Exits non-zero when any program fails.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/gqa/gqa_io.h"
#include "datasets/json_file.h"

namespace vqa::cli {
namespace {

struct CheckOptions {
  std::string dataset, json;
  std::vector<std::string> questions;
};

nlohmann::json checkPrograms(const CheckOptions& o) {
  nlohmann::json failures = nlohmann::json::array();
  int total = 0;
  auto fail = [&](const nlohmann::json& id, const std::string& error) {
    failures.push_back({{"question_id", id}, {"error", error}});
  };
  for (const std::string& path : o.questions) {
    if (o.dataset == "gqa") {
      for (const auto& q : readGqaQuestions(path)) {
        ++total;
        if (!q.has_program)
          fail(q.id, "no 'semantic' program");
        else if (!q.program_error.empty())
          fail(q.id, q.program_error);
      }
    } else {
      const auto questions = readClevrQuestions(path);
      for (size_t k = 0; k < questions.questions.size(); ++k) {
        const auto& q = questions.questions[k];
        const nlohmann::json id = q.question_index >= 0 ? q.question_index : static_cast<int>(k);
        ++total;
        if (!q.has_program) {
          fail(id, "no program");
          continue;
        }
        if (!q.program_error.empty()) {
          fail(id, q.program_error);
          continue;
        }
        try {
          validateProgram(q.program);
        } catch (const std::exception& e) {
          fail(id, e.what());
        }
      }
    }
  }
  const int failed = static_cast<int>(failures.size());
  std::printf("%d programs in %zu file(s): %d parsed, %d failed\n", total, o.questions.size(), total - failed, failed);
  for (size_t i = 0; i < failures.size() && i < 10; ++i)
    std::printf("  question %s: %s\n", failures[i]["question_id"].dump().c_str(),
                failures[i]["error"].get<std::string>().c_str());
  return {
      {"dataset", o.dataset}, {"total", total}, {"parsed", total - failed}, {"failed", failed}, {"failures", failures}};
}

}  // namespace

static Registrar reg(
    "check-programs", "Parse and validate every program in a CLEVR or GQA questions file", [](CLI::App& app) {
      auto o = std::make_shared<CheckOptions>();
      app.add_option("--dataset", o->dataset, "clevr or gqa")->required()->check(CLI::IsMember({"clevr", "gqa"}));
      app.add_option("--questions", o->questions, "questions file(s)")->required();
      app.add_option("--json", o->json, "write results as JSON to this file");
      app.callback([o] {
        const nlohmann::json result = checkPrograms(*o);
        if (!o->json.empty()) writeJsonFileAtomic(o->json, result, 2);
        if (result["failed"].get<int>() > 0)
          throw std::runtime_error(std::to_string(result["failed"].get<int>()) + " programs failed to parse");
      });
    });

}  // namespace vqa::cli
