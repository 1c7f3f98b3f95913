// Bigram-Backcopy sequence generator: the seeded transition table, the trigger set and the sampler.
#include "study/backcopy_task.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace vqa::study {

BigramBackcopy::BigramBackcopy(BackcopyTaskOptions options) : options_(options) {
  const int64_t V = options_.vocabulary;
  if (V < 2 || options_.triggers < 1 || options_.triggers >= V)
    throw std::invalid_argument("backcopy task: need 1 <= triggers < vocabulary and vocabulary >= 2");
  if (options_.sequence_length < 2) throw std::invalid_argument("backcopy task: sequence_length must be at least 2");
  if (!(options_.dirichlet_alpha > 0)) throw std::invalid_argument("backcopy task: dirichlet_alpha must be positive");
  std::mt19937_64 rng(options_.table_seed);

  // Triggers: the first `triggers` tokens of a random permutation.
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  trigger_.assign(V, false);
  for (int64_t i = 0; i < options_.triggers; ++i) trigger_[order[i]] = true;
  for (int64_t t = 0; t < V; ++t) (trigger_[t] ? trigger_tokens_ : non_triggers_).push_back(t);

  // Each row ~ Dirichlet(alpha): normalised Gamma(alpha, 1) draws.
  std::gamma_distribution<double> gamma(options_.dirichlet_alpha, 1.0);
  table_.assign(V * V, 0.0);
  for (int64_t a = 0; a < V; ++a) {
    double sum = 0;
    for (int64_t b = 0; b < V; ++b) sum += table_[a * V + b] = gamma(rng);
    if (sum <= 0) {  // every draw underflowed (tiny alpha): fall back to a uniform row
      for (int64_t b = 0; b < V; ++b) table_[a * V + b] = 1.0;
      sum = static_cast<double>(V);
    }
    for (int64_t b = 0; b < V; ++b) table_[a * V + b] /= sum;
    rows_.emplace_back(table_.begin() + a * V, table_.begin() + (a + 1) * V);
  }
}

std::vector<int64_t> BigramBackcopy::sample(std::mt19937_64& rng) const {
  const int64_t T = options_.sequence_length;
  std::vector<int64_t> s(T);
  s[0] = bos();
  std::uniform_int_distribution<size_t> first(0, non_triggers_.size() - 1);
  s[1] = non_triggers_[first(rng)];  // never a trigger, so no copy ever reaches back to <bos>
  std::discrete_distribution<int64_t> next;
  for (int64_t i = 2; i < T; ++i) {
    const int64_t previous = s[i - 1];
    s[i] = trigger_[previous] ? s[i - 2] : next(rng, rows_[previous]);
  }
  return s;
}

std::vector<int64_t> BigramBackcopy::batch(int64_t count, std::mt19937_64& rng) const {
  std::vector<int64_t> out;
  out.reserve(count * options_.sequence_length);
  for (int64_t i = 0; i < count; ++i) {
    const std::vector<int64_t> s = sample(rng);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

}  // namespace vqa::study
