#include "layerlab/eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "layerlab/eval/compare.h"
#include "layerlab/io/error.h"

namespace layerlab {

struct Evaluator::Workload {
  enum class Kind { kProbes, kPerplexity } kind = Kind::kProbes;
  // Probes: per item, the prompt tokens (exact match) or one token sequence per choice
  // (context + continuation) with the context length.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> answers;  // exact match: the stripped expected answer
  std::vector<int> max_new;          // exact match: tokens to generate at most
  std::vector<std::vector<std::vector<int32_t>>> choice_seqs;
  std::vector<std::vector<size_t>> choice_ctx;
  std::vector<int> answer_index;     // -1 for exact-match items
  // Perplexity: the chunks (first token already BOS) and the tokens they predict.
  std::vector<std::vector<int32_t>> chunks;
  std::vector<std::vector<int32_t>> targets;  // targets[c][j] is predicted by row first + j
  int first = 0;
};

namespace {

std::string_view strip(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Whether generated text `text` (not yet ended) can still become `answer` once stripped.
bool may_still_match(std::string_view text, std::string_view answer) {
  const size_t b = text.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return true;
  const std::string_view s = text.substr(b);
  if (s.size() <= answer.size()) return answer.substr(0, s.size()) == s;
  return s.substr(0, answer.size()) == answer && s.find_first_not_of(" \t\r", answer.size()) == std::string_view::npos;
}

void check_stop(const std::atomic<bool>* stop) {
  if (stop && stop->load(std::memory_order_relaxed)) throw EvalInterrupted();
}

// Consecutive runs of `order` whose sequences fit the batch limits: at most `max_seqs`
// sequences, `max_tokens` tokens and `max_rows` logit rows (when every position's logits are
// kept); a single item always forms a batch.
template <class SeqCount, class TokenCount>
std::vector<std::pair<size_t, size_t>> make_batches(size_t n, int max_seqs, int64_t max_tokens,
                                                    SeqCount seqs_of, TokenCount tokens_of) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  while (begin < n) {
    size_t end = begin;
    int64_t seqs = 0, tokens = 0;
    while (end < n) {
      const int64_t s = seqs_of(end), t = tokens_of(end);
      if (end > begin && (seqs + s > max_seqs || tokens + t > max_tokens)) break;
      seqs += s;
      tokens += t;
      ++end;
    }
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

}  // namespace

double token_nll(std::span<const float> row, int32_t target) {
  if (target < 0 || static_cast<size_t>(target) >= row.size())
    throw Error(fmt::format("token {} is outside the vocabulary of {}", target, row.size()));
  float mx = row[0];
  for (float v : row) mx = std::max(mx, v);
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
  return std::log(sum) + mx - row[static_cast<size_t>(target)];
}

Evaluator::Evaluator(const Tokenizer& tokenizer, EvalOptions options) : tokenizer_(tokenizer), options_(options) {
  for (int32_t t : {tokenizer.vocab().eos(), tokenizer.vocab().eot()})
    if (tokenizer.vocab().valid(t)) end_tokens_.push_back(t);
}
Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;

int64_t Evaluator::n_items() const {
  int64_t n = 0;
  for (const auto& info : infos_) n += static_cast<int64_t>(info.item_ids.size());
  return n;
}

void Evaluator::add_probes(const ProbeSet& set, std::string name) {
  if (name.empty()) name = std::filesystem::path(set.path).stem().string();
  MetricInfo info{name, MetricKind::kAccuracy, set.path, set.digest, {}, {}};
  Workload w;
  for (const ProbeItem& item : set.items) {
    info.item_ids.push_back(item.id);
    info.item_tasks.push_back(item.task);
    const std::vector<int32_t> ctx = tokenizer_.encode(item.prompt, /*add_special=*/true, /*parse_special=*/false);
    if (ctx.empty()) throw Error(fmt::format("{}: item '{}': the prompt gives no tokens", set.path, item.id));
    if (!item.is_choice()) {
      const auto answer_tokens = tokenizer_.encode(item.answer, /*add_special=*/false, /*parse_special=*/false);
      w.prompts.push_back(ctx);
      w.answers.emplace_back(strip(item.answer));
      w.max_new.push_back(static_cast<int>(answer_tokens.size()) + options_.extra_new_tokens);
      w.choice_seqs.emplace_back();
      w.choice_ctx.emplace_back();
      w.answer_index.push_back(-1);
      max_prompt_ = std::max<int64_t>(max_prompt_, static_cast<int64_t>(ctx.size()));
      max_new_ = std::max<int64_t>(max_new_, w.max_new.back());
      continue;
    }
    // The continuation is what the whole text adds to the prompt's tokens; when the tokenizer
    // merges across the boundary, the choice is tokenized on its own instead.
    std::vector<std::vector<int32_t>> seqs;
    std::vector<size_t> ctx_lens;
    for (const std::string& choice : item.choices) {
      std::vector<int32_t> full = tokenizer_.encode(item.prompt + choice, true, false);
      if (full.size() <= ctx.size() || !std::equal(ctx.begin(), ctx.end(), full.begin())) {
        full = ctx;
        const auto cont = tokenizer_.encode(choice, false, false);
        full.insert(full.end(), cont.begin(), cont.end());
      }
      if (full.size() == ctx.size())
        throw Error(fmt::format("{}: item '{}': a choice gives no tokens", set.path, item.id));
      max_prompt_ = std::max<int64_t>(max_prompt_, static_cast<int64_t>(full.size()));
      seqs.push_back(std::move(full));
      ctx_lens.push_back(ctx.size());
    }
    w.prompts.emplace_back();
    w.answers.emplace_back();
    w.max_new.push_back(0);
    w.choice_seqs.push_back(std::move(seqs));
    w.choice_ctx.push_back(std::move(ctx_lens));
    w.answer_index.push_back(item.answer_index);
  }
  infos_.push_back(std::move(info));
  workloads_.push_back(std::move(w));
}

void Evaluator::add_perplexity(std::string name, const std::string& text, const std::string& source, int ctx) {
  if (ctx < 4) throw Error(fmt::format("{}: perplexity context {} is too short (at least 4)", source, ctx));
  const std::vector<int32_t> tokens = tokenizer_.encode(text, /*add_special=*/true, /*parse_special=*/false);
  const size_t n_chunks = tokens.size() / static_cast<size_t>(ctx);
  if (n_chunks == 0)
    throw Error(fmt::format("{}: {} tokens, fewer than one {}-token chunk", source, tokens.size(), ctx));
  const int32_t bos = tokenizer_.vocab().bos();
  const bool add_bos = tokenizer_.vocab().add_bos() && tokenizer_.vocab().valid(bos);
  MetricInfo info{std::move(name), MetricKind::kNll, source, content_digest(text), {}, {}};
  Workload w;
  w.kind = Workload::Kind::kPerplexity;
  w.first = ctx / 2;
  for (size_t c = 0; c < n_chunks; ++c) {
    const auto begin = tokens.begin() + static_cast<ptrdiff_t>(c * static_cast<size_t>(ctx));
    std::vector<int32_t> chunk(begin, begin + ctx);
    w.targets.emplace_back(chunk.begin() + w.first + 1, chunk.end());
    if (add_bos) chunk[0] = bos;
    w.chunks.push_back(std::move(chunk));
    info.item_ids.push_back(fmt::format("chunk {}", c));
    info.item_tasks.push_back("all");
  }
  max_prompt_ = std::max<int64_t>(max_prompt_, ctx);
  infos_.push_back(std::move(info));
  workloads_.push_back(std::move(w));
}

std::vector<Evaluator::PrefillBatch> Evaluator::prefill_batches(int64_t n_vocab) const {
  const int64_t max_rows = std::max<int64_t>(1, options_.max_logit_bytes / (4 * std::max<int64_t>(1, n_vocab)));
  const int64_t budget = std::min(options_.batch_tokens, max_rows);
  std::vector<PrefillBatch> out;
  for (size_t wi = 0; wi < workloads_.size(); ++wi) {
    const Workload& w = workloads_[wi];
    PrefillBatch pb;
    pb.workload = wi;
    if (w.kind == Workload::Kind::kPerplexity) {
      for (const auto& [b, e] : make_batches(
               w.chunks.size(), options_.max_batch_sequences, budget, [](size_t) { return 1; },
               [&](size_t c) { return static_cast<int64_t>(w.chunks[c].size()); })) {
        pb.items.clear();
        for (size_t c = b; c < e; ++c) {
          pb.items.push_back(c);
          pb.sequences.push_back(w.chunks[c]);
        }
        out.push_back(pb);
        pb.sequences.clear();
      }
      continue;
    }
    std::vector<size_t> order;
    for (size_t i = 0; i < w.answer_index.size(); ++i)
      if (w.answer_index[i] >= 0) order.push_back(i);
    for (const auto& [b, e] : make_batches(
             order.size(), options_.max_batch_sequences, budget,
             [&](size_t k) { return static_cast<int64_t>(w.choice_seqs[order[k]].size()); },
             [&](size_t k) {
               int64_t t = 0;
               for (const auto& seq : w.choice_seqs[order[k]]) t += static_cast<int64_t>(seq.size());
               return t;
             })) {
      pb.items.clear();
      for (size_t k = b; k < e; ++k) {
        pb.items.push_back(order[k]);
        for (const auto& seq : w.choice_seqs[order[k]]) pb.sequences.push_back(seq);
      }
      out.push_back(pb);
      pb.sequences.clear();
    }
  }
  return out;
}

int64_t Evaluator::prefix_bytes(int64_t n_embd, int64_t n_vocab) const {
  int64_t rows = 0;
  for (const PrefillBatch& pb : prefill_batches(n_vocab))
    for (const auto& seq : pb.sequences) rows += static_cast<int64_t>(seq.size());
  return rows * n_embd * static_cast<int64_t>(sizeof(float));
}

void Evaluator::advance_prefix(Engine& baseline, SharedPrefix& prefix, int slot) const {
  const auto batches = prefill_batches(baseline.n_vocab());
  if (prefix.x.size() != batches.size()) {
    prefix.x.assign(batches.size(), {});
    prefix.slot = 0;
  }
  if (slot < prefix.slot) throw Error("shared prefix: cannot go back from slot " + std::to_string(prefix.slot));
  if (slot == prefix.slot) return;
  for (size_t k = 0; k < batches.size(); ++k) baseline.prefill_slots(batches[k].sequences, prefix.slot, slot, prefix.x[k]);
  prefix.slot = slot;
  baseline.reset();
}

std::vector<MetricScores> Evaluator::score(Engine& engine, const std::function<void(int64_t)>& on_items,
                                           const std::atomic<bool>* stop, const SharedPrefix* prefix) const {
  std::vector<MetricScores> out(workloads_.size());
  for (size_t wi = 0; wi < workloads_.size(); ++wi) {
    const Workload& w = workloads_[wi];
    if (w.kind == Workload::Kind::kPerplexity) {
      out[wi].items.assign(w.chunks.size(), 0.0);
      out[wi].tokens.assign(w.chunks.size(), 0);
    } else {
      out[wi] = score_exact(engine, w, on_items, stop);
    }
  }
  // Prefill-only work: perplexity chunks and choice continuations, all positions' logits.
  const auto batches = prefill_batches(engine.n_vocab());
  const bool shared = prefix && prefix->slot > 0 && prefix->x.size() == batches.size();
  for (size_t k = 0; k < batches.size(); ++k) {
    check_stop(stop);
    const PrefillBatch& pb = batches[k];
    const Workload& w = workloads_[pb.workload];
    MetricScores& r = out[pb.workload];
    const Logits& logits = shared ? engine.prefill_from(pb.sequences, prefix->slot, prefix->x[k], true)
                                  : (engine.reset(), engine.prefill(pb.sequences, true));
    if (w.kind == Workload::Kind::kPerplexity) {
      for (size_t i = 0; i < pb.items.size(); ++i) {
        const auto& targets = w.targets[pb.items[i]];
        double nll = 0;
        for (size_t j = 0; j < targets.size(); ++j)
          nll += token_nll(logits.row(static_cast<int>(i), w.first + static_cast<int64_t>(j)), targets[j]);
        r.items[pb.items[i]] = nll / static_cast<double>(targets.size());
        r.tokens[pb.items[i]] = static_cast<int64_t>(targets.size());
      }
    } else {
      int s = 0;
      for (size_t item : pb.items) {
        int best = -1;
        double best_lp = 0;
        for (size_t c = 0; c < w.choice_seqs[item].size(); ++c, ++s) {
          const auto& seq = w.choice_seqs[item][c];
          double lp = 0;
          for (size_t t = w.choice_ctx[item][c]; t < seq.size(); ++t)
            lp -= token_nll(logits.row(s, static_cast<int64_t>(t) - 1), seq[t]);
          if (best < 0 || lp > best_lp) {
            best = static_cast<int>(c);
            best_lp = lp;
          }
        }
        r.items[item] = best == w.answer_index[item] ? 1.0 : 0.0;
      }
    }
    if (on_items) on_items(static_cast<int64_t>(pb.items.size()));
  }
  engine.reset();
  return out;
}

MetricScores Evaluator::score_exact(Engine& engine, const Workload& w, const std::function<void(int64_t)>& on_items,
                                    const std::atomic<bool>* stop) const {
  const size_t n = w.prompts.size();
  MetricScores r;
  r.items.assign(n, 0.0);
  r.outputs.assign(n, std::string());
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (w.answer_index[i] < 0) order.push_back(i);
  const auto batches = make_batches(
      order.size(), options_.max_batch_sequences, options_.batch_tokens, [](size_t) { return 1; },
      [&](size_t k) { return static_cast<int64_t>(w.prompts[order[k]].size()); });
  for (const auto& [begin, end] : batches) {
    check_stop(stop);
    std::vector<std::vector<int32_t>> seqs;
    for (size_t k = begin; k < end; ++k) seqs.push_back(w.prompts[order[k]]);
    const size_t m = seqs.size();
    std::vector<std::vector<int32_t>> generated(m);
    std::vector<std::string> text(m);
    std::vector<bool> done(m, false);
    engine.reset();
    const Logits* logits = &engine.prefill(seqs);
    std::vector<int32_t> next(m);
    for (size_t left = m; left > 0;) {
      for (size_t s = 0; s < m; ++s) {
        next[s] = argmax(logits->last(static_cast<int>(s)));
        if (done[s]) continue;
        const size_t item = order[begin + s];
        const bool end_token = std::find(end_tokens_.begin(), end_tokens_.end(), next[s]) != end_tokens_.end();
        if (!end_token) {
          generated[s].push_back(next[s]);
          text[s] = tokenizer_.decode(generated[s]);
        }
        const size_t newline = text[s].find('\n');
        if (newline != std::string::npos) text[s].resize(newline);
        if (end_token || newline != std::string::npos || !may_still_match(text[s], w.answers[item]) ||
            static_cast<int>(generated[s].size()) >= w.max_new[item]) {
          done[s] = true;
          --left;
        }
      }
      if (left > 0) logits = &engine.decode(next);
    }
    for (size_t s = 0; s < m; ++s) {
      const size_t item = order[begin + s];
      r.outputs[item] = std::string(strip(text[s]));
      r.items[item] = r.outputs[item] == w.answers[item] ? 1.0 : 0.0;
    }
    if (on_items) on_items(static_cast<int64_t>(m));
  }
  // Choice items are scored with the prefill-only work; they have no generated text.
  return r;
}

}  // namespace layerlab
