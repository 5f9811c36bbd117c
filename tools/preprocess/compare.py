#!/usr/bin/python3
"""Agreement of clipdex's preprocessing with the Pillow reference, image by image.

    /usr/bin/python3 tools/preprocess/compare.py IMAGES_DIR [--clipdex build/clipdex]
        [--family clip,siglip] [--size 224] [--config NAME=ARGS ...] [--per-image] [--json OUT]

IMAGES_DIR holds images and the cases.json that tools/preprocess/make_images.py writes. For each
family, the reference tensors (tools/preprocess/ref.py) are computed once; then `clipdex preprocess`
runs under each configuration (default: exact full-size decode, shrink-on-load at several margins,
and libvips' own resamplers) and the two tensors are compared:

  max8    largest difference of the 8-bit crops, in levels
  diff%   share of 8-bit values that differ
  maxabs  largest |difference| of the normalized float32 tensors
  meanabs mean |difference| of the float32 tensors
  cos     cosine similarity of the two flattened tensors

Prints a table per family and configuration (worst image per case with --per-image) and a
summary; --json writes every number.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = [
    ("exact", "--no-shrink"),
    ("shrink-m1", "--shrink-margin 1"),
    ("shrink-m2", "--shrink-margin 2"),
    ("shrink-m3", "--shrink-margin 3"),
    ("shrink-m4", "--shrink-margin 4"),
    ("vips-reduce", "--resampler vips-reduce"),
    ("vips-resize", "--resampler vips-resize"),
]


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd[:3])}... failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images_dir")
    ap.add_argument("--clipdex", default="build/clipdex")
    ap.add_argument("--family", default="clip,siglip")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--config", action="append", help="NAME=ARGS for clipdex preprocess (repeatable)")
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    with open(os.path.join(args.images_dir, "cases.json")) as f:
        cases = json.load(f)["images"]
    files = [os.path.join(args.images_dir, c["file"]) for c in cases]
    configs = [tuple(c.split("=", 1)) for c in args.config] if args.config else DEFAULT_CONFIGS
    n, hw = len(files), args.size * args.size
    results = {}
    with tempfile.TemporaryDirectory(prefix="cdx-compare-") as tmp:
        for fam in args.family.split(","):
            ref_f, ref_u = os.path.join(tmp, f"ref_{fam}.f32"), os.path.join(tmp, f"ref_{fam}.u8")
            run([sys.executable, os.path.join(HERE, "ref.py"), "--family", fam, "--size", str(args.size), "--out",
                 ref_f, "--rgb-out", ref_u] + files)
            rf = np.fromfile(ref_f, np.float32).reshape(n, -1).astype(np.float64)
            ru = np.fromfile(ref_u, np.uint8).reshape(n, -1).astype(np.int16)
            for name, extra in configs:
                out_f, out_u = os.path.join(tmp, "c.f32"), os.path.join(tmp, "c.u8")
                info = run([args.clipdex, "preprocess", "--json", "--family", fam, "--size", str(args.size), "--out",
                            out_f, "--rgb-out", out_u] + extra.split() + files)
                infos = [json.loads(line) for line in info.splitlines() if line.strip()]
                cf = np.fromfile(out_f, np.float32).reshape(n, -1).astype(np.float64)
                cu = np.fromfile(out_u, np.uint8).reshape(n, -1).astype(np.int16)
                rows = []
                for i, c in enumerate(cases):
                    d8 = np.abs(cu[i] - ru[i])
                    df = np.abs(cf[i] - rf[i])
                    cos = float(cf[i] @ rf[i] / (np.linalg.norm(cf[i]) * np.linalg.norm(rf[i]) + 1e-30))
                    rows.append({"name": c["name"], "ok": infos[i]["ok"], "shrink": infos[i].get("shrink", 0),
                                 "max8": int(d8.max()), "diff_pct": float(100 * np.mean(d8 > 0)),
                                 "maxabs": float(df.max()), "meanabs": float(df.mean()), "cos": cos})
                results[f"{fam}/{name}"] = rows
                bad = [r["name"] for r in rows if not r["ok"]]
                print(f"\n== {fam} {args.size}px, {name} ({extra}){'  FAILED: ' + ', '.join(bad) if bad else ''}")
                shown = rows if args.per_image else [r for r in rows if r["max8"] > 0]
                if shown:
                    print(f"  {'image':28s} {'shrink':>6s} {'max8':>5s} {'diff%':>7s} {'maxabs':>9s} {'meanabs':>9s} "
                          f"{'cos':>10s}")
                    for r in shown:
                        print(f"  {r['name']:28s} {r['shrink']:6d} {r['max8']:5d} {r['diff_pct']:7.3f} "
                              f"{r['maxabs']:9.5f} {r['meanabs']:9.6f} {r['cos']:10.7f}")
                print(f"  summary: {n} images, {sum(r['max8'] == 0 for r in rows)} bit-exact, "
                      f"max8 {max(r['max8'] for r in rows)}, maxabs {max(r['maxabs'] for r in rows):.5f}, "
                      f"mean meanabs {np.mean([r['meanabs'] for r in rows]):.6f}, "
                      f"min cos {min(r['cos'] for r in rows):.7f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
