#!/usr/bin/env python3
"""Golden files for tinyxf's BERT tokenizer, made by Hugging Face's own tokenizers.

Writes tests/data/tokenizer/ (see its README.md for the formats):
  hard_strings.jsonl        ~400 hand-picked hard strings: ids, tokens, char offsets, decodes
  invalid_utf8.jsonl        malformed byte strings: error offset, ids/offsets after replacement
  truncation_padding.jsonl  batches through BertTokenizerFast.__call__ (max_length 16 / 512)
  decode.jsonl              id lists through Tokenizer.decode and BertTokenizerFast.decode
  imdb_first3000.ids        ids of the first 3,000 IMDB reviews (3 base64 digits per id)
  imdb_slow_disagreements.jsonl  reviews where the slow (Python) tokenizer differs (only if any)
  unicode_table.txt         every code point: what normalizer + pre-tokenizer make of "a" c "a"
  small_vocab.txt/.jsonl    a tiny vocabulary that exposes NFD ordering of kept combining marks

The reference is the fast tokenizer: the `tokenizers` Rust library through its Python binding, set
up exactly as distilbert-base-uncased's tokenizer.json (checked below). transformers' slow
BertTokenizer runs on the same inputs; where it disagrees the golden records it ("slow_ids").

Run with the reference venv (tokenizers 0.19.1, transformers 4.44.2):
  /opt/tinyxf-ref/bin/python tests/reference/make_tokenizer_golden.py [--imdb PATH] [--check]
Deterministic: rerunning gives byte-identical files. ~1 minute on 2 cores.
"""
import argparse
import csv
import gzip
import io
import json
import os
import sys
import unicodedata
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers  # noqa: E402
from transformers import BertTokenizer, BertTokenizerFast  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VOCAB = REPO / "share" / "vocab" / "bert-base-uncased-vocab.txt"
OUT = REPO / "tests" / "data" / "tokenizer"
IMDB = REPO.parent / "shared" / "data" / "imdb" / "imdb_50k.csv.gz"
IMDB_REVIEWS = 3000
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def make_tokenizers():
    fast = BertTokenizerFast(vocab_file=str(VOCAB), do_lower_case=True, model_max_length=512,
                             clean_up_tokenization_spaces=True)
    slow = BertTokenizer(vocab_file=str(VOCAB), do_lower_case=True, model_max_length=512,
                         clean_up_tokenization_spaces=True)
    backend = fast.backend_tokenizer  # a tokenizers.Tokenizer
    config = json.loads(backend.to_str())
    # The pipeline of distilbert-base-uncased's tokenizer.json (semantics.md §4.1).
    assert config["normalizer"] == {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                    "strip_accents": None, "lowercase": True}, config["normalizer"]
    assert config["pre_tokenizer"] == {"type": "BertPreTokenizer"}
    model = config["model"]
    assert (model["type"], model["unk_token"], model["continuing_subword_prefix"],
            model["max_input_chars_per_word"]) == ("WordPiece", "[UNK]", "##", 100)
    assert config["decoder"] == {"type": "WordPiece", "prefix": "##", "cleanup": True}
    assert [(t["content"], t["normalized"], t["special"]) for t in config["added_tokens"]] == [
        (s, False, True) for s in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]]
    return fast, slow, backend


# ---- the hard strings ---------------------------------------------------------------------------

