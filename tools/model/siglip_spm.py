"""SigLIP's tokenizer: a SentencePiece unigram model trained with python3-sentencepiece, the files
Hugging Face loads, and the encoder (HF's slow SiglipTokenizer, as tests/tokenizers/ref_siglip.py
ports it).

Pieces 0, 1, 2 are <pad>, </s>, <unk> as in google/siglip-*; </s> is both the end and the padding
token (SiglipTokenizer pads with it). The model is trained on what SiglipTokenizer feeds
SentencePiece: lowercased, ASCII punctuation deleted, whitespace runs collapsed. Normalization is
SentencePiece's nmt_nfkc, stored as the precompiled charsmap inside spiece.model.
"""
import base64
import io
import json
import os
import re
import string
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "tokenizers"))
from ref_siglip import SlowSiglip  # noqa: E402  (the one port of SiglipTokenizer, shared with the tests)

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def canonical(text):
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return re.sub(r"\s+", " ", text).strip()


def train(texts, vocab_size, out_path):
    sentences = sorted({canonical(t) for t in texts if canonical(t)})
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buf, model_type="unigram", vocab_size=vocab_size,
        hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, pad_piece=PAD, eos_piece=EOS, unk_piece=UNK, num_threads=1, byte_fallback=False,
        split_digits=True, minloglevel=2, shuffle_input_sentence=False, seed_sentencepiece_size=100000)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())


def tokenizer_json(spiece_path):
    """tokenizer.json in the shape of transformers' SiglipConverter (a fast Unigram pipeline)."""
    with open(spiece_path, "rb") as f:
        proto = sentencepiece_model_pb2.ModelProto.FromString(f.read())
    vocab = [[p.piece, p.score] for p in proto.pieces]
    ids = {p.piece: i for i, p in enumerate(proto.pieces)}
    added = [{"id": ids[c], "content": c, "single_word": False, "lstrip": True, "rstrip": True, "normalized": False,
              "special": True} for c in (PAD, EOS, UNK)]
    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()
    punct = "[" + re.escape(string.punctuation) + "]"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Lowercase"},
            {"type": "Replace", "pattern": {"Regex": punct}, "content": ""},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                          "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": EOS, "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": EOS, "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}},
                                    {"SpecialToken": {"id": EOS, "type_id": 0}}],
                           "special_tokens": {EOS: {"id": EOS, "ids": [ids[EOS]], "tokens": [EOS]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                    "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": ids[UNK], "vocab": vocab, "byte_fallback": False},
    }


def write_files(out_dir, texts, vocab_size, context_length):
    sp_path = f"{out_dir}/spiece.model"
    train(texts, vocab_size, sp_path)
    with open(f"{out_dir}/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(sp_path), f, ensure_ascii=False, indent=1)
        f.write("\n")
    tok = lambda c: {"__type": "AddedToken", "content": c, "lstrip": True, "normalized": False, "rstrip": True,
                     "single_word": False, "special": True}
    with open(f"{out_dir}/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "SiglipTokenizer", "model_max_length": context_length, "do_lower_case": True,
                   "eos_token": tok(EOS), "pad_token": tok(EOS), "unk_token": tok(UNK),
                   "additional_special_tokens": [], "sp_model_kwargs": {}}, f, indent=1)
        f.write("\n")
    with open(f"{out_dir}/special_tokens_map.json", "w") as f:
        json.dump({"eos_token": EOS, "pad_token": EOS, "unk_token": UNK}, f, indent=1)
        f.write("\n")


class Encoder:
    def __init__(self, model_dir):
        self.slow = SlowSiglip(model_dir)
        self.eos = self.pad = self.slow.added[EOS]
        self.cache = {}

    def encode(self, text, length):
        key = (text, length)
        if key not in self.cache:
            self.cache[key] = self.slow.encode(text, length)
        return self.cache[key]
