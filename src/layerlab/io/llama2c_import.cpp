#include "layerlab/io/llama2c_import.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "layerlab/io/error.h"
#include "layerlab/io/mapped_file.h"

namespace layerlab {
namespace {

Llama2cHeader parse_header(const MappedFile& f) {
  if (f.size() < kLlama2cHeaderBytes)
    throw FormatError(f.path(), 0, fmt::format("file has {} bytes, too short for a llama2.c header (28)", f.size()));
  int32_t v[7];
  std::memcpy(v, f.data(), sizeof(v));
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
}

struct Counter {
  const std::string& path;
  uint64_t total = 0;
  uint64_t mul(std::initializer_list<uint64_t> factors) const {
    uint64_t r = 1;
    for (uint64_t x : factors)
      if (__builtin_mul_overflow(r, x, &r)) throw FormatError(path, 0, "llama2.c header sizes overflow");
    return r;
  }
  void add(std::initializer_list<uint64_t> factors) {
    if (__builtin_add_overflow(total, mul(factors), &total)) throw FormatError(path, 0, "llama2.c header sizes overflow");
  }
};

bool is_byte_token(const std::string& s) {
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && std::isxdigit(static_cast<unsigned char>(s[3])) &&
         std::isxdigit(static_cast<unsigned char>(s[4]));
}

}  // namespace

uint64_t llama2c_expected_floats(const Llama2cHeader& h, const std::string& path) {
  const int32_t fields[7] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len};
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int k = 0; k < 7; ++k)
    if (fields[k] == 0 || (k != 5 && fields[k] < 0) || fields[k] == INT32_MIN)
      throw FormatError(path, 4 * k, fmt::format("llama2.c header: {} = {} must be positive", names[k], fields[k]));
  if (h.dim % h.n_heads != 0)
    throw FormatError(path, 0, fmt::format("llama2.c header: dim {} is not a multiple of n_heads {}", h.dim, h.n_heads));
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    throw FormatError(path, 16, fmt::format("llama2.c header: n_heads {} is not a multiple of n_kv_heads {}", h.n_heads,
                                            h.n_kv_heads));
  const uint64_t head = static_cast<uint64_t>(h.dim / h.n_heads);
  if (head % 2 != 0) throw FormatError(path, 0, fmt::format("llama2.c header: head size {} is odd", head));
  const uint64_t dim = static_cast<uint64_t>(h.dim), hid = static_cast<uint64_t>(h.hidden_dim),
                 L = static_cast<uint64_t>(h.n_layers), vocab = static_cast<uint64_t>(std::abs(h.vocab_size)),
                 seq = static_cast<uint64_t>(h.seq_len);
  const uint64_t kv_dim = dim * static_cast<uint64_t>(h.n_kv_heads) / static_cast<uint64_t>(h.n_heads);
  Counter c{path};
  c.add({vocab, dim});         // token embeddings
  c.add({L, dim});             // rms_att
  c.add({L, dim, dim});        // wq
  c.add({L, kv_dim, dim});     // wk
  c.add({L, kv_dim, dim});     // wv
  c.add({L, dim, dim});        // wo
  c.add({L, dim});             // rms_ffn
  c.add({L, hid, dim});        // w1
  c.add({L, dim, hid});        // w2
  c.add({L, hid, dim});        // w3
  c.add({dim});                // rms_final
  c.add({seq, head});          // freq_cis_real + freq_cis_imag (head/2 each)
  if (!h.shared_classifier()) c.add({vocab, dim});
  return c.total;
}

bool looks_like_llama2c(const std::string& path) {
  try {
    MappedFile f(path);
    const Llama2cHeader h = parse_header(f);
    const uint64_t floats = llama2c_expected_floats(h, path);
    return f.size() - kLlama2cHeaderBytes == floats * 4 && floats <= (f.size() / 4);
  } catch (const Error&) {
    return false;
  }
}