def hard_strings():
    """(group, text) pairs; every group names what it probes."""
    cases = []

    def add(group, *texts):
        cases.extend((group, t) for t in texts)

    add("empty", "", " ", "   ", "\t", "\n", "\r\n", "\t \n \r", "\u3000", "\u00a0\u2003\u2009", "\x00", "\ufffd",
        "\u200b", "\x0b\x0c", "\x85")
    add("ascii punctuation", "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum()),
        *[f"a{chr(c)}b" for c in range(0x21, 0x7F) if not chr(c).isalnum()])
    add("ascii controls", *[f"a{chr(c)}b" for c in list(range(0x00, 0x20)) + [0x7F]])
    add("c1 controls (IMDB mojibake)", *[f"a{chr(c)}b" for c in (0x80, 0x84, 0x85, 0x8E, 0x91, 0x92, 0x93, 0x94,
                                                                    0x95, 0x96, 0x97, 0x9E)],
        "It was great\x85 really\x96 not bad\x97 ok")
    add("unicode whitespace", *[f"a{chr(c)}b" for c in (0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
                                                         0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029,
                                                         0x202F, 0x205F, 0x3000, 0x00A0, 0x180E)])
    add("format and zero-width", *[f"a{chr(c)}b" for c in (0x00AD, 0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
                                                            0x202A, 0x202E, 0x2060, 0x2062, 0x2066, 0x2069, 0xFEFF,
                                                            0xFFF9, 0x110BD, 0xE0001, 0xE0041)],
        "\ufeffHello", "co\u00adop\u00aderate", "zero\u200bwidth\u200cjoin\u200dhere")
    add("private use, unassigned, noncharacters", "a\ue000b", "a\U000f0000b", "a\U0010fffdb", "a\u0378b",
        "a\u0870b", "a\U0001fb00b", "a\ufdd0b", "a\uffffb", "a\U0010ffffb", "\U000e0080x", "abc\u0378def")
    add("accents", "Café", "naïve résumé", "Ångström", "São Paulo", "Crème brûlée", "Zürich Straße", "Łódź",
        "Ærøskøbing", "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿ", "ĀāĂăĄąĆćĈĉĊċČčĎďĐđ",
        "Ŀŀ Ŋŋ Œœ Šš Ÿ Žž ƒ", "İstanbul ıi", "ǅemal ǈ ǋ ǲ", "Ⅻ ⅻ ℃ № ™ Å K Ω", "ﬁne ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ")
    add("combining marks", "e\u0301", "E\u0301\u0327", "a\u0300\u0301\u0302\u0303", "n\u0303o",
        "a\u20dd", "x\u0488y", "\u0301start", "q\u0323\u0307", "s\u0307\u0323", "\u1e0b\u0323", "a\u034fb",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e"
        "\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G"
        "\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c"
        "\u0358\u0328\u0335\u0339\u033b\u031d\u0333!", "\u0915\u093c", "\u1734x", "a\u1734b")
    add("greek", "Ελληνικά", "ΆΈΉΊΌΎΏ άέήίόύώ ΐΰ", "ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ", "ᾼ ᾳ ῼ ᾂ", "a;b a\u037eb a\u0387b")
    add("cyrillic", "Привет, мир!", "Ёлка йод Й ё", "Україна ҐґЄєІіЇї", "Српски Ђђ Љљ Њњ Ћћ Џџ")
    add("arabic and hebrew", "مرحبا بالعالم", "اَلْعَرَبِيَّةُ", "١٢٣ ٤٥٦", "؟ ، ؛ ٪", "שָׁלוֹם עולם", "ﷺ ﷲ ﻻ")
    add("indic", "नमस्ते दुनिया", "क़ ख़ ग़ ज़", "हिन्दी।", "தமிழ்", "বাংলা ৳", "ગુજરાતી", "ਪੰਜਾਬੀ",
        "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "සිංහල")
    add("southeast asian", "ภาษาไทย สวัสดี", "ພາສາລາວ", "ဗမာစာ", "ភាសាខ្មែរ", "Tiếng Việt có dấu")
    add("cjk", "你好世界", "中文abc中文", "日本語のテキスト", "カタカナ ﾊﾝｶｸ", "ひらがな", "漢字とかな",
        "一丁七", "\u3400\u4dbf", "\u4e00\u9fff", "\ua000", "\uf900\ufaff\ufa70", "\U00020000\U0002a6df",
        "\U0002a700\U0002b73f", "\U0002b740\U0002b81f", "\U0002b820\U0002b91f", "\U0002b920\U0002ceaf",
        "\U0002ceb0\U0002ebe0", "\U0002f800\U0002fa1d", "\U00030000\U0003134a", "a\u3007b", "a\u2e80b",
        "a\u2f00b", "a\u31c0b", "a\u3005b", "\u4dc0\u4dff", "\u9fa6\u9fcc\u9fd5")
    add("hangul", "한국어", "안녕하세요 세계", "ᄀᄁᄂ ᅡᅢ ᆨᆩ", "ㄱㄴㄷ", "\uac00\ud7a3", "ﾡﾢ",
        "가" * 40, "가" * 33, "가" * 34)
    add("emoji", "😀", "I ❤️ NY", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇩🇪", "1️⃣", "a😀b", "😀😃😄", "☺︎ ☺️",
        "🫠🫡🥹", "🪿🫎", "🧑‍💻", "✅✔️❌", "good movie 👏👏👏")
    add("full-width forms", "Ｆｕｌｌｗｉｄｔｈ", "ＡＢＣ１２３", "！？（）［］｛｝", "，。、：；", "＄１００", "ｈｅｌｌｏ！")
    add("symbols", "€100 £50 ¥1000 ₹", "±×÷√∞≠≤≥", "©®™°§¶†‡•", "←→↑↓⇒", "♠♣♥♦♪♫", "½ ¼ ¾ ² ³ ¹",
        "①②③ ⑴ ⒜", "𝐀𝐁𝐂 𝒜 𝔄 𝕬", "µ ß ẞ", "‰ ‱ ′ ″", "«quoted» ‹this›", "„German“ “English” ‘single’",
        "a—b–c‒d―e", "…", "·•‧", "※ ‽ ⁂", "℅ ℓ ℮")
    add("punctuation newer than HF's tables", "a\u2e43b", "a\u2e4fb", "a\u2e52b", "a\u2e5db", "a\u166db",
        "a\U000111c9b", "a\U0001144bb", "a\U0001e95eb", "a\U00011938b", "a\u061db", "a\u08e2b", "a\u0890b")
    add("word length", "a" * 99, "a" * 100, "a" * 101, "x" * 300, "é" * 100, "é" * 101,
        "e\u0301" * 100, "a\u200b" * 101, "supercalifragilisticexpialidocious" * 3,
        "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "Ａ" * 101, "a" * 100 + "!" + "b" * 100)
    add("wordpiece", "unaffable", "playing", "tokenization", "transformers", "hugging face", "unbelievably",
        "xyzzyq", "qwertyuiop", "aaaaaaaaaaa", "##", "##ing", "#hashtag", "a##b", "don't", "can’t", "won't",
        "rock 'n' roll", "o'clock", "y'all", "I'm", "it's", "they're", "we've", "isn't")
    add("numbers", "3.14159", "1,000,000", "$100", "50%", "2021-12-31", "10:30pm", "1e10", "0x1F", "#1",
        "12345678901234567890", "3rd 21st 2nd", "½ cup", "١٢٣")
    add("special-token literals", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[cls]", "[Cls]", "[CLS",
        "CLS]", "[[CLS]]", "x[SEP]y", "[PAD][UNK][MASK]", "[unused0]", "[ CLS ]", "hello [MASK] world",
        "[CLS] [SEP]", "[MASK]ed", "a[UNK]b", "[SEP][SEP]", "[CL\u200bS]", "[ＣＬＳ]", "é[CLS]é",
        "[CLS]\u0301", "\u0301[CLS]", "[MASK" * 3 + "]")
    add("html (IMDB)", "<br /><br />", "Great movie.<br /><br />Loved it!", "<i>italic</i> and <b>bold</b>",
        "&amp; &lt; &gt; &quot; &#39;", "<a href=\"http://www.imdb.com/title/tt0111161/\">link</a>",
        "line<br/>break", "/><br")
    add("mixed", "Hello, World!", "HELLO world", "The Quick Brown Fox Jumps Over The Lazy Dog.",
        "e-mail: someone@example.com", "https://www.example.com/path?query=1&x=y#frag", "C++ and C#",
        "snake_case camelCase kebab-case", "f(x) = x^2 + 2x + 1", "~/path/to/file.txt", "\"quoted\" text",
        "tab\tseparated\tvalues", "multi\nline\ntext", "Mr. Smith vs. Mrs. Jones", "U.S.A.", "...?!",
        "!!!!!!!!", "???", "----", "a  b   c", " leading and trailing ", "10/10 would watch again",
        "1/2 stars", "I give it a 7/10.", "(spoiler)", "*****", "=====", "|||")
    add("scripts", "ქართული", "Հայերեն", "አማርኛ", "ᏣᎳᎩ", "ᚠᚢᚦ", "ꦗꦮ", "𐌰𐌱𐌲", "𓀀𓀁", "ᠮᠣᠩᠭᠣᠯ",
        "ܣܘܪܝܝܐ", "ދިވެހި", "ߒߞߏ", "ⴰⵣⴰⵡⴰⵖ", "𞤀𞤣𞤤𞤢𞤥", "ꯃꯩꯇꯩ", "ᱥᱟᱱᱛᱟᱲᱤ")
    add("imdb-like", "This movie was AMAZING!!! 10/10", "Worst. Film. Ever.", "I didn't like it...",
        "The acting was \"so-so\" (at best).", "Spielberg's E.T. (1982) is a classic.",
        "It's a 'must-see' - trust me :)", "Rated R for violence & language.", "**SPOILERS AHEAD**",
        "Director: Jean-Luc Godard; Cast: Anna Karina", "Amélie (2001) – Jean-Pierre Jeunet")
    return cases


def check_unique(cases):
    seen = set()
    out = []
    for group, text in cases:
        if text in seen:
            continue
        seen.add(text)
        out.append((group, text))
    return out


def encode_record(backend, slow, text):
    enc = backend.encode(text)
    record = {"text": text, "ids": enc.ids, "tokens": enc.tokens, "offsets": [list(o) for o in enc.offsets]}
    slow_ids = slow.encode(text)
    if slow_ids != enc.ids:
        record["slow_ids"] = slow_ids
        record["slow_tokens"] = slow.convert_ids_to_tokens(slow_ids)
    return record


def write_hard_strings(fast, slow, backend):
    cases = check_unique(hard_strings())
    lines = []
    disagreements = 0
    for group, text in cases:
        record = {"group": group}
        record.update(encode_record(backend, slow, text))
        ids = record["ids"]
        record["decoded"] = backend.decode(ids, skip_special_tokens=False)
        record["decoded_skip_special"] = backend.decode(ids, skip_special_tokens=True)
        record["decoded_transformers"] = fast.decode(ids)  # clean_up_tokenization_spaces=True
        # the two HF fast entry points must agree
        assert fast(text)["input_ids"] == ids, text
        disagreements += "slow_ids" in record
        lines.append(json.dumps(record, ensure_ascii=True))
    write(OUT / "hard_strings.jsonl", lines)
    print(f"hard_strings.jsonl: {len(lines)} strings, {disagreements} fast/slow disagreements")


# ---- invalid UTF-8 ------------------------------------------------------------------------------

INVALID_UTF8 = [
    b"\xff", b"abc\xffdef", b"\xc3", b"caf\xc3", b"\xc3\x28", b"\xe2\x82", b"\xe2\x82(", b"\xe2(\xa1",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 x", b"\x80", b"\x80\x80\x80abc", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
    b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x80\x80\xaf", b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe\xff", b"hello \xe4\xbd world", b"\xe4\xbd\xe5\xa5\xbd",
    b"ok\xcc", b"Caf\xe9 (latin-1)", b"[CLS]\xff[SEP]", b"a\xf0\x90\x80b", b"\xef\xbf\xbd literal \xff",
]


def write_invalid_utf8(backend):
    lines = []
    for raw in INVALID_UTF8:
        try:
            raw.decode("utf-8")
            raise AssertionError(f"{raw!r} is valid UTF-8")
        except UnicodeDecodeError as e:
            error_offset = e.start
        text = raw.decode("utf-8", errors="replace")
        enc = backend.encode(text)
        lines.append(json.dumps({"hex": raw.hex(), "error_offset": error_offset, "replaced": text, "ids": enc.ids,
                                 "offsets": [list(o) for o in enc.offsets]}, ensure_ascii=True))
    write(OUT / "invalid_utf8.jsonl", lines)
    print(f"invalid_utf8.jsonl: {len(lines)} byte strings")


# ---- truncation and padding ---------------------------------------------------------------------

def write_truncation_padding(fast, long_reviews):
    short = ["Hello, world!", "", "A somewhat longer sentence that certainly needs more than sixteen tokens "
             "once WordPiece has split it into pieces.", "[CLS] literal [SEP]", "unaffable éclair 中文",
             "x" * 150 + " y"]
    configs = [("short", short, max_length, padding, add_special, True)
               for max_length in (16, 512) for padding in ("none", "longest", "max_length")
               for add_special in (True, False)]
    # Reviews longer than 512 tokens: truncation to the model's limit (offsets are covered above).
    configs += [("long reviews", long_reviews, 512, padding, add_special, False)
                for padding in ("none", "max_length") for add_special in (True, False)]
    lines = []
    for name, texts, max_length, padding, add_special, with_offsets in configs:
        out = fast(texts, truncation=True, max_length=max_length,
                   padding={"none": False, "longest": "longest", "max_length": "max_length"}[padding],
                   add_special_tokens=add_special, return_offsets_mapping=with_offsets, return_token_type_ids=False)
        record = {"batch": name, "texts": texts, "max_length": max_length, "padding": padding,
                  "add_special_tokens": add_special, "input_ids": out["input_ids"],
                  "attention_mask": out["attention_mask"]}
        if with_offsets:
            record["offsets"] = [[list(o) for o in seq] for seq in out["offset_mapping"]]
        lines.append(json.dumps(record, ensure_ascii=True))
    write(OUT / "truncation_padding.jsonl", lines)
    print(f"truncation_padding.jsonl: {len(lines)} batch configurations")


# ---- decode -------------------------------------------------------------------------------------

def write_decode(fast, backend):
    vocab = backend.get_vocab()
    sequences = [
        ["[CLS]", "hello", "world", "[SEP]"], ["[CLS]", "i", "don", "'", "t", "know", ".", "[SEP]"],
        ["it", "'", "s", "i", "'", "m", "we", "'", "ve", "they", "'", "re", "isn", "'", "t"],
        ["hello", ",", "world", "!", "how", "are", "you", "?", "fine", "."], ["##ing", "play", "##ing"],
        ["una", "##ffa", "##ble"], ["[PAD]", "[PAD]"], ["[UNK]", "x", "[MASK]"], ["do", "not"],
        ["i", "do", "not", "care"], ["rock", "'", "n", "'", "roll"], ["[CLS]", ".", "[SEP]", ","],
        ["\"", "quoted", "\""], ["(", "a", ")"], ["#", "#", "##s"], [".", ".", "."], ["a", "'", "b"],
        ["[CLS]", "[SEP]"], [], ["[SEP]", "##s"], ["ᄒ", "##ᅡ", "##ᆫ"], ["caf", "##e", "!"],
        ["[unused0]", "[unused1]"], ["'", "s"], ["n", "'", "t"], ["yes", "!", "!", "!"],
    ]
    lines = []
    for tokens in sequences:
        ids = [vocab[t] for t in tokens]
        for skip in (False, True):
            lines.append(json.dumps({"ids": ids, "skip_special_tokens": skip,
                                     "tokenizers": backend.decode(ids, skip_special_tokens=skip),
                                     "transformers": fast.decode(ids, skip_special_tokens=skip)},
                                    ensure_ascii=True))
    write(OUT / "decode.jsonl", lines)
    print(f"decode.jsonl: {len(lines)} cases")


# ---- IMDB ---------------------------------------------------------------------------------------

def read_imdb(path, limit):
    with gzip.open(path, "rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        assert next(reader) == ["review", "sentiment"]
        rows = []
        for row in reader:
            rows.append(row[0])
            if limit and len(rows) == limit:
                break
    return rows


def pack_ids(ids):
    assert all(0 <= i < 64 ** 3 for i in ids)
    return "".join(B64[i >> 12] + B64[(i >> 6) & 63] + B64[i & 63] for i in ids)


def write_imdb(backend, slow, reviews):
    encodings = backend.encode_batch(reviews)
    lines = ["# ids of the first %d reviews of imdb_50k.csv.gz (data rows 1..%d, header excluded), one review a"
             % (len(reviews), len(reviews)),
             "# line, [CLS]/[SEP] included, no truncation; each id = 3 digits of the base64url alphabet",
             "# A-Za-z0-9-_ (most significant first): id = 4096*d0 + 64*d1 + d2."]
    lines += [pack_ids(e.ids) for e in encodings]
    write(OUT / f"imdb_first{len(reviews)}.ids", lines)
    tokens = sum(len(e.ids) for e in encodings)
    disagreements = []
    for row, (text, enc) in enumerate(zip(reviews, encodings), start=1):
        slow_ids = slow.encode(text)
        if slow_ids != enc.ids:
            first = next(i for i, (a, b) in enumerate(zip(enc.ids + [-1], slow_ids + [-1])) if a != b)
            disagreements.append(json.dumps({
                "row": row, "first_difference": first, "fast_tokens": enc.tokens[max(0, first - 3):first + 4],
                "slow_tokens": slow.convert_ids_to_tokens(slow_ids[max(0, first - 3):first + 4]),
                "context": text[max(0, enc.offsets[first][0] - 20):enc.offsets[first][1] + 20]
                if first < len(enc.offsets) else ""}, ensure_ascii=True))
    if disagreements:  # none in the first 3,000 with tokenizers 0.19.1 / transformers 4.44.2
        write(OUT / "imdb_slow_disagreements.jsonl", disagreements)
    print(f"imdb_first{len(reviews)}.ids: {len(reviews)} reviews, {tokens} tokens; "
          f"{len(disagreements)} fast/slow disagreements")
    return encodings


# ---- every code point ---------------------------------------------------------------------------

def hangul_nfd(cp):
    s = cp - 0xAC00
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    if s % 28:
        out.append(0x11A7 + s % 28)
    return out


def write_unicode_table(backend):
    """For each code point c: the words that normalizer + pre-tokenizer make of "a" + c + "a"."""
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    lines = ["# For every code point c (surrogates excluded): the words Hugging Face's BertNormalizer +",
             "# BertPreTokenizer make of \"a\" c \"a\". Runs: '<first> <last> <kind>' (hex) with kind",
             "#   keep (one word a c a), drop (aa), split (a | a), isolate (a | c | a),",
             "#   hangul (one word: a + the algorithmic NFD jamo + a).",
             "# Other code points: '<cp> = <words>', words separated by '|', each a '.'-joined list of hex",
             "# code points."]
    runs = []  # [first, last, kind]

    def push(cp, kind):
        if runs and runs[-1][2] == kind and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, kind])

    explicit = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        words = [w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str("a" + c + "a"))]
        if words == ["a" + c + "a"]:
            push(cp, "keep")
        elif words == ["aa"]:
            push(cp, "drop")
        elif words == ["a", "a"]:
            push(cp, "split")
        elif words == ["a", c, "a"]:
            push(cp, "isolate")
        elif 0xAC00 <= cp <= 0xD7A3 and words == ["a" + "".join(map(chr, hangul_nfd(cp))) + "a"]:
            push(cp, "hangul")
        else:
            runs.append([cp, cp, "= " + "|".join(".".join("%X" % ord(ch) for ch in w) for w in words)])
            explicit += 1
    for first, last, kind in runs:
        lines.append("%X %s" % (first, kind) if kind.startswith("=") else "%X %X %s" % (first, last, kind))
    # Canonical ordering: in "x" U+302E c U+1B44 the two kept marks (combining classes 224 and 9)
    # swap unless c ends the run, i.e. unless NFD(c) holds a starter.
    lines.append("# Code points c for which \"x\" U+302E c U+1B44 comes out with U+1B44 before U+302E (c is")
    lines.append("# removed, or all of NFD(c) are non-starters): 'nonstarter <first> <last>' (hex).")
    swapped = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = "".join(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(
            "x\u302e" + chr(cp) + "\u1b44")))
        if text.index("\u1b44") < text.index("\u302e"):
            if swapped and swapped[-1][1] == cp - 1:
                swapped[-1][1] = cp
            else:
                swapped.append([cp, cp])
    lines += ["nonstarter %X %X" % (first, last) for first, last in swapped]
    write(OUT / "unicode_table.txt", lines)
    print(f"unicode_table.txt: {len(runs)} runs ({explicit} explicit code points), {len(swapped)} non-starter runs")


