// The GQA program model: vocabulary, encoder-decoder with copying, loss and grammar-guided greedy decoding.
#include "program/gqa_program_parser.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace vqa::program {

// ---- Vocabulary -------------------------------------------------------------------------------------------

void GqaProgramVocabulary::add(const std::string& token) {
  if (index_.count(token)) return;
  int operation = -1, offset = 0;
  const GqaTokenClass cls = GqaGrammarState::classOf(token, &operation, &offset);
  index_[token] = size();
  tokens_.push_back(token);
  classes_.push_back(cls);
  operations_.push_back(operation);
  offsets_.push_back(offset);
}

GqaProgramVocabulary GqaProgramVocabulary::build(const std::vector<std::vector<std::string>>& programs,
                                                 int min_word_count) {
  GqaProgramVocabulary v;
  for (const char* special : {"<pad>", "<start>", "<unk>", kGqaEnd, kGqaSep, kGqaAlt, kGqaNot, "<s>", "<o>"})
    v.add(special);
  for (const std::string& op : gqaOperationTokens()) v.add(op);
  for (int k = 1; k <= kGqaMaxDependencyOffset; ++k) v.add(gqaDependencyToken(k));
  v.add(gqaAttributeToken(""));
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  for (const auto& program : programs)
    for (const std::string& token : program) {
      const GqaTokenClass cls = GqaGrammarState::classOf(token);
      if (cls == GqaTokenClass::Attribute) v.add(token);
      if (cls != GqaTokenClass::Word) continue;
      if (counts[token]++ == 0) order.push_back(token);
    }
  for (const std::string& word : order)
    if (counts[word] >= min_word_count) v.add(word);
  return v;
}

int64_t GqaProgramVocabulary::find(const std::string& token) const {
  const auto it = index_.find(token);
  return it == index_.end() ? -1 : it->second;
}

int64_t GqaProgramVocabulary::inputId(const std::string& token) const {
  const int64_t id = find(token);
  return id >= 0 ? id : kUnknownWord;
}

nlohmann::json GqaProgramVocabulary::toJson() const { return {{"tokens", tokens_}}; }

GqaProgramVocabulary GqaProgramVocabulary::fromJson(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("tokens") || !json["tokens"].is_array())
    throw std::runtime_error("GQA program vocabulary: no 'tokens' list");
  GqaProgramVocabulary v;
  for (const auto& t : json["tokens"]) {
    if (!t.is_string() || t.get<std::string>().empty())
      throw std::runtime_error("GQA program vocabulary: a token is not a non-empty string");
    if (v.index_.count(t.get<std::string>()))
      throw std::runtime_error("GQA program vocabulary: '" + t.get<std::string>() + "' appears twice");
    v.add(t.get<std::string>());
  }
  if (v.size() <= kUnknownWord || v.token(kPad) != "<pad>" || v.token(kStart) != "<start>" ||
      v.token(kUnknownWord) != "<unk>" || v.find(kGqaEnd) < 0)
    throw std::runtime_error("GQA program vocabulary: the special tokens are missing or out of place");
  return v;
}

GqaProgramExample makeGqaProgramExample(const QuestionTokenizer& tokenizer, const std::string& question,
                                        int64_t max_question_tokens) {
  GqaProgramExample e;
  e.question = encodeQuestionForParser(tokenizer, question, max_question_tokens);
  e.words = QuestionTokenizer::split(question);
  e.words.resize(e.question.size() - 2);  // the words the encoder reads
  return e;
}

namespace {

// The first question position (encoder index) holding `word`, or -1.
int64_t copyPosition(const GqaProgramExample& e, const std::string& word) {
  const auto it = std::find(e.words.begin(), e.words.end(), word);
  return it == e.words.end() ? -1 : static_cast<int64_t>(it - e.words.begin()) + 1;
}

}  // namespace

// ---- Model ------------------------------------------------------------------------------------------------

