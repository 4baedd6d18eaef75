#pragma once
// models::fill_mask: transformers' pipeline("fill-mask") for a masked-LM model (DistilBertForMaskedLM,
// BertForMaskedLM): the top_k tokens for each [MASK] of a text, with their probabilities.
//
//   for (const auto& p : models::fill_mask(model, tokenizer, "This is a great [MASK].")[0])
//     std::cout << p.score << " " << p.token_str << " | " << p.sequence << "\n";
//
// As FillMaskPipeline: the text is encoded with [CLS]/[SEP] (cut at max_length), the model runs
// in eval mode without gradients, each [MASK] position's logits go through a float32 softmax and
// the top_k most probable ids are returned, best first, as {score, token, token_str (the token
// decoded alone), sequence (the text's ids with this token in place, decoded: with one [MASK]
// without special tokens, with several keeping them, the other masks included; transformers'
// clean_up_tokenization as tokenizer.clean_up_tokenization_spaces() says, false by default as in
// transformers 5)}.
#include <algorithm>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/nn/module.hpp"
#include "tinyxf/ops/nn.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace tinyxf::models {

struct FillMaskPrediction {
  double score = 0;  // softmax probability
  text::TokenId token = 0;
  std::string token_str;
  std::string sequence;
};

struct FillMaskOptions {
  std::size_t top_k = 5;
  std::size_t max_length = 512;  // tokens kept of the text, [CLS] and [SEP] included
};

// One list of top_k predictions per [MASK] of `text`, in text order. Throws ValueError naming the
// text when it holds no [MASK] (also when truncation cut them off).
template <class Model>
std::vector<std::vector<FillMaskPrediction>> fill_mask(Model& model, const text::BertTokenizer& tokenizer,
                                                       std::string_view text, const FillMaskOptions& options = {}) {
  TINYXF_CHECK_AS(ValueError, options.top_k > 0, "fill_mask: top_k must be at least 1");
  const text::TokenId mask_id = tokenizer.vocab().special_ids().mask;
  TINYXF_CHECK_AS(ValueError, mask_id >= 0, "fill_mask: the vocabulary has no [MASK] token");
  text::EncodeOptions enc;
  enc.max_length = options.max_length;
  enc.truncation = true;
  const text::Encoding e = tokenizer.encode(text, enc);
  std::vector<std::size_t> masks;
  for (std::size_t t = 0; t < e.ids.size(); ++t)
    if (e.ids[t] == mask_id) masks.push_back(t);
  TINYXF_CHECK_AS(ValueError, !masks.empty(), "fill_mask: no [MASK] token in the text (within its first ",
                  options.max_length, " tokens): \"", text.substr(0, 80), text.size() > 80 ? "...\"" : "\"");
  const auto S = static_cast<std::int64_t>(e.ids.size());
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>(e.ids.begin(), e.ids.end()), {1, S});
  const Tensor attention = Tensor::ones({1, S}, kInt64);
  const Tensor mask_rows = Tensor::from_vector(std::vector<std::int64_t>(masks.begin(), masks.end()),
                                               {static_cast<std::int64_t>(masks.size())});
  const bool was_training = model.is_training();
  model.eval();
  Tensor probs_tensor;
  {
    NoGradGuard no_grad;
    const Device device = model.parameters().empty() ? Device::cpu() : model.parameters().front().device();
    const Tensor logits = model.forward(ids.to(device), attention.to(device)).logits;
    // The [MASK] rows' float32 softmax, as the pipeline's logits.softmax(-1).
    probs_tensor = softmax(index_select(logits.select(0, 0), 0, mask_rows.to(device)).to(kFloat32), -1);
  }
  model.train(was_training);
  const std::int64_t vocab = probs_tensor.shape().back();
  const std::vector<float> all = probs_tensor.to(Device::cpu()).contiguous().to_vector<float>();
  std::vector<std::vector<FillMaskPrediction>> out;
  for (std::size_t m = 0; m < masks.size(); ++m) {
    const std::size_t position = masks[m];
    const std::span<const float> probs(all.data() + m * static_cast<std::size_t>(vocab), static_cast<std::size_t>(vocab));
    std::vector<text::TokenId> order(static_cast<std::size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    const std::size_t k = std::min<std::size_t>(options.top_k, order.size());
    // Highest first; equal probabilities in id order (torch.topk's order on CPU).
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](text::TokenId a, text::TokenId b) {
                        const float pa = probs[static_cast<std::size_t>(a)], pb = probs[static_cast<std::size_t>(b)];
                        return pa != pb ? pa > pb : a < b;
                      });
    std::vector<FillMaskPrediction> predictions;
    for (std::size_t i = 0; i < k; ++i) {
      const text::TokenId id = order[i];
      std::vector<text::TokenId> filled = e.ids;
      filled[position] = id;
      text::DecodeOptions decode;
      decode.skip_special_tokens = masks.size() == 1;
      decode.clean_up_tokenization_spaces = tokenizer.clean_up_tokenization_spaces();  // the pipeline's decode
      const text::TokenId single[] = {id};
      predictions.push_back({probs[static_cast<std::size_t>(id)], id, tokenizer.decode(single),
                             tokenizer.decode(filled, decode)});
    }
    out.push_back(std::move(predictions));
  }
  return out;
}

}  // namespace tinyxf::models
