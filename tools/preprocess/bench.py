#!/usr/bin/python3
"""Decode + preprocess speed per core, by image size: clipdex vs the Pillow reference.

    /usr/bin/python3 tools/preprocess/make_images.py /tmp/speed --set speed
    /usr/bin/python3 tools/preprocess/bench.py /tmp/speed [--clipdex build/clipdex] [--cpu 1] [--repeat 4]

For each size group in IMAGES_DIR/cases.json (speed_<MP>mp_<k>), runs on one CPU (taskset):
  clipdex preprocess --repeat N          default parameters (shrink-on-load, margin 4)
  clipdex preprocess --repeat N --no-shrink   full-size decode, bit-exact to Pillow
  the Pillow reference (tools/preprocess/ref.py: Image.open, exif_transpose, convert, resize, crop,
  normalize), in this process pinned to the same CPU
and prints images/s. The machine is shared: every configuration runs in the same invocation, and
the ratios between them are the numbers to read.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref  # noqa: E402


def clipdex_rate(clipdex, cpu, family, files, repeat, extra):
    cmd = ["taskset", "-c", str(cpu), clipdex, "preprocess", "--family", family, "--repeat", str(repeat)] + extra + files
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return float(re.search(r"([0-9.]+) images/s", out).group(1))


def pillow_rate(family, files, repeat):
    spec = ref.Spec.preset(family, 224)
    t0 = time.perf_counter()
    for _ in range(repeat):
        for f in files:
            ref.normalize(ref.crop8(f, spec), spec)
    return repeat * len(files) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images_dir")
    ap.add_argument("--clipdex", default="build/clipdex")
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--family", default="clip")
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    with open(os.path.join(args.images_dir, "cases.json")) as f:
        cases = json.load(f)["images"]
    groups = collections.OrderedDict()
    for c in cases:
        groups.setdefault(c["why"].split("(")[-1].rstrip(")"), []).append(os.path.join(args.images_dir, c["file"]))
    print(f"{args.family} 224, one CPU (#{args.cpu}), images/s")
    print(f"{'size':>7s} {'default':>9s} {'no-shrink':>10s} {'pillow':>8s} {'default/pillow':>15s}")
    for name, files in groups.items():
        d = clipdex_rate(args.clipdex, args.cpu, args.family, files, args.repeat, [])
        e = clipdex_rate(args.clipdex, args.cpu, args.family, files, args.repeat, ["--no-shrink"])
        p = pillow_rate(args.family, files, max(1, args.repeat // 2))
        print(f"{name:>7s} {d:9.2f} {e:10.2f} {p:8.2f} {d / p:15.2f}")


if __name__ == "__main__":
    main()
