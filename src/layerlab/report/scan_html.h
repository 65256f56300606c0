// A scan's results as one self-contained HTML page (no scripts or files fetched from anywhere):
// per metric, a heatmap of the paired change from the baseline over (block start, block end)
// for duplication and deletion sweeps, or a curve with confidence bars for an experts sweep,
// then the full table with 95% intervals.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layerlab/scan/scan_summary.h"

namespace layerlab {

std::string scan_report_html(const nlohmann::json& header, const std::vector<ConfigSummary>& rows);

}  // namespace layerlab
