#include "layerlab/chat/chat_template.h"

#include <array>
#include <cctype>
#include <utility>

#include "layerlab/io/error.h"

namespace layerlab {
namespace {

// llama.cpp trims with isspace on each byte (ASCII whitespace only).
std::string trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return std::string(s.substr(begin, end - begin));
}

constexpr std::array<std::pair<std::string_view, ChatFamily>, 14> kNames = {{
    {"chatml", ChatFamily::kChatML},
    {"phi4", ChatFamily::kPhi4},
    {"llama3", ChatFamily::kLlama3},
    {"gemma", ChatFamily::kGemma},
    {"phi3", ChatFamily::kPhi3},
    {"mistral-v1", ChatFamily::kMistralV1},
    {"mistral-v3", ChatFamily::kMistralV3},
    {"mistral-v3-tekken", ChatFamily::kMistralV3Tekken},
    {"mistral-v7", ChatFamily::kMistralV7},
    {"mistral-v7-tekken", ChatFamily::kMistralV7Tekken},
    {"llama2", ChatFamily::kLlama2},
    {"llama2-sys", ChatFamily::kLlama2Sys},
    {"llama2-sys-bos", ChatFamily::kLlama2SysBos},
    {"llama2-sys-strip", ChatFamily::kLlama2SysStrip},
}};

// Families sharing the [INST] marker, told apart the way llama.cpp does.
ChatFamily detect_inst_family(std::string_view t) {
  auto has = [t](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("[SYSTEM_PROMPT]")) return ChatFamily::kMistralV7;
  // Official Mistral v1 / v3 / v3-tekken templates.
  if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
    if (has(" [INST]")) return ChatFamily::kMistralV1;
    if (has("\"[INST]\"")) return ChatFamily::kMistralV3Tekken;
    return ChatFamily::kMistralV3;
  }
  if (has("content.strip()")) return ChatFamily::kLlama2SysStrip;
  if (has("bos_token + '[INST]")) return ChatFamily::kLlama2SysBos;
  if (has("<<SYS>>")) return ChatFamily::kLlama2Sys;
  return ChatFamily::kLlama2;
}

void render_mistral_v7(std::string& out, const std::vector<ChatMessage>& messages, bool tekken) {
  const char* space = tekken ? "" : " ";
  for (const auto& m : messages) {
    if (m.role == "system") {
      out += "[SYSTEM_PROMPT]" + std::string(space) + m.content + "[/SYSTEM_PROMPT]";
    } else if (m.role == "user") {
      out += "[INST]" + std::string(space) + m.content + "[/INST]";
    } else {
      out += space + m.content + "</s>";
    }
  }
}

void render_mistral_v1_v3(std::string& out, const std::vector<ChatMessage>& messages,
                          ChatFamily family) {
  const std::string leading = family == ChatFamily::kMistralV1 ? " " : "";
  const std::string trailing = family == ChatFamily::kMistralV3Tekken ? "" : " ";
  const bool trim_assistant = family == ChatFamily::kMistralV3;
  bool inside_turn = false;
  for (const auto& m : messages) {
    if (!inside_turn) {
      out += leading + "[INST]" + trailing;
      inside_turn = true;
    }
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else if (m.role == "user") {
      out += m.content + leading + "[/INST]";
    } else {
      out += trailing + (trim_assistant ? trim(m.content) : m.content) + "</s>";
      inside_turn = false;
    }
  }
}

void render_llama2(std::string& out, const std::vector<ChatMessage>& messages, ChatFamily family) {
  const bool system_support = family != ChatFamily::kLlama2;
  const bool bos_in_history = family == ChatFamily::kLlama2SysBos;
  const bool strip = family == ChatFamily::kLlama2SysStrip;
  bool inside_turn = true;  // the first [INST] is written up front, without BOS
  out += "[INST] ";
  for (const auto& m : messages) {
    const std::string content = strip ? trim(m.content) : m.content;
    if (!inside_turn) {
      inside_turn = true;
      out += bos_in_history ? "<s>[INST] " : "[INST] ";
    }
    if (m.role == "system") {
      out += system_support ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
    } else if (m.role == "user") {
      out += content + " [/INST]";
    } else {
      out += content + "</s>";
      inside_turn = false;
    }
  }
}

