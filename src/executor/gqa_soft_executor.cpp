// The differentiable GQA executor: GqaExecutor's operations (gqa_executor.cpp) in probability space.
//
// Conventions (exact on one-hot scenes, independent probabilities otherwise):
// - GqaExecutor's `single` takes the lowest-index object of a set; here P(object o is that object) =
//   m_o * prod_{j<o} (1 - m_j), and P(the set is empty) = prod_j (1 - m_j).
// - "x or y" of independent events is 1 - (1 - x)(1 - y) (noisy-or); relate is a noisy-or over the sources.
// - A step's failure modes (GqaExecutor's error messages) are joint probabilities; a step fails when its
//   distribution sums to less than 1/2 and then reports its most probable failure mode.
#include "executor/gqa_soft_executor.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace vqa {
namespace {

using Kind = GqaSoftStepOutput::Kind;

// x[0..n) -> (1, x0, x0 x1, ..., x0..x_{n-2}) along `dim`.
at::Tensor exclusiveCumprod(const at::Tensor& x, int64_t dim) {
  const int64_t n = x.size(dim);
  if (n == 0) return x;
  at::Tensor shifted = at::cat({at::ones_like(x.narrow(dim, 0, 1)), x.narrow(dim, 0, n - 1)}, dim);
  return at::cumprod(shifted, dim);
}

at::Tensor noisyOr(const at::Tensor& a, const at::Tensor& b) { return 1.0 - (1.0 - a) * (1.0 - b); }

// The scene tensors of one batch row.
struct Row {
  at::Tensor mask, names, attributes, relations, hpositions, vpositions, image;
  const std::vector<std::string>* ids = nullptr;
};

// The failure modes of one step: GqaExecutor's message and the probability that it is the outcome.
struct Failures {
  std::vector<std::pair<std::string, at::Tensor>> modes;
  void add(std::string reason, at::Tensor probability) { modes.emplace_back(std::move(reason), std::move(probability)); }
  std::string mostProbable() const {
    std::string best = "the step did not run";
    double p = -1.0;
    for (const auto& [reason, probability] : modes) {
      const double q = probability.item<double>();
      if (q > p) best = reason, p = q;
    }
    return best;
  }
};

// A failure that stops the run (a wrong input type GqaExecutor finds before reading the scene).
struct StaticFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SoftRun {
 public:
  SoftRun(const Row& row, const GqaSoftStep& step, const std::vector<const GqaSoftStepOutput*>& in)
      : r_(row), s_(step), in_(in) {}

  GqaSoftStepOutput apply(Failures& failures) {
    switch (s_.op) {
      case GqaOp::Select: return objects(select());
      case GqaOp::Relate: return objects(related(objectsOf(0), s_.relations.front()));
      case GqaOp::Filter: {
        at::Tensor h = has(s_.tests.front());
        return objects(objectsOf(0) * (s_.negated ? 1.0 - h : h));
      }
      case GqaOp::Verify: {
        auto [f, empty] = single(0, "verify");
        failures.add("verify on an empty selection", empty);
        at::Tensor h = has(s_.tests.front());
        if (s_.negated) h = 1.0 - h;
        return boolean((f * h).sum(), (f * (1.0 - h)).sum());
      }
      case GqaOp::VerifyRel: {
        at::Tensor none = at::prod(1.0 - related(objectsOf(0), s_.relations.front()));
        return boolean(1.0 - none, none);
      }
      case GqaOp::Choose: return choose(failures);
      case GqaOp::ChooseRel: return chooseRel(failures);
      case GqaOp::Compare: return compare(failures);
      case GqaOp::Query: return query(failures);
      case GqaOp::Exist: {
        at::Tensor none = at::prod(1.0 - objectsOf(0));
        return boolean(1.0 - none, none);
      }
      case GqaOp::And:
      case GqaOp::Or: return logical(failures);
      case GqaOp::Same:
      case GqaOp::Different: return sameDifferent(failures);
      case GqaOp::Common: return common(failures);
    }
    throw StaticFailure("unsupported operation");
  }

