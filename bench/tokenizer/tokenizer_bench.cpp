// Throughput of tinyxf::text::BertTokenizer on the 50,000 IMDB reviews: encode() in a loop on one
// thread, encode_batch() on N threads; no truncation, like HF's encode. Best of --repeat runs.
//
//   tinyxf-bench-tokenizer [--csv PATH] [--vocab PATH] [--threads 1,2] [--repeat 3] [--write-ids PATH]
//
// Prints one "RESULT impl=tinyxf threads=N docs=D tokens=T bytes=B seconds=S" line per thread count
// (bench/tokenizer/run.sh turns them into the table) and, with --write-ids, the ids of every review,
// one line each, for compare_hf.py to check against Hugging Face.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "../common/bench_util.hpp"
#include "imdb_csv.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace text = tinyxf::text;

int run(int argc, char** argv) {
  std::string csv = tinyxf::bench::default_imdb_csv_path(TINYXF_SOURCE_DIR).string();
  std::string vocab = (std::filesystem::path(TINYXF_SOURCE_DIR) / "share" / "vocab" / "bert-base-uncased-vocab.txt").string();
  std::string write_ids;
  std::vector<unsigned> thread_counts{1, 2};
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    TINYXF_CHECK(i + 1 < argc, "usage: tinyxf-bench-tokenizer [--csv PATH] [--vocab PATH] [--threads 1,2] "
                               "[--repeat N] [--write-ids PATH] (", flag, " needs a value)");
    const std::string value = argv[++i];
    if (flag == "--csv") csv = value;
    else if (flag == "--vocab") vocab = value;
    else if (flag == "--threads") thread_counts = tinyxf::bench::parse_thread_list(value);
    else if (flag == "--repeat") repeat = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--write-ids") write_ids = value;
    else TINYXF_CHECK(false, "unknown argument '", flag, "'");
  }

  const text::BertTokenizer tokenizer = text::BertTokenizer::from_file(vocab);
  const auto reviews = tinyxf::bench::read_imdb_csv(csv);
  std::vector<std::string_view> texts;
  std::size_t bytes = 0;
  for (const auto& review : reviews) {
    texts.push_back(review.text);
    bytes += review.text.size();
  }
  text::EncodeOptions options;
  options.truncation = false;
  std::fprintf(stderr, "tinyxf-bench-tokenizer: %zu reviews, %.1f MB, best of %d\n", texts.size(), bytes / 1e6, repeat);

  std::vector<text::Encoding> batch;
  for (const unsigned threads : thread_counts) {
    double best = 1e300;
    std::size_t tokens = 0;
    for (int r = 0; r < repeat; ++r) {
      const auto start = Clock::now();
      tokens = 0;
      if (threads == 1) {
        for (const std::string_view t : texts) tokens += tokenizer.encode(t, options).ids.size();
      } else {
        batch = tokenizer.encode_batch(std::span<const std::string_view>(texts), options, threads);
        for (const auto& e : batch) tokens += e.ids.size();
      }
      best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::printf("RESULT impl=tinyxf threads=%u docs=%zu tokens=%zu bytes=%zu seconds=%.4f\n", threads, texts.size(),
                tokens, bytes, best);
    std::fflush(stdout);
  }

  if (!write_ids.empty()) {
    if (batch.size() != texts.size()) batch = tokenizer.encode_batch(std::span<const std::string_view>(texts), options);
    std::ofstream out(write_ids, std::ios::binary);
    std::string line;
    for (const auto& e : batch) {
      line.clear();
      for (std::size_t i = 0; i < e.ids.size(); ++i) {
        if (i) line += ' ';
        line += std::to_string(e.ids[i]);
      }
      out << line << '\n';
    }
    TINYXF_CHECK(out.good(), "cannot write '", write_ids, "'");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyxf-bench-tokenizer: %s\n", e.what());
    return 1;
  }
}
