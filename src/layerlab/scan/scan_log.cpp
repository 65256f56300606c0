#include "layerlab/scan/scan_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "layerlab/io/atomic_file.h"
#include "layerlab/io/error.h"
#include "layerlab/io/text_file.h"

namespace layerlab {
namespace {

constexpr const char* kMagic = "layerlab_scan";

// Fields compared on resume; the rest of the header (sweep settings, date) may differ, since
// resuming with a changed sweep simply runs the configurations not yet stored.
nlohmann::json identity(const nlohmann::json& header) {
  nlohmann::json id;
  for (const char* k : {kMagic, "model", "model_bytes", "mode"})
    if (header.contains(k)) id[k] = header[k];
  nlohmann::json ms = nlohmann::json::array();
  if (header.contains("metrics"))
    for (const auto& m : header["metrics"])
      ms.push_back({{"name", m.value("name", "")}, {"kind", m.value("kind", "")},
                    {"digest", m.value("digest", "")}, {"n_items", m.value("n_items", 0)}});
  id["metrics"] = ms;
  return id;
}

ScanRecord record_from(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("key") || !j["key"].is_string() || !j.contains("scores") ||
      !j["scores"].is_object())
    throw Error(where + ": not a scan record (needs \"key\" and \"scores\")");
  ScanRecord r;
  r.key = j["key"].get<std::string>();
  for (const auto& [name, values] : j["scores"].items()) {
    if (!values.is_array()) throw Error(where + ": scores of '" + name + "' are not an array");
    std::vector<double> v;
    for (const auto& x : values) {
      if (!x.is_number()) throw Error(where + ": scores of '" + name + "' hold a non-number");
      v.push_back(x.get<double>());
    }
    r.scores[name] = std::move(v);
  }
  r.line = j;
  return r;
}

// Parses the file; `good_bytes` is the length of its complete, valid prefix.
void parse_log(const std::string& path, const std::string& text, nlohmann::json& header,
               std::vector<ScanRecord>& records, size_t& good_bytes) {
  size_t pos = 0, line_no = 0;
  good_bytes = 0;
  bool have_header = false;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    ++line_no;
    const std::string where = fmt::format("{}:{}", path, line_no);
    if (nl == std::string::npos) break;  // torn last line: ignored
    const std::string_view raw(text.data() + pos, nl - pos);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception&) {
      if (nl + 1 >= text.size()) break;  // a torn last line that happens to end in '\n'
      throw Error(where + ": not valid JSON (the results file is damaged)");
    }
    if (!have_header) {
      if (!j.is_object() || !j.contains(kMagic)) throw Error(where + ": not a layerlab scan results file");
      header = j;
      have_header = true;
    } else {
      records.push_back(record_from(j, where));
    }
    pos = nl + 1;
    good_bytes = pos;
  }
  if (!have_header) throw Error(path + ": not a layerlab scan results file (no header line)");
}

}  // namespace

nlohmann::json scan_header(const std::string& model_path, uint64_t model_bytes, const std::string& mode,
                           const std::vector<MetricInfo>& metrics, const nlohmann::json& sweep) {
  nlohmann::json h;
  h[kMagic] = 1;
  h["model"] = std::filesystem::path(model_path).filename().string();
  h["model_path"] = model_path;
  h["model_bytes"] = model_bytes;
  h["mode"] = mode;
  nlohmann::json ms = nlohmann::json::array();
  for (const MetricInfo& m : metrics)
    ms.push_back({{"name", m.name},
                  {"kind", m.kind == MetricKind::kAccuracy ? "accuracy" : "nll"},
                  {"source", m.source},
                  {"digest", m.digest},
                  {"n_items", m.item_ids.size()},
                  {"item_ids", m.item_ids},
                  {"item_tasks", m.item_tasks}});
  h["metrics"] = ms;
  h["sweep"] = sweep;
  return h;
}

nlohmann::json scan_record_line(const ScanConfig& c, const std::vector<MetricInfo>& metrics,
                                const std::vector<MetricScores>& scores, double seconds) {
  nlohmann::json j;
  j["key"] = c.key;
  j["kind"] = c.baseline ? "baseline" : std::string(sweep_kind_name(c.kind));
  if (c.start >= 0) {
    j["start"] = c.start;
    j["end"] = c.end;
  }
  if (c.passes > 0) j["passes"] = c.passes;
  if (c.experts_per_token > 0) j["experts_per_token"] = c.experts_per_token;
  j["plan"] = c.plan.slots.empty() ? "all" : c.plan.to_string();
  j["slots"] = c.plan.slots.size();
  j["seconds"] = std::round(seconds * 1000) / 1000;
  nlohmann::json s = nlohmann::json::object(), out = nlohmann::json::object(), tokens = nlohmann::json::object();
  for (size_t m = 0; m < metrics.size(); ++m) {
    s[metrics[m].name] = scores[m].items;
    if (!scores[m].outputs.empty()) out[metrics[m].name] = scores[m].outputs;
    if (!scores[m].tokens.empty()) tokens[metrics[m].name] = scores[m].tokens;
  }
  j["scores"] = s;
  if (!out.empty()) j["outputs"] = out;
  if (!tokens.empty()) j["tokens"] = tokens;
  return j;
}

ScanLog::ScanLog(const std::string& path, const nlohmann::json& header, bool restart) : path_(path) {
  namespace fs = std::filesystem;
  if (!restart && fs::exists(path)) {
    nlohmann::json old;
    size_t good = 0;
    parse_log(path, read_whole_file(path, "scan results file"), old, records_, good);
    if (identity(old) != identity(header))
      throw Error(path + ": holds results of a different scan (model, mode or probes differ); "
                         "give another -o file, or --restart to replace it");
    if (good != fs::file_size(path)) {
      // Cut a torn last line left by a crash, so the next append starts on a fresh line.
      if (::truncate(path.c_str(), static_cast<off_t>(good)) != 0)
        throw Error(fmt::format("{}: cannot cut the incomplete last line: {}", path, std::strerror(errno)));
    }
  } else {
    AtomicFile out(path);
    const std::string line = header.dump() + "\n";
    out.write(line.data(), line.size());
    out.commit();
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) throw Error(fmt::format("{}: cannot open for appending: {}", path, std::strerror(errno)));
}

ScanLog::~ScanLog() {
  if (file_) std::fclose(file_);
}

const ScanRecord* ScanLog::find(const std::string& key) const {
  for (const auto& r : records_)
    if (r.key == key) return &r;
  return nullptr;
}

void ScanLog::append(const nlohmann::json& line) {
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0 ||
      ::fsync(fileno(file_)) != 0)
    throw Error(fmt::format("{}: cannot write results: {}", path_, std::strerror(errno)));
  records_.push_back(record_from(line, path_));
}

void ScanLog::read(const std::string& path, nlohmann::json& header, std::vector<ScanRecord>& records) {
  size_t good = 0;
  parse_log(path, read_whole_file(path, "scan results file"), header, records, good);
}

}  // namespace layerlab
