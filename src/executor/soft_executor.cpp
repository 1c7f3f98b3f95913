// The differentiable CLEVR executor: every module in probability space, a soft stack, token mixtures.
//
// Internally answers use a "raw" layout that keeps each type contiguous: yes, no, counts 0..10, then the
// attribute values in vocab.h's attribute order (color 8, shape 3, material 2, size 2). Results leave in
// clevr::answers() order.
#include "executor/soft_executor.h"

#include <ATen/core/grad_mode.h>

#include <array>
#include <stdexcept>
#include <string>

namespace vqa {
namespace {

constexpr int64_t kYes = 0, kNo = 1, kCounts = 2, kNumCounts = clevr::kMaxCount + 1, kValues = kCounts + kNumCounts;

struct RawLayout {
  std::array<int64_t, clevr::kNumAttributes> value_offset{};  // within the value block
  std::array<int64_t, clevr::kNumAttributes> value_count{};
  int64_t num_values = 0;
  int64_t size = 0;
  std::vector<int64_t> raw_of_answer;    // answer index -> raw position
  std::vector<int64_t> value_attribute;  // value-block position -> attribute

  RawLayout() {
    for (clevr::Attribute a : clevr::attributes()) {
      const auto k = static_cast<size_t>(a);
      value_offset[k] = num_values;
      value_count[k] = static_cast<int64_t>(clevr::attributeValues(a).size());
      num_values += value_count[k];
      for (int64_t v = 0; v < value_count[k]; ++v) value_attribute.push_back(static_cast<int64_t>(k));
    }
    size = kValues + num_values;
    std::vector<std::string> raw_words{"yes", "no"};
    for (int c = 0; c <= clevr::kMaxCount; ++c) raw_words.push_back(std::to_string(c));
    for (clevr::Attribute a : clevr::attributes())
      for (const auto& v : clevr::attributeValues(a)) raw_words.push_back(v);
    const auto& answers = clevr::answers();
    if (static_cast<int64_t>(answers.size()) != size) throw std::logic_error("answer space and raw layout differ");
    for (const auto& answer : answers) {
      int64_t found = -1;
      for (size_t r = 0; r < raw_words.size(); ++r)
        if (raw_words[r] == answer) found = static_cast<int64_t>(r);
      if (found < 0) throw std::logic_error("answer '" + answer + "' has no place in the raw layout");
      raw_of_answer.push_back(found);
    }
  }
};

const RawLayout& layout() {
  static const RawLayout l;
  return l;
}

// Token ids per module family, in the order the scene-side tensors are built.
struct TokenGroups {
  std::vector<int64_t> noop, filter, relate_same, query, equal_attribute;  // filter: value-block order
  int64_t scene = -1, unique = -1, union_ = -1, intersect = -1, count = -1, exist = -1;
  int64_t equal_integer = -1, less_than = -1, greater_than = -1, equal_object = -1;
  std::vector<int64_t> arity1, arity2;

