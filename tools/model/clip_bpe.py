"""CLIP's byte-level BPE: training on captions, the files Hugging Face loads, and an encoder.

Files, in the layout of openai/clip-vit-base-patch32:
  vocab.json    token -> id: the 256 byte symbols (GPT-2's bytes_to_unicode order), the same with
                "</w>", then one token per merge in rank order, then <|startoftext|>, <|endoftext|>
  merges.txt    "#version: 0.2" then one "a b" merge per line, by rank
  tokenizer.json  the fast tokenizer (normalizer NFC + whitespace runs + lowercase, CLIP's split
                regex, ByteLevel, BPE with end_of_word_suffix "</w>", RobertaProcessing)
  tokenizer_config.json, special_tokens_map.json

The encoder follows the fast tokenizer (what encoder/tokenizers.md describes): NFC, White_Space runs
to one space, per-code-point lowercase, the split regex (added tokens first), bytes, lowest-rank
merges with "</w>" on the last symbol, <|startoftext|> ... <|endoftext|>, content cut to L - 2,
padded with <|endoftext|>. Python's unicodedata stands in for \\p{L} / \\p{N}.
"""
import collections
import json
import unicodedata

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SPLIT_REGEX = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
WHITE_SPACE = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(
    range(0x2000, 0x200B))


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_CHARS = bytes_to_unicode()


def _ws(c):
    return ord(c) in WHITE_SPACE


def _letter(c):
    return unicodedata.category(c)[0] == "L"


def _number(c):
    return unicodedata.category(c)[0] == "N"


def normalize(text):
    text = unicodedata.normalize("NFC", text)
    out, in_ws = [], False
    for c in text:
        if _ws(c):
            if not in_ws:
                out.append(" ")
            in_ws = True
        else:
            out.append(c.lower())
            in_ws = False
    return "".join(out)


def split_words(text):
    """CLIP's split regex with invert=true, behavior Removed: the matches, in order."""
    words, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith(BOS, i) or text.startswith(EOS, i):
            tok = BOS if text.startswith(BOS, i) else EOS
            words.append(tok)
            i += len(tok)
            continue
        m = next((k for k in CONTRACTIONS if text.startswith(k, i)), None)
        if m:
            words.append(m)
            i += len(m)
        elif _letter(c):
            j = i
            while j < n and _letter(text[j]):
                j += 1
            words.append(text[i:j])
            i = j
        elif _number(c):
            words.append(c)
            i += 1
        elif _ws(c):
            i += 1
        else:
            j = i
            while j < n and not (_ws(text[j]) or _letter(text[j]) or _number(text[j])):
                j += 1
            words.append(text[i:j])
            i = j
    return words


def word_symbols(word):
    syms = [BYTE_CHARS[b] for b in word.encode("utf-8")]
    syms[-1] += "</w>"
    return syms


def train(texts, n_merges, min_count=2):
    """BPE merges (list of (a, b)) from texts, most frequent pair first, ties by the pair's text."""
    counts = collections.Counter()
    for t in texts:
        for w in split_words(normalize(t)):
            counts[w] += 1
    words = {tuple(word_symbols(w)): c for w, c in counts.items()}
    merges = []
    while len(merges) < n_merges:
        pairs = collections.Counter()
        for syms, c in words.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_count:
            break
        merges.append(best)
        new = {}
        for syms, c in words.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def build_vocab(merges):
    base = list(BYTE_CHARS.values())
    toks = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {}
    for t in toks:  # two merges can make one string ("ab"+"c", "a"+"bc"): the token keeps its first id
        vocab.setdefault(t, len(vocab))
    return vocab


def tokenizer_json(vocab, merges, context_length):
    bos, eos = vocab[BOS], vocab[EOS]
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
              "special": True} for c, i in ((BOS, bos), (EOS, eos))]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOS, eos], "cls": [BOS, bos], "trim_offsets": False,
                           "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": EOS, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in merges]},
    }


def write_files(out_dir, merges, context_length):
    vocab = build_vocab(merges)
    with open(f"{out_dir}/vocab.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(f"{out_dir}/merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    with open(f"{out_dir}/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges, context_length), f, ensure_ascii=False, indent=1)
        f.write("\n")
    tok = lambda c: {"__type": "AddedToken", "content": c, "lstrip": False, "normalized": True, "rstrip": False,
                     "single_word": False}
    with open(f"{out_dir}/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": context_length, "do_lower_case": True,
                   "errors": "replace", "add_prefix_space": False, "bos_token": tok(BOS), "eos_token": tok(EOS),
                   "pad_token": tok(EOS), "unk_token": tok(EOS)}, f, indent=1)
        f.write("\n")
    with open(f"{out_dir}/special_tokens_map.json", "w") as f:
        json.dump({"bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS}, f, indent=1)
        f.write("\n")
    return vocab


class Encoder:
    def __init__(self, model_dir):
        with open(f"{model_dir}/vocab.json", encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(f"{model_dir}/merges.txt", encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#version")]
        self.ranks = {tuple(l.split(" ")): i for i, l in enumerate(lines)}
        self.bos, self.eos = self.vocab[BOS], self.vocab[EOS]
        self.pad = self.eos
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = word_symbols(word)
        while len(syms) > 1:
            best, rank = None, None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (rank is None or r < rank):
                    best, rank = i, r
            if best is None:
                break
            syms = syms[:best] + [syms[best] + syms[best + 1]] + syms[best + 2:]
        ids = [self.vocab[s] for s in syms]
        self.cache[word] = ids
        return ids

    def content(self, text):
        # Added tokens are split out before normalization (leftmost first).
        ids, rest = [], text
        while rest:
            hits = [(rest.find(t), t) for t in (BOS, EOS) if rest.find(t) >= 0]
            if not hits:
                chunk, special, rest = rest, None, ""
            else:
                pos, t = min(hits)
                chunk, special, rest = rest[:pos], t, rest[pos + len(t):]
            for w in split_words(normalize(chunk)):
                ids += self.bpe(w)
            if special:
                ids.append(self.vocab[special])
        return ids

    def encode(self, text, length):
        """(ids, mask) padded to length, content cut to length - 2."""
        ids = [self.bos] + self.content(text)[:length - 2] + [self.eos]
        n = len(ids)
        return ids + [self.pad] * (length - n), [1] * n + [0] * (length - n)
