// JSON file helpers shared by every reader and writer.
#include "datasets/json_file.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/errors.h"

namespace vqa {
namespace {

namespace fs = std::filesystem;

// "line L, column C (byte B)" for a byte offset into `text` (all 1-based but the byte).
std::string locate(const std::string& text, size_t offset) {
  offset = std::min(offset, text.size());
  const size_t lineStart = offset == 0 ? 0 : text.rfind('\n', offset - 1);
  const size_t line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
  const size_t column = lineStart == std::string::npos || offset == 0 ? offset + 1 : offset - lineStart;
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (byte " + std::to_string(offset) +
         ")";
}

// Finds where parsing stops: a SAX pass that keeps nothing and records the first error.
class ErrorLocator : public nlohmann::json_sax<nlohmann::json> {
 public:
  using json = nlohmann::json;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(json::number_integer_t) override { return true; }
  bool number_unsigned(json::number_unsigned_t) override { return true; }
  bool number_float(json::number_float_t, const json::string_t&) override { return true; }
  bool string(json::string_t&) override { return true; }
  bool binary(json::binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(json::string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const json::exception& e) override {
    found = true;
    offset = position;
    message = e.what();
    return false;
  }

  bool found = false;
  size_t offset = 0;
  std::string message;
};

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column 5: " prefix.
std::string problemOf(std::string message) {
  const size_t bracket = message.find("] ");
  if (message.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) message = message.substr(bracket + 2);
  const size_t at = message.find("parse error");
  if (at == 0) {
    const size_t colon = message.find(": ");
    message = colon == std::string::npos ? message : message.substr(colon + 2);
  }
  return excerpt(message, 120);
}

// Follows the nesting of lists and objects one character at a time (strings skipped).
class NestingScanner {
 public:
  // True when `c` opens a list or object deeper than kMaxJsonDepth.
  bool tooDeep(char c) {
    if (escaped_) {
      escaped_ = false;
    } else if (in_string_) {
      if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '[' || c == '{') {
      return ++depth_ > kMaxJsonDepth;
    } else if (c == ']' || c == '}') {
      --depth_;
    }
    return false;
  }

 private:
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false;
};

// The first place where lists and objects nest deeper than kMaxJsonDepth, or npos.
size_t tooDeepAt(const std::string& text) {
  NestingScanner scanner;
  for (size_t i = 0; i < text.size(); ++i)
    if (scanner.tooDeep(text[i])) return i;
  return std::string::npos;
}

std::string systemReason() { return errno ? std::string(" (") + std::strerror(errno) + ")" : std::string(); }

void removeQuietly(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

// Writes `contents` to `path`; returns "" or the problem.
std::string writePlain(const std::string& path, const std::string& contents) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return "cannot write file" + systemReason();
  out << contents;
  out.flush();
  if (!out) return "write failed" + systemReason();
  out.close();
  if (out.fail()) return "write failed" + systemReason();
  return "";
}

std::string temporaryFor(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

std::string makeParent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return "";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return "cannot create folder " + excerpt(parent.string(), 200) + " (" + ec.message() + ")";
  return "";
}

}  // namespace

nlohmann::json readJsonFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path, "", "is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "", "cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw InputError(path, "", "file is empty");
  const size_t deep = tooDeepAt(text);
  if (deep != std::string::npos)
    throw InputError(path, "",
                     "lists and objects nest deeper than " + std::to_string(kMaxJsonDepth) + " levels at " +
                         locate(text, deep));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    ErrorLocator locator;
    nlohmann::json::sax_parse(text, &locator);
    const std::string problem = problemOf(locator.found ? locator.message : e.what());
    const std::string where = locator.found ? " at " + locate(text, locator.offset) : "";
    const bool overflow = e.id == 406;
    throw InputError(path, "",
                     (overflow ? "number too large" : "invalid or truncated JSON") + where + ": " + problem);
  }
}

namespace {

// "line L, column C (byte B)" for a byte offset into a file, counting its lines up to there.
std::string locateInFile(const std::string& path, size_t offset) {
  std::ifstream in(path, std::ios::binary);
  std::string head(offset, '\0');
  in.read(head.data(), static_cast<std::streamsize>(offset));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return locate(head, head.size());
}

// SAX handler that builds each member of the top-level object on its own and hands it over when complete.
class MemberStreamer : public nlohmann::json_sax<nlohmann::json> {
 public:
  using json = nlohmann::json;
  MemberStreamer(const std::function<void(std::string, json)>& visit) : visit_(visit) {}

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(json::number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) override { return put(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) override { return put(json(v)); }
  bool string(json::string_t& v) override { return put(json(std::move(v))); }
  bool binary(json::binary_t& v) override { return put(json(std::move(v))); }
  bool key(json::string_t& k) override {
    keys_[static_cast<size_t>(depth_)] = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string&, const json::exception& e) override {
    error_offset = position;
    error_message = e.what();
    overflow = e.id == 406;
    return false;
  }

  bool not_object = false, too_deep = false, overflow = false;
  size_t error_offset = std::string::npos;
  std::string error_message;

 private:
  // A scalar or a new container goes into the container on top (depth >= 2), or is a whole member (depth 1).
  json* place(json v) {
    if (depth_ == 1) {
      member_ = std::move(v);
      return &member_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[keys_[static_cast<size_t>(depth_)]];
    slot = std::move(v);
    return &slot;
  }
  bool put(json v) {
    if (depth_ == 0) return not_object = true, false;
    place(std::move(v));
    if (depth_ == 1) visit_(std::move(keys_[1]), std::move(member_));
    return true;
  }
  bool open(json container) {
    if (depth_ == 0) {
      if (!container.is_object()) return not_object = true, false;
      depth_ = 1;
      return true;
    }
    if (depth_ + 1 > kMaxJsonDepth) return too_deep = true, false;
    stack_.push_back(place(std::move(container)));
    ++depth_;
    if (keys_.size() <= static_cast<size_t>(depth_)) keys_.resize(static_cast<size_t>(depth_) + 1);
    return true;
  }
  bool close() {
    --depth_;
    if (depth_ >= 1) stack_.pop_back();
    if (depth_ == 1) visit_(std::move(keys_[1]), std::move(member_));
    return true;
  }

  const std::function<void(std::string, json)>& visit_;
  int depth_ = 0;                 // containers open, the top-level object included
  std::vector<std::string> keys_ = std::vector<std::string>(2);  // the pending key at each depth
  std::vector<json*> stack_;      // open containers of the current member
  json member_;
};

}  // namespace

void streamJsonObject(const std::string& path, const std::string& not_object_problem,
                      const std::function<void(std::string key, nlohmann::json value)>& visit) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path, "", "is a folder, not a file");
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw InputError(path, "", "cannot open file");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, &std::fclose);
  int c;
  while ((c = std::fgetc(file)) != EOF && std::isspace(c)) {
  }
  if (c == EOF) throw InputError(path, "", "file is empty");
  std::rewind(file);
  MemberStreamer streamer(visit);
  const bool ok = nlohmann::json::sax_parse(file, &streamer);
  if (ok) return;
  if (streamer.not_object) throw InputError(path, "", not_object_problem);
  if (streamer.too_deep) {
    std::rewind(file);
    NestingScanner scanner;
    size_t at = 0;
    while ((c = std::fgetc(file)) != EOF && !scanner.tooDeep(static_cast<char>(c))) ++at;
    throw InputError(path, "",
                     "lists and objects nest deeper than " + std::to_string(kMaxJsonDepth) + " levels at " +
                         locateInFile(path, at));
  }
  const std::string where =
      streamer.error_offset != std::string::npos ? " at " + locateInFile(path, streamer.error_offset) : "";
  throw InputError(path, "", (streamer.overflow ? "number too large" : "invalid or truncated JSON") + where + ": " +
                                 problemOf(streamer.error_message));
}