GqaProgramParserImpl::GqaProgramParserImpl(ProgramParserOptions options, int64_t program_vocab_size)
    : options_(std::move(options)), program_vocab_size_(program_vocab_size) {
  if (options_.pointer_tokens != 0) throw std::invalid_argument("GqaProgramParser: pointer_tokens must be 0");
  if (program_vocab_size_ <= GqaProgramVocabulary::kUnknownWord)
    throw std::invalid_argument("GqaProgramParser: the program vocabulary is too small");
  if (options_.question_vocab_size <= QuestionTokenizer::kEnd)
    throw std::invalid_argument("GqaProgramParser: question_vocab_size must cover the tokenizer's special tokens");
  if (options_.model_size <= 0 || options_.num_heads <= 0 || options_.model_size % options_.num_heads != 0)
    throw std::invalid_argument("GqaProgramParser: model_size must be a positive multiple of num_heads");
  if (options_.max_question_tokens < 3 || options_.max_program_tokens < 4)
    throw std::invalid_argument("GqaProgramParser: max_question_tokens >= 3 and max_program_tokens >= 4 needed");
  reset();
}

void GqaProgramParserImpl::reset() {
  const int64_t D = options_.model_size;
  word_embedding = register_module("word_embedding", torch::nn::Embedding(options_.question_vocab_size, D));
  question_position = register_module("question_position", torch::nn::Embedding(options_.max_question_tokens, D));
  token_embedding = register_module("token_embedding", torch::nn::Embedding(program_vocab_size_, D));
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
  output = register_module("output", torch::nn::Linear(D, program_vocab_size_));
  copy_query = register_module("copy_query", torch::nn::Linear(D, D));
  copy_input = register_module("copy_input", torch::nn::Linear(D, D));
}

std::pair<at::Tensor, at::Tensor> GqaProgramParserImpl::encode(const at::Tensor& question) {
  return encodeQuestionIds(question, options_.max_question_tokens, word_embedding, question_position, encoder,
                           encoder_norm);
}

at::Tensor GqaProgramParserImpl::embedInputs(const at::Tensor& memory, const at::Tensor& inputs,
                                             const at::Tensor& copy_from, int64_t first_position) {
  // The token, its position and, for a word that is in the question, the encoder state it copies.
  const int64_t T = inputs.size(1);
  TORCH_CHECK(first_position + T <= options_.max_program_tokens, "GqaProgramParser: program of ", first_position + T,
              " steps (", options_.max_program_tokens, " allowed)");
  const at::Tensor tokens = inputs.to(at::kLong);
  const at::Tensor from = copy_from.to(at::kLong);
  const at::Tensor copied = at::gather(memory, 1, from.clamp_min(0).unsqueeze(-1).expand({-1, -1, memory.size(2)}));
  return token_embedding(tokens) +
         program_position(at::arange(first_position, first_position + T, tokens.options())).unsqueeze(0) +
         copy_input(copied) * from.ge(0).unsqueeze(-1).to(copied.scalar_type());
}

