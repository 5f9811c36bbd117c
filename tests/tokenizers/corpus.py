#!/usr/bin/python3
"""Seeded random corpus for the tokenizer identity test: one JSON string per line on stdout.

Texts mix what breaks tokenizers: letters from many scripts (upper and lower case, final sigma, dotted I),
combining marks and precomposed letters (NFC), Hangul jamo and syllables, CJK, emoji with ZWJ and
variation selectors, compatibility characters (ligatures, fullwidth, circled digits) for NFKC-style
charsmaps, digits of many scripts, every White_Space character plus U+001C..001F, U+200B and U+FEFF,
control characters, punctuation clusters, contractions, the special-token strings of both families,
U+2581, caption-like English, numbers, and lengths from empty to far past the context length.

    /usr/bin/python3 tests/tokenizers/corpus.py --n 12000 --seed 1 > corpus.jsonl

The corpus is not kept: the seed reproduces it. Each line is a JSON string (ensure_ascii, so any text,
NUL and newlines included, fits on one line).
"""

import argparse
import json
import random
import unicodedata

WORDS = ("a photo of the cat dog red blue green small large circle square triangle on in with and "
         "two three person riding bike street city night sunset beach tree house car it is there "
         "painting drawing close up view old new black white yellow").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "n't", "'"]
SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "</s>", "<unk>", "<pad>", "<s>", "</S>", "<UNK>"]
WHITESPACE = ([chr(c) for c in range(0x09, 0x0E)] + [" ", "\u0085", "\u00a0", "\u1680"]
              + [chr(c) for c in range(0x2000, 0x200B)] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
              + [chr(c) for c in range(0x1C, 0x20)] + ["\u200b", "\ufeff", "\u180e"])
