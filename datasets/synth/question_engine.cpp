// Template instantiation, node by node: a filter that must name one object describes a randomly chosen
// candidate with a random subset of its attributes; counting and existence filters take attributes of a
// random candidate or random values (so that empty sets and "no" answers occur). The expanded program is
// run by the symbolic executor, which gives the answer and every step's output for the constraints.
// As CLEVR's generate_questions.py: a plain `filter` node always names at least one value, a question from a
// template with a `relate` node is dropped when replacing any relate step by the whole scene gives the same
// answer (is_degenerate), and the answer counts start over every 250 images.
#include "datasets/synth/question_engine.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "core/vocab.h"
#include "datasets/json_file.h"
#include "executor/symbolic_executor.h"

namespace vqa::synth {
namespace {

// Order of the released question_family_index.
const std::vector<std::string>& clevrFileOrder() {
  static const std::vector<std::string> order = {"compare_integer.json", "comparison.json", "three_hop.json",
                                                 "single_and.json",      "same_relate.json", "single_or.json",
                                                 "one_hop.json",         "two_hop.json",     "zero_hop.json"};
  return order;
}

const TemplateParam* findParam(const ClevrTemplate& t, const std::string& name) {
  for (const auto& p : t.params)
    if (p.name == name) return &p;
  return nullptr;
}

const std::vector<std::string>& valuesOf(const std::string& type) {
  if (type == "Relation") return clevr::relations();
  clevr::Attribute a;
  if (!clevr::parseAttribute(type, &a)) throw std::runtime_error("param type '" + type + "' has no values");
  return clevr::attributeValues(a);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool startsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::vector<std::string> answersOf(const std::string& final_function) {
  const FunctionSignature* f = findFunction(final_function);
  if (!f) return {};
  switch (f->output) {
    case ValueType::Bool: return {"yes", "no"};
    case ValueType::Integer: {
      std::vector<std::string> a;
      for (int i = 0; i <= clevr::kMaxCount; ++i) a.push_back(std::to_string(i));
      return a;
    }
    case ValueType::Color: return clevr::colors();
    case ValueType::Shape: return clevr::shapes();
    case ValueType::Material: return clevr::materials();
    case ValueType::Size: return clevr::sizes();
    default: return {};
  }
}

std::string collapse(const std::string& s) {
  std::istringstream in(s);
  std::string w, out;
  while (in >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The attempt's state: chosen param values ("" = NULL) and the growing expanded program.
struct Build {
  std::map<std::string, std::string> vals;
  std::set<std::string> null_params;
  Program program;
  std::vector<int> node_step;   // template node -> its last expanded step
  std::vector<int> node_set;    // template node -> the step OUT_NEQ compares: for a filter node the
                                // filtered set before unique / count / exist, else the node's own step
};


// CLEVR's insert_scene_node: step `k` becomes `scene`, the steps only it used are dropped, inputs renumbered.
Program withSceneAt(const Program& program, int k) {
  std::vector<ProgramNode> nodes = program.nodes;
  nodes[size_t(k)] = {"scene", {}, {}};
  std::vector<bool> used(nodes.size(), false);
  std::vector<int> pending = {int(nodes.size()) - 1};
  while (!pending.empty()) {
    int i = pending.back();
    pending.pop_back();
    if (used[size_t(i)]) continue;
    used[size_t(i)] = true;
    for (int in : nodes[size_t(i)].inputs) pending.push_back(in);
  }
  std::vector<int> renumber(nodes.size(), -1);
  Program out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!used[i]) continue;
    renumber[i] = out.size();
    out.nodes.push_back(nodes[i]);
  }
  for (auto& n : out.nodes)
    for (int& in : n.inputs) in = renumber[size_t(in)];
  return out;
}

bool templateHasRelate(const ClevrTemplate& t) {
  return std::any_of(t.nodes.begin(), t.nodes.end(), [](const TemplateNode& n) { return n.type == "relate"; });
}

// The checks CLEVR's template reader leaves to its author: text that is a string and names only declared
// params, NEQ / OUT_NEQ between two different params / nodes. Throws "PROBLEM" for the caller to place.
void checkTemplateText(const nlohmann::json& raw_text, const ClevrTemplate& t) {
  if (raw_text.is_array())
    for (const auto& v : raw_text)
      if (!v.is_string()) throw std::runtime_error("text " + v.dump() + " is not a string");
  for (const auto& text : t.text) {
    if (text.find_first_not_of(" \t") == std::string::npos) throw std::runtime_error("a text is empty");
    for (size_t open = text.find('<'); open != std::string::npos; open = text.find('<', open + 1)) {
      size_t close = text.find('>', open);
      if (close == std::string::npos) throw std::runtime_error("text '" + text + "' has a '<' with no '>'");
      std::string name = text.substr(open, close - open + 1);
      if (!findParam(t, name)) throw std::runtime_error("text '" + text + "' names undeclared param " + name);
    }
  }
  for (const auto& c : t.constraints) {
    if (c.type != "NEQ" && c.type != "OUT_NEQ") continue;
    if (c.params.size() != 2) throw std::runtime_error(c.type + " constraint needs exactly two params");
    if (c.params[0] == c.params[1])
      throw std::runtime_error(c.type + " constraint between " + c.params[0] + " and itself can never hold");
  }
}

}  // namespace

std::string defaultTemplateDir() {
#ifdef VQA_SYNTH_TEMPLATE_DIR
  return VQA_SYNTH_TEMPLATE_DIR;
#else
  return "datasets/synth/templates";
#endif
}

std::string templateLabel(const ClevrTemplate& t) {
  return t.file + " #" + std::to_string(t.index_in_file) + " ('" + (t.text.empty() ? "" : t.text.front()) + "')";
}

std::vector<QuestionFamily> loadQuestionFamilies(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw std::runtime_error(dir + ": not a template folder");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path().filename().string());
  auto rank = [](const std::string& f) {
    auto& o = clevrFileOrder();
    auto it = std::find(o.begin(), o.end(), f);
    return it == o.end() ? int(o.size()) : int(it - o.begin());
  };
  std::sort(files.begin(), files.end(), [&](const std::string& a, const std::string& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a < b;
  });
  if (files.empty()) throw std::runtime_error(dir + ": no *.json template files");
  std::vector<QuestionFamily> out;
  for (const auto& f : files) {
    std::string path = (fs::path(dir) / f).string();
    const nlohmann::json raw = readJsonFile(path);
    for (auto& t : readClevrTemplates(path)) {
      t.file = f;
      try {
        checkTemplateText(raw.at(size_t(t.index_in_file)).at("text"), t);
      } catch (const std::exception& e) {
        throw InputError::in(path, "template " + std::to_string(t.index_in_file), e);
      }
      // Every param must be enumerable (Size, Color, Material, Shape, Relation).
      for (const auto& p : t.params) {
        try {
          valuesOf(p.type);
        } catch (const std::exception& e) {
          throw std::runtime_error(path + ": template " + std::to_string(t.index_in_file) + ": param " + p.name +
                                   ": " + e.what());
        }
      }
      out.push_back({t, int(out.size())});
    }
  }
  return out;
}

QuestionEngine::QuestionEngine(std::vector<QuestionFamily> families, QuestionEngineOptions options)
    : families_(std::move(families)), options_(options) {
  resetCounts();
}

void QuestionEngine::resetCounts() {
  answer_counts_.clear();
  family_counts_.clear();
  for (const auto& f : families_) {
    auto& counts = answer_counts_[f.family_index];
    for (const auto& a : answersOf(f.tmpl.nodes.back().type)) counts[a] = 0;
  }
}

bool QuestionEngine::balanced(const QuestionFamily& family, const std::string& answer) const {
  // CLEVR's rule: skip an answer that is already more common than 1.1x the second most common one,
  // or than 5x the median (at least 5).
  auto it = answer_counts_.find(family.family_index);
  if (it == answer_counts_.end() || it->second.size() < 2) return true;
  std::vector<int> counts;
  for (const auto& [a, c] : it->second) counts.push_back(c);
  std::sort(counts.begin(), counts.end());
  auto found = it->second.find(answer);
  int cur = found == it->second.end() ? 0 : found->second;
  double median = std::max(counts[counts.size() / 2], 5);
  if (cur > options_.balance_factor * counts[counts.size() - 2]) return false;
  if (cur > 5.0 * median) return false;
  return true;
}

bool QuestionEngine::attempt(const QuestionFamily& family, const SceneGraph& scene, std::mt19937_64& rng,
                             GeneratedQuestion* out) {
  const ClevrTemplate& t = family.tmpl;
  ClevrExecutor executor;
  std::uniform_real_distribution<double> uni(0, 1);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  Build b;
  for (const auto& c : t.constraints)
    if (c.type == "NULL")
      for (const auto& p : c.params) b.null_params.insert(p);

  auto emit = [&](const std::string& fn, std::vector<int> inputs, std::vector<std::string> values) {
    b.program.nodes.push_back({fn, std::move(inputs), std::move(values)});
    return b.program.size() - 1;
  };
  auto setAt = [&](int step, std::vector<int>* objects) {
    Program prefix;
    prefix.nodes.assign(b.program.nodes.begin(), b.program.nodes.begin() + step + 1);
    ExecutionResult r = executor.run(prefix, scene);
    if (!r.ok || r.outputs.back().kind != Value::Kind::ObjectSet) return false;
    *objects = r.outputs.back().objects;
    return true;
  };
  auto objectValue = [&](int o, const std::string& type) {
    return scene.object(o).attributes.at(lower(type));
  };

  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const TemplateNode& node = t.nodes[i];
    std::vector<int> inputs;
    for (int k : node.inputs) inputs.push_back(b.node_step.at(size_t(k)));
    const std::string& fn = node.type;
    bool relate_filter = startsWith(fn, "relate_filter");
    bool filter_family = fn == "filter" || startsWith(fn, "filter_unique") || fn == "filter_count" ||
                         fn == "filter_exist" || relate_filter;
    if (!filter_family) {
      std::vector<std::string> values;
      for (const auto& name : node.side_inputs) {
        const TemplateParam* p = findParam(t, name);
        if (!b.vals.count(name)) {
          if (b.null_params.count(name)) return false;  // a required value cannot be NULL
          const auto& vs = valuesOf(p->type);
          b.vals[name] = vs[pick(vs.size())];
        }
        if (b.vals[name].empty()) return false;
        values.push_back(b.vals[name]);
      }
      b.node_step.push_back(emit(fn, inputs, values));
      b.node_set.push_back(b.node_step.back());
      continue;
    }
    if (inputs.empty()) return false;
    int cur = inputs[0];
    // Split side inputs into the relation and the attribute filters.
    std::vector<std::pair<std::string, std::string>> filters;  // (param name, type)
    for (const auto& name : node.side_inputs) {
      const TemplateParam* p = findParam(t, name);
      if (p->type == "Relation") {
        if (!b.vals.count(name)) {
          if (b.null_params.count(name)) return false;
          b.vals[name] = clevr::relations()[pick(clevr::relations().size())];
        }
        cur = emit("relate", {cur}, {b.vals[name]});
      } else {
        filters.emplace_back(name, p->type);
      }
    }
    std::vector<int> candidates;
    if (!setAt(cur, &candidates)) return false;
    bool want_unique = fn == "filter_unique" || fn == "relate_filter_unique";
    auto matches = [&](int o) {
      for (const auto& [name, type] : filters) {
        auto it = b.vals.find(name);
        if (it != b.vals.end() && !it->second.empty() && objectValue(o, type) != it->second) return false;
      }
      return true;
    };
    auto countMatches = [&]() {
      return std::count_if(candidates.begin(), candidates.end(), matches);
    };
    if (want_unique) {
      if (candidates.empty()) return false;
      int target = candidates[pick(candidates.size())];
      std::vector<size_t> free;
      for (size_t k = 0; k < filters.size(); ++k) {
        const auto& [name, type] = filters[k];
        if (b.vals.count(name)) continue;
        if (b.null_params.count(name) || uni(rng) < options_.null_probability) {
          b.vals[name] = "";
          if (!b.null_params.count(name)) free.push_back(k);
        } else {
          b.vals[name] = objectValue(target, type);
        }
      }
      // Name more of the target's attributes until it is the only match.
      std::shuffle(free.begin(), free.end(), rng);
      for (size_t k : free) {
        if (countMatches() == 1) break;
        b.vals[filters[k].first] = objectValue(target, filters[k].second);
      }
      if (countMatches() != 1 || !matches(target)) return false;
    } else {
      bool from_object = !candidates.empty() && uni(rng) < 0.6;
      int source = from_object ? candidates[pick(candidates.size())] : -1;
      auto valueFor = [&](const std::string& type) {
        if (source >= 0) return objectValue(source, type);
        const auto& vs = valuesOf(type);
        return vs[pick(vs.size())];
      };
      std::vector<size_t> left_out;  // optional params this node chose to leave NULL
      for (size_t k = 0; k < filters.size(); ++k) {
        const auto& [name, type] = filters[k];
        if (b.vals.count(name)) continue;
        if (b.null_params.count(name)) {
          b.vals[name] = "";
        } else if (uni(rng) < options_.null_probability) {
          b.vals[name] = "";
          left_out.push_back(k);
        } else {
          b.vals[name] = valueFor(type);
        }
      }
      // CLEVR never instantiates a plain `filter` node with no value at all.
      if (fn == "filter") {
        bool named = std::any_of(filters.begin(), filters.end(),
                                 [&](const auto& f) { return !b.vals[f.first].empty(); });
        if (!named) {
          if (left_out.empty()) return false;
          size_t k = left_out[pick(left_out.size())];
          b.vals[filters[k].first] = valueFor(filters[k].second);
        }
      }
    }
    // The chain of filters for the named params, in side-input order.
    for (const auto& [name, type] : filters)
      if (!b.vals[name].empty()) cur = emit("filter_" + lower(type), {cur}, {b.vals[name]});
    b.node_set.push_back(cur);
    if (fn == "filter_unique" || fn == "relate_filter_unique") cur = emit("unique", {cur}, {});
    else if (fn == "filter_count" || fn == "relate_filter_count") cur = emit("count", {cur}, {});
    else if (fn == "filter_exist" || fn == "relate_filter_exist") cur = emit("exist", {cur}, {});
    b.node_step.push_back(cur);
  }
  // Params that no node used are NULL.
  for (const auto& p : t.params)
    if (!b.vals.count(p.name)) b.vals[p.name] = "";

