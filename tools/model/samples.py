#!/usr/bin/python3
"""The committed sample catalog: held-out shapes images with captions and metadata.

    /usr/bin/python3 tools/model/samples.py [--out samples/shapes] [--n 300] [--seed 1]

Writes OUT/images/shapes-NNNN.{jpg,png,webp} (160-224 px; JPEG mostly, every 15th PNG, every 20th
WebP) and OUT/manifest.jsonl, one JSON object per line:
  {"id": "shapes-0001", "uri": "images/shapes-0001.jpg", "caption": "...", "shape": ..., "colour": ...,
   "size": ..., "position": ..., "background": ..., "count": ...}
"uri" is relative to the manifest's folder. Every item uses a (colour, shape, size) combination the
shipped models never saw in training (the held-out split of tools/model/shapes.py).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import shapes  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(common.ROOT, "samples", "shapes"))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    # Items beyond the training run's 2,000 test items, so the catalog is new to every evaluation too.
    _, held = shapes.split_items(args.seed, 0, 2000 + args.n)
    items = held[2000:]
    img_dir = os.path.join(args.out, "images")
    if os.path.isdir(img_dir):
        shutil.rmtree(img_dir)
    os.makedirs(img_dir)
    lines = []
    for k, it in enumerate(items, 1):
        size = (160, 192, 224)[k % 3]
        img = shapes.render(it, size=size, supersample=2)
        ident = f"shapes-{k:04d}"
        if k % 20 == 0:
            fname, kw = f"{ident}.webp", dict(quality=80)
        elif k % 15 == 0:
            fname, kw = f"{ident}.png", dict(optimize=True)
        else:
            fname, kw = f"{ident}.jpg", dict(quality=82)
        img.save(os.path.join(img_dir, fname), **kw)
        lines.append({"id": ident, "uri": f"images/{fname}", "caption": shapes.full_caption(it), **it.meta()})
    with open(os.path.join(args.out, "manifest.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    total = sum(os.path.getsize(os.path.join(img_dir, n)) for n in os.listdir(img_dir))
    print(f"samples: {len(lines)} images ({total / 1e6:.2f} MB) in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
