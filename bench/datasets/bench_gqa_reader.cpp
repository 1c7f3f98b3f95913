// Bench: the streaming GQA questions reader on a file of GQA's full size. Writes a questions file of about
// --megabytes MB (default 1100; GQA's train_balanced is about 1,400 MB) by repeating the real GQA records in
// ../shared under new ids, then reads it with forEachGqaQuestion (tallying structural types and programs) and
// prints the time, questions/s and the peak resident memory before and after reading.
// Usage: bench_gqa_reader [--shared DIR] [--megabytes N] [--file PATH] [--keep]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "datasets/gqa/gqa_io.h"
#include "datasets/json_file.h"

namespace {

double peakResidentMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("VQA_SHARED_DIR");
  std::string shared = env ? env : VQA_DEFAULT_SHARED_DIR;
  std::string file = (std::filesystem::temp_directory_path() / "vqa-bench-gqa-questions.json").string();
  double megabytes = 1100;
  bool keep = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--shared") shared = next();
      else if (a == "--megabytes") megabytes = std::stod(next());
      else if (a == "--file") file = next();
      else if (a == "--keep") keep = true;
      else throw std::runtime_error("unknown option " + a);
    }
    const std::string source = shared + "/data/gqa-real/questions/gqa_ood_val_bal_tail_-0.7_questions.json";
    const nlohmann::json real = vqa::readJsonFile(source);
    std::vector<std::pair<std::string, std::string>> records;  // id, record text
    for (auto it = real.begin(); it != real.end(); ++it) records.emplace_back(it.key(), it.value().dump());
    const auto t0 = std::chrono::steady_clock::now();
    size_t written = 0, questions = 0;
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      if (!out) throw std::runtime_error(file + ": cannot write file");
      out << "{";
      const size_t target = static_cast<size_t>(megabytes * 1e6);
      for (size_t copy = 0; written < target; ++copy)
        for (const auto& [id, text] : records) {
          const std::string line = std::string(questions ? ",\n" : "\n") + "\"" + id + "_" + std::to_string(copy) +
                                   "\": " + text;
          out << line;
          written += line.size();
          ++questions;
        }
      out << "\n}\n";
      if (!out) throw std::runtime_error(file + ": write failed");
    }
    const double write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double before = peakResidentMb();
    const auto t1 = std::chrono::steady_clock::now();
    size_t read = 0, with_program = 0;
    std::map<std::string, size_t> structural;
    vqa::forEachGqaQuestion(file, [&](vqa::GqaQuestion q) {
      ++read;
      with_program += q.has_program && q.program_error.empty();
      ++structural[q.structural];
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const double after = peakResidentMb();
    const double size_mb = static_cast<double>(std::filesystem::file_size(file)) / 1e6;
    std::printf("file %s: %.0f MB, %zu questions (the %zu real records of %s, repeated), written in %.1f s\n",
                file.c_str(), size_mb, questions, records.size(), source.c_str(), write_seconds);
    std::printf("forEachGqaQuestion: %zu questions (%zu with a parsed program) in %.1f s: %.0f questions/s, %.1f MB/s\n",
                read, with_program, seconds, static_cast<double>(read) / seconds, size_mb / seconds);
    std::printf("structural types:");
    for (const auto& [type, n] : structural) std::printf(" %s %zu", type.c_str(), n);
    std::printf("\n");
    std::printf("peak resident memory: %.0f MB before reading, %.0f MB after (%.2f x the file's size)\n", before, after,
                after / size_mb);
    if (!keep) std::filesystem::remove(file);
    return read == questions ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_gqa_reader: error: " << e.what() << "\n";
    if (!keep) std::filesystem::remove(file);
    return 1;
  }
}
