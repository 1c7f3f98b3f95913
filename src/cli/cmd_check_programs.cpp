// `vqa check-programs`: parses and validates every program of a CLEVR or GQA questions file and lists
// the failures. Exits non-zero when any program fails.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "core/errors.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/gqa/gqa_io.h"
#include "datasets/json_file.h"

namespace vqa::cli {
namespace {

struct CheckOptions {
  std::string dataset, json;
  std::vector<std::string> questions;
};

struct CheckResult {
  nlohmann::json report;
  std::string first_failure;  // "FILE: question ID: problem" of the first failing program, "" when none
};

CheckResult checkPrograms(const CheckOptions& o) {
  nlohmann::json failures = nlohmann::json::array();
  std::string firstFailure;
  int total = 0;
  auto fail = [&](const std::string& path, const nlohmann::json& id, const std::string& error) {
    failures.push_back({{"file", path}, {"question_id", id}, {"error", error}});
    if (firstFailure.empty())
      firstFailure = InputError(path, "question " + (id.is_string() ? excerpt(id.get<std::string>()) : id.dump()),
                                error)
                         .what();
  };
  for (const std::string& path : o.questions) {
    if (o.dataset == "gqa") {
      for (const auto& q : readGqaQuestions(path)) {
        ++total;
        if (!q.has_program)
          fail(path, q.id, "no 'semantic' program");
        else if (!q.program_error.empty())
          fail(path, q.id, q.program_error);
      }
    } else {
      const auto questions = readClevrQuestions(path);
      for (size_t k = 0; k < questions.questions.size(); ++k) {
        const auto& q = questions.questions[k];
        const nlohmann::json id = q.question_index >= 0 ? q.question_index : static_cast<int>(k);
        ++total;
        if (!q.has_program) {
          fail(path, id, "no program");
          continue;
        }
        if (!q.program_error.empty()) {
          fail(path, id, q.program_error);
          continue;
        }
        try {
          validateProgram(q.program);
        } catch (const std::exception& e) {
          fail(path, id, e.what());
        }
      }
    }
  }
  const int failed = static_cast<int>(failures.size());
  std::printf("%d programs in %zu file(s): %d parsed, %d failed\n", total, o.questions.size(), total - failed, failed);
  for (size_t i = 0; i < failures.size() && i < 10; ++i)
    std::printf("  question %s: %s\n", excerpt(failures[i]["question_id"].dump()).c_str(),
                failures[i]["error"].get<std::string>().c_str());
  return {{{"dataset", o.dataset},
           {"total", total},
           {"parsed", total - failed},
           {"failed", failed},
           {"failures", failures}},
          firstFailure};
}

}  // namespace

static Registrar reg(
    "check-programs", "Parse and validate every program in a CLEVR or GQA questions file", [](CLI::App& app) {
      auto o = std::make_shared<CheckOptions>();
      app.add_option("--dataset", o->dataset, "clevr or gqa")->required()->check(CLI::IsMember({"clevr", "gqa"}));
      app.add_option("--questions", o->questions, "questions file(s)")->required();
      CLI::Option* json = app.add_option(
          "--json", o->json, "write the report (every program's failure) as JSON to this file; written also when programs fail");
      app.callback([o, json] {
        const bool writeJson = json->count() > 0;
        if (writeJson) checkOutputFile("--json", o->json);
        // A file that cannot be read stops the command with no report; failing programs are the report.
        const CheckResult result = checkPrograms(*o);
        if (writeJson) {
          OutputFiles outputs;
          outputs.addJson("--json", o->json, result.report);
          outputs.commit();
        }
        const int failed = result.report["failed"].get<int>();
        if (failed > 0)
          throw std::runtime_error(result.first_failure +
                                   (failed > 1 ? " (and " + std::to_string(failed - 1) + " more failing programs)" : ""));
      });
    });

}  // namespace vqa::cli
