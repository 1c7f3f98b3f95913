// Entry point of the `vqa` command: builds the CLI11 app from the registered subcommands and turns
// every error into one line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <iostream>

#include "cli/command.h"
#include "core/errors.h"

namespace vqa::cli {
std::vector<CommandInfo>& commandRegistry() {
  static std::vector<CommandInfo> registry;
  return registry;
}

std::vector<std::string>& commandLine() {
  static std::vector<std::string> line;
  return line;
}
}  // namespace vqa::cli

int main(int argc, char** argv) {
  vqa::cli::commandLine().assign(argv, argv + argc);
  CLI::App app{"vqa: neuro-symbolic visual question answering (scene graphs, soft programs, OutEffHop attention)"};
  app.require_subcommand(1);
  auto& registry = vqa::cli::commandRegistry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    cmd.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // a missing, unknown or malformed option: one line, like every error
    std::cerr << "vqa: error: " << vqa::excerpt(e.what(), 2000) << " (see --help)\n";
    return 1;
  } catch (const std::exception& e) {
    // One line whatever the message holds; messages are short by construction, the cap is a backstop.
    std::cerr << "vqa: error: " << vqa::excerpt(e.what(), 2000) << "\n";
    return 1;
  }
  return 0;
}