 private:
  // ---- inputs, as GqaExecutor's objects() / single() / boolOf() read them
  const at::Tensor& objectsOf(size_t k) const {
    if (in_[k]->kind != Kind::Objects) throw StaticFailure("input is not a selection of objects");
    return in_[k]->mass;
  }
  bool isObjects(size_t k) const { return in_[k]->kind == Kind::Objects; }
  // (P(object o is the set's first), P(the set is empty)); a wrong input type fails as `single` does.
  std::pair<at::Tensor, at::Tensor> single(size_t k, const std::string& op) const {
    if (in_[k]->kind != Kind::Objects) throw StaticFailure(op + " needs objects");
    return firstOf(in_[k]->mass);
  }
  static std::pair<at::Tensor, at::Tensor> firstOf(const at::Tensor& m) {
    at::Tensor before = exclusiveCumprod(1.0 - m, 0);
    return {m * before, at::prod(1.0 - m)};
  }

  // ---- scene reads
  at::Tensor column(const at::Tensor& t, int64_t index) const {
    return index < 0 ? at::zeros_like(r_.mask) : t.select(1, index);
  }
  // GqaExecutor's hasValue for every object: [N].
  at::Tensor has(const GqaValueTest& t) const {
    switch (t.kind) {
      case GqaValueTest::Kind::Horizontal: return column(r_.hpositions, t.position);
      case GqaValueTest::Kind::Vertical: return column(r_.vpositions, t.position);
      case GqaValueTest::Kind::General: break;
    }
    return noisyOr(column(r_.names, t.name), column(r_.attributes, t.value));
  }
  at::Tensor grounded() const {
    std::vector<float> g(r_.ids->size(), 0.0f);
    for (size_t i = 0; i < g.size(); ++i)
      if (!(*r_.ids)[i].empty() &&
          std::find(s_.object_ids.begin(), s_.object_ids.end(), (*r_.ids)[i]) != s_.object_ids.end())
        g[i] = 1.0f;
    return at::tensor(g, r_.mask.options().requires_grad(false));
  }
  at::Tensor nameMatches() const {
    if (s_.any_name) return at::ones_like(r_.mask);
    return noisyOr(column(r_.names, s_.name), grounded());
  }
  at::Tensor select() const {
    if (s_.absent) return at::zeros_like(r_.mask);
    at::Tensor g = grounded();
    if (g.sum().item<float>() > 0.0f) return g * r_.mask;
    if (s_.global) return r_.mask;
    return column(r_.names, s_.name) * r_.mask;
  }
  // The objects related to the set `from` by relation `rel` that match the step's name: [N].
  at::Tensor related(const at::Tensor& from, int64_t rel) const {
    if (rel < 0) return at::zeros_like(from);
    at::Tensor edges = r_.relations.select(0, rel);  // [x, y]: x --rel--> y
    if (s_.subject) edges = edges.t();               // y --rel--> x: y is the subject
    at::Tensor reached = 1.0 - at::prod(1.0 - from.unsqueeze(1) * edges, 0);
    return reached * nameMatches() * r_.mask;
  }
  // GqaExecutor's valueOf for every object as a distribution over the space's words: [N, K] (rows sum to
  // P(the object has a value), 0 when it has none).
  at::Tensor values(const GqaValueSpace& space) const {
    switch (space.kind) {
      case GqaValueSpace::Kind::Name: return r_.names;
      case GqaValueSpace::Kind::Horizontal: return r_.hpositions;
      case GqaValueSpace::Kind::Vertical: return r_.vpositions;
      case GqaValueSpace::Kind::Lexicon: break;
    }
    if (space.values.empty()) return at::zeros({r_.mask.size(0), 0}, r_.mask.options());
    at::Tensor a = r_.attributes.index_select(
        1, at::tensor(space.values, at::TensorOptions().dtype(at::kLong)));  // [N, K]
    return a * exclusiveCumprod(1.0 - a, 1);
  }

  // ---- outputs
  static GqaSoftStepOutput objects(at::Tensor mass) {
    GqaSoftStepOutput o;
    o.kind = Kind::Objects;
    o.mass = std::move(mass);
    o.valid = at::ones({}, o.mass.options());
    return o;
  }
  static GqaSoftStepOutput boolean(const at::Tensor& yes, const at::Tensor& no) {
    return word({"yes", "no"}, at::stack({yes, no}), Kind::Bool);
  }
  static GqaSoftStepOutput word(std::vector<std::string> words, at::Tensor distribution, Kind kind = Kind::Word) {
    GqaSoftStepOutput o;
    o.kind = kind;
    o.words = std::move(words);
    o.distribution = std::move(distribution);
    o.valid = o.distribution.sum();
    return o;
  }

