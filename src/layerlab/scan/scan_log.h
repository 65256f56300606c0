// A scan's results file: JSON Lines, a header line describing the model and the workloads,
// then one line per finished configuration with every item's score. Lines are appended and
// synced one configuration at a time, so a scan stopped by Ctrl-C or a crash loses at most the
// configuration it was running; opening the file again resumes after the last complete line
// (a torn last line is cut off). See docs/scan.md for the format.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/eval/evaluator.h"
#include "layerlab/scan/sweep.h"

namespace layerlab {

// One finished configuration as stored.
struct ScanRecord {
  std::string key;
  nlohmann::json line;  // the whole stored object
  // Per metric name: every item's score.
  std::map<std::string, std::vector<double>> scores;
};

class ScanLog {
 public:
  // Opens `path` for the scan described by `header` (model, workloads, mode). A missing file is
  // created with the header (written to a temporary file and renamed). An existing file must
  // have an equal header, else Error says what differs (use another file or --restart);
  // `restart` replaces it instead.
  ScanLog(const std::string& path, const nlohmann::json& header, bool restart);
  ~ScanLog();
  ScanLog(const ScanLog&) = delete;
  ScanLog& operator=(const ScanLog&) = delete;

  const std::vector<ScanRecord>& records() const { return records_; }
  const ScanRecord* find(const std::string& key) const;
  // Appends one configuration's line and syncs it to disk.
  void append(const nlohmann::json& line);
  const std::string& path() const { return path_; }

  // Reads a finished or partial log (for reports): header and records; a torn last line is ignored.
  static void read(const std::string& path, nlohmann::json& header, std::vector<ScanRecord>& records);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<ScanRecord> records_;
};

// The header fields that must match for a resume: model (path, size), mode, workloads
// (names, kinds, sources' digests, item counts).
nlohmann::json scan_header(const std::string& model_path, uint64_t model_bytes, const std::string& mode,
                           const std::vector<MetricInfo>& metrics, const nlohmann::json& sweep);
// One configuration's stored line.
nlohmann::json scan_record_line(const ScanConfig& config, const std::vector<MetricInfo>& metrics,
                                const std::vector<MetricScores>& scores, double seconds);

}  // namespace layerlab