  ExecutionResult r = executor.run(b.program, scene);
  if (!r.ok) return false;  // e.g. a unique on anything but one object
  for (const auto& c : t.constraints) {
    if (c.type == "OUT_NEQ" && c.params.size() == 2) {
      int a = b.node_set.at(std::stoul(c.params[0])), bb = b.node_set.at(std::stoul(c.params[1]));
      if (r.outputs[a] == r.outputs[bb]) return false;
    } else if (c.type == "NEQ" && c.params.size() == 2) {
      const auto &v1 = b.vals[c.params[0]], &v2 = b.vals[c.params[1]];
      if (!v1.empty() && v1 == v2) return false;
    } else if (c.type == "NULL") {
      for (const auto& p : c.params)
        if (!b.vals[p].empty()) return false;
    }
  }
  if (!balanced(family, r.answer)) return false;
  if (isDegenerate(family.tmpl, b.program, scene, r.answer)) return false;

  // Text: a random paraphrase, params replaced by (synonyms of) their values, optional words.
  std::string text = t.text[pick(t.text.size())];
  for (const auto& p : t.params) {
    std::string v = b.vals[p.name];
    if (v.empty() && p.type == "Shape") v = "thing";
    auto syn = clevr::synonyms().find(v);
    if (syn != clevr::synonyms().end()) v = syn->second[pick(syn->second.size())];
    for (size_t pos; (pos = text.find(p.name)) != std::string::npos;) text.replace(pos, p.name.size(), v);
  }
  text = collapse(text);
  for (size_t open; (open = text.find('[')) != std::string::npos;) {
    size_t close = text.find(']', open);
    if (close == std::string::npos) break;
    std::string inner = text.substr(open + 1, close - open - 1);
    text.replace(open, close - open + 1, uni(rng) < 0.5 ? inner : "");
  }
  text = collapse(text);
  // CLEVR's "other" heuristic: two objects described with different values are not "other" ones.
  if ((text.find(" other ") != std::string::npos || text.find(" another ") != std::string::npos) &&
      t.params.size() == 8) {
    for (const char* k : {"Z", "C", "M", "S"}) {
      std::string v1 = b.vals["<" + std::string(k) + ">"], v2 = b.vals["<" + std::string(k) + "2>"];
      if (!v1.empty() && !v2.empty() && v1 != v2) {
        for (size_t pos; (pos = text.find(" other ")) != std::string::npos;) text.replace(pos, 7, " ");
        for (size_t pos; (pos = text.find(" another ")) != std::string::npos;) text.replace(pos, 9, " a ");
        break;
      }
    }
  }
  out->text = text;
  out->answer = r.answer;
  out->program = b.program;
  out->family_index = family.family_index;
  out->template_filename = t.file;
  return true;
}

