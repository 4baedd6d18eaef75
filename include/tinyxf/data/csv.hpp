#pragma once
// tinyxf::data::CsvReader: a strict, streaming RFC-4180 CSV reader.
//
// Accepted input (RFC 4180, https://www.rfc-editor.org/rfc/rfc4180):
//   * fields separated by a delimiter (',' by default), records ended by LF or CRLF
//     (the last record may omit its line end);
//   * a field is either unquoted (no quote, delimiter, CR or LF inside) or wrapped in double
//     quotes, in which case it may hold delimiters, line breaks (kept verbatim) and quotes
//     written as two quotes ("");
//   * a leading UTF-8 byte-order mark is skipped; blank lines are skipped (CsvOptions).
// Everything else is an error (CsvError) naming the source, the 1-based line where the record
// starts and what is wrong: an unterminated quoted field, a stray quote inside an unquoted
// field, text after a closing quote, a bare CR, or a field count different from the header's.
//
// The reader can continue after a CsvError: it resumes at the line after the one where the bad
// record started, so in one-record-per-line data exactly that record is lost (which is what a
// "skip malformed rows" mode wants). Only bytes from the current record onwards are buffered, so
// a stream of any size is read in constant memory (plus the longest record).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::data {

struct CsvOptions {
  char delimiter = ',';
  // The first record names the columns: it is returned by header(), not by next().
  bool has_header = true;
  // Every record must have as many fields as the header (or, without a header, as the first
  // record). Turn off for ragged files.
  bool require_uniform_field_count = true;
  // Lines that are completely empty (LF or CRLF alone) between records are ignored, as Python's
  // csv module does. Note that this makes an empty single-column record unrepresentable.
  bool skip_blank_lines = true;
  // Named in error messages, typically the file path.
  std::string source_name = "<csv>";
  // Stream input is read in pieces of this size (in-memory input is parsed in place).
  std::size_t read_chunk_bytes = std::size_t{1} << 20;
  // Stream input: the most bytes one record may buffer (a missing closing quote, or a file that
  // is not CSV at all, would otherwise be read into memory whole). Exceeding it ends the read
  // with a tinyxf::Error (not a CsvError: the reader cannot resynchronize after it).
  std::size_t max_record_bytes = std::size_t{64} << 20;
};

struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;  // 1-based line on which the record starts
};

// A malformed record. what() is "<source>:<line>: <reason>".
class CsvError : public IoError {
 public:
  CsvError(const std::string& source, std::size_t line, const std::string& reason)
      : IoError(::tinyxf::detail::concat(source, ":", line, ": ", reason), source), line_(line), reason_(reason) {}
  std::size_t line() const { return line_; }
  const std::string& reason() const { return reason_; }

 private:
  std::size_t line_;
  std::string reason_;
};

class CsvReader {
 public:
  // Streams from `in` (which must outlive the reader), reading it in large chunks.
  explicit CsvReader(std::istream& in, CsvOptions options = {})
      : options_(std::move(options)), in_(&in), streaming_(true) {
    start();
  }
  // Parses a complete in-memory buffer without copying it; `text` must outlive the reader.
  explicit CsvReader(std::string_view text, CsvOptions options = {})
      : options_(std::move(options)), view_(text) {
    start();
  }

  // Not copyable: two readers would share one stream position (and, before this was deleted, a
  // copy's view_ pointed into the original's buffer). Moving is safe: the moved-to reader
  // re-points its view at its own buffer and continues where the original stood.
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;
  CsvReader(CsvReader&& other) noexcept { *this = std::move(other); }
  CsvReader& operator=(CsvReader&& other) noexcept {
    if (this != &other) {
      options_ = std::move(other.options_);
      in_ = std::exchange(other.in_, nullptr);
      streaming_ = other.streaming_;
      owned_ = std::move(other.owned_);
      view_ = streaming_ ? std::string_view(owned_) : other.view_;
      other.view_ = {};
      pos_ = std::exchange(other.pos_, 0);
      record_start_ = std::exchange(other.record_start_, 0);
      line_ = other.line_;
      record_line_ = other.record_line_;
      expected_fields_ = other.expected_fields_;
      header_ = std::move(other.header_);
    }
    return *this;
  }

  // The header's fields (empty when has_header is false or the input is empty).
  const std::vector<std::string>& header() const { return header_; }
  const CsvOptions& options() const { return options_; }

