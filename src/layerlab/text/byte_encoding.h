// GPT-2's reversible byte <-> code point table used by byte-level BPE vocabularies: printable
// bytes keep their own code point, the other 68 bytes map in order to U+0100, U+0101, ...
// (so a space is "Ġ" U+0120 and a newline "Ċ" U+010A).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace layerlab {

// The UTF-8 text of the code point standing for `byte`.
const std::string& byte_to_unicode(uint8_t byte);

// Every byte of `text` replaced by its stand-in character.
std::string bytes_to_unicode_text(std::string_view text);

// The byte a code point stands for, if it is one of the 256 stand-ins.
std::optional<uint8_t> unicode_to_byte(uint32_t cpt);

}  // namespace layerlab
