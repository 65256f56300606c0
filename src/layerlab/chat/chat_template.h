// Chat templates: turn a conversation into the prompt text a chat model was trained on.
//
// Like llama.cpp's built-in formatter (not a Jinja engine): the family is recognised from
// characteristic substrings of the `tokenizer.chat_template` string, then a fixed layout is
// rendered. No BOS text is added by any family; the tokenizer's add_bos does that, exactly
// as with llama.cpp's `llama_chat_apply_template`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace layerlab {

enum class ChatFamily {
  kChatML,           // Qwen 2/2.5/3, SmolLM2, many fine-tunes
  kPhi4,             // ChatML with <|im_sep|>
  kLlama3,
  kGemma,
  kPhi3,
  kMistralV1,
  kMistralV3,
  kMistralV3Tekken,
  kMistralV7,
  kMistralV7Tekken,  // only by name
  kLlama2,           // [INST] without system support
  kLlama2Sys,        // [INST] with <<SYS>>
  kLlama2SysBos,     // ... and <s> before every later turn
  kLlama2SysStrip,   // ... and content trimmed
  kUnknown,
};

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (other roles are passed through)
  std::string content;
};

struct RenderedChat {
  std::string text;
  ChatFamily family = ChatFamily::kUnknown;
  // Non-empty when the template was not recognised and `text` is the raw last user message.
  std::string warning;
};

std::string_view chat_family_name(ChatFamily family);

// Recognises the family of a Jinja template string (or of a bare family name such as
// "chatml" or "llama3"); kUnknown if none matches.
ChatFamily detect_chat_family(std::string_view template_text);

// Renders with a known family. `add_generation_prompt` appends the assistant turn header.
// Throws layerlab::Error for kUnknown.
std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

// Detects and renders. An unknown template falls back to the content of the last user
// message (raw text) and sets `warning`; an empty conversation renders as "".
RenderedChat apply_chat_template(std::string_view template_text,
                                 const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt);

}  // namespace layerlab
