#include "layerlab/text/bpe_tokenizer.h"

#include <queue>
#include <string>

#include "layerlab/text/byte_encoding.h"
#include "layerlab/text/utf8.h"

namespace layerlab {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t n;  // 0 once merged into the left neighbour
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t size;  // bytes of left + right when queued
};

// Lowest rank first; among equal ranks the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

void tokenize_word(const Vocab& vocab, const std::string& word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (vocab.ignore_merges()) {
    if (const int32_t id = vocab.find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  size_t offset = 0;
  int index = 0;
  while (offset < word.size()) {
    const size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(word[offset])),
                                word.size() - offset);
    Symbol s{index - 1, 0, offset, len};
    offset += len;
    s.next = offset == word.size() ? -1 : index + 1;
    ++index;
    symbols.push_back(s);
  }
  const std::string_view w(word);
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto add_bigram = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const int32_t rank = vocab.merge_rank(w.substr(l.offset, l.n), w.substr(r.offset, r.n));
    if (rank < 0) return;
    queue.push(Bigram{left, right, rank, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    // Stale entry: a side was merged away, or the pair is no longer what was queued
    // (symbols only grow, and `right` stays the left's neighbour until merged, so the
    // lengths tell).
    if (l.n == 0 || r.n == 0 || l.next != b.right || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    add_bigram(l.prev, b.left);
    add_bigram(b.left, l.next);
  }

  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view t = w.substr(s.offset, s.n);
    if (const int32_t id = vocab.find(t); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char c : t) {
      if (const int32_t id = vocab.find(std::string_view(&c, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

}  // namespace

void bpe_tokenize(const Vocab& vocab, const RegexSplitter& splitter, std::string_view text,
                  std::vector<int32_t>& out) {
  for (const std::string& piece : splitter.split(text)) {
    tokenize_word(vocab, bytes_to_unicode_text(piece), out);
  }
}

}  // namespace layerlab
