// libFuzzer target: SQuAD files and question answering features. parse_squad must accept the
// input or refuse it with an Error; the examples it returns become features (windows of at most
// 24 tokens, stride 6) or are refused naming the example, and every feature keeps the invariants
// the Trainer and the postprocessing rely on: positions 0 or a context span inside the window,
// context offsets inside the context; postprocessing any logits gives answers that are pieces of
// their context, and the SQuAD 2.0 scores stay within [0, 100].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/data/question_answering.hpp"
#include "tinyxf/tensor.hpp"  // registers the cpu backend of the logits tensor
#include "tinyxf/train/question_answering.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  static const text::BertTokenizer tokenizer = text::BertTokenizer::from_file(text::default_vocab_path());
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<data::QuestionAnsweringExample> examples;
  try {
    examples = data::parse_squad(bytes);
  } catch (const Error&) {
    return 0;  // malformed, reported naming the question or line
  }
  if (examples.size() > 8) examples.resize(8);  // keep each run fast
  std::vector<data::QuestionAnsweringFeature> features;
  try {
    features = data::prepare_question_answering_features(examples, tokenizer, {.max_length = 24, .doc_stride = 6});
  } catch (const ValueError&) {
    return 0;  // an answer outside its context, or a question leaving no room: named
  }
  std::size_t longest = 0;
  for (const data::QuestionAnsweringFeature& f : features) {
    const std::size_t n = f.input_ids.size();
    if (n > 24 || f.token_type_ids.size() != n || f.offsets.size() != n || f.is_context.size() != n) std::abort();
    if (f.example_index >= examples.size()) std::abort();
    const std::size_t context_chars = data::character_count(examples[f.example_index].context);
    for (std::size_t t = 0; t < n; ++t)
      if (f.is_context[t] && (f.offsets[t].begin >= f.offsets[t].end || f.offsets[t].end > context_chars)) std::abort();
    const auto start = f.start_position, end = f.end_position;
    const bool none = start == 0 && end == 0;
    const bool span = start > 0 && start <= end && static_cast<std::size_t>(end) < n &&
                      f.is_context[static_cast<std::size_t>(start)] && f.is_context[static_cast<std::size_t>(end)];
    if (!none && !span) std::abort();
    longest = std::max(longest, n);
  }
  // Logits from the input's bytes: any ranking of the spans.
  std::vector<float> logits(features.size() * longest * 2);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(data[i % size]) / 16.0f;
  const Tensor predictions = Tensor::from_vector(
      logits, {static_cast<std::int64_t>(features.size()), static_cast<std::int64_t>(longest), 2});
  train::QuestionAnsweringPostprocessOptions options;
  options.version_2_with_negative = true;
  options.max_answer_length = 8;
  std::vector<train::QuestionAnsweringPrediction> answers;
  try {
    answers = train::postprocess_qa_predictions(examples, features, predictions, options);
  } catch (const ValueError&) {
    return 0;  // SQuAD 2.0: an example without any window has no null score
  }
  // utils_qa's stand-in "empty" can win when nothing else is left.
  for (std::size_t e = 0; e < answers.size(); ++e)
    if (answers[e].prediction_text != "empty" && examples[e].context.find(answers[e].prediction_text) == std::string::npos)
      std::abort();
  for (const auto& [name, value] : train::squad_metrics(answers, examples, true))
    if (!name.ends_with("total") && (value < 0 || value > 100)) std::abort();
  return 0;
}