  // Reads the next record into `record` (reusing its storage). Returns false at end of input.
  // Throws CsvError for a malformed record; calling next() again continues after it.
  bool next(CsvRecord& record) {
    if (!read_record(record)) return false;
    if (options_.require_uniform_field_count) {
      if (expected_fields_ == 0) expected_fields_ = record.fields.size();
      if (record.fields.size() != expected_fields_) {
        throw CsvError(options_.source_name, record.line,
                       ::tinyxf::detail::concat(
                           "expected ", expected_fields_, " field", expected_fields_ == 1 ? "" : "s",
                           options_.has_header ? " (as in the header)" : " (as in the first record)",
                           ", found ", record.fields.size()));
      }
    }
    return true;
  }

 private:
  void start() {
    // Skip a UTF-8 byte-order mark, as written by some spreadsheet programs.
    if (ensure(3) && view_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = record_start_ = 3;
    if (options_.has_header) {
      CsvRecord header_record;
      if (read_record(header_record)) {
        header_ = std::move(header_record.fields);
        expected_fields_ = header_.size();
      }
    }
  }

  // Appends the next chunk of the stream to the buffer, first dropping the bytes before the
  // current record (they are no longer needed). Returns false at end of input.
  bool refill() {
    if (in_ == nullptr) return false;
    if (record_start_ > 0) {
      owned_.erase(0, record_start_);
      pos_ -= record_start_;
      record_start_ = 0;
    }
    // Everything buffered now belongs to the current record (refill is only needed past it).
    if (owned_.size() >= options_.max_record_bytes) {
      in_ = nullptr;
      throw IoError(::tinyxf::detail::concat(options_.source_name, ":", record_line_, ": record is longer than ",
                                             options_.max_record_bytes,
                                             " bytes (CsvOptions::max_record_bytes); is a closing quote missing?"),
                    options_.source_name);
    }
    const std::size_t old_size = owned_.size();
    const std::size_t chunk = std::max<std::size_t>(options_.read_chunk_bytes, 1);
    owned_.resize(old_size + chunk);
    in_->read(owned_.data() + old_size, static_cast<std::streamsize>(chunk));
    const auto got = static_cast<std::size_t>(in_->gcount());
    owned_.resize(old_size + got);
    view_ = owned_;
    if (in_->bad())
      throw IoError(::tinyxf::detail::concat(options_.source_name, ": read error after line ", line_),
                    options_.source_name);
    if (got == 0) {
      in_ = nullptr;
      return false;
    }
    return true;
  }

  // Makes at least n unread bytes available if the input has them.
  bool ensure(std::size_t n) {
    while (view_.size() - pos_ < n) {
      if (!refill()) return false;
    }
    return true;
  }

  [[noreturn]] void fail(const std::string& reason) {
    const std::size_t bad_line = record_line_;
    resync_after(bad_line);
    throw CsvError(options_.source_name, bad_line, reason);
  }

  // Moves to the start of the line after the one on which the bad record started (the record's
  // bytes are still buffered from record_start_ onwards).
  void resync_after(std::size_t bad_line) {
    std::size_t offset = 0;  // relative to record_start_, which refill() may move
    for (;;) {
      const std::size_t from = record_start_ + offset;
      const std::size_t newline = view_.find('\n', from);
      if (newline != std::string_view::npos) {
        pos_ = record_start_ = newline + 1;
        line_ = bad_line + 1;
        return;
      }
      offset = view_.size() - record_start_;
      if (!refill()) {
        pos_ = record_start_ = view_.size();
        return;
      }
    }
  }

  // How a byte is shown in an error message: control and non-ASCII bytes as hex.
  static std::string describe(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F) return ::tinyxf::detail::concat("'", c, "'");
    constexpr const char* kHex = "0123456789abcdef";
    return ::tinyxf::detail::concat("byte 0x", kHex[byte >> 4], kHex[byte & 0xF]);
  }

  // Consumes a line end at pos_ if there is one (LF or CRLF); a CR without LF is an error.
  bool consume_line_end() {
    if (!ensure(1)) return false;
    const char c = view_[pos_];
    if (c == '\n') {
      ++pos_;
      ++line_;
      return true;
    }
    if (c == '\r') {
      if (ensure(2) && view_[pos_ + 1] == '\n') {
        pos_ += 2;
        ++line_;
        return true;
      }
      fail("carriage return not followed by a line feed outside quotes");
    }
    return false;
  }

