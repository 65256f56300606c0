// UTF-8 helpers with llama.cpp's lenient rules, so that text splits into exactly the same
// characters and code points as it does there (including what happens to invalid bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace layerlab {

// Length of the UTF-8 sequence announced by a lead byte, judged from its top four bits only
// (a stray continuation byte counts as 1). Callers clamp it to the bytes that remain.
size_t utf8_sequence_length(unsigned char lead);

// Decodes to code points. A byte that does not start a complete sequence becomes U+FFFD and
// decoding resumes at the next byte. Overlong forms and surrogates are decoded, not rejected.
std::vector<uint32_t> utf8_to_codepoints(std::string_view text);

// Appends the UTF-8 form of `cpt`; values above U+10FFFF are written as U+FFFD.
void append_utf8(std::string& out, uint32_t cpt);

}  // namespace layerlab
