// End-to-end engine throughput on qwen2.5-0.5b-shaped synthetic models, as efficiencies
// against the machine's own limits measured in the same run:
//   decode efficiency  = weight bytes read per token x tokens/s / triad bandwidth,
//   prefill efficiency = 2 x matrix parameters x tokens/s / FMA peak,
// and the peak resident memory against file size + KV cache + 10%.
//
// Usage: engine_bench [--threads N] [--quick] [TYPE | MODEL.gguf]...
//   TYPE (default Q8_0 Q4_K F16): a synthetic model of that weight type is written to a
//   temporary directory (in a child process, so its memory does not count) and removed after.
//   --quick: prompt of 128 tokens only and one round of 8 generated tokens.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/model/config.h"
#include "layerlab/model/synth.h"
#include "layerlab/runtime/engine.h"
#include "layerlab/tensor/kernels.h"
#include "machine_peaks.h"

using namespace layerlab;
namespace fs = std::filesystem;

namespace {

// A /proc/self/status field in bytes ("VmHWM:" peak resident set, "VmRSS:" current), or -1.
long long status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + std::string(key).size()) * 1024;
  return -1;
}

long long peak_rss_bytes() {
  const long long hwm = status_bytes("VmHWM:");
  if (hwm >= 0) return hwm;
  struct rusage ru {};
  return getrusage(RUSAGE_SELF, &ru) == 0 ? static_cast<long long>(ru.ru_maxrss) * 1024 : -1;
}

// Restarts the VmHWM high-water mark (Linux >= 4.0); false when not possible.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

