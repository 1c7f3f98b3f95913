// Reading and writing the model file container.
#include "training/model_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>

#include "core/hash.h"
#include "datasets/json_file.h"

namespace vqa::training {

namespace {

const std::string kMagic = "VQA-MODEL\n";

std::string dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kChar: return "int8";
    default: throw std::runtime_error("model file: unsupported tensor type");
  }
}

at::ScalarType dtypeFromName(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "int64") return at::kLong;
  if (name == "int8") return at::kChar;
  throw std::runtime_error("unknown tensor type '" + name + "'");
}

bool isQuantRange(const std::string& name) {
  auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends("_quant.act_min") || ends("_quant.act_max");
}

}  // namespace

const at::Tensor* ModelFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void writeModelFile(const std::string& path, const nlohmann::json& header_in, const NamedTensors& tensors) {
  nlohmann::json header = header_in;
  nlohmann::json entries = nlohmann::json::array();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().cpu().contiguous();
    const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    entries.push_back({{"name", name}, {"dtype", dtypeName(t.scalar_type())}, {"shape", t.sizes().vec()},
                       {"offset", data.size()}, {"bytes", bytes}});
    data.append(static_cast<const char*>(t.data_ptr()), bytes);
  }
  header["tensors"] = entries;
  header["data_bytes"] = data.size();
  header["data_checksum"] = std::to_string(fnv1a(data.data(), data.size()));
  const std::string text = header.dump();
  std::string out = kMagic;
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out += text;
  out += data;
  writeFileAtomic(path, out);
}

namespace {

// The file's bytes, its header and where its tensor data starts; throws "PATH: problem" when the file is missing,
// not a vqa model file, or its header is cut short, not JSON or names no kind. With header_only, `bytes` stops
// where the header does (the tensors are not read).
struct RawModelFile {
  std::string bytes;
  nlohmann::json header;
  size_t data_start = 0;
};

// The magic line, the header size and the header: the first bytes of the file, read without the tensors after them.
std::string readHeaderBytes(std::ifstream& in, uintmax_t file_size) {
  std::string bytes(kMagic.size() + sizeof(uint64_t), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() < kMagic.size() + sizeof(uint64_t) || bytes.compare(0, kMagic.size(), kMagic) != 0) return bytes;
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data() + kMagic.size(), sizeof header_size);
  std::string header(static_cast<size_t>(std::min<uintmax_t>(header_size, file_size)), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  header.resize(static_cast<size_t>(in.gcount()));
  return bytes + header;
}

RawModelFile readRawModelFile(const std::string& path, bool header_only = false) {
  auto fail = [&](const std::string& problem) { return std::runtime_error(path + ": " + problem); };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw fail("model file not found");
  if (std::filesystem::is_directory(path, ec)) throw fail("is a folder, not a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open model file");
  RawModelFile raw;
  if (header_only) {
    raw.bytes = readHeaderBytes(in, std::filesystem::file_size(path, ec));
  } else {
    std::stringstream buffer;
    buffer << in.rdbuf();
    raw.bytes = buffer.str();
  }
  const std::string& bytes = raw.bytes;
  if (bytes.size() < kMagic.size() || bytes.compare(0, kMagic.size(), kMagic) != 0)
    throw fail("not a vqa model file");
  size_t pos = kMagic.size();
  uint64_t header_size = 0;
  if (bytes.size() < pos + sizeof header_size) throw fail("truncated model file (no header)");
  std::memcpy(&header_size, bytes.data() + pos, sizeof header_size);
  pos += sizeof header_size;
  if (header_size > bytes.size() - pos) throw fail("truncated model file (header cut short)");
  try {
    raw.header = nlohmann::json::parse(bytes.substr(pos, header_size));
  } catch (const std::exception&) {
    throw fail("corrupt model file (header is not valid JSON)");
  }
  raw.data_start = pos + header_size;
  const auto& h = raw.header;
  if (!h.is_object() || !h.contains("kind") || !h["kind"].is_string()) throw fail("corrupt model file (no kind)");
  return raw;
}

}  // namespace

std::string readModelKind(const std::string& path) {
  return readRawModelFile(path, /*header_only=*/true).header["kind"].get<std::string>();
}

