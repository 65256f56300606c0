#include "layerlab/report/scan_html.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace layerlab {
namespace {

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Diverging colour for a gain in [-scale, scale]: red for worse, blue for better, white at 0.
std::string gain_colour(double gain, double scale) {
  const double t = scale > 0 ? std::clamp(gain / scale, -1.0, 1.0) : 0.0;
  const int fade = static_cast<int>(std::lround(255 * (1 - std::abs(t))));
  return t < 0 ? fmt::format("rgb(255,{},{})", fade, fade) : fmt::format("rgb({},{},255)", fade, fade);
}

std::string heatmap(const std::vector<ConfigSummary>& rows, size_t m, int n_layer) {
  int max_layer = 0;
  double scale = 0;
  for (const auto& r : rows)
    if (r.start >= 0) {
      max_layer = std::max(max_layer, r.end);
      scale = std::max(scale, std::abs(r.metrics[m].gain()));
    }
  const int n = std::max(n_layer, max_layer + 1);
  const int cell = n > 40 ? 14 : 28, left = 60, top = 40;
  const int size = n * cell;
  std::string svg = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-size='10'>",
                                left + size + 20, top + size + 40);
  svg += fmt::format("<text x='{}' y='14' text-anchor='middle'>block end (layer)</text>", left + size / 2);
  svg += fmt::format("<text x='12' y='{}' transform='rotate(-90 12 {})' text-anchor='middle'>block start (layer)</text>",
                     top + size / 2, top + size / 2);
  for (int i = 0; i < n; ++i) {
    if (n <= 40 || i % 5 == 0) {
      svg += fmt::format("<text x='{}' y='{}' text-anchor='middle'>{}</text>", left + i * cell + cell / 2, top - 6, i);
      svg += fmt::format("<text x='{}' y='{}' text-anchor='end'>{}</text>", left - 4, top + i * cell + cell / 2 + 3, i);
    }
  }
  for (const auto& r : rows) {
    if (r.start < 0) continue;
    const MetricSummary& s = r.metrics[m];
    const int x = left + r.end * cell, y = top + r.start * cell;
    svg += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='{}' stroke='{}' stroke-width='{}'>", x, y, cell,
                       cell, gain_colour(s.gain(), scale), s.significant() ? "#000" : "#ccc",
                       s.significant() ? 1.5 : 0.5);
    svg += fmt::format("<title>{} (layers {}-{}, depth {}): {}  change {}</title></rect>", escape(r.key), r.start, r.end,
                       block_depth(r.start, r.end, n_layer), escape(format_value(s)), escape(format_delta(s)));
  }
  svg += fmt::format("<text x='{}' y='{}'>red: worse than the baseline, blue: better (full colour = {:.3g}); "
                     "black border: 95% interval excludes 0; hover for values</text>",
                     left, top + size + 24, scale);
  return svg + "</svg>";
}

