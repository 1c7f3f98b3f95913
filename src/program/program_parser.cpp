// The program model: Hopfield encoder-decoder from question words to postfix program tokens, its
// type-checked greedy decoding and its supervised trainer.
#include "program/program_parser.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <unordered_map>
#include <numeric>
#include <random>
#include <stdexcept>

#include "core/typed_program.h"
#include "hopfield/outliers.h"

namespace vqa::program {

namespace {

hopfield::HopfieldOptions attentionOptions(const ProgramParserOptions& o) {
  hopfield::HopfieldOptions h;
  h.input_size = o.model_size;
  h.num_heads = o.num_heads;
  h.normalize_state = h.normalize_stored = h.normalize_projection = false;  // the layers normalise first
  h.dropout = o.dropout;
  h.association = o.association;
  return h;
}

int64_t ffnSize(const ProgramParserOptions& o) { return o.ffn_size > 0 ? o.ffn_size : 4 * o.model_size; }

}  // namespace

torch::nn::LayerNorm layerNorm(int64_t size) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({size}));
}

hopfield::TransformerBlockOptions encoderBlockOptions(const ProgramParserOptions& o) {
  hopfield::TransformerBlockOptions block;
  block.model_size = o.model_size;
  block.num_heads = o.num_heads;
  block.ffn_size = ffnSize(o);
  block.dropout = o.dropout;
  block.pre_norm = true;
  block.association = o.association;
  return block;
}

std::vector<int64_t> encodeQuestionForParser(const QuestionTokenizer& tokenizer, const std::string& question,
                                             int64_t max_tokens) {
  if (max_tokens < 2) throw std::invalid_argument("a question needs room for <start> and <end>");
  std::vector<int64_t> ids{QuestionTokenizer::kStart};
  for (const std::string& word : QuestionTokenizer::split(question)) {
    if (static_cast<int64_t>(ids.size()) + 1 >= max_tokens) break;
    ids.push_back(tokenizer.id(word));
  }
  ids.push_back(QuestionTokenizer::kEnd);
  return ids;
}

nlohmann::json ProgramParserOptions::toJson() const {
  return {{"question_vocab_size", question_vocab_size}, {"model_size", model_size}, {"num_heads", num_heads},
          {"ffn_size", ffn_size}, {"encoder_layers", encoder_layers}, {"decoder_layers", decoder_layers},
          {"max_question_tokens", max_question_tokens}, {"max_program_tokens", max_program_tokens},
          {"dropout", dropout}, {"attention", hopfield::attention_kind_name(association.kind)},
          {"clip_gamma", association.clip_gamma}, {"clip_zeta", association.clip_zeta},
          {"gate_init_pi", association.gate_init_pi}, {"pointer_tokens", pointer_tokens}};
}

ProgramParserOptions ProgramParserOptions::fromJson(const nlohmann::json& j) {
  ProgramParserOptions o;
  try {
    o.question_vocab_size = j.at("question_vocab_size").get<int64_t>();
    o.model_size = j.at("model_size").get<int64_t>();
    o.num_heads = j.at("num_heads").get<int64_t>();
    o.ffn_size = j.at("ffn_size").get<int64_t>();
    o.encoder_layers = j.at("encoder_layers").get<int64_t>();
    o.decoder_layers = j.at("decoder_layers").get<int64_t>();
    o.max_question_tokens = j.at("max_question_tokens").get<int64_t>();
    o.max_program_tokens = j.at("max_program_tokens").get<int64_t>();
    o.dropout = j.at("dropout").get<double>();
    o.association.kind = hopfield::parse_attention_kind(j.at("attention").get<std::string>());
    o.association.clip_gamma = j.at("clip_gamma").get<double>();
    o.association.clip_zeta = j.at("clip_zeta").get<double>();
    o.association.gate_init_pi = j.at("gate_init_pi").get<double>();
    o.pointer_tokens = j.at("pointer_tokens").get<int64_t>();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("program parser options: ") + e.what());
  }
  auto range = [](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw std::runtime_error(std::string("program parser options: ") + name + " must be in [" + std::to_string(lo) +
                               ", " + std::to_string(hi) + "] (got " + std::to_string(v) + ")");
  };
  range("question_vocab_size", o.question_vocab_size, QuestionTokenizer::kEnd + 1, 10000000);
  range("model_size", o.model_size, 1, 65536);
  range("num_heads", o.num_heads, 1, 1024);
  range("ffn_size", o.ffn_size, 0, 1 << 20);
  range("encoder_layers", o.encoder_layers, 0, 64);
  range("decoder_layers", o.decoder_layers, 1, 64);
  range("max_question_tokens", o.max_question_tokens, 2, 100000);
  range("max_program_tokens", o.max_program_tokens, 3, 100000);
  range("pointer_tokens", o.pointer_tokens, 0, 64);
  return o;
}