  TokenGroups() {
    const auto& tokens = programTokens();
    filter.assign(static_cast<size_t>(layout().num_values), -1);
    relate_same.assign(clevr::relations().size() + clevr::kNumAttributes, -1);
    query.assign(clevr::kNumAttributes, -1);
    equal_attribute.assign(clevr::kNumAttributes, -1);
    for (size_t k = 0; k < tokens.size(); ++k) {
      const TypedNode& n = tokens[k].node;
      const auto id = static_cast<int64_t>(k);
      const auto a = static_cast<size_t>(n.attribute);
      switch (n.op) {
        case Op::NoOp:
          noop.push_back(id);
          break;
        case Op::Scene:
          scene = id;
          break;
        case Op::Filter:
          filter[static_cast<size_t>(layout().value_offset[a] + n.value)] = id;
          break;
        case Op::Relate:
          relate_same[static_cast<size_t>(n.relation)] = id;
          break;
        case Op::Same:
          relate_same[clevr::relations().size() + a] = id;
          break;
        case Op::Unique:
          unique = id;
          break;
        case Op::Union:
          union_ = id;
          break;
        case Op::Intersect:
          intersect = id;
          break;
        case Op::Count:
          count = id;
          break;
        case Op::Exist:
          exist = id;
          break;
        case Op::Query:
          query[a] = id;
          break;
        case Op::EqualAttribute:
          equal_attribute[a] = id;
          break;
        case Op::EqualInteger:
          equal_integer = id;
          break;
        case Op::LessThan:
          less_than = id;
          break;
        case Op::GreaterThan:
          greater_than = id;
          break;
        case Op::EqualObject:
          equal_object = id;
          break;
        case Op::Invalid:
          throw std::logic_error("invalid token in the vocabulary");
      }
      if (tokens[k].arity == 1) arity1.push_back(id);
      if (tokens[k].arity == 2) arity2.push_back(id);
    }
  }
};

const TokenGroups& groups() {
  static const TokenGroups g;
  return g;
}

at::Tensor longTensor(const std::vector<int64_t>& values, const at::Device& device) {
  return at::tensor(at::ArrayRef<int64_t>(values), at::TensorOptions().dtype(at::kLong)).to(device);
}

// mass [B, N] times matrix [B, N, M] -> [B, M]
at::Tensor massTimes(const at::Tensor& mass, const at::Tensor& matrix) {
  return at::bmm(mass.unsqueeze(1), matrix).squeeze(1);
}

// The stack pointer moved up (push) or down (pop) one cell; mass pushed past either end is dropped.
at::Tensor shiftUp(const at::Tensor& p) {
  return at::cat({at::zeros_like(p.narrow(1, 0, 1)), p.narrow(1, 0, p.size(1) - 1)}, 1);
}
at::Tensor shiftDown(const at::Tensor& p) {
  return at::cat({p.narrow(1, 1, p.size(1) - 1), at::zeros_like(p.narrow(1, 0, 1))}, 1);
}

// Weighted read of stack cells [B, D, X] at pointer [B, D] -> [B, X].
at::Tensor readCells(const at::Tensor& pointer, const at::Tensor& cells) {
  return at::bmm(pointer.unsqueeze(1), cells).squeeze(1);
}

}  // namespace

SoftExecutor::SoftExecutor(SoftExecutorOptions options) : options_(options) {
  if (options_.stack_depth < 2) throw std::invalid_argument("SoftExecutor: stack_depth must be at least 2");
}

at::Tensor SoftExecutor::retrieve(const at::Tensor& mass, const at::Tensor& mask) const {
  at::Tensor scores = options_.retrieval_beta * (2.0 * mass - 1.0);
  scores = at::where(mask > 0, scores, at::full_like(scores, hopfield::masked_score_value(scores.scalar_type())));
  at::Tensor weights = hopfield::associate(scores, 1, options_.association);
  // A slot that does not exist is never retrieved, whatever the association gives a fully masked row.
  return weights * (mask > 0).to(weights.scalar_type());
}

at::Tensor SoftExecutor::countDistribution(const at::Tensor& mass) {
  const int64_t B = mass.size(0), N = mass.size(1);
  at::Tensor dist = at::zeros({B, kNumCounts}, mass.options());
  dist.select(1, 0).fill_(1.0);
  const at::Tensor zero_column = at::zeros({B, 1}, mass.options());
  const at::Tensor zero_block = at::zeros({B, kNumCounts - 1}, mass.options());
  for (int64_t i = 0; i < N; ++i) {
    const at::Tensor m = mass.narrow(1, i, 1);
    // P(k) <- P(k) (1 - m) + P(k - 1) m, with the top bin absorbing "10 or more".
    const at::Tensor up = at::cat({zero_column, dist.narrow(1, 0, kNumCounts - 1)}, 1) +
                          at::cat({zero_block, dist.narrow(1, kNumCounts - 1, 1)}, 1);
    dist = dist * (1.0 - m) + up * m;
  }
  return dist;
}

SoftExecution SoftExecutor::run(const at::Tensor& tokens, const SoftScene& scene) const {
  const auto& L = layout();
  const auto& G = groups();
  const int64_t K = numProgramTokens();
  try {
    scene.checkShapes();
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(2) != K)
    throw std::invalid_argument("SoftExecutor: tokens must be [B, T, " + std::to_string(K) + "]");
  if (tokens.size(0) != scene.batchSize())
    throw std::invalid_argument("SoftExecutor: " + std::to_string(tokens.size(0)) + " programs for " +
                                std::to_string(scene.batchSize()) + " scenes");
  const int64_t B = tokens.size(0), T = tokens.size(1), N = scene.numSlots(), D = options_.stack_depth;
  const int64_t A = L.size, V = L.num_values;
  const auto opts = tokens.options();
  const at::Device device = tokens.device();
  const at::Tensor mask = scene.mask.to(opts);

  // Scene-side tensors, once per run.
  std::vector<at::Tensor> attrs;
  for (clevr::Attribute a : clevr::attributes()) attrs.push_back(scene.attribute(a).to(opts));
  const at::Tensor values = at::cat(attrs, 2);  // [B, N, V] value-block order
  const at::Tensor off_diagonal = 1.0 - at::eye(N, opts);
  const at::Tensor target_exists = mask.unsqueeze(1);  // [B, 1, N]: only existing objects are related to
  std::vector<at::Tensor> transforms;                  // [B, N, N] each: relate per relation, then same per attribute
  const at::Tensor rel = scene.relations.to(opts);
  for (int64_t r = 0; r < rel.size(1); ++r) transforms.push_back(rel.select(1, r) * off_diagonal * target_exists);
  for (const at::Tensor& p : attrs) transforms.push_back(at::bmm(p, p.transpose(1, 2)) * off_diagonal * target_exists);
  const at::Tensor object_to_set = at::stack(transforms, 1);  // [B, 8, N, N]

  // Token weights per family.
  const at::Tensor filter_ids = longTensor(G.filter, device), relate_same_ids = longTensor(G.relate_same, device);
  const at::Tensor query_ids = longTensor(G.query, device), equal_attr_ids = longTensor(G.equal_attribute, device);
  const at::Tensor noop_ids = longTensor(G.noop, device), arity1_ids = longTensor(G.arity1, device),
                   arity2_ids = longTensor(G.arity2, device);
  const at::Tensor value_attribute = longTensor(L.value_attribute, device);
  // value-block position -> attribute, as a [V, 4] indicator for per-attribute sums
  const at::Tensor attribute_of_value = at::one_hot(value_attribute, clevr::kNumAttributes).to(opts);
  const at::Tensor strictly_less = at::ones({kNumCounts, kNumCounts}, opts).triu(1);  // [k, l] = k < l
  const at::Tensor strictly_greater = strictly_less.t();

  // Modules whose weight is zero everywhere at a step are skipped unless gradients must reach the tokens
  // (a zero-weight module still has a gradient with respect to its weight).
  const bool tokens_need_grad = at::GradMode::is_enabled() && tokens.requires_grad();
  const at::Tensor usage =
      tokens_need_grad ? at::Tensor() : tokens.detach().sum(0).to(at::kCPU, at::kFloat).contiguous();
  auto used = [&](int64_t t, std::initializer_list<int64_t> ids) {
    if (tokens_need_grad) return true;
    const float* row = usage.data_ptr<float>() + t * K;
    for (int64_t id : ids)
      if (row[id] != 0.0f) return true;
    return false;
  };
  auto usedAny = [&](int64_t t, const std::vector<int64_t>& ids) {
    if (tokens_need_grad) return true;
    const float* row = usage.data_ptr<float>() + t * K;
    for (int64_t id : ids)
      if (row[id] != 0.0f) return true;
    return false;
  };

  at::Tensor pointer = at::zeros({B, D}, opts);
  pointer.select(1, 0).fill_(1.0);  // cell 0 is the empty-stack sentinel
  at::Tensor cell_masses = at::zeros({B, D, N}, opts);
  at::Tensor cell_answers = at::zeros({B, D, A}, opts);
  std::vector<at::Tensor> step_masses, step_answers;
  step_masses.reserve(static_cast<size_t>(T));
  step_answers.reserve(static_cast<size_t>(T));

  for (int64_t t = 0; t < T; ++t) {
    const at::Tensor w = tokens.select(1, t);                                // [B, K]
    auto weight = [&](int64_t id) { return w.select(1, id).unsqueeze(1); };  // [B, 1]
    const at::Tensor below = shiftDown(pointer);
    const at::Tensor top_mass = readCells(pointer, cell_masses), top_answer = readCells(pointer, cell_answers);
    const at::Tensor next_mass = readCells(below, cell_masses), next_answer = readCells(below, cell_answers);

    // Arity 0.
    const at::Tensor w_scene = weight(G.scene);
    const at::Tensor out0_mass = w_scene * mask;

    // Arity 1: the input is the top cell.
    at::Tensor out1_mass = at::zeros({B, N}, opts), out1_answer = at::zeros({B, A}, opts);
    if (usedAny(t, G.filter))
      out1_mass = out1_mass + top_mass * massTimes(w.index_select(1, filter_ids), values.transpose(1, 2));
    if (usedAny(t, G.relate_same)) {
      const at::Tensor mixed = (w.index_select(1, relate_same_ids).unsqueeze(2).unsqueeze(3) * object_to_set).sum(1);
      out1_mass = out1_mass + massTimes(top_mass, mixed);
    }
    if (used(t, {G.unique})) out1_mass = out1_mass + weight(G.unique) * retrieve(top_mass, mask);
    at::Tensor yes1 = at::zeros({B, 1}, opts), no1 = at::zeros({B, 1}, opts);
    at::Tensor counts1 = at::zeros({B, kNumCounts}, opts), values1 = at::zeros({B, V}, opts);
    if (used(t, {G.count})) counts1 = weight(G.count) * countDistribution(top_mass);
    if (used(t, {G.exist})) {
      const at::Tensor none = at::prod(1.0 - top_mass, 1, true);
      yes1 = weight(G.exist) * (1.0 - none);
      no1 = weight(G.exist) * none;
    }
    if (usedAny(t, G.query)) {
      // query_a: the object's distribution over a's values; per value column, the weight of its query token.
      const at::Tensor column_weight = w.index_select(1, query_ids).index_select(1, value_attribute);  // [B, V]
      values1 = column_weight * massTimes(top_mass, values);
    }
    out1_answer = at::cat({yes1, no1, counts1, values1}, 1);

    // Arity 2: the first input is the cell below the top, the second the top.
    at::Tensor out2_mass = at::zeros({B, N}, opts);
    at::Tensor yes2 = at::zeros({B, 1}, opts), no2 = at::zeros({B, 1}, opts);
    if (used(t, {G.union_})) out2_mass = out2_mass + weight(G.union_) * (1.0 - (1.0 - next_mass) * (1.0 - top_mass));
    if (used(t, {G.intersect})) out2_mass = out2_mass + weight(G.intersect) * (next_mass * top_mass);
    // Each comparison gives P(equal) (or less, greater) and the probability that both inputs hold a value at
    // all; "no" is the rest of that, so an empty input gives no answer rather than "no".
    auto addBool = [&](const at::Tensor& w_op, const at::Tensor& yes, const at::Tensor& both) {
      yes2 = yes2 + w_op * yes;
      no2 = no2 + w_op * (both - yes);
    };
    if (usedAny(t, G.equal_attribute)) {
      const at::Tensor first = next_answer.narrow(1, kValues, V), second = top_answer.narrow(1, kValues, V);
      const at::Tensor equal = at::mm(first * second, attribute_of_value);                             // [B, 4]
      const at::Tensor both = at::mm(first, attribute_of_value) * at::mm(second, attribute_of_value);  // [B, 4]
      const at::Tensor w_eq = w.index_select(1, equal_attr_ids);
      addBool(at::ones({B, 1}, opts), (w_eq * equal).sum(1, true), (w_eq * both).sum(1, true));
    }
    if (usedAny(t, {G.equal_integer, G.less_than, G.greater_than})) {
      const at::Tensor first = next_answer.narrow(1, kCounts, kNumCounts),
                       second = top_answer.narrow(1, kCounts, kNumCounts);
      const at::Tensor joint = first.unsqueeze(2) * second.unsqueeze(1);  // [B, k, l]
      const at::Tensor both = first.sum(1, true) * second.sum(1, true);
      addBool(weight(G.equal_integer), (first * second).sum(1, true), both);
      addBool(weight(G.less_than), (joint * strictly_less).sum({1, 2}).unsqueeze(1), both);
      addBool(weight(G.greater_than), (joint * strictly_greater).sum({1, 2}).unsqueeze(1), both);
    }
    if (used(t, {G.equal_object}))
      addBool(weight(G.equal_object), (next_mass * top_mass).sum(1, true),
              next_mass.sum(1, true) * top_mass.sum(1, true));
    const at::Tensor out2_answer = at::cat({yes2, no2, at::zeros({B, kNumCounts + V}, opts)}, 1);

    // The stack after each family, mixed by the family's total weight: a module of arity a pops a cells and
    // pushes one, so its result lands a - 1 cells below the old top.
    const at::Tensor w_noop = w.index_select(1, noop_ids).sum(1, true);
    const at::Tensor w1 = w.index_select(1, arity1_ids).sum(1, true), w2 = w.index_select(1, arity2_ids).sum(1, true);
    const at::Tensor at0 = shiftUp(pointer), at1 = pointer, at2 = below;
    const at::Tensor keep = w_noop + w_scene * (1.0 - at0) + w1 * (1.0 - at1) + w2 * (1.0 - at2);  // [B, D]
    cell_masses = cell_masses * keep.unsqueeze(2) + at0.unsqueeze(2) * out0_mass.unsqueeze(1) +
                  at1.unsqueeze(2) * out1_mass.unsqueeze(1) + at2.unsqueeze(2) * out2_mass.unsqueeze(1);
    cell_answers = cell_answers * keep.unsqueeze(2) + at1.unsqueeze(2) * out1_answer.unsqueeze(1) +
                   at2.unsqueeze(2) * out2_answer.unsqueeze(1);
    pointer = w_noop * pointer + w_scene * at0 + w1 * at1 + w2 * at2;

    step_masses.push_back(out0_mass + out1_mass + out2_mass);
    step_answers.push_back(out1_answer + out2_answer);
  }

  const at::Tensor to_answers = longTensor(L.raw_of_answer, device);
  SoftExecution out;
  out.answer = readCells(pointer, cell_answers).index_select(1, to_answers);
  out.step_masses = T ? at::stack(step_masses, 1) : at::zeros({B, 0, N}, opts);
  out.step_answers = T ? at::stack(step_answers, 1).index_select(2, to_answers) : at::zeros({B, 0, A}, opts);
  return out;
}

at::Tensor oneHotTokens(const std::vector<std::vector<int>>& programs, int64_t steps, at::ScalarType dtype) {
  const int64_t K = numProgramTokens();
  int64_t T = steps;
  if (T <= 0)
    for (const auto& p : programs) T = std::max<int64_t>(T, static_cast<int64_t>(p.size()));
  at::Tensor out = at::zeros({static_cast<int64_t>(programs.size()), T, K}, at::TensorOptions().dtype(at::kFloat));
  auto a = out.accessor<float, 3>();
  for (size_t b = 0; b < programs.size(); ++b) {
    const auto& p = programs[b];
    if (static_cast<int64_t>(p.size()) > T)
      throw std::invalid_argument("program " + std::to_string(b) + ": " + std::to_string(p.size()) +
                                  " tokens, more than the " + std::to_string(T) + " steps");
    for (int64_t t = 0; t < T; ++t) {
      const int id = t < static_cast<int64_t>(p.size()) ? p[static_cast<size_t>(t)] : kPadToken;
      if (id < 0 || id >= K)
        throw std::invalid_argument("program " + std::to_string(b) + ": unknown token id " + std::to_string(id));
      a[static_cast<int64_t>(b)][t][id] = 1.0f;
    }
  }
  return out.to(dtype);
}

SoftScene selectScenes(const SoftScene& scene, const at::Tensor& index) {
  SoftScene out;
  out.mask = scene.mask.index_select(0, index);
  for (const auto& a : scene.attributes) out.attributes.push_back(a.index_select(0, index));
  out.relations = scene.relations.index_select(0, index);
  if (scene.positions.defined()) out.positions = scene.positions.index_select(0, index);
  if (scene.features.defined()) out.features = scene.features.index_select(0, index);
  return out;
}

}  // namespace vqa
