#include "layerlab/io/safetensors_writer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "layerlab/io/atomic_file.h"
#include "layerlab/io/error.h"
#include "layerlab/io/metadata_json.h"
#include "layerlab/io/safetensors_reader.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw Error(path_ + ": cannot create: " + std::strerror(errno));
  }
  ~OutFile() {
    if (file_) std::fclose(file_);
  }
  void write(const void* data, size_t size) {
    if (size && std::fwrite(data, 1, size, file_) != size) throw Error(path_ + ": write failed: " + std::strerror(errno));
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  void close() {
    const bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) throw Error(path_ + ": write failed: " + std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

void write_text(const std::string& path, const std::string& text) {
  OutFile f(path);
  f.write(text);
  f.close();
}

// Removes the temporary directory unless the write completed.
struct TempDirGuard {
  std::string path;
  bool keep = false;
  ~TempDirGuard() {
    if (!keep && !path.empty()) remove_tree_quietly(path);
  }
};

std::string make_temp_dir(const fs::path& parent, const std::string& name, const char* tag) {
  std::string pattern = (parent / ("." + name + tag + "XXXXXX")).string();
  if (!::mkdtemp(pattern.data()))
    throw Error(fmt::format("{}: cannot create a temporary directory: {}", (parent / name).string(), std::strerror(errno)));
  return pattern;
}

std::vector<std::vector<const HfTensor*>> plan_shards(const std::vector<HfTensor>& tensors, uint64_t max_bytes) {
  std::vector<std::vector<const HfTensor*>> shards(1);
  uint64_t used = 0;
  for (const auto& t : tensors) {
    if (max_bytes && used > 0 && used + t.data.size() > max_bytes) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(&t);
    used += t.data.size();
  }
  return shards;
}

}  // namespace

void write_safetensors_file(const std::string& path, const std::vector<HfTensor>& tensors,
                            const std::map<std::string, std::string>& header_metadata) {
  json header = json::object();
  if (!header_metadata.empty()) header["__metadata__"] = header_metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    auto dtype = ggml_to_safetensors_dtype(t.type);
    if (!dtype) throw Error(fmt::format("tensor '{}': type {} has no safetensors dtype", t.name, ggml_type_name(t.type)));
    if (header.contains(t.name)) throw Error(fmt::format("tensor '{}' would be written twice", t.name));
    header[t.name] = {{"dtype", std::string(*dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  // Trailing spaces are allowed in the header; they make the data buffer 32-byte aligned.
  text.append((32 - (8 + text.size()) % 32) % 32, ' ');
  uint8_t len[8];
  for (int k = 0; k < 8; ++k) len[k] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * k));
  OutFile f(path);
  f.write(len, 8);
  f.write(text);
  for (const auto& t : tensors) f.write(t.data.data(), t.data.size());
  f.close();
}

std::vector<std::string> write_safetensors(const ModelFile& model, const std::string& dir,
                                           const SafetensorsWriteOptions& options) {
  // Convert first: refusals (quantized tensors, unknown arch) happen before any file exists.
  HfCheckpoint ckpt = canonical_to_hf(model, options.dequantize);

  fs::path target = fs::path(dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string name = target.filename().string();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) throw Error(target.string() + ": exists and is not a directory");
    if (!fs::is_empty(target, ec) && !fs::exists(target / "config.json", ec))
      throw Error(target.string() + ": directory exists and is not a model checkpoint; refusing to replace it");
  }

  TempDirGuard tmp{make_temp_dir(parent, name, ".tmp-")};
  const fs::path tmp_dir(tmp.path);
  std::vector<std::string> names;

  write_text((tmp_dir / "config.json").string(), ckpt.config.dump(2) + "\n");
  names.push_back("config.json");
  // Dequantized tensors are F32 now: general.file_type must not keep claiming a quantized type.
  ModelFile meta_only;
  meta_only.gguf_version = model.gguf_version;
  meta_only.alignment = model.alignment;
  meta_only.metadata = model.metadata;
  bool dequantized = false;
  for (const auto& t : model.tensors) dequantized |= !ggml_to_safetensors_dtype(t.type).has_value();
  if (const Value* ft = model.metadata.find("general.file_type"); dequantized && ft && ft->is_integer()) {
    Value f32 = *ft;
    f32.u = 0;  // LLAMA_FTYPE_ALL_F32
    f32.i = 0;
    meta_only.metadata.set("general.file_type", f32);
  }
  write_text((tmp_dir / kGgufMetadataFile).string(), metadata_to_json(meta_only).dump(1) + "\n");
  names.push_back(kGgufMetadataFile);

  const std::map<std::string, std::string> st_meta = {{"format", "pt"}};
  auto shards = plan_shards(ckpt.tensors, options.max_shard_bytes);
  if (shards.size() == 1) {
    write_safetensors_file((tmp_dir / "model.safetensors").string(), ckpt.tensors, st_meta);
    names.push_back("model.safetensors");
  } else {
    json weight_map = json::object();
    uint64_t total = 0;
    for (size_t k = 0; k < shards.size(); ++k) {
      const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, shards.size());
      std::vector<HfTensor> part;
      for (const HfTensor* t : shards[k]) {
        part.push_back(*t);
        weight_map[t->name] = file;
        total += t->data.size();
      }
      write_safetensors_file((tmp_dir / file).string(), part, st_meta);
      names.push_back(file);
    }
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text((tmp_dir / "model.safetensors.index.json").string(), index.dump(2) + "\n");
    names.push_back("model.safetensors.index.json");
  }

  // Swap into place: an old checkpoint is moved aside first and removed after the rename.
  std::string old;
  if (fs::exists(target, ec)) {
    old = make_temp_dir(parent, name, ".old-");
    fs::remove(old, ec);
    if (std::rename(target.c_str(), old.c_str()) != 0)
      throw Error(target.string() + ": cannot move the existing directory aside: " + std::strerror(errno));
  }
  if (std::rename(tmp.path.c_str(), target.c_str()) != 0) {
    const int err = errno;
    if (!old.empty()) std::rename(old.c_str(), target.c_str());
    throw Error(target.string() + ": cannot rename into place: " + std::strerror(err));
  }
  tmp.keep = true;
  if (!old.empty()) remove_tree_quietly(old);

  std::vector<std::string> files;
  for (const auto& n : names) files.push_back((target / n).string());
  return files;
}

}  // namespace layerlab
