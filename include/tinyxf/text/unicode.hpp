#pragma once
// Character classes of Hugging Face's BERT normalizer and pre-tokenizer (the Rust `tokenizers`
// crate, i.e. the "fast" tokenizer), built on utf8proc, plus a UTF-8 decoder that reports or
// replaces malformed input.
//
// HF classifies characters with sources of different age:
//   * Rust's std (`char::is_whitespace`, `char::to_lowercase`): current Unicode;
//   * the `unicode_categories` crate (control = Cc|Cf|Co, punctuation = P*, non-spacing mark Mn):
//     Unicode 8.0 tables;
//   * `unicode-normalization-alignments` (NFD, canonical combining classes): tables of the same age.
// utf8proc 2.8 knows Unicode 15, so the code points that were assigned (or re-categorised) since,
// in a way that matters to BERT, are listed below and classified the way HF does.
// tests/data/tokenizer/unicode_table.txt (made by HF itself) checks every code point.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include <utf8proc.h>

namespace tinyxf::text::unicode {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// ---- UTF-8 decoding --------------------------------------------------------------------------

struct DecodedChar {
  char32_t cp;          // U+FFFD when !valid
  std::uint32_t bytes;  // bytes consumed (>= 1)
  bool valid;
};

// Decodes one character at p (p < end). Malformed input consumes its "maximal subpart" (Unicode
// §3.9, Table 3-7; what Python's bytes.decode(errors="replace") does), so that replacing each
// invalid step with U+FFFD gives the same text as Python. Never reads at or past `end`.
inline DecodedChar decode_utf8(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  std::uint32_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return {kReplacementCharacter, 1, false};  // continuation byte, C0, C1 or F5..FF
  }
  std::uint32_t i = 1;
  for (; i <= need; ++i) {
    if (p + i >= end) return {kReplacementCharacter, i, false};
    const unsigned char b = p[i];
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return {kReplacementCharacter, i, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, need + 1, true};
}

// Appends the UTF-8 encoding of a valid scalar value; returns the number of bytes written.
inline std::size_t encode_utf8(char32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

// ---- general category as HF's Unicode 8.0 tables see it --------------------------------------

namespace detail {
struct CodepointRange {
  char32_t first, last;
};

// Code points that utf8proc puts in Cc/Cf/Co, Mn or P* but that HF's Unicode 8.0 tables do not
// know (assigned in 9.0 or later), so HF treats them as ordinary characters. A range may also
// cover code points of other categories, for which "ordinary" changes nothing. Found by running
// HF on every code point; unicode_table.txt keeps that result as a test.
inline constexpr std::array<CodepointRange, 41> kOrdinaryInHfTables{{
    {0x061D, 0x061D},   {0x07FD, 0x07FD},   {0x0890, 0x08E2},   {0x09FD, 0x09FE},
    {0x0A76, 0x0A76},   {0x0AFA, 0x0AFF},   {0x0B55, 0x0B55},   {0x0C04, 0x0C3C},
    {0x0C77, 0x0C77},   {0x0C84, 0x0C84},   {0x0D00, 0x0D00},   {0x0D3B, 0x0D3C},
    {0x0D81, 0x0D81},   {0x0EBA, 0x0EBA},   {0x0ECE, 0x0ECE},   {0x180F, 0x1886},
    {0x1ABF, 0x1ACE},   {0x1B7D, 0x1B7E},   {0x1DF6, 0x1DFB},   {0x2E43, 0x2E5D},
    {0xA82C, 0xA82C},   {0xA8C5, 0xA8C5},   {0xA8FF, 0xA8FF},   {0xA9BD, 0xA9BD},
    {0x10D24, 0x10F89}, {0x11070, 0x11074}, {0x110C2, 0x110CD}, {0x111C9, 0x111C9},
    {0x111CF, 0x111CF}, {0x1123E, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1145E},
    {0x11660, 0x1166C}, {0x116B9, 0x116B9}, {0x1182F, 0x11FFF}, {0x12FF1, 0x13455},
    {0x16E97, 0x16F4F}, {0x16FE2, 0x16FE4}, {0x1CF00, 0x1CF46}, {0x1E000, 0x1E4EF},
    {0x1E944, 0x1E95F},
}};

// Non-starters (canonical combining class > 0 in utf8proc) that HF's NFD tables do not know, so
// that they do not take part in canonical ordering there (found by probing HF's NFD with every
// code point; the "nonstarter" lines of unicode_table.txt). Ranges may also cover starters.
inline constexpr std::array<CodepointRange, 18> kNonStartersUnknownToHf{{
    {0x07FD, 0x07FD},   {0x0898, 0x08D3},   {0x09FE, 0x09FE},   {0x0C3C, 0x0C3C},
    {0x0D3B, 0x0D3C},   {0x0EBA, 0x0EBA},   {0x1715, 0x1715},   {0x1ABF, 0x1ACE},
    {0x1DF6, 0x1DFA},   {0xA82C, 0xA82C},   {0x10D24, 0x10F85}, {0x11070, 0x11070},
    {0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x11A99}, {0x11D42, 0x11F42},
    {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E4EF},
}};

inline bool in_ranges(char32_t cp, const auto& ranges) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](char32_t c, const CodepointRange& r) { return c < r.first; });
  return it != ranges.begin() && cp <= (it - 1)->last;
}
}  // namespace detail