  // ---- operations
  GqaSoftStepOutput choose(Failures& failures) const {
    auto [f, empty] = single(0, "choose");
    failures.add("choose on an empty selection", empty);
    std::vector<at::Tensor> hs;
    for (const auto& t : s_.tests) hs.push_back(has(t));
    at::Tensor h = at::stack(hs, 1);                                   // [N, K]
    at::Tensor first = h * exclusiveCumprod(1.0 - h, 1);              // the first option the object has
    failures.add("the object has none of '" + s_.argument + "'", (f * at::prod(1.0 - h, 1)).sum());
    return word(s_.options, at::matmul(f, first));
  }

  GqaSoftStepOutput chooseRel(Failures& failures) const {
    const at::Tensor& from = objectsOf(0);
    std::vector<at::Tensor> holds;
    for (int64_t rel : s_.relations) holds.push_back(1.0 - at::prod(1.0 - related(from, rel)));
    at::Tensor h = at::stack(holds);                                   // [K]: P(relation k holds)
    failures.add("none of the relations '" + s_.argument + "' holds", at::prod(1.0 - h));
    return word(s_.options, h * exclusiveCumprod(1.0 - h, 0));
  }

  GqaSoftStepOutput compare(Failures& failures) const {
    auto [fa, emptyA] = single(0, "compare");
    failures.add("compare on an empty selection", emptyA);
    if (!isObjects(1)) {  // GqaExecutor reads the second input only when the first is not empty
      failures.add("compare needs objects", 1.0 - emptyA);
      return word(s_.options, at::zeros({r_.names.size(1)}, r_.mask.options()));
    }
    auto [fb, emptyB] = firstOf(in_[1]->mass);
    failures.add("compare on an empty selection", (1.0 - emptyA) * emptyB);
    if (!s_.static_error.empty()) {  // unknown comparative: found only once both objects are there
      failures.add(s_.static_error, (1.0 - emptyA) * (1.0 - emptyB));
      return word(s_.options, at::zeros({r_.names.size(1)}, r_.mask.options()));
    }
    const at::Tensor more = has(s_.tests[0]), less = has(s_.tests[1]);         // [N]
    at::Tensor aMore = noisyOr(more.unsqueeze(1), less.unsqueeze(0));         // [a, b]
    at::Tensor bMore = noisyOr(more.unsqueeze(0), less.unsqueeze(1));
    at::Tensor pair = fa.unsqueeze(1) * fb.unsqueeze(0);
    at::Tensor winsA = pair * aMore * (1.0 - bMore), winsB = pair * bMore * (1.0 - aMore);
    failures.add("the scene graph cannot tell which is " + s_.attribute, pair.sum() - winsA.sum() - winsB.sum());
    return word(s_.options, at::matmul(winsA.sum(1), r_.names) + at::matmul(winsB.sum(0), r_.names));
  }

  GqaSoftStepOutput query(Failures& failures) const {
    const GqaValueSpace& space = s_.spaces.front();
    // Candidates: the space's words, then (for an image attribute type) every attribute value.
    const int64_t K = static_cast<int64_t>(s_.options.size()), S = static_cast<int64_t>(space.words.size());
    at::Tensor image_part = at::zeros({K}, r_.mask.options());
    at::Tensor p_image = at::zeros({}, r_.mask.options());
    if (s_.image_attribute >= 0) {
      at::Tensor img = r_.image.select(0, s_.image_attribute);  // [V_attr], placed after the space's words
      image_part = at::cat({at::zeros({S}, img.options()), img});
      p_image = img.sum();
    }
    const at::Tensor object_weight = 1.0 - p_image;  // GqaExecutor reads the object only without an image value
    if (!isObjects(0)) {
      if (s_.image_attribute < 0) throw StaticFailure("query needs objects");
      failures.add("query needs objects", object_weight);
      return word(s_.options, image_part);
    }
    auto [f, empty] = firstOf(in_[0]->mass);
    failures.add("query on an empty selection", object_weight * empty);
    at::Tensor q = values(space);                                      // [N, S]
    at::Tensor none = f * (1.0 - q.sum(1));                            // [N]
    const int64_t worst = none.numel() ? none.argmax().item<int64_t>() : 0;
    const std::string id = worst < static_cast<int64_t>(r_.ids->size()) ? (*r_.ids)[static_cast<size_t>(worst)] : "";
    failures.add("object " + id + " has no " + s_.attribute, object_weight * none.sum());
    at::Tensor object_part = at::matmul(f, q);
    if (K > S) object_part = at::cat({object_part, at::zeros({K - S}, object_part.options())});
    return word(s_.options, image_part + object_weight * object_part);
  }