  // Reads a quoted field; pos_ is on the opening quote.
  void read_quoted(std::string& field, std::size_t field_number) {
    ++pos_;
    for (;;) {
      const std::size_t quote = view_.find('"', pos_);
      const std::size_t end = quote == std::string_view::npos ? view_.size() : quote;
      const char* begin = view_.data() + pos_;
      line_ += static_cast<std::size_t>(std::count(begin, view_.data() + end, '\n'));
      field.append(begin, end - pos_);
      pos_ = end;
      if (quote == std::string_view::npos) {
        if (!refill()) {
          fail(::tinyxf::detail::concat("unterminated quoted field ", field_number,
                                        " (the input ends before its closing quote)"));
        }
        continue;
      }
      ++pos_;  // past the quote; a second quote right after it stands for one quote
      if (ensure(1) && view_[pos_] == '"') {
        field.push_back('"');
        ++pos_;
        continue;
      }
      return;
    }
  }

  // Reads an unquoted field up to (not including) the delimiter, line end or end of input.
  void read_unquoted(std::string& field, std::size_t field_number) {
    const char delimiter = options_.delimiter;
    for (;;) {
      const char* data = view_.data();
      std::size_t i = pos_;
      const std::size_t size = view_.size();
      while (i < size) {
        const char c = data[i];
        if (c == delimiter || c == '\n' || c == '\r' || c == '"') break;
        ++i;
      }
      field.append(data + pos_, i - pos_);
      pos_ = i;
      if (i < size) {
        if (data[i] == '"') {
          fail(::tinyxf::detail::concat(
              "stray quote in unquoted field ", field_number,
              " (a field containing quotes must be quoted as a whole, with each quote doubled)"));
        }
        return;
      }
      if (!refill()) return;
    }
  }

  bool read_record(CsvRecord& record) {
    // Skip blank lines, then stop at the first byte of the record.
    for (;;) {
      record_start_ = pos_;
      if (!ensure(1)) return false;
      if (!options_.skip_blank_lines) break;
      record_line_ = line_;
      if (!consume_line_end()) break;
    }
    record_start_ = pos_;
    record_line_ = line_;
    record.line = line_;
    std::size_t count = 0;
    for (;;) {
      if (record.fields.size() <= count) record.fields.emplace_back();
      std::string& field = record.fields[count];
      field.clear();
      ++count;
      if (ensure(1) && view_[pos_] == '"') {
        read_quoted(field, count);
        if (ensure(1)) {
          const char c = view_[pos_];
          if (c != options_.delimiter && c != '\n' && c != '\r') {
            fail(::tinyxf::detail::concat("unexpected ", describe(c), " after the closing quote of field ",
                                          count, " (expected the delimiter or the end of the line)"));
          }
        }
      } else {
        read_unquoted(field, count);
      }
      if (ensure(1) && view_[pos_] == options_.delimiter) {
        ++pos_;
        continue;
      }
      consume_line_end();  // or end of input
      break;
    }
    record.fields.resize(count);
    record_start_ = pos_;
    return true;
  }

  CsvOptions options_;
  std::istream* in_ = nullptr;    // null for in-memory input and once the stream is exhausted
  bool streaming_ = false;        // view_ points into owned_ (stream input)
  std::string owned_;             // stream mode: the buffered bytes
  std::string_view view_;         // the bytes being parsed (owned_ or the caller's buffer)
  std::size_t pos_ = 0;           // next unread byte in view_
  std::size_t record_start_ = 0;  // first byte of the current record: refill() keeps it
  std::size_t line_ = 1;          // 1-based line of pos_
  std::size_t record_line_ = 1;   // line where the current record starts
  std::size_t expected_fields_ = 0;
  std::vector<std::string> header_;
};

// A whole CSV file in memory.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRecord> records;
};

inline CsvTable read_csv(CsvReader& reader) {
  CsvTable table;
  table.header = reader.header();
  CsvRecord record;
  while (reader.next(record)) table.records.push_back(record);
  return table;
}

inline CsvTable read_csv(std::istream& in, CsvOptions options = {}) {
  CsvReader reader(in, std::move(options));
  return read_csv(reader);
}

inline CsvTable parse_csv(std::string_view text, CsvOptions options = {}) {
  CsvReader reader(text, std::move(options));
  return read_csv(reader);
}

}  // namespace tinyxf::data
