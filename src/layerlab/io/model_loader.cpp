#include "layerlab/io/model_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "layerlab/io/error.h"
#include "layerlab/io/gguf_reader.h"
#include "layerlab/io/hf_mapping.h"
#include "layerlab/io/llama2c_import.h"
#include "layerlab/io/mapped_file.h"
#include "layerlab/io/metadata_json.h"
#include "layerlab/io/safetensors_reader.h"
#include "layerlab/io/safetensors_writer.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kIndexFile = "model.safetensors.index.json";

json read_json_file(const std::string& path) {
  MappedFile f(path);
  if (f.size() > kMaxSafetensorsHeaderBytes) throw FormatError(path, 0, "JSON file is unreasonably large");
  std::string_view text(reinterpret_cast<const char*>(f.data()), f.size());
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw FormatError(path, e.byte > 0 ? e.byte - 1 : 0, "not valid JSON");
  } catch (const json::exception& e) {
    throw FormatError(path, 0, std::string("not usable JSON: ") + e.what());
  }
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

bool index_lists_file(const fs::path& index, const std::string& file_name) {
  try {
    json j = read_json_file(index.string());
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) return false;
    for (const auto& [_, shard] : j["weight_map"].items())
      if (shard.is_string() && shard.get<std::string>() == file_name) return true;
  } catch (const Error&) {
  }
  return false;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ModelFile read_safetensors_model(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  fs::path dir;
  std::optional<fs::path> index;
  std::vector<std::string> files;
  const std::string name = p.filename().string();
  if (fs::is_directory(p, ec)) {
    dir = p;
  } else if (ends_with(name, ".index.json")) {
    dir = p.parent_path();
    index = p;
  } else if (name == "config.json") {
    dir = p.parent_path();
  } else {
    dir = p.parent_path();
    if (fs::exists(dir / kIndexFile, ec) && index_lists_file(dir / kIndexFile, name)) index = dir / kIndexFile;
    else files.push_back(p.string());
  }
  if (dir.empty()) dir = ".";
  if (!index && files.empty()) {
    if (fs::exists(dir / kIndexFile, ec)) {
      index = dir / kIndexFile;
    } else {
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      if (files.empty()) throw Error(dir.string() + ": no .safetensors files in the checkpoint directory");
    }
  }
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path, ec))
    throw Error(fmt::format("{}: no config.json next to the safetensors weights", dir.string()));
  const json config = read_json_file(config_path.string());

  SafetensorsSet raw = index ? read_safetensors_index(index->string()) : read_safetensors_files(files);
  ModelFile model;
  try {
    model = hf_to_canonical(std::move(raw), config, config_path.string());
  } catch (const json::exception& e) {  // a config value of an unexpected JSON type
    throw Error(fmt::format("{}: unexpected value: {}", config_path.string(), e.what()));
  }

  const fs::path sidecar = dir / kGgufMetadataFile;
  if (fs::exists(sidecar, ec)) {
    MetadataJson side;
    try {
      side = metadata_from_json(read_json_file(sidecar.string()), sidecar.string());
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: unexpected value: {}", sidecar.string(), e.what()));
    }
    if (side.metadata.get_string("general.architecture") != model.metadata.get_string("general.architecture"))
      throw Error(fmt::format("{}: architecture differs from config.json", sidecar.string()));
    model.metadata = merge_sidecar_metadata(side.metadata, model.metadata);
    model.gguf_version = side.gguf_version;
    model.alignment = side.alignment;
    model.paths.push_back(sidecar.string());
  }
  return model;
}

ModelFile load_model(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (!fs::exists(p, ec)) throw Error(path + ": no such file or directory");
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "config.json", ec)) return read_safetensors_model(path);
    throw Error(path + ": directory has no config.json (not a safetensors checkpoint)");
  }
  if (has_gguf_magic(path)) return read_gguf(path);
  const std::string name = p.filename().string();
  if (p.extension() == ".safetensors" || ends_with(name, ".index.json") || name == "config.json")
    return read_safetensors_model(path);
  if (p.extension() == ".gguf") return read_gguf(path);  // reports what is wrong with it
  if (looks_like_llama2c(path)) return import_llama2c(path);
  if (p.extension() == ".bin") return import_llama2c(path);  // reports the header problem
  throw Error(path + ": unrecognised model format (expected GGUF, safetensors or a llama2.c checkpoint)");
}

std::vector<std::string> save_model(const ModelFile& model, const std::string& out_path, const SaveOptions& options) {
  if (fs::path(out_path).extension() == ".gguf") return write_gguf(model, out_path, options.gguf);
  SafetensorsWriteOptions st;
  st.dequantize = options.dequantize;
  st.max_shard_bytes = options.max_shard_bytes;
  return write_safetensors(model, out_path, st);
}

}  // namespace layerlab