// The general category of cp according to HF's tables (Cn for what they do not know).
inline utf8proc_category_t hf_category(char32_t cp) {
  // Re-categorised since Unicode 8.0: these three are the 8.0 categories HF still uses.
  if (cp == 0x1734) return UTF8PROC_CATEGORY_MN;   // HANUNOO SIGN PAMUDPOD, Mc since 14.0
  if (cp == 0x166D) return UTF8PROC_CATEGORY_PO;   // CANADIAN SYLLABICS CHI SIGN, So since 12.0
  if (cp == 0x111C9) return UTF8PROC_CATEGORY_PO;  // SHARADA SANDHI MARK, Mn since 11.0
  if (cp >= detail::kOrdinaryInHfTables.front().first &&
      detail::in_ranges(cp, detail::kOrdinaryInHfTables))
    return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// ---- the classes used by the BERT normalizer and pre-tokenizer --------------------------------

// Rust char::is_whitespace (the Unicode White_Space property; utf8proc does not provide it).
inline constexpr bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// BERT's "control": Cc, Cf, Co (not Cn, not Cs), except TAB, LF and CR which count as whitespace.
inline bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  const auto category = hf_category(cp);
  return category == UTF8PROC_CATEGORY_CC || category == UTF8PROC_CATEGORY_CF ||
         category == UTF8PROC_CATEGORY_CO;
}

// BERT's punctuation: every ASCII non-alphanumeric graphic character, and Unicode P*.
inline bool is_punctuation(char32_t cp) {
  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
           (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
  const auto category = hf_category(cp);
  return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

inline bool is_nonspacing_mark(char32_t cp) { return hf_category(cp) == UTF8PROC_CATEGORY_MN; }

// The CJK ideograph blocks that get spaces around them (Rust's list: note 2B920, not 2B820).
inline constexpr bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// The canonical combining class as HF's NFD tables (older than Unicode 9.0) see it: 0 (a
// starter) for the non-starters they do not know.
inline int hf_combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const int combining_class = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class;
  if (combining_class == 0 || detail::in_ranges(cp, detail::kNonStartersUnknownToHf)) return 0;
  return combining_class;
}

// Longest full canonical decomposition in Unicode (utf8proc needs at most 4).
inline constexpr std::size_t kMaxDecomposition = 4;

// Writes the full canonical decomposition (NFD of one character, Hangul included) to out and
// returns its length; a character without one is written as itself.
inline std::size_t canonical_decomposition(char32_t cp, char32_t* out) {
  // DIVES AKURU VOWEL SIGN O decomposes since Unicode 13.0; HF's NFD tables predate it.
  if (cp < 0xC0 || cp == 0x11938) {
    out[0] = cp;
    return 1;
  }
  utf8proc_int32_t buffer[kMaxDecomposition];
  int last_boundclass = 0;
  const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buffer,
                                         static_cast<utf8proc_ssize_t>(kMaxDecomposition),
                                         UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0 || n > static_cast<utf8proc_ssize_t>(kMaxDecomposition)) {
    out[0] = cp;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buffer[i]);
  return static_cast<std::size_t>(n);
}

// Simple lowercase mapping. Rust's full mapping differs only for U+0130, which cannot reach the
// lowercase step of the uncased pipeline (NFD turns it into 'I' + U+0307 and drops the mark).
inline char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

}  // namespace tinyxf::text::unicode