at::Tensor GqaProgramParserImpl::outputs(const at::Tensor& x, const at::Tensor& memory, const at::Tensor& padding) {
  // Copy scores: only the question's words (not <start>, <end> or padding) can be copied.
  at::Tensor copy = at::matmul(copy_query(x), memory.transpose(1, 2)) / std::sqrt(static_cast<double>(memory.size(2)));
  at::Tensor word = padding.logical_not();
  word.select(1, 0).fill_(false);
  const at::Tensor last = padding.logical_not().sum(1) - 1;  // the <end> of each question
  word.scatter_(1, last.unsqueeze(1), false);
  copy = copy.masked_fill(word.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  return at::cat({output(x), copy}, -1);
}

at::Tensor GqaProgramParserImpl::forward(const at::Tensor& question, const at::Tensor& inputs,
                                         const at::Tensor& copy_from) {
  TORCH_CHECK(inputs.dim() == 2 && copy_from.sizes() == inputs.sizes(),
              "GqaProgramParser: inputs and copy_from [B, T] expected");
  TORCH_CHECK(question.size(0) == inputs.size(0), "GqaProgramParser: batch sizes differ");
  const auto [memory, padding] = encode(question);
  at::Tensor x = embedInputs(memory, inputs, copy_from, 0);
  const int64_t T = inputs.size(1);
  const at::Tensor causal = at::ones({T, T}, inputs.options().dtype(at::kBool)).triu(1);
  for (const auto& layer : *decoder) x = layer->as<ProgramDecoderLayer>()->forward(x, memory, causal, padding);
  return outputs(decoder_norm(x), memory, padding);
}

at::Tensor GqaProgramParserImpl::decodeStep(const at::Tensor& memory, const at::Tensor& padding, const at::Tensor& tokens,
                                            const at::Tensor& copy_from, int64_t step,
                                            std::vector<at::Tensor>& layer_inputs) {
  const at::Tensor x = embedInputs(memory, tokens.unsqueeze(1), copy_from.unsqueeze(1), step);  // [B, 1, D]
  return outputs(decoder_norm(decodeLastPosition(decoder, x, memory, padding, layer_inputs)), memory, padding).squeeze(1);
}

// ---- Batches and loss -------------------------------------------------------------------------------------

GqaProgramBatch makeGqaProgramBatch(const GqaProgramParser& model, const GqaProgramVocabulary& vocabulary,
                                    const std::vector<GqaProgramExample>& examples, const std::vector<size_t>& indices) {
  const ProgramParserOptions& o = model->options();
  int64_t S = 1, T = 1;
  for (size_t i : indices) {
    const GqaProgramExample& e = examples.at(i);
    if (e.question.size() < 2 || static_cast<int64_t>(e.question.size()) > o.max_question_tokens)
      throw std::invalid_argument("example " + std::to_string(i) + ": a question of " +
                                  std::to_string(e.question.size()) + " tokens does not fit the model");
    if (static_cast<int64_t>(e.tokens.size()) > o.max_program_tokens)
      throw std::invalid_argument("example " + std::to_string(i) + ": a program of " + std::to_string(e.tokens.size()) +
                                  " tokens does not fit the model (" + std::to_string(o.max_program_tokens) + ")");
    S = std::max<int64_t>(S, static_cast<int64_t>(e.question.size()));
    T = std::max<int64_t>(T, static_cast<int64_t>(e.tokens.size()));
  }
  const int64_t B = static_cast<int64_t>(indices.size()), V = vocabulary.size();
  GqaProgramBatch b{at::zeros({B, S}, at::kLong), at::zeros({B, T}, at::kLong), at::full({B, T}, -1, at::kLong),
                    at::zeros({B, T, V + S}, at::kBool), at::zeros({B, T}, at::kBool)};
  auto q = b.question.accessor<int64_t, 2>();
  auto in = b.inputs.accessor<int64_t, 2>();
  auto from = b.copy_from.accessor<int64_t, 2>();
  auto correct = b.correct.accessor<bool, 3>();
  auto counted = b.counted.accessor<bool, 2>();
  for (int64_t r = 0; r < B; ++r) {
    const GqaProgramExample& e = examples[indices[r]];
    for (size_t s = 0; s < e.question.size(); ++s) q[r][s] = e.question[s];
    in[r][0] = GqaProgramVocabulary::kStart;
    for (size_t t = 0; t < e.tokens.size(); ++t) {
      const std::string& token = e.tokens[t];
      const bool word = GqaGrammarState::classOf(token) == GqaTokenClass::Word;
      if (t + 1 < static_cast<size_t>(T)) {
        in[r][t + 1] = vocabulary.inputId(token);
        if (word) from[r][t + 1] = copyPosition(e, token);
      }
      const int64_t id = vocabulary.find(token);
      bool writable = id >= 0;
      if (writable) correct[r][t][id] = true;
      if (word)
        for (size_t k = 0; k < e.words.size(); ++k)
          if (e.words[k] == token) correct[r][t][V + static_cast<int64_t>(k) + 1] = writable = true;
      counted[r][t] = writable;
    }
  }
  return b;
}

std::pair<at::Tensor, at::Tensor> gqaProgramLossSum(const at::Tensor& logits, const GqaProgramBatch& batch) {
  const at::Tensor log_p = at::log_softmax(logits.to(at::kFloat), -1);
  const at::Tensor target = at::logsumexp(log_p.masked_fill(batch.correct.logical_not(), -1e30), -1);  // [B, T]
  const at::Tensor counted = batch.counted.to(at::kFloat);
  return {-(target * counted).sum(), counted.sum()};
}

at::Tensor gqaProgramLoss(const at::Tensor& logits, const GqaProgramBatch& batch) {
  const auto [sum, counted] = gqaProgramLossSum(logits, batch);
  return sum / counted.clamp_min(1.0);
}

// ---- Decoding ---------------------------------------------------------------------------------------------

std::vector<GqaDecodedProgram> decodeGqaPrograms(GqaProgramParser& model, const GqaProgramVocabulary& vocabulary,
                                                 const std::vector<GqaProgramExample>& examples) {
  std::vector<GqaDecodedProgram> results(examples.size());
  if (examples.empty()) return results;
  at::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t T = model->options().max_program_tokens, V = vocabulary.size();
  constexpr int64_t kChunk = 128;
  for (size_t start = 0; start < examples.size(); start += kChunk) {
    const size_t end = std::min(examples.size(), start + kChunk);
    std::vector<GqaProgramExample> chunk(examples.begin() + start, examples.begin() + end);
    for (auto& e : chunk) e.tokens.clear();
    std::vector<size_t> rows(chunk.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    const GqaProgramBatch batch = makeGqaProgramBatch(model, vocabulary, chunk, rows);
    const int64_t B = static_cast<int64_t>(chunk.size()), S = batch.question.size(1);
    std::vector<GqaGrammarState> states(chunk.size());
    std::vector<int64_t> next_input(chunk.size(), GqaProgramVocabulary::kStart), next_from(chunk.size(), -1);
    std::vector<uint8_t> allowed(static_cast<size_t>(V + S));
    const auto [memory, padding] = model->encode(batch.question);
    std::vector<at::Tensor> caches;  // every decoder layer's inputs so far (rows that finished keep decoding <pad>)
    for (int64_t t = 0; t < T; ++t) {
      bool any_open = false;
      for (const auto& s : states) any_open = any_open || !s.finished();
      if (!any_open) break;
      const at::Tensor logits = model->decodeStep(memory, padding, at::tensor(next_input, at::kLong),
                                                  at::tensor(next_from, at::kLong), t, caches);
      const at::Tensor log_p = at::log_softmax(logits.to(at::kFloat), -1).contiguous();
      auto lp = log_p.accessor<float, 2>();
      const int budget = static_cast<int>(T - t);
      for (int64_t r = 0; r < B; ++r) {
        GqaGrammarState& state = states[r];
        if (state.finished()) {
          next_input[r] = GqaProgramVocabulary::kPad;
          next_from[r] = -1;
          continue;
        }
        const bool word_fits = state.allows(GqaTokenClass::Word, budget);
        for (int64_t k = 0; k < V; ++k) {
          const GqaTokenClass cls = vocabulary.tokenClass(k);
          bool ok;
          if (k == GqaProgramVocabulary::kPad || k == GqaProgramVocabulary::kStart ||
              k == GqaProgramVocabulary::kUnknownWord)
            ok = false;
          else if (cls == GqaTokenClass::Word)
            ok = word_fits;
          else
            ok = state.allows(cls, budget, vocabulary.operationOf(k), vocabulary.offsetOf(k));
          allowed[static_cast<size_t>(k)] = ok;
        }
        const int64_t words = static_cast<int64_t>(chunk[r].words.size());
        for (int64_t s = 0; s < S; ++s) allowed[static_cast<size_t>(V + s)] = word_fits && s >= 1 && s <= words;
        int64_t best = -1;
        for (int64_t k = 0; k < V + S; ++k)
          if (allowed[static_cast<size_t>(k)] && std::isfinite(lp[r][k]) && (best < 0 || lp[r][k] > lp[r][best])) best = k;
        if (best < 0) {  // unreachable: the grammar's budget check always leaves a way to end
          throw std::logic_error("GQA decoding: no token fits after " + gqaTokensToString(results[start + r].tokens));
        }
        // Renormalised over the allowed outputs.
        double total = 0;
        for (int64_t k = 0; k < V + S; ++k)
          if (allowed[static_cast<size_t>(k)]) total += std::exp(static_cast<double>(lp[r][k]));
        results[start + r].log_probability += lp[r][best] - std::log(std::max(total, 1e-300));
        const std::string token = best < V ? vocabulary.token(best) : chunk[r].words[static_cast<size_t>(best - V - 1)];
        state.advance(token);
        results[start + r].tokens.push_back(token);
        next_input[r] = vocabulary.inputId(token);
        next_from[r] = GqaGrammarState::classOf(token) == GqaTokenClass::Word ? copyPosition(chunk[r], token) : -1;
      }
    }
  }
  if (was_training) model->train();
  return results;
}

}  // namespace vqa::program
