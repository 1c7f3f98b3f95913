// The `vqa` subcommand registry: each cmd_*.cpp file registers one subcommand with a static Registrar,
// so adding a command never touches main.cpp.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace CLI { class App; }

namespace vqa::cli {

// Builds the subcommand on `app` (options, callback). The callback should throw vqa::cli::CommandError
// (or any std::exception) with a one-line message on bad input; main prints it and exits non-zero.
using CommandSetup = std::function<void(CLI::App& app)>;

struct CommandInfo {
  std::string name;
  std::string description;
  CommandSetup setup;
};

std::vector<CommandInfo>& commandRegistry();

// The process's command line as main received it (argv[0] first): commands that launch copies of themselves
// (vqa train --nproc) run it again.
std::vector<std::string>& commandLine();

struct Registrar {
  Registrar(std::string name, std::string description, CommandSetup setup) {
    commandRegistry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace vqa::cli
