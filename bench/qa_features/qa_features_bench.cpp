// tinyxf-bench-qa-features: data::prepare_question_answering_features (run_qa.py's windows of 384
// tokens with a doc stride of 128, and the answer's token positions) on the examples of a SQuAD
// JSON lines file (bench/qa_features/run.sh makes them from IMDB reviews), on 1 and N threads,
// best of --repeat runs:
//
//   tinyxf-bench-qa-features --examples PATH [--vocab PATH] [--threads 1,2] [--repeat 3]
//                            [--max-length 384] [--doc-stride 128] [--write-features PATH]
//
// Prints "RESULT impl=tinyxf threads=N examples=E features=F seconds=S" per thread count and, with
// --write-features, one line per feature: "example_index start end id id id ..." (compare_hf.py
// compares them with run_qa's).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "../common/bench_util.hpp"
#include "tinyxf/data/question_answering.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace data = tinyxf::data;

int run(int argc, char** argv) {
  std::string examples_path, vocab = tinyxf::text::default_vocab_path().string(), write_features;
  std::vector<unsigned> thread_counts{1, 2};
  int repeat = 3;
  data::QuestionAnsweringOptions options;  // 384 / 128, run_qa's defaults
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    TINYXF_CHECK(i + 1 < argc, "usage: tinyxf-bench-qa-features --examples PATH [--vocab PATH] [--threads 1,2] "
                               "[--repeat N] [--max-length N] [--doc-stride N] [--write-features PATH] (", flag,
                 " needs a value)");
    const std::string value = argv[++i];
    if (flag == "--examples") examples_path = value;
    else if (flag == "--vocab") vocab = value;
    else if (flag == "--repeat") repeat = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--max-length") options.max_length = static_cast<std::size_t>(std::atoi(value.c_str()));
    else if (flag == "--doc-stride") options.doc_stride = static_cast<std::size_t>(std::atoi(value.c_str()));
    else if (flag == "--write-features") write_features = value;
    else if (flag == "--threads") thread_counts = tinyxf::bench::parse_thread_list(value);
    else TINYXF_CHECK(false, "unknown argument '", flag, "'");
  }
  TINYXF_CHECK(!examples_path.empty(), "--examples PATH is required (bench/qa_features/run.sh makes the file)");
  const auto tokenizer = tinyxf::text::BertTokenizer::from_file(vocab);
  const std::vector<data::QuestionAnsweringExample> examples = data::read_squad(examples_path);
  std::fprintf(stderr, "tinyxf-bench-qa-features: %zu examples, max_length %zu, doc_stride %zu, best of %d\n",
               examples.size(), options.max_length, options.doc_stride, repeat);
  std::vector<data::QuestionAnsweringFeature> features;
  for (const unsigned threads : thread_counts) {
    options.threads = threads;
    double best = 1e300;
    for (int r = 0; r < repeat; ++r) {
      const auto start = Clock::now();
      features = data::prepare_question_answering_features(examples, tokenizer, options);
      best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::printf("RESULT impl=tinyxf threads=%u examples=%zu features=%zu seconds=%.4f\n", threads, examples.size(),
                features.size(), best);
    std::fflush(stdout);
  }
  if (!write_features.empty()) {
    std::ofstream out(write_features, std::ios::binary);
    for (const auto& f : features) {
      out << f.example_index << ' ' << f.start_position << ' ' << f.end_position;
      for (const auto id : f.input_ids) out << ' ' << id;
      out << '\n';
    }
    TINYXF_CHECK(out.good(), "cannot write '", write_features, "'");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyxf-bench-qa-features: %s\n", e.what());
    return 1;
  }
}
