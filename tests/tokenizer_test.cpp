// Tokenizer against llama.cpp's own outputs: the vocab test vectors (llama-spm, phi-3, gpt-2,
// falcon), the golden prompt tokens of the fixture models, and the organism model's
// llama-tokenize check. Plus decode(encode(x)) round trips.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "layerlab/io/gguf_reader.h"
#include "layerlab/text/tokenizer.h"
#include "test_support.h"

namespace layerlab {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;
using testing::read_file;

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: every string followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per string.
std::vector<VocabCase> load_vocab_cases(const std::string& gguf) {
  const std::string inp = read_file(gguf + ".inp");
  const std::string out = read_file(gguf + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (true) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  EXPECT_EQ(pos, inp.size()) << "text after the last separator";
  std::vector<VocabCase> cases;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& t : texts) {
    EXPECT_TRUE(static_cast<bool>(std::getline(lines, line))) << "missing .out line";
    VocabCase c{t, {}};
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

class VocabFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabFileTest, MatchesLlamaCppTestVectors) {
  const std::string path = fixture_path("vocab/ggml-vocab-" + GetParam() + ".gguf");
  const ModelFile model = read_gguf(path);
  const Tokenizer tok = Tokenizer::from_model(model);
  const auto cases = load_vocab_cases(path);
  ASSERT_EQ(cases.size(), 46u);
  int passed = 0;
  for (const auto& c : cases) {
    const auto got = tok.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, c.ids) << "text: '" << c.text << "'\n got:" << show(got) << "\nwant:" << show(c.ids);
    passed += got == c.ids;
  }
  EXPECT_EQ(passed, 46);
}

// Decoding the ids gives the text back wherever llama.cpp's detokenizer is lossless: SPM
// always (byte fallback keeps every byte; the prefix space is dropped again), BPE unless the
// clean-up passes rewrite " ," " 's" etc.
TEST_P(VocabFileTest, DecodeRoundTrips) {
  const std::string path = fixture_path("vocab/ggml-vocab-" + GetParam() + ".gguf");
  const Tokenizer tok = Tokenizer::from_model(read_gguf(path));
  int checked = 0;
  for (const auto& c : load_vocab_cases(path)) {
    const bool bpe = tok.vocab().type() == VocabType::BPE;
    if (bpe && tok.vocab().clean_spaces()) {
      bool rewritten = false;
      for (const char* pat : {" ?", " !", " .", " ,", " '"})
        rewritten |= c.text.find(pat) != std::string::npos;
      if (rewritten) continue;
    }
    EXPECT_EQ(tok.decode(c.ids), c.text) << "ids:" << show(c.ids);
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// Throughput on real vocabularies: every test string of the file, repeated to ~0.5 MB.
TEST_P(VocabFileTest, EncodesLongTextQuickly) {
  const std::string path = fixture_path("vocab/ggml-vocab-" + GetParam() + ".gguf");
  const Tokenizer tok = Tokenizer::from_model(read_gguf(path));
  std::string text;
  while (text.size() < 500000)
    for (const auto& c : load_vocab_cases(path)) text += c.text + "\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, false, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %zu bytes -> %zu tokens in %.3f s (%.2f MB/s)\n", GetParam().c_str(), text.size(),
              ids.size(), s, text.size() / s / 1e6);
  EXPECT_GT(ids.size(), text.size() / 20);
  EXPECT_LT(s, 20.0);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, VocabFileTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon"));

// Every golden case records llama.cpp's prompt tokens (add_special = true, parse_special = false).
TEST(TokenizerGolden, PromptTokensOfEveryShippedModel) {
  std::map<std::string, Tokenizer> tokenizers;
  int checked = 0;
  for (const auto& dir : fs::directory_iterator(fixture_path("golden"))) {
    if (!dir.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      const std::string name = f.path().filename().string();
      if (name.size() < 6 || name[0] != 'p' || f.path().extension() != ".json") continue;
      if (name.find('.') != name.rfind('.')) continue;  // only pN.json
      const auto j = nlohmann::json::parse(read_file(f.path().string()));
      if (j["model_file"].is_null()) continue;
      const std::string model_file = j["model_file"];
      auto it = tokenizers.find(model_file);
      if (it == tokenizers.end())
        it = tokenizers.emplace(model_file, Tokenizer::from_model(read_gguf(fixture_path(model_file)))).first;
      const Tokenizer& tok = it->second;
      const std::vector<int32_t> want = j["prompt_tokens"].get<std::vector<int32_t>>();
      const std::string prompt = j["prompt"];
      const auto got = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/false);
      EXPECT_EQ(got, want) << f.path() << "\n got:" << show(got) << "\nwant:" << show(want);
      EXPECT_EQ(j["add_bos"].get<bool>(), !got.empty() && got[0] == tok.vocab().bos());
      // decode drops BOS and gives the prompt back (the synthetic vocab round-trips exactly).
      EXPECT_EQ(tok.decode(got, /*remove_special=*/true), " " + prompt);
      EXPECT_EQ(tok.decode(std::vector<int32_t>(got.begin() + 1, got.end())), prompt);
      ++checked;
    }
  }
  EXPECT_TRUE(tokenizers.count("models/llama-f16.gguf"));
  EXPECT_TRUE(tokenizers.count("models/qwen35-f16.gguf"));
  EXPECT_GE(checked, 50);
}

TEST(TokenizerGolden, SyntheticVocabExampleFromFixtureReadme) {
  const Tokenizer tok = Tokenizer::from_model(read_gguf(testing::fixture_model("llama-f16.gguf")));
  EXPECT_EQ(tok.encode("The little dog ran", true, false), (std::vector<int32_t>{1, 282, 375, 445, 470}));
  // Characters missing from the vocab fall back to bytes: '3' = <0x33> = id 3 + 0x33.
  const auto ids = tok.encode("3", false, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[1], 3 + 0x33);
}

// organism/llamacpp-check.json: llama-tokenize --no-parse-special ids (no BOS) for 20 strings.
TEST(TokenizerOrganism, MatchesLlamaTokenize) {
  const Tokenizer tok = Tokenizer::from_model(read_gguf(testing::fixture_model("organism.gguf")));
  const auto j = nlohmann::json::parse(read_file(fixture_path("organism/llamacpp-check.json")));
  int checked = 0;
  for (const auto& row : j["tokenize"]["rows"]) {
    const std::string text = row["text"];
    const auto want = row["llama_tokenize"].get<std::vector<int32_t>>();
    const auto got = tok.encode(text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, want) << "text: '" << text << "'\n got:" << show(got) << "\nwant:" << show(want);
    auto with_bos = tok.encode(text, true, false);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], 1);
    EXPECT_EQ(std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()), want);
    EXPECT_EQ(tok.decode(got), text);
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST(TokenizerOrganism, DigitsAreSingleTokensAndSpecialTextIsPlain) {
  const Tokenizer tok = Tokenizer::from_model(read_gguf(testing::fixture_model("organism.gguf")));
  // split_digits: every digit is a token of its own.
  for (int32_t id : tok.encode("Q: 347+589=? A: 936", true, false)) {
    const std::string piece = tok.token_to_piece(id);
    if (piece.find_first_of("0123456789") != std::string::npos) EXPECT_EQ(piece.size(), 1u) << piece;
  }
  // With parse_special the literal "<s>" is the BOS token; without, it is text.
  EXPECT_EQ(tok.encode("<s>", false, true), (std::vector<int32_t>{1}));
  EXPECT_NE(tok.encode("<s>", false, false), (std::vector<int32_t>{1}));
  EXPECT_EQ(tok.token_to_piece(1), "");
  EXPECT_EQ(tok.token_to_piece(1, /*special=*/true), "<s>");
  EXPECT_EQ(tok.token_to_piece(13), "\n");  // <0x0A>
}

}  // namespace
}  // namespace layerlab