// ---- Decoder layer ----------------------------------------------------------------------------------------

ProgramDecoderLayerImpl::ProgramDecoderLayerImpl(const ProgramParserOptions& options) : options_(options) {
  reset();
}

void ProgramDecoderLayerImpl::reset() {
  self_attention = register_module("self_attention", hopfield::Hopfield(attentionOptions(options_)));
  cross_attention = register_module("cross_attention", hopfield::Hopfield(attentionOptions(options_)));
  norm_self = register_module("norm_self", layerNorm(options_.model_size));
  norm_cross = register_module("norm_cross", layerNorm(options_.model_size));
  norm_ffn = register_module("norm_ffn", layerNorm(options_.model_size));
  ffn_in = register_module("ffn_in", hopfield::QuantLinear(options_.model_size, ffnSize(options_)));
  ffn_out = register_module("ffn_out", hopfield::QuantLinear(ffnSize(options_), options_.model_size));
}

at::Tensor ProgramDecoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& memory,
                                            const at::Tensor& causal_mask, const at::Tensor& memory_padding) {
  const at::Tensor xs = norm_self(x);
  const at::Tensor self = self_attention(xs, xs, xs, at::Tensor(), causal_mask);
  return finish(x, self, cross_attention(memory, norm_cross(x + self), memory, memory_padding));
}

at::Tensor ProgramDecoderLayerImpl::finish(const at::Tensor& residual, const at::Tensor& self, const at::Tensor& cross) {
  const at::Tensor h = residual + self + cross;
  const at::Tensor f = ffn_out(at::gelu(ffn_in(norm_ffn(h))));
  const at::Tensor out = h + f;
  if (stats_) {
    stats_->record(name_ + ".self_attn", self);
    stats_->record(name_ + ".cross_attn", cross);
    stats_->record(name_ + ".ffn", f);
    stats_->record(name_ + ".residual", out);
  }
  return out;
}

void ProgramDecoderLayerImpl::track_outliers(hopfield::OutlierStats* stats, std::string name) {
  stats_ = stats;
  name_ = std::move(name);
}

at::Tensor ProgramDecoderLayerImpl::forwardLast(const at::Tensor& prefix, const at::Tensor& memory,
                                                const at::Tensor& memory_padding) {
  const int64_t t = prefix.size(1);
  const at::Tensor xs = norm_self(prefix);
  const at::Tensor last = prefix.narrow(1, t - 1, 1);
  const at::Tensor self = self_attention(xs, xs.narrow(1, t - 1, 1), xs);
  return finish(last, self, cross_attention(memory, norm_cross(last + self), memory, memory_padding));
}

// ---- Parser -----------------------------------------------------------------------------------------------

ProgramParserImpl::ProgramParserImpl(ProgramParserOptions options) : options_(std::move(options)) {
  if (options_.question_vocab_size <= QuestionTokenizer::kEnd)
    throw std::invalid_argument("ProgramParser: question_vocab_size must cover the tokenizer's special tokens");
  if (options_.model_size <= 0 || options_.num_heads <= 0 || options_.model_size % options_.num_heads != 0)
    throw std::invalid_argument("ProgramParser: model_size must be a positive multiple of num_heads");
  if (options_.max_question_tokens < 2 || options_.max_program_tokens < 3)
    throw std::invalid_argument("ProgramParser: max_question_tokens >= 2 and max_program_tokens >= 3 needed");
  reset();
}

