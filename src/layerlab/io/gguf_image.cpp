#include "layerlab/io/gguf_image.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

#include "layerlab/io/error.h"
#include "layerlab/io/ggml_type.h"

namespace layerlab::gguf {
namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is read in place: little-endian hosts only");

// Smallest possible encodings, used to reject counts that cannot fit in the bytes left
// before anything is reserved: a key/value is a length (8), a type (4) and at least one byte;
// a tensor info is a name length (8), n_dims (4), a type (4) and an offset (8).
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

// Reads little-endian fields with bounds checks; every failure names the offset.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(uint64_t at, const std::string& problem) const {
    throw FormatError(name_, at, problem);
  }

  template <typename T>
  T read(std::string_view what) {
    if (remaining() < sizeof(T))
      fail(pos_, fmt::format("truncated: {} needs {} bytes, {} left", what, sizeof(T), remaining()));
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string(std::string_view what) { return std::string(read_string_view(what)); }

  // The string's bytes in place (valid as long as the mapped bytes).
  std::string_view read_string_view(std::string_view what) {
    uint64_t at = pos_;
    uint64_t length = read<uint64_t>(what);
    if (length > remaining())
      fail(at, fmt::format("{} claims {} bytes but only {} are left", what, length, remaining()));
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(length));
    pos_ += length;
    return s;
  }

  // Total bytes of the next `count` length-prefixed strings, counting only as far as they are
  // well-formed (the real read reports any problem); the cursor does not move.
  uint64_t peek_string_bytes(uint64_t count) const {
    uint64_t pos = pos_, total = 0;
    for (uint64_t k = 0; k < count && bytes_.size() - pos >= 8; ++k) {
      uint64_t length;
      std::memcpy(&length, bytes_.data() + pos, 8);
      pos += 8;
      if (length > bytes_.size() - pos) break;
      pos += length;
      total += length;
    }
    return total;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

Value read_scalar(Cursor& c, ValueType type, std::string_view what) {
  Value v;
  v.type = type;
  switch (type) {
    case ValueType::U8: v.u = c.read<uint8_t>(what); break;
    case ValueType::I8: v.i = c.read<int8_t>(what); break;
    case ValueType::U16: v.u = c.read<uint16_t>(what); break;
    case ValueType::I16: v.i = c.read<int16_t>(what); break;
    case ValueType::U32: v.u = c.read<uint32_t>(what); break;
    case ValueType::I32: v.i = c.read<int32_t>(what); break;
    case ValueType::U64: v.u = c.read<uint64_t>(what); break;
    case ValueType::I64: v.i = c.read<int64_t>(what); break;
    case ValueType::F32: v.f = c.read<float>(what); break;
    case ValueType::F64: v.f = c.read<double>(what); break;
    case ValueType::BOOL: {
      uint64_t at = c.pos();
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1) c.fail(at, fmt::format("{}: bool value {} is neither 0 nor 1", what, b));
      v.u = b;
      break;
    }
    case ValueType::STRING: v.str = c.read_string(what); break;
    case ValueType::ARRAY: break;  // handled by read_value
  }
  return v;
}