  GqaSoftStepOutput logical(Failures& failures) const {
    auto boolAt = [&](size_t k) -> const at::Tensor& {
      if (in_[k]->kind != Kind::Bool) throw StaticFailure("input is not yes/no");
      return in_[k]->distribution;
    };
    const at::Tensor& a = boolAt(0);
    const at::Tensor ya = a[0], na = a[1];
    const bool is_and = s_.op == GqaOp::And;
    const at::Tensor& valid_b = in_[1]->valid;
    if (in_[1]->kind != Kind::Bool) {  // GqaExecutor short-circuits: it reads the second input only when needed
      failures.add("input is not yes/no", (is_and ? ya : na) * valid_b);
      at::Tensor zero = at::zeros_like(ya);
      return is_and ? boolean(zero, na * valid_b) : boolean(ya * valid_b, zero);
    }
    const at::Tensor yb = in_[1]->distribution[0], nb = in_[1]->distribution[1];
    if (is_and) return boolean(ya * yb, na * (yb + nb) + ya * nb);
    return boolean(ya * (yb + nb) + na * yb, na * nb);
  }

  GqaSoftStepOutput sameDifferent(Failures& failures) const {
    const GqaValueSpace& space = s_.spaces.front();
    const at::Tensor& m = objectsOf(0);
    at::Tensor same, valid;
    if (in_.size() == 2) {
      auto [fa, emptyA] = firstOf(m);
      failures.add("same on an empty selection", emptyA);
      if (!isObjects(1)) {
        failures.add("same needs objects", 1.0 - emptyA);
        return boolean(at::zeros({}, m.options()), at::zeros({}, m.options()));
      }
      auto [fb, emptyB] = firstOf(in_[1]->mass);
      failures.add("same on an empty selection", (1.0 - emptyA) * emptyB);
      const at::Tensor q = values(space);
      at::Tensor qa = at::matmul(fa, q), qb = at::matmul(fb, q);   // [K]
      failures.add("object has no " + s_.attribute, (1.0 - emptyA) * (1.0 - emptyB) - qa.sum() * (1.0 - emptyB));
      same = (qa * qb).sum();
      valid = qa.sum() * (1.0 - emptyB);
    } else {
      auto [f, empty] = firstOf(m);
      failures.add("same/different on an empty selection", empty);
      const at::Tensor q = values(space);                         // [N, K]
      // P(every later object of the set has value v): prod_{j>o} (1 - m_j + m_j q_jv)
      at::Tensor agree = 1.0 - m.unsqueeze(1) + m.unsqueeze(1) * q;
      at::Tensor later = exclusiveCumprod(agree.flip({0}), 0).flip({0});
      same = (f.unsqueeze(1) * q * later).sum();
      valid = (f.unsqueeze(1) * q).sum();
      failures.add("object has no " + s_.attribute, (1.0 - empty) - valid);
    }
    at::Tensor different = valid - same;
    return s_.op == GqaOp::Same ? boolean(same, different) : boolean(different, same);
  }

  GqaSoftStepOutput common(Failures& failures) const {
    auto [fa, emptyA] = single(0, "common");
    failures.add("common on an empty selection", emptyA);
    const at::Tensor zeros = at::zeros({static_cast<int64_t>(s_.options.size())}, r_.mask.options());
    if (!isObjects(1)) {
      failures.add("common needs objects", 1.0 - emptyA);
      return word(s_.options, zeros);
    }
    auto [fb, emptyB] = firstOf(in_[1]->mass);
    failures.add("common on an empty selection", (1.0 - emptyA) * emptyB);
    std::vector<at::Tensor> matches;  // [a, b] per type: P(a has a value of the type and b the same)
    for (const auto& space : s_.spaces) {
      const at::Tensor q = values(space);
      matches.push_back(at::matmul(q, q.t()));
    }
    at::Tensor match = at::stack(matches);                          // [T, N, N]
    at::Tensor first = match * exclusiveCumprod(1.0 - match, 0);     // the first shared type
    at::Tensor pair = fa.unsqueeze(1) * fb.unsqueeze(0);
    at::Tensor p = (first * pair.unsqueeze(0)).sum({1, 2});         // [T]
    failures.add("the objects share no color, material or shape", pair.sum() - p.sum());
    return word(s_.options, p);
  }