void ProgramParserImpl::reset() {
  const int64_t D = options_.model_size;
  word_embedding = register_module("word_embedding", torch::nn::Embedding(options_.question_vocab_size, D));
  question_position = register_module("question_position", torch::nn::Embedding(options_.max_question_tokens, D));
  const int64_t outputs = numProgramTokens() + options_.pointer_tokens;
  token_embedding = register_module("token_embedding", torch::nn::Embedding(outputs, D));
  program_position = register_module("program_position", torch::nn::Embedding(options_.max_program_tokens, D));
  for (auto* table : {&word_embedding, &question_position, &token_embedding, &program_position})
    torch::nn::init::normal_((*table)->weight, 0.0, 0.1);

  encoder = register_module("encoder", torch::nn::ModuleList());
  const hopfield::TransformerBlockOptions block = encoderBlockOptions(options_);
  for (int64_t i = 0; i < options_.encoder_layers; ++i) encoder->push_back(hopfield::TransformerBlock(block));
  decoder = register_module("decoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.decoder_layers; ++i) decoder->push_back(ProgramDecoderLayer(options_));
  encoder_norm = register_module("encoder_norm", layerNorm(D));
  decoder_norm = register_module("decoder_norm", layerNorm(D));
  output = register_module("output", hopfield::QuantLinear(D, outputs));
}

std::pair<at::Tensor, at::Tensor> encodeQuestionIds(const at::Tensor& question, int64_t max_tokens,
                                                     torch::nn::Embedding& words, torch::nn::Embedding& positions,
                                                     torch::nn::ModuleList& blocks, torch::nn::LayerNorm& norm) {
  TORCH_CHECK(question.dim() == 2, "program model: question ids must be [batch, tokens]");
  const int64_t S = question.size(1);
  TORCH_CHECK(S >= 1 && S <= max_tokens, "program model: question of ", S, " tokens (1..", max_tokens, " allowed)");
  const at::Tensor ids = question.to(at::kLong);
  const at::Tensor padding = ids.eq(QuestionTokenizer::kPad);
  at::Tensor x = words(ids) + positions(at::arange(S, ids.options())).unsqueeze(0);
  for (const auto& block : *blocks) x = block->as<hopfield::TransformerBlock>()->forward(x, padding);
  return {norm(x), padding};
}

at::Tensor decodeLastPosition(torch::nn::ModuleList& layers, at::Tensor x, const at::Tensor& memory,
                              const at::Tensor& memory_padding, std::vector<at::Tensor>& layer_inputs) {
  layer_inputs.resize(layers->size());
  for (size_t l = 0; l < layers->size(); ++l) {
    layer_inputs[l] = layer_inputs[l].defined() ? at::cat({layer_inputs[l], x}, 1) : x;
    x = (*layers)[l]->as<ProgramDecoderLayer>()->forwardLast(layer_inputs[l], memory, memory_padding);
  }
  return x;
}

void ProgramParserImpl::track_outliers(hopfield::OutlierStats* stats, const std::string& prefix) {
  for (size_t i = 0; i < encoder->size(); ++i)
    encoder[i]->as<hopfield::TransformerBlock>()->track_outliers(stats, prefix + ".encoder." + std::to_string(i));
  for (size_t i = 0; i < decoder->size(); ++i)
    decoder[i]->as<ProgramDecoderLayer>()->track_outliers(stats, prefix + ".decoder." + std::to_string(i));
}

std::pair<at::Tensor, at::Tensor> ProgramParserImpl::encode(const at::Tensor& question) {
  return encodeQuestionIds(question, options_.max_question_tokens, word_embedding, question_position, encoder,
                           encoder_norm);
}

at::Tensor ProgramParserImpl::decode(const at::Tensor& memory, const at::Tensor& memory_padding,
                                     const at::Tensor& program_inputs) {
  TORCH_CHECK(program_inputs.dim() == 2, "ProgramParser: program inputs must be [batch, steps]");
  const int64_t T = program_inputs.size(1);
  TORCH_CHECK(T >= 1 && T <= options_.max_program_tokens, "ProgramParser: program of ", T, " steps (1..",
              options_.max_program_tokens, " allowed)");
  const at::Tensor ids = program_inputs.to(at::kLong);
  at::Tensor x = token_embedding(ids) + program_position(at::arange(T, ids.options())).unsqueeze(0);
  const at::Tensor causal = at::ones({T, T}, ids.options().dtype(at::kBool)).triu(1);
  for (const auto& layer : *decoder)
    x = layer->as<ProgramDecoderLayer>()->forward(x, memory, causal, memory_padding);
  return output(decoder_norm(x));
}

at::Tensor ProgramParserImpl::decodeStep(const at::Tensor& memory, const at::Tensor& memory_padding,
                                         const at::Tensor& tokens, int64_t step, std::vector<at::Tensor>& layer_inputs) {
  TORCH_CHECK(step >= 0 && step < options_.max_program_tokens, "ProgramParser: step ", step, " is out of range");
  const at::Tensor ids = tokens.to(at::kLong);
  at::Tensor x = (token_embedding(ids) + program_position->weight[step]).unsqueeze(1);  // [B, 1, D]
  x = decodeLastPosition(decoder, x, memory, memory_padding, layer_inputs);
  return output(decoder_norm(x)).squeeze(1);
}

at::Tensor ProgramParserImpl::forward(const at::Tensor& question, const at::Tensor& program_inputs) {
  TORCH_CHECK(question.size(0) == program_inputs.size(0), "ProgramParser: batch sizes differ");
  auto [memory, padding] = encode(question);
  return decode(memory, padding, program_inputs);
}

namespace {

// The stack after `token` (which must fit `stack`).
std::vector<ValueType> pushToken(std::vector<ValueType> stack, int token) {
  const ProgramToken& t = programTokens()[token];
  stack.resize(stack.size() - t.arity);
  stack.push_back(t.signature->output);
  return stack;
}

// A stack of types as a compact key.
std::string stackKey(const std::vector<ValueType>& stack) {
  std::string key(stack.size(), '\0');
  for (size_t i = 0; i < stack.size(); ++i) key[i] = static_cast<char>(stack[i]);
  return key;
}

// The type check of decoding, memoised per thread across calls (the reachable stacks are few): which tokens
// may follow a stack with `remaining` steps left, such that <end> can still be reached within the budget.
class TypeCheck {
 public:
  // The fewest module tokens after which <end> fits, searched breadth-first over stack types.
  int completion(const std::vector<ValueType>& start, int limit) {
    const std::string start_key = stackKey(start) + static_cast<char>(std::min(limit, 127));
    if (auto it = completion_.find(start_key); it != completion_.end()) return it->second;
    const size_t max_depth = start.size() + 4;
    std::unordered_map<std::string, int> seen{{stackKey(start), 0}};
    std::deque<std::vector<ValueType>> queue{start};
    int found = std::numeric_limits<int>::max() / 2;
    while (!queue.empty()) {
      std::vector<ValueType> stack = queue.front();
      queue.pop_front();
      const int distance = seen[stackKey(stack)];
      if (tokenFits(stack, kEndToken)) {
        found = distance;
        break;
      }
      if (distance >= limit) continue;
      for (int token = kEndToken + 1; token < numProgramTokens(); ++token) {
        if (!tokenFits(stack, token)) continue;
        std::vector<ValueType> next = pushToken(stack, token);
        if (next.size() > max_depth || !seen.emplace(stackKey(next), distance + 1).second) continue;
        queue.push_back(std::move(next));
      }
    }
    completion_.emplace(start_key, found);
    return found;
  }

  const std::vector<uint8_t>& allowed(const std::vector<ValueType>& stack, int64_t remaining, int limit) {
    std::string key = stackKey(stack);
    key += static_cast<char>(std::min<int64_t>(remaining, 127));
    key += static_cast<char>(std::min(limit, 127));
    if (auto it = allowed_.find(key); it != allowed_.end()) return it->second;
    const int K = numProgramTokens();
    std::vector<uint8_t> out(K, 0);
    for (int token = kEndToken; token < K; ++token) {
      if (!tokenFits(stack, token)) continue;
      if (token != kEndToken && completion(pushToken(stack, token), limit) + 1 > remaining) continue;
      out[token] = 1;
    }
    return allowed_.emplace(std::move(key), std::move(out)).first->second;
  }

 private:
  std::unordered_map<std::string, int> completion_;
  std::unordered_map<std::string, std::vector<uint8_t>> allowed_;
};

TypeCheck& typeCheck() {
  thread_local TypeCheck check;
  return check;
}

}  // namespace

std::vector<DecodedProgram> ProgramParserImpl::decodeBatch(const std::vector<std::vector<int64_t>>& questions,
                                                           const DecodeOptions& options) {
  const int64_t per_question = std::max<int64_t>(1, options.samples);
  const bool sampling = options.samples > 0;
  if (sampling && !(options.temperature > 0)) throw std::invalid_argument("decode: temperature must be > 0");
  if (options.token_masks && options.token_masks->size() != questions.size())
    throw std::invalid_argument("decode: one token mask per question is needed");
  if (options.phrase_chains && options.phrase_chains->size() != questions.size())
    throw std::invalid_argument("decode: one list of phrase chains per question is needed");
  const int64_t Q = static_cast<int64_t>(questions.size());
  const int64_t R = Q * per_question;  // decoded rows, question-major
  std::vector<DecodedProgram> results(static_cast<size_t>(R));
  if (questions.empty()) return results;
  at::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();

  int64_t S = 1;
  for (const auto& q : questions) S = std::max<int64_t>(S, static_cast<int64_t>(q.size()));
  S = std::min(S, options_.max_question_tokens);
  at::Tensor question = at::zeros({Q, S}, at::kLong);
  auto qa = question.accessor<int64_t, 2>();
  for (int64_t b = 0; b < Q; ++b)
    for (int64_t s = 0; s < std::min<int64_t>(S, questions[b].size()); ++s) {
      const int64_t id = questions[b][s];
      qa[b][s] = id >= 0 && id < options_.question_vocab_size ? id : QuestionTokenizer::kUnknown;
    }
  auto [memory, padding] = encode(question);
  if (per_question > 1) {
    memory = memory.repeat_interleave(per_question, 0);
    padding = padding.repeat_interleave(per_question, 0);
  }

  const int64_t T = options_.max_program_tokens;
  const int K = numProgramTokens();
  TypeCheck& check = typeCheck();
  std::mt19937_64 random(options.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<std::vector<ValueType>> stacks(R);
  std::vector<std::vector<at::Tensor>> rows(R);
  const int V = K + static_cast<int>(options_.pointer_tokens);  // pointer ids follow the program tokens
  std::vector<uint8_t> allowed(static_cast<size_t>(R * V));

  // Rows still decoding, and their encoder states and layer caches (compacted as rows finish).
  std::vector<int64_t> active(R);
  for (int64_t r = 0; r < R; ++r) active[r] = r;
  std::vector<at::Tensor> caches;
  std::vector<int64_t> next_input(R, kStartToken);
  for (int64_t step = 0; step < T && !active.empty(); ++step) {
    const int64_t A = static_cast<int64_t>(active.size());
    std::vector<int64_t> inputs(A);
    for (int64_t i = 0; i < A; ++i) inputs[i] = next_input[active[i]];
    const at::Tensor logits =
        decodeStep(memory, padding, at::tensor(inputs, at::kLong), step, caches).to(at::kFloat);  // [A, V]
    const int64_t remaining_after = T - step - 1;  // steps left once this one is written
    for (int64_t i = 0; i < A; ++i) {
      const int64_t r = active[i];
      uint8_t* row = allowed.data() + i * V;
      const std::vector<uint8_t>& fits = check.allowed(stacks[r], remaining_after, static_cast<int>(T));
      const std::vector<uint8_t>* concepts = options.token_masks ? &(*options.token_masks)[r / per_question] : nullptr;
      bool any = false;
      for (int k = 0; k < K; ++k) {
        row[k] = fits[k] && (!concepts || k == kEndToken || (*concepts)[k]);
        any = any || row[k];
      }
      // A pointer acts like its chain (filters, or one relate): it fits where the chain's first token fits.
      const std::vector<std::vector<int>>* chains =
          options.phrase_chains ? &(*options.phrase_chains)[r / per_question] : nullptr;
      for (int k = K; k < V; ++k) {
        const size_t phrase = static_cast<size_t>(k - K);
        row[k] = chains && phrase < chains->size() && !(*chains)[phrase].empty() && fits[(*chains)[phrase][0]];
        any = any || row[k];
      }
      if (!any) {  // the concept mask left nothing (a question that names too little): the type check alone
        for (int k = 0; k < K; ++k) row[k] = fits[k];
        any = std::find(fits.begin(), fits.end(), 1) != fits.end();
      }
      if (!any) row[kEndToken] = 1;  // unreachable: the budget check keeps a way out
    }
    const at::Tensor mask = at::from_blob(allowed.data(), {A, V}, at::kByte).to(at::kBool);
    at::Tensor scores = logits.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    if (sampling && options.temperature != 1.0) scores = scores / options.temperature;
    const at::Tensor log_p = at::log_softmax(scores, 1).contiguous();
    auto lp = log_p.accessor<float, 2>();
    const at::Tensor greedy = (sampling ? at::zeros({A}, at::kLong) : log_p.argmax(1)).contiguous();
    auto best = greedy.accessor<int64_t, 1>();
    std::vector<int64_t> chosen(R, kPadToken), still;
    for (int64_t i = 0; i < A; ++i) {
      const int64_t r = active[i];
      int token = kEndToken;
      if (sampling) {
        double u = uniform(random), acc = 0;
        int last = kEndToken;
        token = -1;
        for (int k = 0; k < V; ++k) {
          if (!allowed[i * V + k]) continue;
          last = k;
          acc += std::exp(static_cast<double>(lp[i][k]));
          if (u < acc) {
            token = k;
            break;
          }
        }
        if (token < 0) token = last;  // rounding left u above the total
      } else {
        token = static_cast<int>(best[i]);
      }
      if (options.keep_distributions) rows[r].push_back(log_p[i].exp());
      results[r].log_probability += lp[i][token];
      chosen[r] = token;
      if (token >= K) {  // a pointer: the phrase's chain
        const auto& chain = (*options.phrase_chains)[r / per_question][static_cast<size_t>(token - K)];
        for (int t : chain) stacks[r] = pushToken(stacks[r], t);
        results[r].tokens.insert(results[r].tokens.end(), chain.begin(), chain.end());
        results[r].steps.push_back(token);
        still.push_back(r);
      } else if (token != kEndToken) {
        stacks[r] = pushToken(stacks[r], token);
        results[r].tokens.push_back(token);
        results[r].steps.push_back(token);
        still.push_back(r);
      }
    }
    if (static_cast<int64_t>(still.size()) < A && !still.empty()) {
      std::vector<int64_t> keep;  // positions within the active rows
      for (int64_t i = 0, j = 0; i < A && j < static_cast<int64_t>(still.size()); ++i)
        if (active[i] == still[j]) keep.push_back(i), ++j;
      const at::Tensor index = at::tensor(keep, at::kLong);
      memory = memory.index_select(0, index);
      padding = padding.index_select(0, index);
      for (auto& c : caches) c = c.index_select(0, index);
    }
    for (int64_t r : still) next_input[r] = chosen[r];
    active = std::move(still);
  }
  if (options.keep_distributions)
    for (int64_t r = 0; r < R; ++r) results[r].distributions = at::stack(rows[r]);
  if (was_training) train();
  return results;
}

std::vector<DecodedProgram> ProgramParserImpl::decodeGreedyBatch(const std::vector<std::vector<int64_t>>& questions) {
  DecodeOptions options;
  options.keep_distributions = true;
  return decodeBatch(questions, options);
}

DecodedProgram ProgramParserImpl::decodeGreedy(const std::vector<int64_t>& question_ids) {
  return decodeGreedyBatch({question_ids}).front();
}

// ---- Training ---------------------------------------------------------------------------------------------

namespace {

struct Batch {
  at::Tensor question, inputs, targets;
};

Batch makeBatch(const std::vector<ProgramExample>& examples, const std::vector<size_t>& indices) {
  int64_t S = 1, T = 1;
  for (size_t i : indices) {
    S = std::max<int64_t>(S, examples[i].question.size());
    T = std::max<int64_t>(T, examples[i].program.size() + 1);
  }
  const int64_t B = static_cast<int64_t>(indices.size());
  Batch batch{at::zeros({B, S}, at::kLong), at::zeros({B, T}, at::kLong), at::zeros({B, T}, at::kLong)};
  auto q = batch.question.accessor<int64_t, 2>();
  auto in = batch.inputs.accessor<int64_t, 2>();
  auto out = batch.targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const ProgramExample& e = examples[indices[b]];
    for (size_t s = 0; s < e.question.size(); ++s) q[b][s] = e.question[s];
    in[b][0] = kStartToken;
    for (size_t t = 0; t < e.program.size(); ++t) {
      in[b][t + 1] = e.program[t];
      out[b][t] = e.program[t];
    }
    out[b][e.program.size()] = kEndToken;
  }
  return batch;
}

at::Tensor programLoss(const at::Tensor& logits, const at::Tensor& targets) {
  return at::nll_loss(at::log_softmax(logits.reshape({-1, logits.size(-1)}), -1), targets.reshape({-1}), {},
                      at::Reduction::Mean, kPadToken);
}

void checkExamples(const ProgramParser& model, const std::vector<ProgramExample>& examples) {
  const ProgramParserOptions& o = model->options();
  for (size_t i = 0; i < examples.size(); ++i) {
    const ProgramExample& e = examples[i];
    if (e.question.empty() || static_cast<int64_t>(e.question.size()) > o.max_question_tokens)
      throw std::invalid_argument("example " + std::to_string(i) + ": question of " +
                                  std::to_string(e.question.size()) + " tokens does not fit the model");
    if (static_cast<int64_t>(e.program.size()) + 1 > o.max_program_tokens)
      throw std::invalid_argument("example " + std::to_string(i) + ": program of " +
                                  std::to_string(e.program.size()) + " tokens does not fit the model");
  }
}

}  // namespace

ProgramTrainingReport trainProgramParser(ProgramParser& model, const std::vector<ProgramExample>& examples,
                                         const ProgramTrainingOptions& options,
                                         const std::function<void(int64_t, double)>& on_step) {
  if (examples.empty()) throw std::invalid_argument("no training examples");
  checkExamples(model, examples);
  const auto started = std::chrono::steady_clock::now();
  model->train();
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  std::mt19937_64 random(options.seed);
  std::vector<size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), random);
  size_t cursor = 0;
  const size_t batch_size = static_cast<size_t>(std::max<int64_t>(1, options.batch_size));

  ProgramTrainingReport report;
  std::deque<double> recent;
  for (int64_t step = 0; step < options.steps; ++step) {
    double scale = 1.0;
    if (step < options.warmup_steps) {
      scale = static_cast<double>(step + 1) / static_cast<double>(options.warmup_steps);
    } else if (options.steps > options.warmup_steps) {
      const double progress = static_cast<double>(step - options.warmup_steps) /
                              static_cast<double>(options.steps - options.warmup_steps);
      scale = 0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
    for (auto& group : optimizer.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(options.learning_rate * scale);

    std::vector<size_t> indices;
    while (indices.size() < std::min(batch_size, examples.size())) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), random);
        cursor = 0;
      }
      indices.push_back(order[cursor++]);
    }
    const Batch batch = makeBatch(examples, indices);
    optimizer.zero_grad();
    const at::Tensor loss = programLoss(model->forward(batch.question, batch.inputs), batch.targets);
    loss.backward();
    if (options.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), options.max_grad_norm);
    optimizer.step();

    const double value = loss.item<double>();
    recent.push_back(value);
    if (recent.size() > 20) recent.pop_front();
    report.steps = step + 1;
    if (on_step) on_step(step + 1, value);
  }
  if (!recent.empty()) report.final_loss = std::accumulate(recent.begin(), recent.end(), 0.0) / recent.size();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