# ---- a tiny vocabulary for canonical ordering ---------------------------------------------------

SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "x", "##a", "##b", "##x",
               "\u1b44", "##\u1b44", "\u302e", "##\u302e", "\u1b44\u302e", "##\u1b44\u302e", "##\u302e\u1b44",
               "\U0001d165", "##\U0001d165", "##\U0001d16d", "##\U0001d165\U0001d16d", "##\U0001d16d\U0001d165",
               "\U00016ff0", "##\U00016ff0", "##\u1b44\U00016ff0", "##\U00016ff0\u1b44", "##\u0915", "\u0915",
               "##\U0001d158", "##\u1b44\U0001d165", "##\U0001d165\U0001d16e", "##\u302e\U0001d165"]
SMALL_TEXTS = ["x\u302e\u1b44", "x\u1b44\u302e", "x\u302e\u0301\u1b44", "x\u302e\u0300\u0301\u1b44",
               "x\u302e\u200b\u1b44", "x\U0001d16d\U0001d165", "x\U0001d165\U0001d16d", "x\u1b44\U00016ff0",
               "x\U00016ff0\u1b44", "a\u302e\u0f7b\u1b44", "x\u302e\u05c7\u1b44", "x\u302e b\u1b44",
               "x\u302e\u0915\u1b44", "\u302e\u1b44a", "x\u302e\u1b44\u302e\u1b44", "x\u302e[CLS]\u1b44",
               "x\u302e\u0345\u1b44", "a\u302e\u1100\u1b44", "x\U0001d15f\U0001d16d", "x\U0001d15f\u1b44",
               "x\U0001d160", "x\U0001d160\u1b44", "x\U0001d15f\u0301\u1b44", "x\U0001d15f\u302e",
               "x\U0001d15f\u200b\u1b44", "x\u0301\u302e\u1b44", "\u1b44\u1b44x"]


