// Checks of CLEVR's generator rules made from a generated question alone, independently of the question
// engine's own rejection code: degenerate questions (CLEVR's is_degenerate: replacing a relate step by the
// whole scene leaves the answer unchanged) and empty filter steps. Used by tests/synth and bench/synth.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/program.h"
#include "core/scene_graph.h"
#include "executor/symbolic_executor.h"

namespace vqa::synth::checks {

// The program with step k replaced by `scene`, keeping only the steps the answer still depends on.
inline Program sceneInsteadOf(const Program& p, int k) {
  std::vector<ProgramNode> nodes = p.nodes;
  nodes[size_t(k)] = {"scene", {}, {}};
  std::set<int> needed;
  std::vector<int> todo = {int(nodes.size()) - 1};
  while (!todo.empty()) {
    int i = todo.back();
    todo.pop_back();
    if (!needed.insert(i).second) continue;
    for (int in : nodes[size_t(i)].inputs) todo.push_back(in);
  }
  std::map<int, int> index;
  Program out;
  for (int i : needed) {
    index[i] = out.size();
    out.nodes.push_back(nodes[size_t(i)]);
  }
  for (auto& n : out.nodes)
    for (int& in : n.inputs) in = index.at(in);
  return out;
}

// True when some relate step can be replaced by the whole scene without changing the answer.
inline bool degenerate(const ClevrExecutor& ex, const Program& p, const SceneGraph& scene, const std::string& answer) {
  for (int k = 0; k < p.size(); ++k) {
    if (p.nodes[size_t(k)].function != "relate") continue;
    auto r = ex.run(sceneInsteadOf(p, k), scene);
    if (r.ok && r.answer == answer) return true;
  }
  return false;
}

// Set operations (union / intersect) fed straight from `scene`: a filter step that filters on nothing.
inline int emptyFilterSteps(const Program& p) {
  int n = 0;
  for (const auto& node : p.nodes)
    if (node.function == "union" || node.function == "intersect")
      for (int in : node.inputs) n += p.nodes[size_t(in)].function == "scene";
  return n;
}

}  // namespace vqa::synth::checks