double programTokenAccuracy(ProgramParser& model, const std::vector<ProgramExample>& examples) {
  if (examples.empty()) return 0.0;
  checkExamples(model, examples);
  at::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  int64_t correct = 0, total = 0;
  for (size_t start = 0; start < examples.size(); start += 64) {
    std::vector<size_t> indices;
    for (size_t i = start; i < std::min(examples.size(), start + 64); ++i) indices.push_back(i);
    const Batch batch = makeBatch(examples, indices);
    const at::Tensor predicted = model->forward(batch.question, batch.inputs).argmax(-1);
    const at::Tensor counted = batch.targets.ne(kPadToken);
    correct += predicted.eq(batch.targets).logical_and(counted).sum().item<int64_t>();
    total += counted.sum().item<int64_t>();
  }
  if (was_training) model->train();
  return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

double programExactMatch(ProgramParser& model, const std::vector<ProgramExample>& examples) {
  if (examples.empty()) return 0.0;
  int64_t correct = 0;
  for (size_t start = 0; start < examples.size(); start += 64) {
    std::vector<std::vector<int64_t>> questions;
    for (size_t i = start; i < std::min(examples.size(), start + 64); ++i) questions.push_back(examples[i].question);
    const std::vector<DecodedProgram> decoded = model->decodeGreedyBatch(questions);
    for (size_t k = 0; k < decoded.size(); ++k)
      if (decoded[k].tokens == examples[start + k].program) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(examples.size());
}

}  // namespace vqa::program
