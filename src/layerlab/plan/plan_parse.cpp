#include <charconv>
#include <fmt/format.h>

#include "layerlab/plan/plan.h"

namespace layerlab {
namespace {

struct Token {
  std::string_view text;
  size_t column;  // 1-based position in the whole plan text
};

class Parser {
 public:
  Parser(std::string_view text, const PlanLimits& limits) : text_(text), limits_(limits) {}

  [[noreturn]] void fail(const Token& tok, const std::string& problem) const {
    throw PlanError(fmt::format("plan '{}': column {}: '{}': {}", text_, tok.column, tok.text, problem));
  }

  // Splits `body` (starting at absolute offset `base`) on commas; empty items are errors.
  std::vector<Token> split(std::string_view body, size_t base) const {
    std::vector<Token> out;
    size_t start = 0;
    while (true) {
      size_t comma = body.find(',', start);
      std::string_view item = body.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      Token tok{trim(item), base + start + leading_space(item) + 1};
      if (tok.text.empty()) fail(Token{item, base + start + 1}, "empty item");
      out.push_back(tok);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return out;
  }

  int number(const Token& tok, std::string_view s) const {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0)
      fail(tok, "expected a non-negative layer number");
    return v;
  }

  // "A" or "A-B" (inclusive, A <= B).
  std::pair<int, int> range(const Token& tok, std::string_view s) const {
    size_t dash = s.find('-');
    if (dash == std::string_view::npos) {
      int v = number(tok, s);
      return {v, v};
    }
    int a = number(tok, s.substr(0, dash)), b = number(tok, s.substr(dash + 1));
    if (b < a) fail(tok, "range end is before its start");
    return {a, b};
  }

  void check_layer(const Token& tok, int model, int layer) const {
    int n = model == 0 ? limits_.host_layers : limits_.donor_layers[static_cast<size_t>(model - 1)];
    if (layer >= n)
      fail(tok, fmt::format("layer {} is out of range: {} has layers 0-{}", layer,
                            model == 0 ? std::string("the model") : fmt::format("donor{}", model), n - 1));
  }

  Plan parse() {
    std::string_view t = trim(text_);
    size_t base = static_cast<size_t>(t.data() - text_.data());
    if (t.empty()) fail(Token{text_, 1}, "the plan is empty");
    if (t == "all" || t == "identity") return Plan::identity(limits_.host_layers);
    if (t.starts_with("dup:")) return parse_dup(t.substr(4), base + 4);
    if (t.starts_with("del:")) return parse_del(t.substr(4), base + 4);
    return parse_explicit(t, base);
  }

 private:
  Plan parse_dup(std::string_view body, size_t base) {
    auto items = split(body, base);
    if (items.size() < 2 || items.size() > 3) fail(Token{text_, 1}, "dup takes I,J or I,J,xK");
    int i = number(items[0], items[0].text), j = number(items[1], items[1].text);
    int extra = 1;
    if (items.size() == 3) {
      const Token& k = items[2];
      if (k.text.size() < 2 || k.text[0] != 'x') fail(k, "expected xK (extra passes), e.g. x2");
      extra = number(k, k.text.substr(1));
      if (extra < 1) fail(k, "the number of extra passes must be at least 1");
      if (extra > 64) fail(k, "more than 64 extra passes");
    }
    int n = limits_.host_layers;
    if (j <= i) fail(items[1], "J must be greater than I (the block is layers I..J-1)");
    if (j > n) fail(items[1], fmt::format("J must be at most the layer count {}", n));
    Plan plan;
    for (int l = 0; l < j; ++l) plan.slots.push_back({0, l, 0});
    for (int rep = 0; rep < extra; ++rep)
      for (int l = i; l < j; ++l) plan.slots.push_back({0, l, 0});
    for (int l = j; l < n; ++l) plan.slots.push_back({0, l, 0});
    assign_passes(plan);
    return plan;
  }

  Plan parse_del(std::string_view body, size_t base) {
    int n = limits_.host_layers;
    std::vector<bool> keep(static_cast<size_t>(n), true);
    for (const Token& tok : split(body, base)) {
      auto [a, b] = range(tok, tok.text);
      check_layer(tok, 0, b);
      for (int l = a; l <= b; ++l) {
        if (!keep[static_cast<size_t>(l)]) fail(tok, fmt::format("layer {} is deleted twice", l));
        keep[static_cast<size_t>(l)] = false;
      }
    }
    Plan plan;
    for (int l = 0; l < n; ++l)
      if (keep[static_cast<size_t>(l)]) plan.slots.push_back({0, l, 0});
    if (plan.slots.empty()) fail(Token{text_, 1}, "deleting every layer leaves an empty plan");
    return plan;
  }

  Plan parse_explicit(std::string_view body, size_t base) {
    Plan plan;
    for (const Token& tok : split(body, base)) {
      std::string_view s = tok.text;
      int model = 0;
      size_t colon = s.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = s.substr(0, colon);
        if (!name.starts_with("donor")) fail(tok, "expected a layer range or donorK:range");
        std::string_view k = name.substr(5);
        model = k.empty() ? 1 : number(tok, k);
        if (model < 1) fail(tok, "donors are numbered from 1");
        if (static_cast<size_t>(model) > limits_.donor_layers.size())
          fail(tok, limits_.donor_layers.empty() ? "the plan names a donor but no --donor was given"
                                                 : fmt::format("only {} donor(s) were given", limits_.donor_layers.size()));
        s = s.substr(colon + 1);
      }
      auto [a, b] = range(tok, s);
      check_layer(tok, model, b);
      for (int l = a; l <= b; ++l) plan.slots.push_back({model, l, 0});
    }
    assign_passes(plan);
    return plan;
  }

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  }
  static size_t leading_space(std::string_view s) {
    size_t k = 0;
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
    return k;
  }

  std::string_view text_;
  const PlanLimits& limits_;
};

}  // namespace

Plan parse_plan(std::string_view text, const PlanLimits& limits) {
  if (limits.host_layers <= 0) throw PlanError("plan: the model has no decoder layers");
  return Parser(text, limits).parse();
}

}  // namespace layerlab
