#!/usr/bin/env python3
"""Writes tests/data/golden/fill_mask/: transformers' pipeline("fill-mask") on the tiny
DistilBertForMaskedLM of tests/data/golden/distilbert_tiny_mlm (vocabulary 128) with a made-up
128-token WordPiece vocabulary, for models::fill_mask:

  vocab.txt      the vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK], words, ##pieces, punctuation)
  cases.jsonl    {"text", "top_k", "predictions": [[{"score", "token", "token_str", "sequence"}]]}
                 (one list per [MASK]: the pipeline's single list is wrapped)

The tokenizer is `tokenizers`' BERT setup over vocab.txt wrapped in PreTrainedTokenizerFast
(transformers 5's BertTokenizerFast(vocab_file=...) ignores the file).

    .venv-bench/bin/python tests/reference/make_fill_mask_golden.py [--check]

transformers 5.25, tokenizers 0.23.3, torch 2.15 (scripts/setup-bench-env.sh); ~3 s; byte-identical
reruns, --check.
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import DistilBertForMaskedLM, PreTrainedTokenizerFast, pipeline  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_files import write_or_check_files  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "tests" / "data" / "golden" / "distilbert_tiny_mlm"
OUT = REPO / "tests" / "data" / "golden" / "fill_mask"

WORDS = ["the", "a", "movie", "film", "was", "is", "great", "good", "bad", "awful", "this", "it", "and", "of",
         "to", "in", "i", "you", "actor", "actors", "plot", "story", "love", "hate", "not", "very", "so", "one",
         "best", "worst", "ever", "seen", "watch", "time", "funny", "boring", "music", "scene", "end", "but"]
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##y", "##a", "##e", "##o"]
PUNCT = [".", ",", "!", "?", "'", "-", "(", ")", ":", ";"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]

TEXTS = [
    ("this movie was [MASK] .", 5),
    ("[MASK]", 3),
    ("the actors were [MASK] and the plot was [MASK] !", 4),
    ("I LOVED this [MASK], it's the best film ever", 10),
    ("[MASK] [MASK] [MASK]", 2),
    ("a boring story , not funny : [MASK]", 128),
]


def vocabulary():
    tokens = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES + PUNCT + LETTERS))
    tokens += [f"##{i}" for i in range(128 - len(tokens))]  # fill up to the model's 128
    assert len(tokens) == 128 and len(set(tokens)) == 128
    return tokens


def make():
    tokens = vocabulary()
    vocab_text = "".join(t + "\n" for t in tokens)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    from tokenizers.decoders import WordPiece as WordPieceDecoder
    tok.decoder = WordPieceDecoder(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                                   cls_token="[CLS]", mask_token="[MASK]", clean_up_tokenization_spaces=True)
    torch.manual_seed(0)
    model = DistilBertForMaskedLM.from_pretrained(str(MODEL)).eval()
    fill = pipeline("fill-mask", model=model, tokenizer=fast, device="cpu")
    lines = []
    for text, top_k in TEXTS:
        result = fill(text, top_k=top_k)
        if result and isinstance(result[0], dict):
            result = [result]
        predictions = [[{"score": float(p["score"]), "token": int(p["token"]), "token_str": p["token_str"],
                         "sequence": p["sequence"]} for p in per_mask] for per_mask in result]
        lines.append(json.dumps({"text": text, "top_k": top_k, "predictions": predictions}, ensure_ascii=True))
    return {"vocab.txt": vocab_text, "cases.jsonl": "".join(line + "\n" for line in lines)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    sys.exit(write_or_check_files(OUT, make(), ap.parse_args().check))