  const Row& r_;
  const GqaSoftStep& s_;
  const std::vector<const GqaSoftStepOutput*>& in_;
};

std::string answerOf(const GqaSoftStepOutput& out, at::Tensor& probability) {
  if (out.kind == Kind::Objects) {
    at::Tensor in = out.mass > 0.5;
    probability = at::prod(at::where(in, out.mass, 1.0 - out.mass));
    std::string s = "[";
    auto a = in.to(at::kByte).contiguous();
    bool first = true;
    for (int64_t i = 0; i < a.numel(); ++i)
      if (a[i].item<uint8_t>()) s += (first ? "" : ",") + std::to_string(i), first = false;
    return s + "]";
  }
  if (out.words.empty()) {
    probability = at::zeros({}, out.valid.options());
    return "";
  }
  const int64_t k = out.distribution.argmax().item<int64_t>();
  probability = out.distribution[k];
  return out.words[static_cast<size_t>(k)];
}

}  // namespace

GqaSoftExecutor::GqaSoftExecutor(const GqaVocabulary& vocabulary, const GqaLexicon* lexicon)
    : vocabulary_(vocabulary), lexicon_(lexicon) {}

GqaValueTest GqaSoftExecutor::valueTest(const std::string& type, const std::string& value) const {
  GqaValueTest t;
  auto position = [&](const std::vector<std::string>& words) {
    auto it = std::find(words.begin(), words.end(), value);
    return it == words.end() ? int64_t{-1} : static_cast<int64_t>(it - words.begin());
  };
  if (type == "hposition") {
    t.kind = GqaValueTest::Kind::Horizontal;
    t.position = position(gqaHorizontalPositions());
  } else if (type == "vposition") {
    t.kind = GqaValueTest::Kind::Vertical;
    t.position = position(gqaVerticalPositions());
  } else {
    t.name = vocabulary_.names().find(value);
    t.value = vocabulary_.attributes().find(value);
  }
  return t;
}

GqaValueSpace GqaSoftExecutor::valueSpace(const std::string& type) const {
  GqaValueSpace s;
  if (type == "name") {
    s.kind = GqaValueSpace::Kind::Name;
    s.words = vocabulary_.names().words();
  } else if (type == "hposition") {
    s.kind = GqaValueSpace::Kind::Horizontal;
    s.words = gqaHorizontalPositions();
  } else if (type == "vposition") {
    s.kind = GqaValueSpace::Kind::Vertical;
    s.words = gqaVerticalPositions();
  } else if (const auto* values = lexicon_ ? lexicon_->valuesOf(type) : nullptr) {
    for (const auto& v : *values)
      if (int64_t i = vocabulary_.attributes().find(v); i >= 0) {
        s.words.push_back(v);
        s.values.push_back(i);
      }
  }
  return s;
}

