// The Bigram-Backcopy task (Guo et al. 2024, "Active-Dormant Attention Heads"): sequences that start with
// <bos> and otherwise follow a fixed random bigram table, except that right after one of a few trigger
// tokens the next token copies the token just before the trigger. Heads that are only needed at the
// rare copy positions have nothing to do elsewhere, which is where attention sinks and outliers grow.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace vqa::study {

struct BackcopyTaskOptions {
  int64_t vocabulary = 64;        // ordinary tokens 0 .. vocabulary-1; <bos> is `vocabulary`
  int64_t triggers = 3;           // trigger tokens, chosen from the ordinary tokens
  int64_t sequence_length = 64;   // tokens per sequence, <bos> included
  double dirichlet_alpha = 0.2;   // concentration of each bigram row (small: sparse rows)
  uint64_t table_seed = 2024;     // the transition table and the trigger set
};

class BigramBackcopy {
 public:
  explicit BigramBackcopy(BackcopyTaskOptions options = {});

  // One sequence of sequence_length tokens: <bos>, a first token drawn uniformly from the non-trigger
  // tokens, then bigram steps; after a trigger at position i, token i+1 is token i-1.
  std::vector<int64_t> sample(std::mt19937_64& rng) const;
  // `count` sequences, row-major [count, sequence_length].
  std::vector<int64_t> batch(int64_t count, std::mt19937_64& rng) const;

  int64_t bos() const { return options_.vocabulary; }
  int64_t token_count() const { return options_.vocabulary + 1; }  // ordinary tokens + <bos>
  int64_t sequence_length() const { return options_.sequence_length; }
  bool is_trigger(int64_t token) const { return token >= 0 && token < options_.vocabulary && trigger_[token]; }
  const std::vector<int64_t>& trigger_tokens() const { return trigger_tokens_; }
  // P(next = b | current = a), for a, b ordinary tokens.
  double transition(int64_t a, int64_t b) const { return table_[a * options_.vocabulary + b]; }
  const BackcopyTaskOptions& options() const { return options_; }

 private:
  BackcopyTaskOptions options_;
  std::vector<double> table_;  // [vocabulary, vocabulary], rows sum to 1
  std::vector<std::discrete_distribution<int64_t>::param_type> rows_;
  std::vector<bool> trigger_;
  std::vector<int64_t> trigger_tokens_, non_triggers_;
};

}  // namespace vqa::study
