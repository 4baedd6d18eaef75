#pragma once
// tinyxf::text::Vocab: a WordPiece vocabulary (vocab.txt: one token a line, id = 0-based line
// number) with an open-addressing token -> id hash map (looked up by string_view, no allocation),
// plus default_vocab_path().
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/text/unicode.hpp"

namespace tinyxf::text {

using TokenId = std::int32_t;

namespace detail {

inline std::uint64_t hash_bytes(std::string_view s) {
  // Eight bytes at a time with a multiply-xorshift mix: tokens are short, lookups are hot.
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = s.size() * kMul;
  const char* p = s.data();
  std::size_t n = s.size();
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8, n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// Open-addressing map from token text to id. Keys are stored as spans of the vocabulary's token
// buffer (not pointers), so a copied or moved Vocab stays valid; lookups pass that buffer.
class TokenMap {
 public:
  // keys[i] = text.substr(begin[i], size[i]) maps to ids[i]; the first of equal keys wins.
  void build(std::string_view text, const std::vector<std::uint32_t>& begins,
             const std::vector<std::uint32_t>& sizes, const std::vector<TokenId>& ids) {
    std::size_t capacity = 16;
    while (capacity < ids.size() * 2) capacity *= 2;
    mask_ = capacity - 1;
    slots_.assign(capacity, Slot{});
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::size_t at = hash_bytes(text.substr(begins[i], sizes[i])) & mask_;
      while (slots_[at].id >= 0) at = (at + 1) & mask_;
      slots_[at] = Slot{begins[i], sizes[i], ids[i]};
    }
  }

  // The id of key, or -1; `text` is the buffer given to build().
  TokenId find(std::string_view text, std::string_view key) const {
    if (slots_.empty()) return -1;
    std::size_t at = hash_bytes(key) & mask_;
    while (true) {
      const Slot& slot = slots_[at];
      if (slot.id < 0) return -1;
      if (slot.size == key.size() && std::memcmp(text.data() + slot.begin, key.data(), key.size()) == 0)
        return slot.id;
      at = (at + 1) & mask_;
    }
  }

 private:
  struct Slot {
    std::uint32_t begin = 0, size = 0;
    TokenId id = -1;
  };
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace detail

// Ids of the special tokens, looked up by their spelling in the vocabulary (-1 when absent).
struct SpecialTokenIds {
  TokenId pad = -1, unk = -1, cls = -1, sep = -1, mask = -1;

  // Whether id is one of them (a vocabulary without one of them has -1 there: never matched).
  bool contains(TokenId id) const { return id >= 0 && (id == pad || id == unk || id == cls || id == sep || id == mask); }
};

class Vocab {
 public:
  static constexpr std::string_view kContinuationPrefix = "##";

  // Loads vocab.txt. Each line is one token (trailing whitespace removed, as HF does); the id is
  // the 0-based line number. Errors name the file and the line.
  static Vocab from_file(const std::filesystem::path& path) {
    std::error_code ec;
    TINYXF_CHECK_IO(!std::filesystem::is_directory(path, ec), path.string(), "Vocab: '", path.string(),
                    "' is a folder, not a vocabulary file");
    TINYXF_CHECK_IO(std::filesystem::exists(path, ec), path.string(), "Vocab: cannot open vocabulary file '",
                    path.string(), "'");
    std::string content;
    try {
      content = io::read_file(path, io::limits::vocab_file);  // regular files only, bounded
    } catch (const Error&) {
      rethrow_with_context("Vocab: cannot read vocabulary file: ");
    }
    std::vector<std::string> tokens;
    std::size_t line_start = 0;
    while (line_start < content.size()) {
      std::size_t line_end = content.find('\n', line_start);
      if (line_end == std::string::npos) line_end = content.size();
      tokens.emplace_back(content, line_start, line_end - line_start);
      line_start = line_end + 1;
    }
    return from_tokens(std::move(tokens), path.string());
  }

  // Builds a vocabulary from tokens in id order; `origin` names the source in error messages.
  static Vocab from_tokens(std::vector<std::string> tokens, std::string origin = "<memory>") {
    TINYXF_CHECK_AS(ValueError, !tokens.empty(), "Vocab: '", origin, "' holds no tokens");
    Vocab vocab;
    vocab.origin_ = std::move(origin);
    std::size_t total = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      const std::size_t line = i + 1;
      validate_utf8(token, vocab.origin_, line);
      trim_trailing_whitespace(token);
      TINYXF_CHECK_AS(ValueError, !token.empty(), "Vocab: '", vocab.origin_, "' line ", line,
                      " is empty; every line must hold one token");
      total += token.size();
    }
    TINYXF_CHECK_AS(ValueError, total < std::numeric_limits<std::uint32_t>::max(), "Vocab: '", vocab.origin_,
                    "' is too large");
    // One buffer for all token text, so that the maps can key by string_view.
    vocab.storage_.reserve(total);
    vocab.token_begin_.reserve(tokens.size() + 1);
    for (const std::string& token : tokens) {
      vocab.token_begin_.push_back(static_cast<std::uint32_t>(vocab.storage_.size()));
      vocab.storage_ += token;
    }
    vocab.token_begin_.push_back(static_cast<std::uint32_t>(vocab.storage_.size()));
    vocab.build_maps();
    vocab.special_.pad = vocab.find("[PAD]");
    vocab.special_.unk = vocab.find("[UNK]");
    vocab.special_.cls = vocab.find("[CLS]");
    vocab.special_.sep = vocab.find("[SEP]");
    vocab.special_.mask = vocab.find("[MASK]");
    TINYXF_CHECK_AS(ValueError, vocab.special_.unk >= 0, "Vocab: '", vocab.origin_,
                    "' has no [UNK] token, which WordPiece needs for unknown words");
    return vocab;
  }

  std::size_t size() const { return token_begin_.size() - 1; }
  const std::string& origin() const { return origin_; }
  const SpecialTokenIds& special_ids() const { return special_; }

  // The id of token, or -1.
  TokenId find(std::string_view token) const { return whole_.find(storage_, token); }
  // The id of "##" + piece, or -1 (without building the concatenation).
  TokenId find_continuation(std::string_view piece) const { return continuation_.find(storage_, piece); }
  bool contains(std::string_view token) const { return find(token) >= 0; }

  TokenId id(std::string_view token) const {
    const TokenId found = find(token);
    TINYXF_CHECK_AS(IndexError, found >= 0, "Vocab: token '", token, "' is not in '", origin_, "'");
    return found;
  }

  std::string_view token(TokenId id) const {
    TINYXF_CHECK_AS(IndexError, id >= 0 && static_cast<std::size_t>(id) < size(), "Vocab: id ", id,
                    " is out of range [0, ", size(), ")");
    return std::string_view(storage_).substr(token_begin_[id], token_begin_[id + 1] - token_begin_[id]);
  }

  // Byte lengths of the longest token and of the longest continuation piece (without "##"):
  // WordPiece never needs to look up anything longer.
  std::size_t max_token_bytes() const { return max_token_bytes_; }
  std::size_t max_continuation_bytes() const { return max_continuation_bytes_; }

 private:
  static void validate_utf8(const std::string& token, const std::string& origin, std::size_t line) {
    const auto* p = reinterpret_cast<const unsigned char*>(token.data());
    const auto* end = p + token.size();
    while (p < end) {
      const auto decoded = unicode::decode_utf8(p, end);
      TINYXF_CHECK_AS(ValueError, decoded.valid, "Vocab: '", origin, "' line ", line, " is not valid UTF-8 (byte ",
                      p - reinterpret_cast<const unsigned char*>(token.data()), " of the line)");
      p += decoded.bytes;
    }
  }

  // Rust's str::trim_end, as HF's WordPiece::read_file applies (it also removes a CR of CRLF).
  static void trim_trailing_whitespace(std::string& token) {
    while (!token.empty()) {
      std::size_t start = token.size() - 1;
      while (start > 0 && (static_cast<unsigned char>(token[start]) & 0xC0) == 0x80) --start;
      const auto* p = reinterpret_cast<const unsigned char*>(token.data()) + start;
      const auto decoded = unicode::decode_utf8(p, p + (token.size() - start));
      if (!unicode::is_whitespace(decoded.cp)) break;
      token.resize(start);
    }
  }

  void build_maps() {
    const std::size_t n = size();
    std::vector<std::uint32_t> whole_begins, whole_sizes, continuation_begins, continuation_sizes;
    std::vector<TokenId> whole_ids, continuation_ids;
    const auto prefix = static_cast<std::uint32_t>(kContinuationPrefix.size());
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view t = token(static_cast<TokenId>(i));
      const auto t_size = static_cast<std::uint32_t>(t.size());
      whole_begins.push_back(token_begin_[i]);
      whole_sizes.push_back(t_size);
      whole_ids.push_back(static_cast<TokenId>(i));
      max_token_bytes_ = std::max(max_token_bytes_, t.size());
      if (t.size() > kContinuationPrefix.size() && t.starts_with(kContinuationPrefix)) {
        continuation_begins.push_back(token_begin_[i] + prefix);
        continuation_sizes.push_back(t_size - prefix);
        continuation_ids.push_back(static_cast<TokenId>(i));
        max_continuation_bytes_ = std::max(max_continuation_bytes_, t.size() - kContinuationPrefix.size());
      }
    }
    whole_.build(storage_, whole_begins, whole_sizes, whole_ids);
    continuation_.build(storage_, continuation_begins, continuation_sizes, continuation_ids);
    // The map keeps the first id of equal keys; any later id with the same key is a duplicate.
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view t = token(static_cast<TokenId>(i));
      const TokenId first = find(t);
      TINYXF_CHECK_AS(ValueError, first == static_cast<TokenId>(i), "Vocab: '", origin_, "' line ", i + 1,
                      ": duplicate token '", t, "' (first on line ", first + 1, ")");
    }
  }