ModelFile import_llama2c(const std::string& path, const Llama2cOptions& options) {
  auto file = std::make_shared<const MappedFile>(path);
  const Llama2cHeader h = parse_header(*file);
  const uint64_t floats = llama2c_expected_floats(h, path);
  const uint64_t have = file->size() - kLlama2cHeaderBytes;
  if (floats > have / 4 || have != floats * 4)
    throw FormatError(path, kLlama2cHeaderBytes,
                      fmt::format("llama2.c checkpoint has {} bytes of weights, the header implies {} (legacy v0 "
                                  "format: the file must end exactly after the arrays)",
                                  have, floats * 4));

  const int64_t dim = h.dim, hid = h.hidden_dim, L = h.n_layers, vocab = std::abs(h.vocab_size);
  const int64_t head = dim / h.n_heads, kv_dim = dim * h.n_kv_heads / h.n_heads;

  ModelFile m;
  m.format = FileFormat::LLAMA2C;
  m.paths = {path};
  const std::byte* cursor = file->data() + kLlama2cHeaderBytes;
  // Takes the next array of `count` floats from the file.
  auto take = [&](int64_t count) {
    std::span<const std::byte> s(cursor, static_cast<size_t>(count) * 4);
    cursor += s.size();
    return s;
  };
  auto make = [](std::string name, std::initializer_list<int64_t> ne, std::span<const std::byte> data) {
    TensorInfo t;
    t.name = std::move(name);
    t.type = GgmlType::F32;
    t.n_dims = static_cast<uint32_t>(ne.size());
    std::copy(ne.begin(), ne.end(), t.ne.begin());
    t.data = data;
    return t;
  };
  // A stacked [L, rows, cols] array: layer l's slice is contiguous.
  auto stacked = [&](int64_t rows, int64_t cols) {
    auto all = take(L * rows * cols);
    std::vector<std::span<const std::byte>> per_layer;
    for (int64_t l = 0; l < L; ++l) per_layer.push_back(all.subspan(static_cast<size_t>(l * rows * cols) * 4,
                                                                    static_cast<size_t>(rows * cols) * 4));
    return per_layer;
  };
  auto embd = take(vocab * dim);
  auto rms_att = stacked(1, dim);
  auto wq = stacked(dim, dim);
  auto wk = stacked(kv_dim, dim);
  auto wv = stacked(kv_dim, dim);
  auto wo = stacked(dim, dim);
  auto rms_ffn = stacked(1, dim);
  auto w1 = stacked(hid, dim);
  auto w2 = stacked(dim, hid);
  auto w3 = stacked(hid, dim);
  auto rms_final = take(dim);
  take(h.seq_len * head);  // freq_cis tables: llama.cpp computes RoPE itself
  std::span<const std::byte> wcls;
  if (!h.shared_classifier()) wcls = take(vocab * dim);

  // Same tensor order as llama.cpp's converter; a shared classifier means tied embeddings.
  m.tensors.push_back(make("token_embd.weight", {dim, vocab}, embd));
  m.tensors.push_back(make("output_norm.weight", {dim}, rms_final));
  if (!h.shared_classifier()) m.tensors.push_back(make("output.weight", {dim, vocab}, wcls));
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    m.tensors.push_back(make(b + "attn_norm.weight", {dim}, rms_att[l]));
    m.tensors.push_back(make(b + "attn_q.weight", {dim, dim}, wq[l]));
    m.tensors.push_back(make(b + "attn_k.weight", {dim, kv_dim}, wk[l]));
    m.tensors.push_back(make(b + "attn_v.weight", {dim, kv_dim}, wv[l]));
    m.tensors.push_back(make(b + "attn_output.weight", {dim, dim}, wo[l]));
    m.tensors.push_back(make(b + "ffn_norm.weight", {dim}, rms_ffn[l]));
    m.tensors.push_back(make(b + "ffn_gate.weight", {dim, hid}, w1[l]));
    m.tensors.push_back(make(b + "ffn_down.weight", {hid, dim}, w2[l]));
    m.tensors.push_back(make(b + "ffn_up.weight", {dim, hid}, w3[l]));
  }
  m.mappings.push_back(std::move(file));

  Metadata& md = m.metadata;
  md.set("general.architecture", Value::string("llama"));
  md.set("general.name", Value::string(std::filesystem::path(path).stem().string()));
  md.set("general.file_type", Value::u32(0));  // all F32
  md.set("llama.vocab_size", Value::u32(static_cast<uint32_t>(vocab)));
  md.set("llama.context_length", Value::u32(static_cast<uint32_t>(h.seq_len)));
  md.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(dim)));
  md.set("llama.block_count", Value::u32(static_cast<uint32_t>(L)));
  md.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(hid)));
  md.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(h.n_heads)));
  md.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(h.n_kv_heads)));
  md.set("llama.rope.dimension_count", Value::u32(static_cast<uint32_t>(std::min<int64_t>(64, head))));
  md.set("llama.rope.freq_base", Value::f32(10000.0f));
  md.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));

  Metadata vocab_md;
  if (options.vocab_from) vocab_md = *options.vocab_from;
  else if (!options.tokenizer_bin.empty()) vocab_md = read_llama2c_tokenizer(options.tokenizer_bin, vocab);
  for (const auto& [key, value] : vocab_md.items())
    if (key.rfind("tokenizer.", 0) == 0) md.set(key, value);
  if (const Value* tokens = md.find("tokenizer.ggml.tokens"); tokens && tokens->items.size() != static_cast<size_t>(vocab))
    throw Error(fmt::format("{}: the vocabulary has {} tokens, the checkpoint {}", path, tokens->items.size(), vocab));
  return m;
}

Metadata read_llama2c_tokenizer(const std::string& path, int64_t n_vocab) {
  MappedFile f(path);
  const std::byte* p = f.data();
  uint64_t pos = 0;
  auto need = [&](uint64_t n, const char* what) {
    if (f.size() - pos < n) throw FormatError(path, pos, fmt::format("tokenizer.bin ends inside {}", what));
  };
  need(4, "the header");
  pos += 4;  // max_token_length: not needed
  std::vector<Value> tokens, scores, types;
  for (int64_t id = 0; id < n_vocab; ++id) {
    need(8, "a token record");
    float score;
    int32_t len;
    std::memcpy(&score, p + pos, 4);
    std::memcpy(&len, p + pos + 4, 4);
    pos += 8;
    if (len < 0) throw FormatError(path, pos - 4, fmt::format("token {} has a negative length", id));
    need(static_cast<uint64_t>(len), "a token text");
    std::string text(reinterpret_cast<const char*>(p + pos), static_cast<size_t>(len));
    pos += static_cast<uint64_t>(len);
    int32_t type = 1;  // NORMAL
    if (id == 0) text = "<unk>", type = 2;
    else if (id == 1) text = "<s>", type = 3;
    else if (id == 2) text = "</s>", type = 3;
    else if (text.empty()) type = 3;
    else if (is_byte_token(text)) type = 6;
    std::string escaped;
    for (char c : text) escaped += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
    tokens.push_back(Value::string(std::move(escaped)));
    scores.push_back(Value::f32(score));
    types.push_back(Value::i32(type));
  }
  Metadata md;
  md.set("tokenizer.ggml.model", Value::string("llama"));
  md.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
  md.set("tokenizer.ggml.scores", Value::array(ValueType::F32, std::move(scores)));
  md.set("tokenizer.ggml.token_type", Value::array(ValueType::I32, std::move(types)));
  md.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  md.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  md.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  return md;
}

}  // namespace layerlab
