#include "layerlab/text/byte_encoding.h"

#include <array>

#include "layerlab/text/utf8.h"

namespace layerlab {

namespace {

struct ByteTables {
  std::array<std::string, 256> to_text;
  std::array<uint32_t, 256> to_cpt{};
};

const ByteTables& tables() {
  static const ByteTables t = [] {
    ByteTables r;
    auto keeps_own = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      r.to_cpt[b] = keeps_own(b) ? static_cast<uint32_t>(b) : next++;
      append_utf8(r.to_text[b], r.to_cpt[b]);
    }
    return r;
  }();
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t byte) { return tables().to_text[byte]; }

std::string bytes_to_unicode_text(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char c : text) out += tables().to_text[c];
  return out;
}

std::optional<uint8_t> unicode_to_byte(uint32_t cpt) {
  if (cpt < 0x100) {
    const bool own = (cpt >= 0x21 && cpt <= 0x7E) || (cpt >= 0xA1 && cpt <= 0xAC) || cpt >= 0xAE;
    if (own) return static_cast<uint8_t>(cpt);
    return std::nullopt;
  }
  if (cpt < 0x100 + 68) {
    const auto& t = tables();
    for (int b = 0; b < 256; ++b)
      if (t.to_cpt[b] == cpt) return static_cast<uint8_t>(b);
  }
  return std::nullopt;
}

}  // namespace layerlab
