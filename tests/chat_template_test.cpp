// Chat templates: family detection from characteristic pieces of real templates, and the
// exact text llama.cpp's built-in formatter renders for each family.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layerlab/chat/chat_template.h"
#include "layerlab/io/error.h"

namespace layerlab {
namespace {

// Pieces of the templates shipped with real models (enough to carry their markers).
const char* kQwen25 =
    "{%- for message in messages %}{%- if (message.role == \"user\") %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
const char* kLlama31 =
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
    " + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
const char* kGemma2 =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
const char* kPhi3 =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + "
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + "
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' "
    "+ message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
const char* kLlama2Chat =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
    "messages[0]['content'].strip() + '\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
const char* kMistralV1 =
    "{{ bos_token }}{% for message in loop_messages %}{% if loop.last and system_message is defined %}"
    "{{ ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{% else %}"
    "{{ ' [INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}";
const char* kMistralV3 =
    "{%- if tools is not none %}{{- \"[AVAILABLE_TOOLS] [\" }}{%- endif %}"
    "{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}";
const char* kMistralV3Tekken =
    "{%- if tools is not none %}{{- \"[AVAILABLE_TOOLS][\" }}{%- endif %}"
    "{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}";
const char* kMistralV7 =
    "{{- bos_token }}{%- if system_message is defined %}{{- '[SYSTEM_PROMPT]' + system_message + "
    "'[/SYSTEM_PROMPT]' }}{%- endif %}{{- '[INST]' + message['content'] + '[/INST]' }}";
const char* kPhi4 =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + "
    "message['content'] + '<|im_end|>'}}{% endfor %}";
const char* kZephyr =
    "{% for message in messages %}{{ '<|user|>\\n' + message['content'] + eos_token }}{% endfor %}"
    "<|endoftext|>";

std::vector<ChatMessage> three_turns() {
  return {{"system", "You are terse."}, {"user", "Hi there"}, {"assistant", " Hello! "}};
}
std::vector<ChatMessage> system_user() {
  return {{"system", "You are terse."}, {"user", "Hi there"}};
}

TEST(ChatTemplateDetect, RealTemplates) {
  EXPECT_EQ(detect_chat_family(kQwen25), ChatFamily::kChatML);
  EXPECT_EQ(detect_chat_family(kLlama31), ChatFamily::kLlama3);
  EXPECT_EQ(detect_chat_family(kGemma2), ChatFamily::kGemma);
  EXPECT_EQ(detect_chat_family(kPhi3), ChatFamily::kPhi3);  // has <|user|> too: Phi-3 wins
  EXPECT_EQ(detect_chat_family(kLlama2Chat), ChatFamily::kLlama2SysStrip);
  EXPECT_EQ(detect_chat_family(kMistralV1), ChatFamily::kMistralV1);
  EXPECT_EQ(detect_chat_family(kMistralV3), ChatFamily::kMistralV3);
  EXPECT_EQ(detect_chat_family(kMistralV3Tekken), ChatFamily::kMistralV3Tekken);
  EXPECT_EQ(detect_chat_family(kMistralV7), ChatFamily::kMistralV7);
  EXPECT_EQ(detect_chat_family(kPhi4), ChatFamily::kPhi4);
}

TEST(ChatTemplateDetect, ByNameAndUnknown) {
  EXPECT_EQ(detect_chat_family("chatml"), ChatFamily::kChatML);
  EXPECT_EQ(detect_chat_family("llama3"), ChatFamily::kLlama3);
  EXPECT_EQ(detect_chat_family("mistral-v7-tekken"), ChatFamily::kMistralV7Tekken);
  EXPECT_EQ(chat_family_name(ChatFamily::kGemma), "gemma");
  EXPECT_EQ(detect_chat_family(""), ChatFamily::kUnknown);
  EXPECT_EQ(detect_chat_family("{% for m in messages %}{{ m.content }}{% endfor %}"),
            ChatFamily::kUnknown);
  // Zephyr is a family llama.cpp knows but layerlab does not render: it must not be mistaken
  // for a later family in the detection order.
  EXPECT_EQ(detect_chat_family(kZephyr), ChatFamily::kUnknown);
  // SmolVLM uses <|im_start|> but is not ChatML.
  EXPECT_EQ(detect_chat_family("<|im_start|>User:<end_of_utterance>"), ChatFamily::kUnknown);
}

TEST(ChatTemplateRender, ChatML) {
  EXPECT_EQ(render_chat(ChatFamily::kChatML, three_turns(), false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi there<|im_end|>\n"
            "<|im_start|>assistant\n Hello! <|im_end|>\n");
  EXPECT_EQ(render_chat(ChatFamily::kChatML, system_user(), true),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, Llama3TrimsContentAndAddsNoBos) {
  EXPECT_EQ(render_chat(ChatFamily::kLlama3, three_turns(), false),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>");
  EXPECT_EQ(render_chat(ChatFamily::kLlama3, system_user(), true),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateRender, GemmaMergesSystemIntoUser) {
  EXPECT_EQ(render_chat(ChatFamily::kGemma, three_turns(), false),
            "<start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n");
  EXPECT_EQ(render_chat(ChatFamily::kGemma, system_user(), true),
            "<start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateRender, Phi3) {
  EXPECT_EQ(render_chat(ChatFamily::kPhi3, three_turns(), false),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there<|end|>\n"
            "<|assistant|>\n Hello! <|end|>\n");
  EXPECT_EQ(render_chat(ChatFamily::kPhi3, system_user(), true),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplateRender, MistralVariants) {
  std::vector<ChatMessage> four = three_turns();
  four.push_back({"user", "Again"});
  EXPECT_EQ(render_chat(ChatFamily::kMistralV1, four, true),
            " [INST] You are terse.\n\nHi there [/INST]  Hello! </s> [INST] Again [/INST]");
  EXPECT_EQ(render_chat(ChatFamily::kMistralV3, four, true),
            "[INST] You are terse.\n\nHi there[/INST] Hello!</s>[INST] Again[/INST]");
  EXPECT_EQ(render_chat(ChatFamily::kMistralV3Tekken, four, true),
            "[INST]You are terse.\n\nHi there[/INST] Hello! </s>[INST]Again[/INST]");
  EXPECT_EQ(render_chat(ChatFamily::kMistralV7, four, true),
            "[SYSTEM_PROMPT] You are terse.[/SYSTEM_PROMPT][INST] Hi there[/INST]  Hello! </s>"
            "[INST] Again[/INST]");
}

TEST(ChatTemplateRender, Llama2Variants) {
  std::vector<ChatMessage> four = three_turns();
  four.push_back({"user", " Again "});
  EXPECT_EQ(render_chat(ChatFamily::kLlama2SysStrip, four, true),
            "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST]Hello!</s>"
            "[INST] Again [/INST]");
  EXPECT_EQ(render_chat(ChatFamily::kLlama2SysBos, four, true),
            "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
            "<s>[INST]  Again  [/INST]");
  EXPECT_EQ(render_chat(ChatFamily::kLlama2, four, true),
            "[INST] You are terse.\nHi there [/INST] Hello! </s>[INST]  Again  [/INST]");
}

TEST(ChatTemplateApply, DetectsAndRenders) {
  RenderedChat r = apply_chat_template(kQwen25, system_user(), true);
  EXPECT_EQ(r.family, ChatFamily::kChatML);
  EXPECT_TRUE(r.warning.empty());
  EXPECT_EQ(r.text, render_chat(ChatFamily::kChatML, system_user(), true));
}

TEST(ChatTemplateApply, UnknownFallsBackToLastUserMessage) {
  std::vector<ChatMessage> msgs = three_turns();
  msgs.push_back({"user", "last question"});
  RenderedChat r = apply_chat_template("{{ messages }}", msgs, true);
  EXPECT_EQ(r.family, ChatFamily::kUnknown);
  EXPECT_EQ(r.text, "last question");
  EXPECT_FALSE(r.warning.empty());
  EXPECT_THROW(render_chat(ChatFamily::kUnknown, msgs, true), Error);
}

}  // namespace
}  // namespace layerlab
