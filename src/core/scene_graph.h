// SceneGraph: an image as objects (vertices) and relations between them (edges), for CLEVR and GQA alike.
//
// Edge convention: an edge subject --name--> object reads "subject is <name> of object"
// (GQA: "pipe on wall"; CLEVR: j in relationships["left"][i] becomes the edge j --left--> i).
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

namespace vqa {

struct SceneObject {
  std::string id;    // GQA object id; CLEVR objects use their index
  std::string name;  // GQA name ("wall"); CLEVR leaves it empty
  // Typed attributes: CLEVR's color/shape/material/size, or typed GQA attributes when known.
  std::map<std::string, std::string> attributes;
  std::vector<std::string> labels;  // untyped GQA attributes ("white", "dark")
  std::array<double, 3> coords{};   // CLEVR 3d_coords
  std::array<double, 3> pixel{};    // CLEVR pixel_coords: x, y, depth
  double rotation = 0.0;            // CLEVR "rotation" in radians (drawn in [0, 360), fed to Blender's rotation_euler)
  std::array<double, 4> box{};      // GQA x, y, w, h
};

struct SceneRelation {
  std::string name;
};

class SceneGraph {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, SceneObject, SceneRelation>;

  int addObject(SceneObject object);
  void addRelation(int subject, int object, const std::string& name);

  int size() const { return static_cast<int>(boost::num_vertices(graph_)); }
  const SceneObject& object(int i) const { return graph_[static_cast<Graph::vertex_descriptor>(i)]; }
  SceneObject& object(int i) { return graph_[static_cast<Graph::vertex_descriptor>(i)]; }
  int findObject(const std::string& id) const;  // -1 when absent

  // Sorted subjects s with s --name--> object ("which objects are <name> of object").
  std::vector<int> subjectsOf(int object, const std::string& name) const;
  // Sorted objects o with subject --name--> o ("what is subject <name> of").
  std::vector<int> objectsOf(int subject, const std::string& name) const;
  bool hasRelation(int subject, int object, const std::string& name) const;
  int numRelations() const { return static_cast<int>(boost::num_edges(graph_)); }
  const Graph& graph() const { return graph_; }

  // Image-level fields (CLEVR: split, index, filename, directions; GQA: id, size, location, weather).
  std::string split;
  int image_index = -1;
  std::string image_filename;
  std::string image_id;
  int width = 0, height = 0;
  std::map<std::string, std::string> image_attributes;         // GQA location / weather
  std::map<std::string, std::array<double, 3>> directions;     // CLEVR directions

 private:
  Graph graph_;
  std::map<std::string, int> id_index_;
};

}  // namespace vqa
