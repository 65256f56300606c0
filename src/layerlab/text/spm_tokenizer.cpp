#include "layerlab/text/spm_tokenizer.h"

#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "layerlab/text/utf8.h"

namespace layerlab {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581

struct Symbol {
  int prev;
  int next;
  size_t offset;  // into the text
  size_t n;       // bytes; 0 once merged into the left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first; among equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, std::string_view text) : vocab_(vocab), text_(text) {}

  void run(std::vector<int32_t>& out) {
    if (text_.empty()) return;
    size_t offs = 0;
    int index = 0;
    while (offs < text_.size()) {
      const size_t len =
          std::min(utf8_sequence_length(static_cast<unsigned char>(text_[offs])), text_.size() - offs);
      Symbol s{index - 1, 0, offs, len};
      offs += len;
      s.next = offs == text_.size() ? -1 : index + 1;
      ++index;
      symbols_.push_back(s);
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[b.left];
      Symbol& right = symbols_[b.right];
      // Stale entry: one side was merged away or grew since the pair was queued.
      if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;
      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[right.next].prev = b.left;
      try_add_bigram(left.prev, b.left);
      try_add_bigram(b.left, left.next);
    }
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out, 0);
  }

 private:
  std::string_view sym_text(const Symbol& s) const { return text_.substr(s.offset, s.n); }

  void try_add_bigram(int left, int right) {
    if (left == -1 || right == -1) return;
    const std::string_view t = text_.substr(symbols_[left].offset, symbols_[left].n + symbols_[right].n);
    const int32_t id = vocab_.find(t);
    if (id == kNoToken) return;
    queue_.push(Bigram{left, right, vocab_.token(id).score, t.size()});
    rev_merge_[std::string(t)] = {left, right};
  }

  // A symbol that is no token is split back along the merge that formed it; whatever is
  // left unresolved becomes one byte token per byte.
  void resegment(const Symbol& s, std::vector<int32_t>& out, int depth) {
    const std::string_view t = sym_text(s);
    if (const int32_t id = vocab_.find(t); id != kNoToken) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge_.find(std::string(t));
    if (it == rev_merge_.end() || depth > 64) {
      for (char c : t) out.push_back(vocab_.byte_to_token(static_cast<uint8_t>(c)));
      return;
    }
    const auto [l, r] = it->second;
    const Symbol& ls = symbols_[l];
    const Symbol& rs = symbols_[r];
    // Guard against re-entering the same text (the halves are read in their current state).
    if (ls.n >= s.n || rs.n >= s.n) {
      for (char c : t) out.push_back(vocab_.byte_to_token(static_cast<uint8_t>(c)));
      return;
    }
    resegment(ls, out, depth + 1);
    resegment(rs, out, depth + 1);
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge_;
};

}  // namespace

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  SpmSession(vocab, text).run(out);
}

std::string escape_spm_whitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (char c : text) {
    if (c == ' ')
      out += kSpmSpace;
    else
      out += c;
  }
  return out;
}

std::string unescape_spm_whitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    if (text.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
      out += ' ';
      pos += kSpmSpace.size();
    } else {
      out += text[pos++];
    }
  }
  return out;
}

}  // namespace layerlab