Value read_value(Cursor& c, ValueType type, const std::string& what) {
  if (type != ValueType::ARRAY) return read_scalar(c, type, what);
  uint64_t at = c.pos();
  uint32_t elem_id = c.read<uint32_t>(what + " (array element type)");
  if (!is_valid_value_type(elem_id)) c.fail(at, fmt::format("{}: invalid array element type {}", what, elem_id));
  auto elem = static_cast<ValueType>(elem_id);
  if (elem == ValueType::ARRAY) c.fail(at, fmt::format("{}: nested arrays are not allowed", what));
  uint64_t count_at = c.pos();
  uint64_t count = c.read<uint64_t>(what + " (array length)");
  uint64_t min_elem = elem == ValueType::STRING ? 8 : value_type_size(elem);
  if (count > c.remaining() / min_elem)
    c.fail(count_at, fmt::format("{}: array of {} elements cannot fit in the {} bytes left", what, count,
                                 c.remaining()));
  // Elements go straight into the compact array: a token list never exists as Values.
  ValueArray items;
  if (elem == ValueType::STRING) {
    items.reserve(static_cast<size_t>(count), static_cast<size_t>(c.peek_string_bytes(count)));
    for (uint64_t k = 0; k < count; ++k) items.push_string(c.read_string_view(what));
  } else {
    items.reserve(static_cast<size_t>(count));
    for (uint64_t k = 0; k < count; ++k) items.push_back(read_scalar(c, elem, what));
  }
  return Value::array(elem, std::move(items));
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

uint64_t pad_to(uint64_t x, uint64_t alignment, bool* overflow) {
  uint64_t r = x % alignment;
  if (r == 0) return x;
  uint64_t out;
  *overflow = __builtin_add_overflow(x, alignment - r, &out);
  return out;
}

void read_header_kvs(Cursor& c, Image& img, uint64_t* n_tensors_out) {
  if (c.size() < 4) c.fail(0, fmt::format("truncated: {} bytes, too short for the GGUF magic", c.size()));
  char magic[4];
  for (char& m : magic) m = static_cast<char>(c.read<uint8_t>("magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) c.fail(0, "bad magic: not a GGUF file");

  uint32_t version = c.read<uint32_t>("version");
  if ((version & 0xFFFFu) == 0)
    c.fail(4, fmt::format("unsupported version {:#x} (a big-endian GGUF, or not GGUF)", version));
  if (version == 1) c.fail(4, "unsupported GGUF version 1 (too old; convert it again)");
  if (version != 2 && version != 3) c.fail(4, fmt::format("unsupported GGUF version {}", version));
  img.version = version;

  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("key/value count");
  // Both counts together must fit in what is left, before anything is reserved.
  if (n_tensors > c.remaining() / kMinTensorInfoBytes)
    c.fail(8, fmt::format("tensor count {} cannot fit in the {} bytes left", n_tensors, c.remaining()));
  if (n_kv > c.remaining() / kMinKvBytes)
    c.fail(16, fmt::format("key/value count {} cannot fit in the {} bytes left", n_kv, c.remaining()));
  if (n_tensors * kMinTensorInfoBytes + n_kv * kMinKvBytes > c.remaining())
    c.fail(8, fmt::format("{} tensors and {} key/values cannot fit in the {} bytes left", n_tensors, n_kv,
                          c.remaining()));

  img.key_offsets.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    uint64_t at = c.pos();
    std::string key = c.read_string(fmt::format("key #{}", k));
    if (img.metadata.contains(key)) c.fail(at, fmt::format("duplicate key '{}'", printable(key)));
    std::string what = fmt::format("key '{}'", printable(key));
    uint64_t type_at = c.pos();
    uint32_t type_id = c.read<uint32_t>(what + " (value type)");
    if (!is_valid_value_type(type_id)) c.fail(type_at, fmt::format("{}: invalid value type {}", what, type_id));
    Value v = read_value(c, static_cast<ValueType>(type_id), what);
    img.metadata.set(std::move(key), std::move(v));
    img.key_offsets.push_back(at);
  }
  *n_tensors_out = n_tensors;

  if (const Value* a = img.metadata.find("general.alignment")) {
    uint64_t at = img.key_offset("general.alignment");
    if (a->type != ValueType::U32)
      c.fail(at, fmt::format("general.alignment must be u32, not {}", value_type_name(a->type)));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      c.fail(at, fmt::format("general.alignment {} is not a power of two", a->u));
    img.alignment = static_cast<uint32_t>(a->u);
  }
}

TensorInfo read_tensor_info(Cursor& c, const Image& img, uint64_t index, uint64_t* offset_out,
                            uint64_t* bytes_out) {
  uint64_t at = c.pos();
  TensorInfo t;
  t.name = c.read_string(fmt::format("tensor #{} name", index));
  std::string what = fmt::format("tensor '{}'", printable(t.name));
  if (t.name.size() > kMaxNameBytes)
    c.fail(at, fmt::format("{}: name is {} bytes, the limit is {}", what, t.name.size(), kMaxNameBytes));
  uint64_t dims_at = c.pos();
  t.n_dims = c.read<uint32_t>(what + " (n_dims)");
  if (t.n_dims > kMaxDims) c.fail(dims_at, fmt::format("{}: {} dimensions, at most {}", what, t.n_dims, kMaxDims));
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    uint64_t ne_at = c.pos();
    t.ne[d] = c.read<int64_t>(what + " (dimension)");
    if (t.ne[d] <= 0) c.fail(ne_at, fmt::format("{}: dimension {} is {}", what, d, t.ne[d]));
  }
  uint64_t type_at = c.pos();
  uint32_t type_id = c.read<uint32_t>(what + " (type)");
  auto info = ggml_type_info(type_id);
  if (!info) c.fail(type_at, fmt::format("{} has unknown ggml type {}", what, type_id));
  t.type = info->type;
  if (t.ne[0] % info->block_size != 0)
    c.fail(dims_at, fmt::format("{}: ne[0] = {} is not a multiple of {}'s block size {}", what, t.ne[0], info->name,
                                info->block_size));
  // Element count and byte size, each product checked.
  uint64_t elems = 1, bytes = 0;
  if (mul_overflows(static_cast<uint64_t>(t.ne[0]) / info->block_size, info->type_size, &bytes))
    c.fail(dims_at, fmt::format("{}: byte size of {} overflows", what, t.shape_string()));
  for (int d = 0; d < 4; ++d)
    if (mul_overflows(elems, static_cast<uint64_t>(t.ne[d]), &elems) || elems > static_cast<uint64_t>(INT64_MAX))
      c.fail(dims_at, fmt::format("{}: element count {} overflows", what, t.shape_string()));
  for (int d = 1; d < 4; ++d)
    if (mul_overflows(bytes, static_cast<uint64_t>(t.ne[d]), &bytes))
      c.fail(dims_at, fmt::format("{}: byte size of {} overflows", what, t.shape_string()));
  uint64_t off_at = c.pos();
  uint64_t offset = c.read<uint64_t>(what + " (data offset)");
  if (offset % img.alignment != 0)
    c.fail(off_at, fmt::format("{}: data offset {} is not a multiple of the alignment {}", what, offset, img.alignment));
  *offset_out = offset;
  *bytes_out = bytes;
  return t;
}

}  // namespace

