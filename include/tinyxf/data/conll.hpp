#pragma once
// Token classification files in the CoNLL format (CoNLL-2003 NER, part of speech, chunking): one
// token per line with whitespace-separated columns, the word first and the tag in a later column
// (the last by default, CoNLL-2003's NER column); a blank line ends a sentence; "-DOCSTART-"
// lines are document markers (they end a sentence too, as HF datasets' conll2003 loader), not words.
//
//   const data::ConllData train = data::read_conll("train.txt");               // label_names: sorted tags
//   const data::ConllData dev = data::read_conll("valid.txt", train.label_names); // the same ids
//   // train.examples: std::vector<data::TokenClassificationExample> for the DataLoader / Trainer
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/io/atomic_file.hpp"

namespace tinyxf::data {

struct ConllData {
  std::vector<TokenClassificationExample> examples;  // one per sentence; tags index label_names
  std::vector<std::string> label_names;              // tag id -> name
};

struct ConllOptions {
  // The tag's column, 0-based from the word (CoNLL-2003: 1 POS, 2 chunk, 3 NER); -1: the last.
  int tag_column = -1;
};

// The sentences of CoNLL-format text. label_names empty: the file's distinct tags, sorted (as
// run_ner.py's get_label_list); else those ids, and a tag outside them is refused naming its line.
// Throws ValueError naming `origin` and the line of a token without its tag column.
inline ConllData parse_conll(std::string_view text, std::vector<std::string> label_names = {}, const ConllOptions& options = {},
                             std::string_view origin = "in memory") {
  const auto fail = [&](std::size_t line, const std::string& why) {
    return ValueError("CoNLL data (" + std::string(origin) + ") line " + std::to_string(line) + ": " + why);
  };
  TINYXF_CHECK_AS(ValueError, options.tag_column >= -1 && options.tag_column != 0, "CoNLL data (", origin,
                  "): tag_column ", options.tag_column, " is not a column after the word (1, 2, ... or -1 for the last)");
  // Sentences as word / tag-name lists first: the ids come from the whole file's tags.
  std::vector<std::vector<std::string>> words(1), tags(1);
  std::vector<std::vector<std::size_t>> tag_lines(1);  // where each tag was read, for errors
  std::size_t line_number = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    const std::size_t end = std::min(text.find('\n', begin), text.size());
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> columns;
    for (std::size_t at = 0; at < line.size();) {
      const std::size_t start = line.find_first_not_of(" \t", at);
      if (start == std::string_view::npos) break;
      const std::size_t stop = std::min(line.find_first_of(" \t", start), line.size());
      columns.push_back(line.substr(start, stop - start));
      at = stop;
    }
    if (columns.empty() || columns.front() == "-DOCSTART-") {  // a sentence ends (a document marker too)
      if (!words.back().empty()) {
        words.emplace_back();
        tags.emplace_back();
        tag_lines.emplace_back();
      }
      continue;
    }
    const std::size_t column = options.tag_column < 0 ? columns.size() - 1 : static_cast<std::size_t>(options.tag_column);
    if (columns.size() < 2 || column == 0 || column >= columns.size())
      throw fail(line_number, "expected a word and its tag (column " + std::to_string(column) + "), got " +
                                  std::to_string(columns.size()) + " column(s): '" + std::string(line) + "'");
    words.back().emplace_back(columns.front());
    tags.back().emplace_back(columns[column]);
    tag_lines.back().push_back(line_number);
  }
  if (words.back().empty()) {
    words.pop_back();
    tags.pop_back();
    tag_lines.pop_back();
  }
  const bool fixed = !label_names.empty();
  if (!fixed) {
    for (const auto& sentence : tags) label_names.insert(label_names.end(), sentence.begin(), sentence.end());
    std::sort(label_names.begin(), label_names.end());
    label_names.erase(std::unique(label_names.begin(), label_names.end()), label_names.end());
  }
  std::map<std::string, std::int64_t, std::less<>> ids;
  for (std::size_t i = 0; i < label_names.size(); ++i) ids.emplace(label_names[i], static_cast<std::int64_t>(i));
  ConllData out;
  out.label_names = std::move(label_names);
  for (std::size_t s = 0; s < words.size(); ++s) {
    TokenClassificationExample e;
    e.words = std::move(words[s]);
    for (std::size_t t = 0; t < tags[s].size(); ++t) {
      const auto it = ids.find(tags[s][t]);
      if (it == ids.end())
        throw fail(tag_lines[s][t], "tag '" + tags[s][t] + "' is not among the " + std::to_string(out.label_names.size()) +
                                        " label names");
      e.tags.push_back(it->second);
    }
    out.examples.push_back(std::move(e));
  }
  return out;
}

// parse_conll of a file (IoError when it cannot be read).
inline ConllData read_conll(const std::filesystem::path& path, std::vector<std::string> label_names = {},
                            const ConllOptions& options = {}) {
  return parse_conll(io::read_file(path), std::move(label_names), options, path.string());
}

}  // namespace tinyxf::data