# (first, last) code point ranges to draw characters from
RANGES = {
    "ascii_letters": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii_punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "digits": [(0x30, 0x39), (0x660, 0x669), (0x966, 0x96F), (0xFF10, 0xFF19), (0x2070, 0x2079), (0x2460, 0x2473),
               (0x1D7CE, 0x1D7FF), (0x2150, 0x218B), (0xBC, 0xBE), (0x1369, 0x137C)],
    "latin": [(0xC0, 0x24F), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F)],
    "greek_cyrillic": [(0x370, 0x3FF), (0x1F00, 0x1FFF), (0x400, 0x52F), (0x1C80, 0x1C8F), (0xA640, 0xA69F)],
    "combining": [(0x300, 0x36F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
                  (0x591, 0x5C7), (0x610, 0x61A), (0x64B, 0x65F), (0x93C, 0x94D), (0x9BC, 0x9D7), (0xB3C, 0xB57),
                  (0xBBE, 0xBD7), (0xCBC, 0xCD6), (0xD3E, 0xD57), (0xDCA, 0xDDF), (0x1B00, 0x1B4F), (0x3099, 0x309A)],
    "scripts": [(0x531, 0x58F), (0x5D0, 0x5EA), (0x620, 0x64A), (0x904, 0x939), (0x985, 0x9B9), (0xB05, 0xB39),
                (0xE01, 0xE5B), (0x10A0, 0x10FF), (0x1200, 0x137F), (0x13A0, 0x13FF), (0xAB70, 0xABBF),
                (0x1780, 0x17FF), (0x10400, 0x1044F), (0x10C80, 0x10CFF), (0x1E900, 0x1E95F), (0x11000, 0x1107F),
                (0x10D40, 0x10D8F), (0x11380, 0x113FF), (0x16D40, 0x16D7F), (0x16100, 0x1613F)],
    "hangul": [(0x1100, 0x11FF), (0xAC00, 0xD7A3), (0x3130, 0x318F)],
    "cjk": [(0x3040, 0x30FF), (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0xF900, 0xFAFF),
            (0x3000, 0x303F), (0x2F00, 0x2FDF)],
    "compat": [(0xFB00, 0xFB4F), (0xFF01, 0xFF5E), (0xFF61, 0xFFEE), (0x2100, 0x214F), (0x3300, 0x33FF),
               (0x1D400, 0x1D7CB), (0xFE30, 0xFE6F), (0x2000, 0x206F), (0x2E80, 0x2EFF), (0x1F100, 0x1F1FF)],
    "emoji": [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
              (0x2600, 0x27BF), (0x1F3FB, 0x1F3FF), (0xFE00, 0xFE0F), (0x1F1E6, 0x1F1FF)],
    "controls": [(0x00, 0x08), (0x0E, 0x1B), (0x7F, 0x9F), (0x200C, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
                 (0xE000, 0xE0FF), (0xFFF0, 0xFFFD), (0xE0001, 0xE007F)],
    "any_bmp": [(0x80, 0xD7FF), (0xE000, 0xFFFD)],
    "any_astral": [(0x10000, 0x3134F)],
}
SPECIAL_CHARS = ["\u03a3", "\u03c3", "\u03c2", "\u0130", "\u0131", "\u1e9e", "\u00df", "\u2126", "\u212a", "\u212b",
                 "\u0345", "\u0344", "\u0f73", "\u2581", "\u00ad", "\u034f", "\u200d", "\u0149", "\u01f0", "\u1e96",
                 "\ufb00", "\u1f80", "\u1fb3"]


def char_from(rng, kind):
    """A character from the ranges of one kind. Nine draws in ten insist on a character Python's Unicode 14
    tables know (the SigLIP reference lowercases with them); the rest may be newer or unassigned."""
    known = rng.random() < 0.9
    for _ in range(40):
        lo, hi = rng.choice(RANGES[kind])
        c = rng.randint(lo, hi)
        if 0xD800 <= c <= 0xDFFF or (known and unicodedata.category(chr(c)) == "Cn"):
            continue
        return chr(c)
    return "x"


def word(rng):
    w = rng.choice(WORDS)
    r = rng.random()
    if r < 0.15:
        w = w.upper()
    elif r < 0.3:
        w = w.capitalize()
    return w


def fragment(rng):
    """One piece of text of a randomly chosen kind."""
    k = rng.random()
    if k < 0.22:
        return word(rng)
    if k < 0.30:
        return rng.choice(WHITESPACE) * rng.choice([1, 1, 1, 2, 3, 7])
    if k < 0.36:
        return "".join(char_from(rng, "ascii_punct") for _ in range(rng.randint(1, 5)))
    if k < 0.40:
        return rng.choice(CONTRACTIONS)
    if k < 0.43:
        return rng.choice(SPECIALS)
    if k < 0.47:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if k < 0.52:  # a base letter with a stack of combining marks
        return char_from(rng, rng.choice(["ascii_letters", "latin", "greek_cyrillic", "scripts"])) + "".join(
            char_from(rng, "combining") for _ in range(rng.randint(1, 4)))
    if k < 0.55:
        return "".join(rng.choice(SPECIAL_CHARS) for _ in range(rng.randint(1, 3)))
    if k < 0.59:  # emoji, sometimes joined or with a skin tone / variation selector
        e = char_from(rng, "emoji")
        if rng.random() < 0.4:
            e += rng.choice(["\u200d", "\ufe0f", "\U0001F3FD"]) + char_from(rng, "emoji")
        return e
    kind = rng.choice(list(RANGES))
    return "".join(char_from(rng, kind) for _ in range(rng.randint(1, 8)))


def text(rng):
    r = rng.random()
    if r < 0.01:
        return ""
    if r < 0.02:
        return "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 6)))
    if r < 0.05:  # longer than any context: 80..400 fragments
        n = rng.randint(80, 400)
    elif r < 0.35:  # caption-like
        return " ".join(word(rng) for _ in range(rng.randint(1, 14))) + rng.choice(["", ".", "!", " ", "?!"])
    else:
        n = rng.randint(1, 14)
    sep = rng.choice(["", " ", " ", " "])
    return sep.join(fragment(rng) for _ in range(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--meta", action="store_true",
                    help="write {\"text\": ..., \"unicode14\": bool} objects instead of plain strings")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for _ in range(a.n):
        t = text(rng)
        if a.meta:
            # Python 3.11's unicodedata is Unicode 14: characters it lists as unassigned may still be letters
            # with case in the node/ICU tables clipdex uses.
            u14 = all(unicodedata.category(c) != "Cn" or c in "\ufffe\uffff" for c in t)
            print(json.dumps({"text": t, "unicode14": u14}))
        else:
            print(json.dumps(t))


if __name__ == "__main__":
    main()