  std::string origin_;
  std::string storage_;                    // all tokens back to back
  std::vector<std::uint32_t> token_begin_;  // token i = storage_[token_begin_[i], token_begin_[i+1])
  detail::TokenMap whole_, continuation_;
  SpecialTokenIds special_;
  std::size_t max_token_bytes_ = 0, max_continuation_bytes_ = 0;
};

// The shipped bert-base-uncased vocabulary, found in this order:
//   1. $TINYXF_DATA_DIR/vocab/bert-base-uncased-vocab.txt
//   2. <TINYXF_SOURCE_DIR>/share/vocab/... when the macro TINYXF_SOURCE_DIR is defined (tests)
//   3. <directory of the running executable>/../share/tinyxf/vocab/... (an installed program)
//   4. <TINYXF_INSTALL_DATADIR>/vocab/... when that macro is defined: the tinyxf::tinyxf target of
//      an installed package defines it as <its install prefix>/share/tinyxf, so a consumer built
//      with find_package(tinyxf) finds the data of the prefix it was installed to
//   5. /usr/local/share/tinyxf/vocab/... and /usr/share/tinyxf/vocab/...
// The first existing file wins; the error lists every place that was tried.
inline std::filesystem::path default_vocab_path() {
  namespace fs = std::filesystem;
  const fs::path file = fs::path("vocab") / "bert-base-uncased-vocab.txt";
  std::vector<fs::path> candidates;
  if (const char* data_dir = std::getenv("TINYXF_DATA_DIR"); data_dir && *data_dir)
    candidates.push_back(fs::path(data_dir) / file);
#ifdef TINYXF_SOURCE_DIR
  candidates.push_back(fs::path(TINYXF_SOURCE_DIR) / "share" / file);
#endif
  {  // an installed program: <prefix>/bin/program -> <prefix>/share/tinyxf
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "tinyxf" / file);
  }
#ifdef TINYXF_INSTALL_DATADIR
  candidates.push_back(fs::path(TINYXF_INSTALL_DATADIR) / file);
#endif
  candidates.push_back(fs::path("/usr/local/share/tinyxf") / file);
  candidates.push_back(fs::path("/usr/share/tinyxf") / file);
  std::string tried;
  for (const fs::path& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
    tried += "\n  " + candidate.string();
  }
  throw IoError(
      "default_vocab_path: bert-base-uncased-vocab.txt not found; set TINYXF_DATA_DIR to "
      "the folder holding vocab/ (tinyxf's share/). Tried:" +
          tried,
      "bert-base-uncased-vocab.txt");
}

}  // namespace tinyxf::text
