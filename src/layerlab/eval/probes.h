// Probe files: JSON Lines, one item per line, as the evaluators and scans read them.
//
//   {"prompt": "Q: 25+68=? A: ", "answer": "93", "task": "add2"}          greedy exact match
//   {"prompt": "The capital of France is", "choices": [" Paris", " Rome"], "answer": 0}
//                                                                          multiple choice
//
// "task" (optional, default "all") groups items in summaries; "id" (optional) names an item,
// by default "line N". A choice item's "answer" is the index of the right choice or its text.
// Blank lines are skipped. See docs/eval.md.
#pragma once

#include <string>
#include <vector>

namespace layerlab {

struct ProbeItem {
  std::string id;
  std::string task = "all";
  std::string prompt;
  std::string answer;                // exact-match items: the expected completion
  std::vector<std::string> choices;  // multiple-choice items (then answer_index is set)
  int answer_index = -1;
  bool is_choice() const { return !choices.empty(); }
};

struct ProbeSet {
  std::string path;
  std::string digest;  // FNV-1a 64 of the file bytes, hex: scans check they resume on the same probes
  std::vector<ProbeItem> items;
};

// Throws layerlab::Error "PATH:LINE: problem" for unreadable files, bad JSON, missing or
// mistyped fields, an out-of-range answer index, or a file with no items.
ProbeSet read_probe_file(const std::string& path);
ProbeSet parse_probes(const std::string& text, const std::string& path);

// FNV-1a 64-bit hash of bytes, as 16 hex digits.
std::string content_digest(const std::string& bytes);

}  // namespace layerlab