def write_small_vocab():
    path = OUT / "small_vocab.txt"
    write(path, SMALL_VOCAB)
    tok = Tokenizer(models.WordPiece.from_file(str(path), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    lines = []
    for text in SMALL_TEXTS:
        enc = tok.encode(text)
        lines.append(json.dumps({"text": text, "ids": enc.ids, "tokens": enc.tokens,
                                 "offsets": [list(o) for o in enc.offsets]}, ensure_ascii=True))
    write(OUT / "small_vocab.jsonl", lines)
    print(f"small_vocab.jsonl: {len(lines)} strings")


# ---- output -------------------------------------------------------------------------------------

CHECK_FAILURES = []


def write(path, lines):
    content = "".join(line + "\n" for line in lines)
    if ARGS.check:
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            CHECK_FAILURES.append(path.name)
        return
    path.write_text(content, encoding="utf-8")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=IMDB, help="imdb_50k.csv.gz (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ARGS = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    fast, slow, backend = make_tokenizers()
    print(f"tokenizers {sys.modules['tokenizers'].__version__}, "
          f"transformers {sys.modules['transformers'].__version__}, Python unicodedata {unicodedata.unidata_version}")
    write_hard_strings(fast, slow, backend)
    write_invalid_utf8(backend)
    write_decode(fast, backend)
    reviews = read_imdb(ARGS.imdb, IMDB_REVIEWS)
    encodings = write_imdb(backend, slow, reviews)
    longest = max(range(len(reviews)), key=lambda i: len(encodings[i].ids))
    over_512 = next(i for i, e in enumerate(encodings) if 512 < len(e.ids) < 700)
    write_truncation_padding(fast, [reviews[longest], reviews[0], reviews[over_512]])
    write_small_vocab()
    write_unicode_table(backend)
    if ARGS.check:
        print("differs from the committed files: " + ", ".join(CHECK_FAILURES) if CHECK_FAILURES else
              "all files identical")
        sys.exit(1 if CHECK_FAILURES else 0)


if __name__ == "__main__":
    main()
