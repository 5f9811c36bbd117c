#!/usr/bin/python3
"""Retrieval check of an int8 variant against its fp32 model, through clipdex itself (ONNX Runtime in C).

    /usr/bin/python3 tools/model/int8_check.py --fp32 contracts/tiny-clip.json --int8 contracts/tiny-clip-int8.json
        [--clipdex build/clipdex] [--samples samples/shapes] [--k 10] [--min-overlap 0.9] [--json F]

The held-out set is the sample catalog (samples/shapes: 300 images whose (colour, shape, size) combinations
the shipped models never saw in training). `clipdex embed` embeds every image and every distinct caption
under both contracts; each caption then ranks the images (cosine, text -> image) and each image ranks the
other images (image -> image). overlap@k is |top-k fp32 ∩ top-k int8| / k, averaged over the queries.
Exit 1 when the text -> image or the image -> image overlap is below --min-overlap.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


CHUNK = 64  # inputs per `clipdex embed`: ORT 1.29's environment creation overflows the stack on a ~60 kB command line


def embed(clipdex, contract, images, texts):
    inputs = [("--image", p) for p in images] + [("--text", t) for t in texts]
    vecs = []
    for i in range(0, len(inputs), CHUNK):
        args = [clipdex, "--log-level", "warn", "embed", "--contract", contract, "--json"]
        for flag, x in inputs[i:i + CHUNK]:
            args += [flag, x]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit(f"int8_check: clipdex embed --contract {contract} failed (exit {r.returncode}): "
                     f"{r.stderr.decode(errors='replace').strip()[-500:]}")
        vecs += [it["vector"] for it in json.loads(r.stdout)["items"]]
    if len(vecs) != len(inputs):
        sys.exit(f"int8_check: {contract}: clipdex embed returned {len(vecs)} vectors for {len(inputs)} inputs")
    v = np.array(vecs, np.float64)
    return v[:len(images)], v[len(images):]


def topk(scores, k):
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def overlap(a, b, k):
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--clipdex", default=os.path.join(ROOT, "build", "clipdex"))
    ap.add_argument("--samples", default=os.path.join(ROOT, "samples", "shapes"))
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-overlap", type=float, default=0.9)
    ap.add_argument("--json")
    args = ap.parse_args()
    with open(os.path.join(args.samples, "manifest.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    images = [os.path.join(args.samples, r["uri"]) for r in rows]
    texts = sorted({r["caption"] for r in rows})
    fi, ft = embed(args.clipdex, args.fp32, images, texts)
    qi, qt = embed(args.clipdex, args.int8, images, texts)
    k = args.k
    t2i = overlap(topk(ft @ fi.T, k), topk(qt @ qi.T, k), k)
    # image -> image: the query itself excluded
    sf, sq = fi @ fi.T, qi @ qi.T
    np.fill_diagonal(sf, -np.inf)
    np.fill_diagonal(sq, -np.inf)
    i2i = overlap(topk(sf, k), topk(sq, k), k)
    cos_i = (fi * qi).sum(1)
    cos_t = (ft * qt).sum(1)
    res = {"fp32": args.fp32, "int8": args.int8, "images": len(images), "captions": len(texts), "k": k,
           "text_to_image_overlap": round(t2i, 4), "image_to_image_overlap": round(i2i, 4),
           "image_cosine_min": round(float(cos_i.min()), 5), "text_cosine_min": round(float(cos_t.min()), 5),
           "min_overlap": args.min_overlap, "pass": bool(t2i >= args.min_overlap and i2i >= args.min_overlap)}
    print(f"int8_check: {len(images)} images, {len(texts)} captions: overlap@{k} with fp32: text->image {t2i:.4f}, "
          f"image->image {i2i:.4f} (need {args.min_overlap}); embedding cosine min: image {cos_i.min():.5f}, "
          f"text {cos_t.min():.5f}: {'PASS' if res['pass'] else 'FAIL'}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