ModelFile readModelFile(const std::string& path, const std::string& expected_kind, int supported_version) {
  auto fail = [&](const std::string& problem) { return std::runtime_error(path + ": " + problem); };
  RawModelFile raw = readRawModelFile(path);
  const std::string& bytes = raw.bytes;
  const size_t pos = raw.data_start;
  ModelFile file;
  file.header = std::move(raw.header);
  const auto& h = file.header;
  const std::string kind = h["kind"].get<std::string>();
  if (kind != expected_kind) throw fail("is a '" + kind + "' model, not a '" + expected_kind + "' model");
  if (!h.contains("format_version") || !h["format_version"].is_number_integer())
    throw fail("corrupt model file (no format version)");
  const int version = h["format_version"].get<int>();
  if (version != supported_version)
    throw fail("format version " + std::to_string(version) + " is not supported (this build reads version " +
               std::to_string(supported_version) + ")");
  try {
    const uint64_t data_bytes = h.at("data_bytes").get<uint64_t>();
    if (bytes.size() - pos < data_bytes) throw fail("truncated model file (" + std::to_string(bytes.size() - pos) +
                                                    " of " + std::to_string(data_bytes) + " tensor bytes)");
    if (bytes.size() - pos > data_bytes) throw fail("corrupt model file (trailing bytes)");
    const char* data = bytes.data() + pos;
    if (std::to_string(fnv1a(data, data_bytes)) != h.at("data_checksum").get<std::string>())
      throw fail("corrupt model file (checksum mismatch)");
    for (const auto& e : h.at("tensors")) {
      const auto shape = e.at("shape").get<std::vector<int64_t>>();
      const at::ScalarType type = dtypeFromName(e.at("dtype").get<std::string>());
      const uint64_t offset = e.at("offset").get<uint64_t>(), n = e.at("bytes").get<uint64_t>();
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
      if (static_cast<uint64_t>(t.numel()) * t.element_size() != n || offset + n > data_bytes)
        throw fail("corrupt model file (tensor " + e.at("name").get<std::string>() + ")");
      std::memcpy(t.data_ptr(), data + offset, n);
      file.tensors.emplace_back(e.at("name").get<std::string>(), t);
    }
  } catch (const nlohmann::json::exception&) {
    throw fail("corrupt model file (bad tensor table)");
  }
  return file;
}

void appendModuleTensors(torch::nn::Module& module, const std::string& prefix, NamedTensors* out) {
  for (auto& p : module.named_parameters()) out->emplace_back(prefix + "." + p.key(), p.value());
  for (auto& b : module.named_buffers()) out->emplace_back(prefix + "." + b.key(), b.value());
}

void loadModuleTensors(const ModelFile& file, const std::string& path, const std::string& prefix,
                       torch::nn::Module& module) {
  at::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, at::Tensor& target) {
    const at::Tensor* t = file.find(prefix + "." + name);
    // A quantization point's range that the file lacks (a model written before the layer had one) stays
    // uncalibrated: quantizing then calibrates it, and running quantized without it is refused.
    if (!t && isQuantRange(name)) return;
    if (!t) throw std::runtime_error(path + ": no tensor " + prefix + "." + name);
    if (!t->sizes().equals(target.sizes()) || t->scalar_type() != target.scalar_type())
      throw std::runtime_error(path + ": tensor " + prefix + "." + name + " has the wrong shape or type");
    target.copy_(*t);
  };
  for (auto& p : module.named_parameters()) assign(p.key(), p.value());
  for (auto& b : module.named_buffers()) assign(b.key(), b.value());
}

size_t copyMatchingTensors(const ModelFile& file, const std::string& prefix, torch::nn::Module& module) {
  at::NoGradGuard no_grad;
  size_t copied = 0;
  auto copy = [&](const std::string& name, at::Tensor& target) {
    const at::Tensor* t = file.find(prefix + "." + name);
    if (!t || !t->sizes().equals(target.sizes()) || t->scalar_type() != target.scalar_type()) return;
    target.copy_(*t);
    ++copied;
  };
  for (auto& p : module.named_parameters()) copy(p.key(), p.value());
  for (auto& b : module.named_buffers()) copy(b.key(), b.value());
  return copied;
}

void checkOptionRange(const char* option, double value, double lo, double hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    std::ostringstream s;
    s << option << ": must be in [" << lo << ", " << hi << "] (got " << value << ")";
    throw std::runtime_error(s.str());
  }
}

}  // namespace vqa::training