bool generate(GgmlType type, const std::string& path) {
  const SynthShape* shape = find_synth_shape("qwen2.5-0.5b");
  if (!shape) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    try {
      write_synth_model(*shape, type, 1, path);
      _exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "synth: %s\n", e.what());
      _exit(1);
    }
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool is_matmul_weight(const std::string& name, bool has_output) {
  if (name == "output.weight") return true;
  if (name == "token_embd.weight") return !has_output;  // tied: the embedding is the output matrix
  if (name.rfind("blk.", 0) != 0) return false;
  for (const char* s : {".attn_q.weight", ".attn_k.weight", ".attn_v.weight", ".attn_output.weight",
                        ".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight"})
    if (name.size() > std::string(s).size() && name.compare(name.size() - std::string(s).size(), std::string::npos, s) == 0)
      return true;
  return false;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> d(3, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = d(rng);
  return t;
}

void run_model(const std::string& label, const std::string& path, int threads, bool quick) {
  ThreadPool peaks_pool(threads);
  const double triad = bench::triad_gbs(peaks_pool, 32 << 20);
  const double peak = bench::fma_peak_gflops(peaks_pool);
  const bool hwm_reset = reset_peak_rss();
  const double rss_start = static_cast<double>(status_bytes("VmRSS:"));

  const ModelFile file = read_gguf(path);
  const ModelConfig config = read_model_config(file);
  double weight_bytes = 0, params = 0;
  const bool has_output = file.find_tensor("output.weight") != nullptr;
  for (const auto& t : file.tensors)
    if (is_matmul_weight(t.name, has_output)) {
      weight_bytes += static_cast<double>(t.n_bytes());
      params += static_cast<double>(t.n_elements());
    }
  const int64_t max_prompt = quick ? 128 : 512, n_gen = quick ? 8 : 32;
  const int n_rounds = quick ? 1 : 5;
  EngineOptions opt;
  opt.threads = threads;
  opt.mode = ActivationMode::kGgml;
  opt.n_ctx = std::max<int64_t>(max_prompt, 16 + n_gen * (n_rounds + 1));
  const double rss_file = static_cast<double>(status_bytes("VmRSS:"));
  Engine engine(file, config, opt);
  const double rss_engine = static_cast<double>(status_bytes("VmRSS:"));
  std::mt19937 rng(7);

  std::printf("%s: %s, %.0f MB file, %.0f MB of matrices (%.0f M params) read per token\n", label.c_str(),
              path.c_str(), file.file_bytes() / 1e6, weight_bytes / 1e6, params / 1e6);
  std::printf("  threads %d: triad %.1f GB/s, FMA peak %.1f GFLOP/s\n", threads, triad, peak);
  std::vector<int64_t> prompts = {128};
  if (!quick) prompts.push_back(512);
  for (int64_t n : prompts) {
    const auto toks = random_tokens(n, config.n_vocab, rng);
    const double t = bench::best_time(n <= 128 ? 2 : 1, [&] {
      engine.reset();
      engine.prefill({toks});
    });
    const double gflops = 2.0 * params * static_cast<double>(n) / t / 1e9;
    std::printf("  prefill %4lld tokens: %8.1f tok/s  %6.1f GFLOP/s  efficiency %.2f of FMA peak\n",
                static_cast<long long>(n), static_cast<double>(n) / t, gflops, gflops / peak);
  }
  // Decode in rounds, each between two triad measurements: the bandwidth a neighbour on a
  // shared machine leaves us changes from second to second, so each round's efficiency
  // compares decode with the bandwidth measured around it; the median round is reported.
  engine.reset();
  const Logits* logits = &engine.prefill({random_tokens(16, config.n_vocab, rng)});
  const auto decode_tokens = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const auto row = logits->last(0);
      int32_t best = 0;
      for (size_t k = 1; k < row.size(); ++k)
        if (row[k] > row[static_cast<size_t>(best)]) best = static_cast<int32_t>(k);
      const int32_t tok[1] = {best};
      logits = &engine.decode(tok);
    }
  };
  decode_tokens(n_gen);  // warm-up
  // The peak so far: the triad's arrays, allocated from here on, are not the engine's.
  const double rss = static_cast<double>(peak_rss_bytes());
  std::vector<double> round_tps, round_eff;
  double triad_before = bench::triad_gbs(peaks_pool, 32 << 20, 3);
  for (int round = 0; round < n_rounds; ++round) {
    const double t0 = bench::now_seconds();
    decode_tokens(n_gen);
    const double tps = static_cast<double>(n_gen) / (bench::now_seconds() - t0);
    const double triad_after = bench::triad_gbs(peaks_pool, 32 << 20, 3);
    round_tps.push_back(tps);
    round_eff.push_back(weight_bytes * tps / 1e9 / (0.5 * (triad_before + triad_after)));
    triad_before = triad_after;
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  const double tps = median(round_tps);
  std::printf("  decode  %4lld tokens x %d rounds: median %6.1f tok/s  %6.1f GB/s  efficiency %.2f of the triad "
              "around each round (rounds %.2f .. %.2f)\n",
              static_cast<long long>(n_gen), n_rounds, tps, weight_bytes * tps / 1e9, median(round_eff),
              *std::min_element(round_eff.begin(), round_eff.end()),
              *std::max_element(round_eff.begin(), round_eff.end()));

  // KV cache: F32 K and V per layer for every position held (sized for the positions used).
  const double positions = static_cast<double>(std::max<int64_t>(max_prompt, 16 + n_gen * (n_rounds + 1)));
  const double kv = 4.0 * positions * config.n_layer * config.n_head_kv *
                    static_cast<double>(config.head_dim_k + config.head_dim_v);
  const double limit = 1.1 * (static_cast<double>(file.file_bytes()) + kv);
  std::printf("  RSS before opening the file %.0f MB, after opening it %.0f MB, after building the engine %.0f MB\n",
              rss_start / 1e6, rss_file / 1e6, rss_engine / 1e6);
  std::printf("  peak RSS %.0f MB%s; file + KV (%.0f MB) + 10%% = %.0f MB: %s\n\n", rss / 1e6,
              hwm_reset ? "" : " (high-water mark not reset: includes earlier work)", kv / 1e6, limit / 1e6,
              rss <= limit ? "within" : "OVER");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool quick = false;
  std::vector<std::string> items;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else items.push_back(a);
  }
  if (items.empty()) items = {"Q8_0", "Q4_K", "F16"};
  std::printf("SIMD target: %s, %d threads, mode ggml\n\n", simd_target_name(), threads);
  std::error_code ec;
  for (const auto& item : items) {
    try {
      if (item.size() > 5 && item.substr(item.size() - 5) == ".gguf") {
        run_model(fs::path(item).filename().string(), item, threads, quick);
        continue;
      }
      const auto info = ggml_type_by_name(item);
      if (!info || !is_synth_weight_type(info->type)) {
        std::fprintf(stderr, "not a weight type or .gguf path: %s\n", item.c_str());
        return 2;
      }
      std::string dir_template = (fs::temp_directory_path() / "layerlab-bench-XXXXXX").string();
      if (!mkdtemp(dir_template.data())) {
        std::fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
      }
      const std::string path = dir_template + "/qwen2.5-0.5b-" + item + ".gguf";
      const double g0 = bench::now_seconds();
      const bool ok = generate(info->type, path);
      if (ok) {
        std::printf("[generated %s in %.0f s]\n", path.c_str(), bench::now_seconds() - g0);
        run_model("qwen2.5-0.5b " + item, path, threads, quick);
      }
      fs::remove_all(dir_template, ec);
      if (!ok) {
        std::fprintf(stderr, "could not generate the %s model\n", item.c_str());
        return 1;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", item.c_str(), e.what());
      return 1;
    }
  }
  return 0;
}
