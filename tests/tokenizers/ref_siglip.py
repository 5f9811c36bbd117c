#!/usr/bin/python3
"""Reference SigLIP tokenizer: Hugging Face's slow SiglipTokenizer (transformers,
tokenization_siglip.py and PreTrainedTokenizer.tokenize) step by step, with python3-sentencepiece doing the
normalization and segmentation. transformers itself is not installed here; this follows its code:

  SiglipTokenizer.tokenize:  "▁" + text.replace("▁", " "), then PreTrainedTokenizer.tokenize:
    - do_lower_case: every character lowercased on its own, except exact special tokens
    - split on the added tokens (</s>, <unk>); both strip whitespace on each side (lstrip/rstrip=True)
    - each other chunk -> _tokenize: canonicalize_text (delete string.punctuation, re.sub(r"\\s+", " "),
      strip), then sp.encode("<unk>" + chunk, out_type=str)[unk_token_length:] with add_dummy_prefix off
  then a leading lone "▁" before a special token is dropped;
  convert_tokens_to_ids: added tokens first, else sp.piece_to_id;
  prepare_for_model(truncation=True, max_length=L): cut to L - 1, append </s> unless already last;
  pad (max_length) with the pad token (</s>), attention mask 1 on real tokens.

    /usr/bin/python3 ref_siglip.py MODEL_DIR [--context-length 64] < texts.jsonl > ids.jsonl
Input: one JSON string per line. Output: one JSON object {"ids": [...], "mask": [...]} per line.
"""

import argparse
import json
import re
import string
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

SPIECE_UNDERLINE = "\u2581"
EOS, UNK = "</s>", "<unk>"


class SlowSiglip:
    def __init__(self, model_dir):
        with open(model_dir + "/spiece.model", "rb") as f:
            proto = sentencepiece_model_pb2.ModelProto.FromString(f.read())
        spec = sentencepiece_model_pb2.NormalizerSpec()
        spec.add_dummy_prefix = False
        proto.normalizer_spec.MergeFrom(spec)
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(proto.SerializeToString())
        self.added = {EOS: self.sp.piece_to_id(EOS), UNK: self.sp.piece_to_id(UNK)}  # _added_tokens_encoder
        self.all_special = [EOS, UNK]  # eos, unk, pad (= eos)
        self.unk_token_length = len(self.sp.encode(UNK))
        self.trans = str.maketrans("", "", string.punctuation)

    def canonicalize_text(self, text):
        text = text.translate(self.trans)
        text = re.sub(r"\s+", " ", text)
        return text.strip()

    def _tokenize(self, text):
        text = self.canonicalize_text(text)
        tokens = self.sp.encode(UNK + text, out_type=str)
        return tokens[self.unk_token_length:] if len(tokens) >= self.unk_token_length else tokens

    def split_added(self, text):
        """transformers' Trie.split for two tokens, neither a prefix of the other: leftmost occurrence."""
        out, i, start = [], 0, 0
        while i < len(text):
            hit = next((t for t in self.added if text.startswith(t, i)), None)
            if hit is None:
                i += 1
                continue
            if i > start:
                out.append(text[start:i])
            out.append(hit)
            i = start = i + len(hit)
        if start < len(text):
            out.append(text[start:])
        return out

    def tokenize(self, text):
        text = SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")
        pattern = r"(" + r"|".join(re.escape(t) for t in self.all_special) + r")|" + r"(.+?)"
        text = re.sub(pattern, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
        tokens = self.split_added(text)
        for i, token in enumerate(tokens):
            if token in self.added:
                left = tokens[i - 1] if i > 0 else None
                right = tokens[i + 1] if i < len(tokens) - 1 else None
                if right:  # rstrip=True
                    tokens[i + 1] = right.lstrip()
                if left:  # lstrip=True
                    tokens[i - 1] = left.rstrip()
        out = []
        for token in tokens:
            if not token:
                continue
            if token in self.added:
                out.append(token)
            else:
                out.extend(self._tokenize(token))
        if len(out) > 1 and out[0] == SPIECE_UNDERLINE and out[1] in self.all_special:
            out = out[1:]
        return out

    def encode(self, text, max_length):
        ids = [self.added[t] if t in self.added else self.sp.piece_to_id(t) for t in self.tokenize(text)]
        total = len(ids) + 1
        if total > max_length:
            ids = ids[:-(total - max_length)]
        eos = self.added[EOS]
        if not (ids and ids[-1] == eos):
            ids = ids + [eos]
        n = len(ids)
        return ids + [eos] * (max_length - n), [1] * n + [0] * (max_length - n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--context-length", type=int, default=64)
    a = ap.parse_args()
    tok = SlowSiglip(a.model_dir)
    out = sys.stdout
    for line in sys.stdin:
        text = json.loads(line)
        if isinstance(text, dict):
            text = text["text"]
        ids, mask = tok.encode(text, a.context_length)
        out.write(json.dumps({"ids": ids, "mask": mask}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
