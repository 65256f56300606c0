#include "layerlab/eval/probes.h"

#include <cstdint>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "layerlab/io/error.h"
#include "layerlab/io/text_file.h"

namespace layerlab {
namespace {

std::string required_string(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw Error(fmt::format("{}: missing \"{}\"", where, key));
  if (!it->is_string()) throw Error(fmt::format("{}: \"{}\" must be a string", where, key));
  return it->get<std::string>();
}

ProbeItem parse_item(const nlohmann::json& j, const std::string& where, size_t line) {
  if (!j.is_object()) throw Error(where + ": each line must be a JSON object");
  ProbeItem item;
  item.id = j.contains("id") ? (j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump())
                             : fmt::format("line {}", line);
  if (j.contains("task")) item.task = required_string(j, "task", where);
  item.prompt = required_string(j, "prompt", where);
  if (!j.contains("answer")) throw Error(where + ": missing \"answer\"");
  const nlohmann::json& answer = j["answer"];
  if (auto it = j.find("choices"); it != j.end()) {
    if (!it->is_array() || it->size() < 2) throw Error(where + ": \"choices\" must be an array of at least 2 strings");
    for (const auto& c : *it) {
      if (!c.is_string()) throw Error(where + ": \"choices\" must be an array of at least 2 strings");
      item.choices.push_back(c.get<std::string>());
    }
    if (answer.is_number_integer()) {
      const int64_t k = answer.get<int64_t>();
      if (k < 0 || k >= static_cast<int64_t>(item.choices.size()))
        throw Error(fmt::format("{}: \"answer\" {} is not a choice index (0-{})", where, k, item.choices.size() - 1));
      item.answer_index = static_cast<int>(k);
    } else if (answer.is_string()) {
      for (size_t k = 0; k < item.choices.size(); ++k)
        if (item.choices[k] == answer.get<std::string>()) item.answer_index = static_cast<int>(k);
      if (item.answer_index < 0) throw Error(where + ": \"answer\" is not one of the choices");
    } else {
      throw Error(where + ": \"answer\" must be a choice index or the text of a choice");
    }
    item.answer = item.choices[static_cast<size_t>(item.answer_index)];
  } else {
    if (!answer.is_string()) throw Error(where + ": \"answer\" must be a string");
    item.answer = answer.get<std::string>();
  }
  return item;
}

}  // namespace

std::string content_digest(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

ProbeSet parse_probes(const std::string& text, const std::string& path) {
  ProbeSet set;
  set.path = path;
  set.digest = content_digest(text);
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string_view raw(text.data() + pos, end - pos);
    pos = end + 1;
    if (raw.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = fmt::format("{}:{}", path, line);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception& e) {
      // The library's message names its own byte position within the line.
      throw Error(fmt::format("{}: not valid JSON ({})", where, e.what()));
    }
    set.items.push_back(parse_item(j, where, line));
  }
  if (set.items.empty()) throw Error(path + ": the probe file has no items");
  return set;
}

ProbeSet read_probe_file(const std::string& path) { return parse_probes(read_whole_file(path, "probe file"), path); }

}  // namespace layerlab