void render_gemma(std::string& out, const std::vector<ChatMessage>& messages, bool add_gen) {
  // Gemma has no system role: system text is merged into the next user turn.
  std::string system_prompt;
  for (const auto& m : messages) {
    if (m.role == "system") {
      system_prompt += trim(m.content);
      continue;
    }
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n";
    if (!system_prompt.empty() && role != "model") {
      out += system_prompt + "\n\n";
      system_prompt.clear();
    }
    out += trim(m.content) + "<end_of_turn>\n";
  }
  if (add_gen) out += "<start_of_turn>model\n";
}

}  // namespace

std::string_view chat_family_name(ChatFamily family) {
  for (const auto& [name, f] : kNames) {
    if (f == family) return name;
  }
  return "unknown";
}

ChatFamily detect_chat_family(std::string_view t) {
  for (const auto& [name, f] : kNames) {
    if (t == name) return f;
  }
  auto has = [t](std::string_view s) { return t.find(s) != std::string_view::npos; };
  // The order of these tests is llama.cpp's: earlier markers win. Families layerlab does not
  // render still claim their templates (as kUnknown) so that a later test cannot misfire.
  if (has("<|im_start|>")) {
    if (has("<|im_sep|>")) return ChatFamily::kPhi4;
    if (has("<end_of_utterance>")) return ChatFamily::kUnknown;  // SmolVLM: not ChatML
    return ChatFamily::kChatML;
  }
  if (t.substr(0, 7) == "mistral" || has("[INST]")) return detect_inst_family(t);
  if (has("<|assistant|>") && has("<|end|>")) return ChatFamily::kPhi3;
  if (has("[gMASK]<sop>")) return ChatFamily::kUnknown;                          // ChatGLM4
  if (has("<|assistant|>") && has("<|user|>")) return ChatFamily::kUnknown;      // Falcon3, GLM-Edge
  if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) return ChatFamily::kUnknown;
  if (has("<|user|>") && has("<|endoftext|>")) return ChatFamily::kUnknown;      // Zephyr
  if (has("bos_token + message['role']")) return ChatFamily::kUnknown;           // Monarch
  if (has("<start_of_turn>")) return ChatFamily::kGemma;
  if (has("'\\n\\nAssistant: ' + eos_token")) return ChatFamily::kUnknown;       // Orion
  if (has("GPT4 Correct ")) return ChatFamily::kUnknown;                         // OpenChat
  if (has("USER: ") && has("ASSISTANT: ")) return ChatFamily::kUnknown;          // Vicuna
  if (has("### Instruction:") && has("<|EOT|>")) return ChatFamily::kUnknown;    // DeepSeek coder
  if (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")) return ChatFamily::kUnknown;
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatFamily::kLlama3;
  return ChatFamily::kUnknown;
}

std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  std::string out;
  switch (family) {
    case ChatFamily::kChatML:
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatFamily::kPhi4:
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "<|im_sep|>" + m.content + "<|im_end|>";
      if (add_generation_prompt) out += "<|im_start|>assistant<|im_sep|>";
      break;
    case ChatFamily::kLlama3:
      for (const auto& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatFamily::kGemma:
      render_gemma(out, messages, add_generation_prompt);
      break;
    case ChatFamily::kPhi3:
      for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      break;
    // The [INST] families end a user turn with [/INST]; they have no separate generation prompt.
    case ChatFamily::kMistralV1:
    case ChatFamily::kMistralV3:
    case ChatFamily::kMistralV3Tekken:
      render_mistral_v1_v3(out, messages, family);
      break;
    case ChatFamily::kMistralV7:
    case ChatFamily::kMistralV7Tekken:
      render_mistral_v7(out, messages, family == ChatFamily::kMistralV7Tekken);
      break;
    case ChatFamily::kLlama2:
    case ChatFamily::kLlama2Sys:
    case ChatFamily::kLlama2SysBos:
    case ChatFamily::kLlama2SysStrip:
      render_llama2(out, messages, family);
      break;
    case ChatFamily::kUnknown:
      throw Error("chat template: cannot render an unrecognised template family");
  }
  return out;
}

RenderedChat apply_chat_template(std::string_view template_text,
                                 const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) {
  RenderedChat result;
  result.family = detect_chat_family(template_text);
  if (result.family != ChatFamily::kUnknown) {
    result.text = render_chat(result.family, messages, add_generation_prompt);
    return result;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") {
      result.text = it->content;
      break;
    }
  }
  result.warning =
      "chat template not recognised (not ChatML, Llama 3, Gemma, Phi-3, Mistral or Llama 2); "
      "using the last user message as raw text";
  return result;
}

}  // namespace layerlab