uint64_t Image::key_offset(std::string_view key) const {
  const auto& items = metadata.items();
  for (size_t k = 0; k < items.size() && k < key_offsets.size(); ++k)
    if (items[k].first == key) return key_offsets[k];
  return 0;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, 80)) {
    auto u = static_cast<unsigned char>(ch);
    out += (u < 0x20 || u == 0x7f) ? '?' : ch;
  }
  if (text.size() > 80) out += "...";
  return out;
}

Image parse_image(std::span<const std::byte> bytes, const std::string& name) {
  Cursor c(bytes, name);
  Image img;
  uint64_t n_tensors = 0;
  read_header_kvs(c, img, &n_tensors);

  std::vector<uint64_t> offsets, sizes;
  offsets.reserve(static_cast<size_t>(n_tensors));
  sizes.reserve(static_cast<size_t>(n_tensors));
  img.tensors.reserve(static_cast<size_t>(n_tensors));
  img.info_offsets.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    uint64_t at = c.pos();
    uint64_t offset = 0, size = 0;
    img.tensors.push_back(read_tensor_info(c, img, k, &offset, &size));
    offsets.push_back(offset);
    sizes.push_back(size);
    img.info_offsets.push_back(at);
  }
  // Duplicate names: sort views of the names (the tensors vector no longer grows).
  std::vector<size_t> order(img.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return img.tensors[a].name != img.tensors[b].name ? img.tensors[a].name < img.tensors[b].name : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k)
    if (img.tensors[order[k]].name == img.tensors[order[k - 1]].name)
      c.fail(img.info_offsets[order[k]], fmt::format("duplicate tensor name '{}'", printable(img.tensors[order[k]].name)));

  if (n_tensors == 0) {
    img.data_start = c.pos();
    return img;
  }
  bool overflow = false;
  img.data_start = pad_to(c.pos(), img.alignment, &overflow);
  if (overflow || img.data_start > c.size())
    c.fail(c.pos(), fmt::format("truncated: tensor data would start at byte {} but the file has {} bytes",
                                overflow ? UINT64_MAX : img.data_start, c.size()));
  const uint64_t data_bytes = c.size() - img.data_start;
  for (size_t k = 0; k < img.tensors.size(); ++k) {
    TensorInfo& t = img.tensors[k];
    uint64_t n = sizes[k];
    if (offsets[k] > data_bytes || n > data_bytes - offsets[k])
      c.fail(img.info_offsets[k],
             fmt::format("tensor '{}': data [{}, +{}) runs past the end of the file (data section holds {} bytes)",
                         printable(t.name), offsets[k], n, data_bytes));
    t.data = bytes.subspan(static_cast<size_t>(img.data_start + offsets[k]), static_cast<size_t>(n));
  }
  // Overlap: sort by offset and compare neighbours.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return offsets[a] < offsets[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    size_t prev = order[k - 1], cur = order[k];
    uint64_t prev_end = offsets[prev] + img.tensors[prev].data.size();
    if (offsets[cur] < prev_end)
      c.fail(img.info_offsets[cur], fmt::format("tensor '{}': data at offset {} overlaps tensor '{}' [{}, {})",
                                                printable(img.tensors[cur].name), offsets[cur],
                                                printable(img.tensors[prev].name), offsets[prev], prev_end));
  }
  return img;
}

}  // namespace layerlab::gguf