bool isDegenerate(const ClevrTemplate& tmpl, const Program& program, const SceneGraph& scene,
                  const std::string& answer) {
  if (!templateHasRelate(tmpl)) return false;
  ClevrExecutor executor;
  for (int k = 0; k < program.size(); ++k) {
    if (program.nodes[size_t(k)].function != "relate") continue;
    ExecutionResult r = executor.run(withSceneAt(program, k), scene);
    if (r.ok && r.answer == answer) return true;
  }
  return false;
}

bool QuestionEngine::instantiate(const QuestionFamily& family, const SceneGraph& scene, std::mt19937_64& rng,
                                 GeneratedQuestion* out) {
  for (int k = 0; k < options_.tries_per_template; ++k) {
    ++family_tries_[family.family_index];
    if (attempt(family, scene, rng, out)) {
      ++family_counts_[family.family_index];
      ++family_totals_[family.family_index];
      ++answer_counts_[family.family_index][out->answer];
      return true;
    }
  }
  if (family_totals_[family.family_index] == 0 && family_tries_[family.family_index] >= options_.give_up_tries)
    throw std::runtime_error("template " + templateLabel(family.tmpl) + ": gave up after " +
                             std::to_string(family_tries_[family.family_index]) +
                             " tries without a valid question (are its constraints satisfiable?)");
  return false;
}

std::vector<GeneratedQuestion> QuestionEngine::generate(const SceneGraph& scene, int count, std::mt19937_64& rng) {
  if (options_.reset_counts_every > 0 && images_seen_ % options_.reset_counts_every == 0 && images_seen_ > 0)
    resetCounts();
  ++images_seen_;
  std::vector<size_t> order(families_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return family_counts_[families_[a].family_index] < family_counts_[families_[b].family_index];
  });
  std::vector<GeneratedQuestion> out;
  for (size_t i : order) {
    if (int(out.size()) >= count) break;
    GeneratedQuestion q;
    if (instantiate(families_[i], scene, rng, &q)) out.push_back(std::move(q));
  }
  return out;
}

}  // namespace vqa::synth
