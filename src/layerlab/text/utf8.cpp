#include "layerlab/text/utf8.h"

namespace layerlab {

size_t utf8_sequence_length(unsigned char lead) {
  static constexpr unsigned char kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Decodes one code point at `pos`; returns false (and leaves pos) if the bytes there do not
// form a sequence.
bool decode_one(std::string_view s, size_t& pos, uint32_t& cpt) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const size_t left = s.size() - pos;
  if (!(b0 & 0x80)) {
    cpt = b0;
    pos += 1;
    return true;
  }
  if (!(b0 & 0x40)) return false;
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  if (!(b0 & 0x20)) {
    if (left < 2 || !is_continuation(b(1))) return false;
    cpt = ((b0 & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    pos += 2;
    return true;
  }
  if (!(b0 & 0x10)) {
    if (left < 3 || !is_continuation(b(1)) || !is_continuation(b(2))) return false;
    cpt = ((b0 & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    pos += 3;
    return true;
  }
  if (!(b0 & 0x08)) {
    if (left < 4 || !is_continuation(b(1)) || !is_continuation(b(2)) || !is_continuation(b(3)))
      return false;
    cpt = ((b0 & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    pos += 4;
    return true;
  }
  return false;
}

}  // namespace

std::vector<uint32_t> utf8_to_codepoints(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cpt = 0;
    if (decode_one(text, pos, cpt)) {
      out.push_back(cpt);
    } else {
      out.push_back(0xFFFD);
      ++pos;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt <= 0x7F) {
    out += static_cast<char>(cpt);
  } else if (cpt <= 0x7FF) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt <= 0xFFFF) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    append_utf8(out, 0xFFFD);
  }
}

}  // namespace layerlab
