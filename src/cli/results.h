// CLEVR result tallies shared by the eval commands: accuracy overall, per question type and per family,
// and the questions that could not run.
#pragma once
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/clevr/clevr_io.h"

namespace vqa::cli {

// exist, count, compare_number, query_attribute or compare_attribute, from the program's last function.
std::string clevrQuestionType(const Program& program);

class ClevrTally {
 public:
  // `error` non-empty means the question could not run (counted wrong, listed in errors).
  void add(const ClevrQuestion& q, const std::string& predicted, const std::string& error, int position);
  nlohmann::json toJson() const;

 private:
  struct Count {
    int correct = 0, total = 0;
  };
  Count all_;
  std::map<std::string, Count> per_type_;
  std::map<int, Count> per_family_;
  nlohmann::json errors_ = nlohmann::json::array();
};

void printClevrSummary(const nlohmann::json& result);

}  // namespace vqa::cli