void writeFileAtomic(const std::string& path, const std::string& contents) {
  if (const std::string problem = makeParent(path); !problem.empty()) throw InputError(path, "", problem);
  const std::string tmp = temporaryFor(path);
  if (const std::string problem = writePlain(tmp, contents); !problem.empty()) {
    removeQuietly(tmp);
    throw InputError(path, "", problem);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    removeQuietly(tmp);
    throw InputError(path, "", "cannot rename temporary file (" + ec.message() + ")");
  }
}

void writeJsonFileAtomic(const std::string& path, const nlohmann::json& value, int indent) {
  writeFileAtomic(path, value.dump(indent) + "\n");
}

void OutputFiles::add(const std::string& option, const std::string& path, std::string contents) {
  outputs_.push_back({option, path, std::move(contents)});
}

void OutputFiles::addJson(const std::string& option, const std::string& path, const nlohmann::json& value,
                          int indent) {
  add(option, path, value.dump(indent) + "\n");
}

void OutputFiles::commit() {
  std::vector<std::string> temporaries;
  auto fail = [&](const Output& o, const std::string& problem, size_t renamed) {
    for (const auto& t : temporaries) removeQuietly(t);
    for (size_t k = 0; k < renamed; ++k) removeQuietly(outputs_[k].path);
    throw InputError(o.option + " " + o.path, "", problem);
  };
  for (const Output& o : outputs_) {
    if (const std::string problem = makeParent(o.path); !problem.empty()) fail(o, problem, 0);
    temporaries.push_back(temporaryFor(o.path));
    if (const std::string problem = writePlain(temporaries.back(), o.contents); !problem.empty()) fail(o, problem, 0);
  }
  for (size_t k = 0; k < outputs_.size(); ++k) {
    std::error_code ec;
    fs::rename(temporaries[k], outputs_[k].path, ec);
    if (ec) fail(outputs_[k], "cannot rename temporary file (" + ec.message() + ")", k);
  }
  outputs_.clear();
}

}  // namespace vqa