std::string experts_curve(const std::vector<ConfigSummary>& rows, size_t m, int trained_k) {
  std::vector<const ConfigSummary*> pts;
  double lo = 1e300, hi = -1e300;
  int kmax = 1;
  for (const auto& r : rows)
    if (r.experts_per_token > 0) {
      pts.push_back(&r);
      const auto& v = r.metrics[m].value;
      const bool acc = r.metrics[m].accuracy;
      lo = std::min(lo, acc ? v.lo : std::exp(v.mean));
      hi = std::max(hi, acc ? v.hi : std::exp(v.mean));
      kmax = std::max(kmax, r.experts_per_token);
    }
  if (pts.empty()) return "";
  if (hi <= lo) hi = lo + 1;
  const int w = 560, h = 300, left = 60, top = 20;
  const auto px = [&](double k) { return left + (k - 1) / std::max(1, kmax - 1) * w; };
  const auto py = [&](double v) { return top + h - (v - lo) / (hi - lo) * h; };
  std::string svg = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-size='10'>",
                                left + w + 30, top + h + 50);
  svg += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#999'/>", left, top, w, h);
  std::string path;
  for (const ConfigSummary* r : pts) {
    const auto& s = r->metrics[m];
    const double k = r->experts_per_token;
    const double v = s.accuracy ? s.value.mean : std::exp(s.value.mean);
    path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px(k), py(v));
    if (s.accuracy)
      svg += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1:.1f}' y2='{2:.1f}' stroke='#69c'/>", px(k), py(s.value.lo),
                         py(s.value.hi));
    svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3.5' fill='{}'><title>{}: {}  change {}</title></circle>", px(k),
                       py(v), s.significant() ? "#c33" : "#333", escape(r->key), escape(format_value(s)),
                       escape(format_delta(s)));
    svg += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{}</text>", px(k), top + h + 14, r->experts_per_token);
  }
  svg += fmt::format("<path d='{}' fill='none' stroke='#333'/>", path);
  if (trained_k > 0)
    svg += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1}' y2='{2}' stroke='#3a3' stroke-dasharray='4'/>"
                       "<text x='{0:.1f}' y='{3}' fill='#3a3'>trained k</text>",
                       px(trained_k), top, top + h, top + 10);
  svg += fmt::format("<text x='{}' y='{}' text-anchor='middle'>experts per token</text>", left + w / 2, top + h + 32);
  svg += fmt::format("<text x='4' y='{}'>{:.4g}</text><text x='4' y='{}'>{:.4g}</text>", top + 8, hi, top + h, lo);
  return svg + "</svg>";
}

}  // namespace

std::string scan_report_html(const nlohmann::json& header, const std::vector<ConfigSummary>& rows) {
  const nlohmann::json sweep = header.value("sweep", nlohmann::json::object());
  const int n_layer = sweep.value("n_layer", 0);
  const int trained_k = sweep.value("trained_experts_per_token", 0);
  std::string html =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>layerlab scan: " +
      escape(header.value("model", "")) +
      "</title><style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}"
      "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}"
      ".sig{font-weight:bold}</style></head><body>";
  html += fmt::format("<h1>layerlab scan: {}</h1><p>sweep <b>{}</b>, {} configurations, mode {}; model {} ({} bytes)</p>",
                      escape(header.value("model", "")), escape(sweep.value("kind", "?")), rows.size(),
                      escape(header.value("mode", "")), escape(header.value("model_path", "")),
                      header.value("model_bytes", 0ull));
  for (size_t m = 0; m < header["metrics"].size() && !rows.empty(); ++m) {
    const auto& meta = header["metrics"][m];
    const bool acc = meta.value("kind", "") == "accuracy";
    html += fmt::format("<h2>{} <small>({}, {} items, {})</small></h2>", escape(meta.value("name", "")),
                        acc ? "accuracy" : "perplexity", meta.value("n_items", 0), escape(meta.value("source", "")));
    html += fmt::format("<p>baseline: {}</p>", escape(format_value(rows.front().metrics[m])));
    const bool blocks = std::any_of(rows.begin(), rows.end(), [](const ConfigSummary& r) { return r.start >= 0; });
    html += blocks ? heatmap(rows, m, n_layer) : experts_curve(rows, m, trained_k);
  }
  html += "<h2>All configurations</h2><table><tr><th>configuration</th><th>depth</th><th>slots</th>";
  for (const auto& meta : header["metrics"])
    html += fmt::format("<th>{0}</th><th>{0}: change (95% CI)</th>", escape(meta.value("name", "")));
  html += "</tr>";
  for (const auto& r : rows) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td>", escape(r.key), block_depth(r.start, r.end, n_layer), r.slots);
    for (const auto& s : r.metrics)
      html += fmt::format("<td>{}</td><td class='{}'>{}</td>", escape(format_value(s)), s.significant() ? "sig" : "",
                          r.kind == "baseline" ? "" : escape(format_delta(s)));
    html += "</tr>";
  }
  html += "</table><p>Changes are paired differences from the baseline over the same items, with Student-t 95% "
          "intervals; perplexity changes are ratios. Bold: the interval excludes no change.</p></body></html>\n";
  return html;
}

}  // namespace layerlab
