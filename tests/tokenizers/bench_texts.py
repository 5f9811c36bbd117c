#!/usr/bin/python3
"""Seeded texts for the tokenizer benchmark, one JSON string per line on stdout.

    bench_texts.py captions [--n 20000]   caption-like sentences of 5..18 words
    bench_texts.py long [--n 200]         paragraphs of 2,000 words with punctuation and numbers

Then, on one core:
    clipdex tokenize --model models/tiny-clip --stdin --bench 5 < captions.jsonl
    clipdex tokenize --model models/tiny-clip --stdin --bench 2 --context-length 65536 < long.jsonl
(--context-length 65536 keeps every token of a long text, so tokens/s counts all the work done.)
"""

import argparse
import json
import random

WORDS = ("a photo of the cat dog red blue green small large circle square triangle on in with and "
         "two three person riding bike street city night sunset beach tree house car it is there "
         "painting drawing close up view old new black white yellow beautiful mountain river children "
         "playing football wooden table kitchen window sitting standing woman man's young colorful").split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["captions", "long"])
    ap.add_argument("--n", type=int)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    if a.kind == "captions":
        for _ in range(a.n or 20000):
            t = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 18)))
            print(json.dumps(t[0].upper() + t[1:] + rng.choice([".", "", "!", ","])))
        return
    for _ in range(a.n or 200):
        words = []
        for _ in range(2000):
            w = rng.choice(WORDS)
            if rng.random() < 0.1:
                w = w.capitalize()
            if rng.random() < 0.08:
                w += rng.choice([",", ".", ";", "!"])
            if rng.random() < 0.03:
                w = str(rng.randint(0, 5000))
            words.append(w)
        print(json.dumps(" ".join(words)))


if __name__ == "__main__":
    main()
