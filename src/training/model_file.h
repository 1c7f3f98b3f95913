// The model file container: a magic line, a JSON header (kind, format version, options, vocabularies,
// anything else the owner records) and raw little-endian tensors with a checksum. Written atomically; a
// file of another kind or version, a truncated or corrupt one is a one-line error.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace vqa::training {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct ModelFile {
  nlohmann::json header;  // includes "kind" and "format_version"
  NamedTensors tensors;
  const at::Tensor* find(const std::string& name) const;
};

// Writes PATH.tmp.<pid> and renames it over PATH. header must hold "kind" and "format_version".
void writeModelFile(const std::string& path, const nlohmann::json& header, const NamedTensors& tensors);

// Throws std::runtime_error("PATH: problem") when the file is missing, not a vqa model file, of another
// kind, of an unsupported format version, truncated or corrupt.
ModelFile readModelFile(const std::string& path, const std::string& expected_kind, int supported_version);
// The kind a model file declares in its header; throws as readModelFile for a missing file, one that is not a vqa
// model file or one whose header is cut short or corrupt.
std::string readModelKind(const std::string& path);

// Every parameter and buffer of `module` as PREFIX.name, appended to `out`.
void appendModuleTensors(torch::nn::Module& module, const std::string& prefix, NamedTensors* out);
// Copies PREFIX.name of `file` into each parameter and buffer of `module`; throws "PATH: ..." for a missing
// tensor or one of the wrong shape or type.
void loadModuleTensors(const ModelFile& file, const std::string& path, const std::string& prefix,
                       torch::nn::Module& module);

// Copies each tensor PREFIX.name of `file` whose name, shape and type match a parameter or buffer of `module`
// (a warm start from a related model); returns how many were copied.
size_t copyMatchingTensors(const ModelFile& file, const std::string& prefix, torch::nn::Module& module);

// Throws "OPTION: must be in [lo, hi] (got v)" for a value out of range or not finite.
void checkOptionRange(const char* option, double value, double lo, double hi);

}  // namespace vqa::training
