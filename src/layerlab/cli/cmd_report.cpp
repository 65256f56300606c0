// `layerlab report RESULTS.jsonl [-o report.html]`: ranks the configurations of a scan (or an
// eval -o file) by their paired change from the baseline and writes an HTML page with a
// heatmap over block start x block end (or the experts-per-token curve).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "layerlab/cli/commands.h"
#include "layerlab/io/atomic_file.h"
#include "layerlab/io/error.h"
#include "layerlab/report/scan_html.h"
#include "layerlab/scan/scan_log.h"
#include "layerlab/scan/scan_summary.h"

namespace layerlab::cli {
namespace {

struct ReportOptions {
  std::string results;
  std::string out;
  std::string metric;
  int top = 20;
  bool no_html = false;
};

void run_report(const ReportOptions& opt) {
  nlohmann::json header;
  std::vector<ScanRecord> records;
  ScanLog::read(opt.results, header, records);
  const auto rows = summarize_scan(header, records);
  for (const auto& m : rows.front().metrics) {
    if (!opt.metric.empty() && m.name != opt.metric) continue;
    std::printf("ranked by %s (%s), top %d of %zu:\n", m.name.c_str(), m.accuracy ? "accuracy change" : "perplexity ratio",
                opt.top, rows.size());
    std::printf("%s\n", format_scan_table(rows, m.name, opt.top, header.value("sweep", nlohmann::json::object()).value("n_layer", 0)).c_str());
  }
  if (!opt.metric.empty()) format_scan_table(rows, opt.metric, 1);  // an unknown name is an error
  if (opt.no_html) return;
  std::string out = opt.out;
  if (out.empty()) out = std::filesystem::path(opt.results).replace_extension(".html").string();
  const std::string html = scan_report_html(header, rows);
  AtomicFile file(out);
  file.write(html.data(), html.size());
  file.commit();
  std::printf("wrote %s\n", out.c_str());
}

CommandRegistrar registrar(80, [](CLI::App& app) {
  auto opt = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Rank a scan's configurations with confidence intervals and write an HTML heatmap");
  cmd->add_option("results", opt->results, "Results file written by scan or eval -o")->required();
  cmd->add_option("-o,--output", opt->out, "HTML file (default: the results file with .html)");
  cmd->add_option("--metric", opt->metric, "Rank by this metric only (a probe file's or text's name)");
  cmd->add_option("--top", opt->top, "Rows per ranking")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--no-html", opt->no_html, "Only print the rankings");
  cmd->callback([opt] { run_report(*opt); });
});

}  // namespace
}  // namespace layerlab::cli