GqaSoftProgram GqaSoftExecutor::compile(const GqaProgram& program) const {
  GqaSoftProgram out;
  out.order = program.order;
  for (const GqaStep& g : program.steps) {
    GqaSoftStep s;
    s.op = g.op;
    s.operation = g.operation;
    s.argument = g.argument;
    s.dependencies = g.dependencies;
    s.any_name = g.name == "_";
    s.global = g.name == "scene";
    s.absent = g.absent;
    s.subject = g.subject;
    s.name = vocabulary_.names().find(g.name);
    s.object_ids = g.object_ids;
    for (const auto& r : g.relations) s.relations.push_back(vocabulary_.relations().find(r));
    s.negated = g.negated;
    s.attribute = g.attribute;
    switch (g.op) {
      case GqaOp::Relate:
      case GqaOp::VerifyRel:
        if (s.relations.empty()) s.static_error = "no relation";
        break;
      case GqaOp::ChooseRel: s.options = g.relations; break;
      case GqaOp::Filter:
      case GqaOp::Verify:
        if (g.values.empty()) s.static_error = "no value";
        for (const auto& v : g.values) s.tests.push_back(valueTest(g.attribute, v));
        break;
      case GqaOp::Choose:
        s.options = g.values;
        for (const auto& v : g.values) s.tests.push_back(valueTest(g.attribute, v));
        break;
      case GqaOp::Compare: {
        s.options = vocabulary_.names().words();
        auto c = gqaComparatives().find(g.attribute);
        if (c == gqaComparatives().end()) s.static_error = "unknown comparative '" + g.attribute + "'";
        else s.tests = {valueTest("", c->second.first), valueTest("", c->second.second)};
        break;
      }
      case GqaOp::Query: {
        s.spaces = {valueSpace(g.attribute)};
        s.options = s.spaces.front().words;
        s.image_attribute = vocabulary_.imageAttributes().find(g.attribute);
        if (s.image_attribute >= 0)
          s.options.insert(s.options.end(), vocabulary_.attributes().words().begin(),
                           vocabulary_.attributes().words().end());
        break;
      }
      case GqaOp::Same:
      case GqaOp::Different: s.spaces = {valueSpace(g.attribute)}; break;
      case GqaOp::Common:
        s.options = {"color", "material", "shape"};
        for (const auto& t : s.options) s.spaces.push_back(valueSpace(t));
        break;
      default: break;
    }
    out.steps.push_back(std::move(s));
  }
  return out;
}

GqaSoftResult GqaSoftExecutor::run(const GqaProgram& program, const GqaSoftScene& scene, int64_t row) const {
  return run(compile(program), scene, row);
}

GqaSoftResult GqaSoftExecutor::run(const GqaSoftProgram& program, const GqaSoftScene& scene, int64_t row) const {
  scene.checkShapes(vocabulary_);
  if (row < 0 || row >= scene.batchSize())
    throw std::invalid_argument("GqaSoftExecutor: row " + std::to_string(row) + " is not in the batch");
  Row r;
  r.mask = scene.mask[row];
  r.names = scene.names[row];
  r.attributes = scene.attributes[row];
  r.relations = scene.relations[row];
  r.hpositions = scene.hpositions[row];
  r.vpositions = scene.vpositions[row];
  r.image = scene.image_attributes[row];
  r.ids = &scene.object_ids[static_cast<size_t>(row)];

  GqaSoftResult result;
  if (program.steps.empty()) {
    result.error = "empty program";
    return result;
  }
  const int n = static_cast<int>(program.steps.size());
  result.outputs.resize(program.steps.size());
  auto fail = [&](int i, const std::string& why) {
    if (!result.error.empty()) return;
    result.failed_step = i;
    result.error = "step " + std::to_string(i) + " (" + program.steps[static_cast<size_t>(i)].operation + "): " + why;
  };
  for (int i : program.order) {
    if (i < 0 || i >= n) throw std::invalid_argument("GqaSoftExecutor: execution order names no step");
    const GqaSoftStep& step = program.steps[static_cast<size_t>(i)];
    try {
      std::vector<const GqaSoftStepOutput*> in;
      for (int k : step.dependencies) {
        if (k < 0 || k >= n || !result.outputs[static_cast<size_t>(k)].computed)
          throw StaticFailure("input " + std::to_string(k) + " is not an earlier step");
        in.push_back(&result.outputs[static_cast<size_t>(k)]);
      }
      if (!step.static_error.empty() && step.op != GqaOp::Compare) throw StaticFailure(step.static_error);
      Failures failures;
      GqaSoftStepOutput out = SoftRun(r, step, in).apply(failures);
      out.computed = true;
      if (out.valid.item<double>() < 0.5) fail(i, failures.mostProbable());
      result.outputs[static_cast<size_t>(i)] = std::move(out);
    } catch (const StaticFailure& e) {
      fail(i, e.what());
      result.answer_probability = at::zeros({}, r.mask.options());
      return result;  // like GqaExecutor: nothing after a failure that does not depend on the scene
    }
  }
  const GqaSoftStepOutput& last = result.outputs.back();
  if (last.computed) {
    result.answer = answerOf(last, result.answer_probability);
    result.probability = result.answer_probability.item<double>();
  } else {
    result.answer_probability = at::zeros({}, r.mask.options());
  }
  result.ok = result.error.empty();
  return result;
}

}  // namespace vqa
