"""transformers' own DistilBertForSequenceClassification with the configuration and the weights of a
torch_distilbert.DistilBertForSequenceClassification: the model that bench/distilbert/onnx_bench.py
exports to ONNX, so that ONNX Runtime runs the same network, weight for weight, as the PyTorch and
tinyxf sides; and transformers' DistilBertForMaskedLM of the same sizes (hf_masked_lm, for
bench/train's --task mlm). Needs transformers (scripts/setup-bench-env.sh installs it).

    from torch_distilbert import MODEL_SIZES, DistilBertForSequenceClassification
    from hf_distilbert import hf_copy
    hf = hf_copy(DistilBertForSequenceClassification(**MODEL_SIZES["base"]), MODEL_SIZES["base"])
"""
import re

from torch import nn
from torch_distilbert import MAX_POS, VOCAB


def hf_name(name):
    """The transformers parameter name of a torch_distilbert parameter name."""
    if name.startswith("embeddings."):
        return "distilbert." + name
    block = re.match(r"layer\.(\d+)\.(.*)", name)
    if block:
        index, rest = block.groups()
        if rest.startswith(("lin1.", "lin2.")):
            rest = "ffn." + rest
        return f"distilbert.transformer.layer.{index}.{rest}"
    return name  # pre_classifier.*, classifier.*


def hf_config(sizes, attn_implementation="sdpa"):
    """The transformers DistilBertConfig of a MODEL_SIZES entry (vocab 30522, 512 learned
    positions, dropout 0.1, GELU, 2 labels: the benchmarks' models). attn_implementation: "sdpa"
    (transformers' default on torch 2.x) or "eager"."""
    from transformers import DistilBertConfig

    config = DistilBertConfig(vocab_size=VOCAB, max_position_embeddings=MAX_POS, sinusoidal_pos_embds=False,
                              n_layers=sizes["layers"], n_heads=sizes["heads"], dim=sizes["dim"],
                              hidden_dim=sizes["hidden"], dropout=0.1, attention_dropout=0.1, activation="gelu",
                              seq_classif_dropout=0.2, num_labels=2, pad_token_id=0)
    config._attn_implementation = attn_implementation
    return config


def hf_copy(plain, sizes, attn_implementation="sdpa"):
    """A transformers DistilBertForSequenceClassification (eval mode) holding plain's weights;
    sizes is the MODEL_SIZES entry plain was made with. attn_implementation: "sdpa"
    (transformers' default on torch 2.x) or "eager"."""
    from transformers import DistilBertForSequenceClassification

    hf = DistilBertForSequenceClassification(hf_config(sizes, attn_implementation))
    state = {hf_name(name): tensor for name, tensor in plain.state_dict().items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    # Buffers such as position_ids are not parameters of the plain module.
    missing = [name for name in missing if not name.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"hf_copy: names do not match: missing {missing}, unexpected {unexpected}")
    return hf.eval()


def hf_masked_lm(sizes, attn_implementation="sdpa"):
    """A freshly initialised transformers DistilBertForMaskedLM (eval mode; seed torch first) of
    a MODEL_SIZES entry: hf_config's configuration, the projector tied to the word embeddings.
    Its logits are [B, S, vocab], every position (bench/train's --task mlm)."""
    from transformers import DistilBertForMaskedLM

    return DistilBertForMaskedLM(hf_config(sizes, attn_implementation)).eval()


class PlainInterface(nn.Module):
    """A transformers model called like torch_distilbert's: forward(ids, mask, labels=None)
    returns (logits, loss)."""

    def __init__(self, hf):
        super().__init__()
        self.hf = hf

    def forward(self, ids, mask, labels=None):
        out = self.hf(input_ids=ids, attention_mask=mask, labels=labels)
        return out.logits, out.loss
