#include "layerlab/plan/mergekit.h"

#include <cctype>
#include <charconv>
#include <fmt/format.h>

namespace layerlab {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string unquote(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  return std::string(s);
}

std::string quote_if_needed(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' || c == '-')) plain = false;
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string plan_to_mergekit_yaml(const Plan& plan, const std::vector<std::string>& model_names) {
  std::string out = fmt::format("# layerlab plan: {}\nslices:\n", plan.to_string());
  size_t i = 0;
  while (i < plan.slots.size()) {
    size_t j = i;
    while (j + 1 < plan.slots.size() && plan.slots[j + 1].model == plan.slots[i].model &&
           plan.slots[j + 1].layer == plan.slots[j].layer + 1)
      ++j;
    size_t m = static_cast<size_t>(plan.slots[i].model);
    std::string name = m < model_names.size() ? model_names[m] : fmt::format("donor{}", m);
    out += fmt::format("  - sources:\n      - model: {}\n        layer_range: [{}, {}]\n", quote_if_needed(name),
                       plan.slots[i].layer, plan.slots[j].layer + 1);
    i = j + 1;
  }
  out += "merge_method: passthrough\n";
  return out;
}

MergekitPlan plan_from_mergekit_yaml(std::string_view yaml, const std::string& host_name) {
  MergekitPlan result;
  if (!host_name.empty()) result.model_names.push_back(host_name);
  struct Source {
    std::string model;
    int start = -1, end = -1;
    int line = 0;
    int count = 0;
  } cur;
  bool in_slice = false;
  auto fail = [](int line, const std::string& problem) -> PlanError {
    return PlanError(fmt::format("mergekit YAML: line {}: {}", line, problem));
  };
  auto finish = [&](int line) {
    if (!in_slice) return;
    if (cur.count == 0 && !cur.model.empty()) cur.count = 1;
    if (cur.count == 0) throw fail(cur.line, "a slice has no source");
    if (cur.count > 1) throw fail(cur.line, "a passthrough slice must have exactly one source");
    if (cur.model.empty()) throw fail(cur.line, "a source has no model");
    if (cur.start < 0) throw fail(cur.line, "a source has no layer_range");
    int index = -1;
    for (size_t k = 0; k < result.model_names.size(); ++k)
      if (result.model_names[k] == cur.model) index = static_cast<int>(k);
    if (index < 0) {
      index = static_cast<int>(result.model_names.size());
      result.model_names.push_back(cur.model);
    }
    for (int l = cur.start; l < cur.end; ++l) result.plan.slots.push_back({index, l, 0});
    cur = Source{};
    in_slice = false;
    (void)line;
  };

  int line_no = 0;
  size_t pos = 0;
  bool seen_slices = false;
  while (pos <= yaml.size()) {
    size_t nl = yaml.find('\n', pos);
    std::string_view line = yaml.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? yaml.size() + 1 : nl + 1;
    ++line_no;
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    std::string_view s = trim(line);
    bool dash = false;
    while (!s.empty() && s.front() == '-') {
      dash = true;
      s = trim(s.substr(1));
    }
    if (s.empty()) continue;
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) throw fail(line_no, fmt::format("expected 'key: value', got '{}'", s));
    std::string_view key = trim(s.substr(0, colon)), value = trim(s.substr(colon + 1));
    if (key == "slices") {
      seen_slices = true;
    } else if (key == "sources") {
      finish(line_no);
      in_slice = true;
      cur.line = line_no;
    } else if (key == "model") {
      if (!in_slice) throw fail(line_no, "'model' outside a slice's sources");
      if (dash) ++cur.count;
      if (!cur.model.empty() && !dash) throw fail(line_no, "a source names two models");
      cur.model = unquote(value);
    } else if (key == "layer_range") {
      if (!in_slice) throw fail(line_no, "'layer_range' outside a slice's sources");
      if (dash) ++cur.count;
      if (value.size() < 2 || value.front() != '[' || value.back() != ']')
        throw fail(line_no, "layer_range must be [start, end]");
      std::string_view inner = value.substr(1, value.size() - 2);
      size_t comma = inner.find(',');
      if (comma == std::string_view::npos) throw fail(line_no, "layer_range must be [start, end]");
      auto parse_int = [&](std::string_view v) {
        v = trim(v);
        int x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size() || x < 0)
          throw fail(line_no, fmt::format("'{}' is not a layer number", v));
        return x;
      };
      cur.start = parse_int(inner.substr(0, comma));
      cur.end = parse_int(inner.substr(comma + 1));
      if (cur.end <= cur.start) throw fail(line_no, "layer_range end must be greater than its start (half-open)");
      if (cur.end - cur.start > 100000) throw fail(line_no, "layer_range is implausibly long");
    } else if (key == "merge_method") {
      if (unquote(value) != "passthrough")
        throw fail(line_no, fmt::format("merge_method '{}' is not a layer plan (only passthrough is)", unquote(value)));
    }
    // Other keys (dtype, tokenizer_source, parameters, ...) do not affect the plan.
  }
  finish(line_no);
  if (!seen_slices) throw fail(1, "no 'slices:' list");
  if (result.plan.slots.empty()) throw fail(1, "the slices name no layers");
  // Order so that the host is model 0 even when no host name was given: the first named model.
  assign_passes(result.plan);
  return result;
}

}  // namespace layerlab
