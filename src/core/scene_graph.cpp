// SceneGraph over a Boost.Graph bidirectional adjacency list.
#include "core/scene_graph.h"

#include <algorithm>
#include <stdexcept>

namespace vqa {

int SceneGraph::addObject(SceneObject object) {
  const int index = size();
  if (object.id.empty()) object.id = std::to_string(index);
  if (!id_index_.emplace(object.id, index).second)
    throw std::runtime_error("duplicate object id '" + object.id + "'");
  boost::add_vertex(std::move(object), graph_);
  return index;
}

void SceneGraph::addRelation(int subject, int object, const std::string& name) {
  if (subject < 0 || subject >= size() || object < 0 || object >= size())
    throw std::runtime_error("relation '" + name + "' names object index out of range");
  boost::add_edge(static_cast<Graph::vertex_descriptor>(subject), static_cast<Graph::vertex_descriptor>(object),
                  SceneRelation{name}, graph_);
}

int SceneGraph::findObject(const std::string& id) const {
  auto it = id_index_.find(id);
  return it == id_index_.end() ? -1 : it->second;
}

std::vector<int> SceneGraph::subjectsOf(int object, const std::string& name) const {
  std::vector<int> out;
  for (auto [it, end] = boost::in_edges(static_cast<Graph::vertex_descriptor>(object), graph_); it != end; ++it)
    if (graph_[*it].name == name) out.push_back(static_cast<int>(boost::source(*it, graph_)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<int> SceneGraph::objectsOf(int subject, const std::string& name) const {
  std::vector<int> out;
  for (auto [it, end] = boost::out_edges(static_cast<Graph::vertex_descriptor>(subject), graph_); it != end; ++it)
    if (graph_[*it].name == name) out.push_back(static_cast<int>(boost::target(*it, graph_)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool SceneGraph::hasRelation(int subject, int object, const std::string& name) const {
  for (auto [it, end] = boost::out_edges(static_cast<Graph::vertex_descriptor>(subject), graph_); it != end; ++it)
    if (static_cast<int>(boost::target(*it, graph_)) == object && graph_[*it].name == name) return true;
  return false;
}

}  // namespace vqa
