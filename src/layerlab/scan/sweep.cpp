#include "layerlab/scan/sweep.h"

#include <algorithm>

#include <fmt/format.h>

#include "layerlab/io/error.h"

namespace layerlab {

std::string_view sweep_kind_name(SweepKind kind) {
  switch (kind) {
    case SweepKind::kDuplicate: return "dup";
    case SweepKind::kDelete: return "del";
    case SweepKind::kExperts: return "experts";
  }
  return "?";
}

int auto_period(const ModelConfig& config) {
  return config.full_attention_interval > 1 ? config.full_attention_interval : 1;
}

namespace {

Plan duplicate_plan(int n_layer, int start, int end, int passes) {
  std::vector<int> layers;
  for (int i = 0; i <= end; ++i) layers.push_back(i);
  for (int p = 0; p < passes; ++p)
    for (int i = start; i <= end; ++i) layers.push_back(i);
  for (int i = end + 1; i < n_layer; ++i) layers.push_back(i);
  return Plan::from_layers(layers);
}

Plan delete_plan(int n_layer, int start, int end) {
  std::vector<int> layers;
  for (int i = 0; i < n_layer; ++i)
    if (i < start || i > end) layers.push_back(i);
  return Plan::from_layers(layers);
}

bool block_has_kind(const ModelConfig& config, int start, int end, MixerKind kind) {
  for (int i = start; i <= end; ++i)
    if (config.layers[static_cast<size_t>(i)].mixer != kind) return false;
  return true;
}

}  // namespace

std::vector<ScanConfig> make_sweep(const ModelConfig& config, const SweepOptions& o) {
  std::vector<ScanConfig> out;
  ScanConfig base;
  base.key = "baseline";
  base.kind = o.kind;
  base.baseline = true;
  base.plan = Plan::identity(config.n_layer);
  out.push_back(base);

  if (o.kind == SweepKind::kExperts) {
    if (config.n_expert <= 0)
      throw Error(fmt::format("--sweep experts: {} has no mixture-of-experts layers", config.arch_name));
    std::vector<int> ks = o.experts;
    if (ks.empty())
      for (int k = 1; k <= config.n_expert; ++k) ks.push_back(k);
    for (int k : ks) {
      if (k < 1 || k > config.n_expert)
        throw Error(fmt::format("--experts: {} is out of range: the model has {} experts", k, config.n_expert));
      ScanConfig c;
      c.key = fmt::format("experts:{}", k);
      c.kind = o.kind;
      c.experts_per_token = k;
      c.plan = base.plan;
      out.push_back(c);
    }
    return out;
  }

  const int n = config.n_layer;
  const int last = o.last_layer < 0 ? n - 1 : o.last_layer;
  if (o.first_layer < 0 || o.first_layer > last || last >= n)
    throw Error(fmt::format("--layers {}-{}: out of range: the model has layers 0-{}", o.first_layer, last, n - 1));
  if (o.period < 0) throw Error("--period must be positive");
  const int period = std::max(1, o.period);
  if (period > 1 && n % period != 0)
    throw Error(fmt::format("--period {}: {} layers are not whole periods", period, n));
  if (o.passes < 1) throw Error("--passes must be at least 1");
  const int max_len = o.max_block > 0 ? o.max_block : n;
  for (int start = o.first_layer; start <= last; ++start) {
    if (start % period != 0) continue;
    for (int end = start; end <= last; ++end) {
      const int len = end - start + 1;
      if (len < o.min_block || len > max_len || len % period != 0) continue;
      if (o.kind == SweepKind::kDelete && len >= n) continue;
      if (o.only_kind && !block_has_kind(config, start, end, *o.only_kind)) continue;
      ScanConfig c;
      c.kind = o.kind;
      c.start = start;
      c.end = end;
      if (o.kind == SweepKind::kDuplicate) {
        c.passes = o.passes;
        c.key = o.passes == 1 ? fmt::format("dup:{},{}", start, end + 1)
                              : fmt::format("dup:{},{},x{}", start, end + 1, o.passes);
        c.plan = duplicate_plan(n, start, end, o.passes);
      } else {
        c.key = len == 1 ? fmt::format("del:{}", start) : fmt::format("del:{}-{}", start, end);
        c.plan = delete_plan(n, start, end);
      }
      out.push_back(std::move(c));
    }
  }
  if (out.size() == 1) throw Error("scan: no block satisfies the restrictions (block sizes, --period, --kind, --layers)");
  return out;
}

}  // namespace layerlab
