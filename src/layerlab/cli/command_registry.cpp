#include <algorithm>
#include <utility>
#include <vector>

#include "layerlab/cli/commands.h"

namespace layerlab::cli {
namespace {
std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> commands;
  return commands;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, AddCommand add) {
  registry().emplace_back(order, std::move(add));
}

void add_registered_commands(CLI::App& app) {
  auto& commands = registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, add] : commands) add(app);
}

}  // namespace layerlab::cli
