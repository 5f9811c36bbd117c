#!/usr/bin/python3
"""Compares token ids and attention masks from clipdex with reference tokenizers, line by line.

    compare.py --corpus corpus.jsonl --clipdex c.jsonl --ref NAME=FILE[:REQUIRED] ... [--explain NAME=OTHER]

Every file has one JSON object per line ({"ids": [...], "mask": [...]} or {"error": ...}), aligned with the
corpus (JSON strings, or {"text": ..., "unicode14": bool} objects). A reference marked :required must
agree on every line it covers; --skip-non-u14 NAME leaves out lines whose text has characters Python's
Unicode 14 tables do not know (for references that lowercase with them). --explain A=B says "a line where
clipdex differs from A but agrees with B is explained by what B changes": such lines are counted, not
failed. Prints a summary and, for every unexplained mismatch (up to --show), the text and both id lists.
Exit status 1 when a required reference has an unexplained mismatch.
"""

import argparse
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def key(r):
    """What must agree: ids and mask, or the fact of an error."""
    return ("error",) if "error" in r else (tuple(r["ids"]), tuple(r["mask"]))


def short(text, n=300):
    s = json.dumps(text)
    return s if len(s) <= n else s[:n] + f"... ({len(text)} characters)"


def trim(r):
    """ids up to the end of the attention mask, for readable reports."""
    if "error" in r:
        return r
    n = sum(r["mask"])
    return {"ids": r["ids"][:n], "n_tokens": n, "padded_to": len(r["ids"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--clipdex", required=True)
    ap.add_argument("--ref", action="append", default=[], help="NAME=FILE or NAME=FILE:required")
    ap.add_argument("--explain", action="append", default=[], help="A=B: a mismatch with A that B agrees with")
    ap.add_argument("--skip-non-u14", action="append", default=[])
    ap.add_argument("--label", default="")
    ap.add_argument("--show", type=int, default=10)
    a = ap.parse_args()

    corpus = load(a.corpus)
    texts = [c["text"] if isinstance(c, dict) else c for c in corpus]
    u14 = [c.get("unicode14", True) if isinstance(c, dict) else True for c in corpus]
    mine = load(a.clipdex)
    mine_k = [key(r) for r in mine]
    refs, required = {}, set()
    for spec in a.ref:
        name, path = spec.split("=", 1)
        if path.endswith(":required"):
            path = path[: -len(":required")]
            required.add(name)
        refs[name] = load(path)
    refs_k = {name: [key(r) for r in rows] for name, rows in refs.items()}
    explain = dict(e.split("=", 1) for e in a.explain)
    for name, rows in [("clipdex", mine)] + list(refs.items()):
        if len(rows) != len(texts):
            print(f"{a.label}: {name} answered {len(rows)} lines for {len(texts)} texts", file=sys.stderr)
            return 1

    failed = False
    errors = sum("error" in r for r in mine)
    print(f"{a.label}: {len(texts)} texts, clipdex errors {errors}, "
          f"tokens {sum(sum(r['mask']) for r in mine if 'mask' in r)}, "
          f"truncated {sum(1 for r in mine if 'mask' in r and sum(r['mask']) == len(r['mask']))}")
    for name, rows in refs.items():
        if name in explain.values() and name not in required:
            continue
        same = diff = explained = skipped = 0
        shown = 0
        for i, (m, r) in enumerate(zip(mine, rows)):
            if name in a.skip_non_u14 and not u14[i]:
                skipped += 1
                continue
            if mine_k[i] == refs_k[name][i]:
                same += 1
                continue
            if name in explain and mine_k[i] == refs_k[explain[name]][i]:
                explained += 1
                continue
            diff += 1
            if shown < a.show:
                shown += 1
                print(f"  MISMATCH vs {name} line {i + 1}: text {short(texts[i])}\n"
                      f"    clipdex {json.dumps(trim(m))}\n    {name:7} {json.dumps(trim(r))}")
        status = "required" if name in required else "reported"
        line = f"{a.label}: vs {name} ({status}): {same} identical, {diff} different"
        if name in explain:
            line += f", {explained} explained by {explain[name]}"
        if skipped:
            line += f", {skipped} skipped (characters newer than Unicode 14)"
        print(line)
        if diff and name in required:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
