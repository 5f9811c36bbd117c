#!/usr/bin/python3
"""Regenerates tests/fixtures/preprocess: the committed test images and their Pillow references.

    /usr/bin/python3 tools/preprocess/make_fixtures.py [--seed 1234]

Writes
  images/<case>.<ext>       every format and layout case (tools/preprocess/make_images.py, fixtures set)
  refs/<config>.u8          the reference 8-bit crops [N, H, W, 3] for each test configuration
  refs/<config>.lut.f32     the reference normalization of levels 0..255, [3, 256] float32
  fixtures.json             the cases, the configurations (a contract's image section each) and the files

Also writes tests/fuzz/corpus/image/: tiny seeds in every format and layout, and a few hostile ones.

Configurations are small (tens of pixels) so the references stay small, and they cover both resize
modes, non-square sizes, zero padding (crop larger than the resized image) and all three filters.
tests/unit/test_encoder_preprocess.c requires clipdex's crops to equal these exactly (full-size decode).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "preprocess")
sys.path.insert(0, HERE)
import ref  # noqa: E402

CONFIGS = [
    # name, (height, width), resize, resize_to, interpolation, crop, mean, std, background
    ("clip40", (40, 40), "shortest_edge", 40, "bicubic", "center", ref.CLIP_MEAN, ref.CLIP_STD, (255, 255, 255)),
    ("siglip40x48", (40, 48), "exact", None, "bicubic", "none", (0.5,) * 3, (0.5,) * 3, (255, 255, 255)),
    ("clippad_bilinear", (44, 40), "shortest_edge", 32, "bilinear", "center", ref.CLIP_MEAN, ref.CLIP_STD,
     (20, 120, 220)),
    ("siglip36_nearest", (36, 36), "exact", None, "nearest", "none", (0.5,) * 3, (0.5,) * 3, (0, 0, 0)),
]


def write_fuzz_seeds(seed):
    """Small seeds for tests/fuzz/fuzz_image.c: one per format and layout, plus broken ones."""
    from PIL import Image
    import make_images as mi
    out = os.path.join(ROOT, "tests", "fuzz", "corpus", "image")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rgb = mi.photo(12, 9, seed)
    im = Image.fromarray(rgb)
    a = mi.alpha_mask(12, 9, seed)
    im.save(f"{out}/rgb.jpg", quality=80)
    im.save(f"{out}/exif6.jpg", quality=80, exif=mi.exif_bytes(6))
    im.convert("CMYK").save(f"{out}/cmyk.jpg", quality=80)
    im.convert("L").save(f"{out}/grey.jpg", quality=80)
    im.save(f"{out}/prog.jpg", quality=80, progressive=True)
    im.save(f"{out}/rgb.png")
    Image.fromarray(np.dstack([rgb, a]), "RGBA").save(f"{out}/rgba.png")
    im.quantize(16).save(f"{out}/palette.png", transparency=3)
    im.convert("1").save(f"{out}/bilevel.png")
    mi.png16(f"{out}/rgb16.png", mi.to16(rgb, seed))
    im.save(f"{out}/lossy.webp", quality=70)
    Image.fromarray(np.dstack([rgb, a]), "RGBA").save(f"{out}/alpha.webp", lossless=True)
    im.quantize(16).save(f"{out}/static.gif")
    im.save(f"{out}/anim.gif", save_all=True, append_images=[im.rotate(90)], duration=50)
    im.save(f"{out}/rgb.tif")
    im.convert("CMYK").save(f"{out}/cmyk.tif")
    with open(f"{out}/rgb.jpg", "rb") as f:
        jpg = f.read()
    with open(f"{out}/truncated.jpg", "wb") as f:
        f.write(jpg[: len(jpg) // 2])
    with open(f"{out}/rgb.png", "rb") as f:
        png = f.read()
    with open(f"{out}/huge_header.png", "wb") as f:  # IHDR claims 50000 x 50000, nothing follows
        f.write(png[:16] + (50000).to_bytes(4, "big") * 2 + png[24:33])
    with open(f"{out}/text.jpg", "w") as f:
        f.write("not an image\n")
    with open(f"{out}/vector.svg", "w") as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    images = os.path.join(OUT, "images")
    shutil.rmtree(images, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(HERE, "make_images.py"), images, "--set", "fixtures", "--seed",
                    str(args.seed)], check=True)
    with open(os.path.join(images, "cases.json")) as f:
        cases = json.load(f)["images"]
    os.remove(os.path.join(images, "cases.json"))
    os.makedirs(os.path.join(OUT, "refs"), exist_ok=True)
    configs = []
    for name, (h, w), resize, resize_to, interp, crop, mean, std, bg in CONFIGS:
        spec = ref.Spec(h, w, resize, resize_to, interp, crop, 1 / 255, mean, std, bg)
        crops = [ref.crop8(os.path.join(images, c["file"]), spec) for c in cases]
        np.concatenate([c.reshape(-1) for c in crops]).tofile(os.path.join(OUT, "refs", f"{name}.u8"))
        levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # a 1 x 256 RGB image
        ref.normalize(levels, spec).reshape(3, 256).tofile(os.path.join(OUT, "refs", f"{name}.lut.f32"))
        configs.append({"name": name, "size": [h, w], "resize": resize, "resize_to": resize_to,
                        "interpolation": interp, "crop": crop, "rescale": 1 / 255, "mean": list(mean),
                        "std": list(std), "background": list(bg), "ref": f"refs/{name}.u8",
                        "lut": f"refs/{name}.lut.f32"})
    with open(os.path.join(OUT, "fixtures.json"), "w") as f:
        json.dump({"schema": "clipdex.preprocess-fixtures/1", "seed": args.seed,
                   "made_by": "tools/preprocess/make_fixtures.py", "images": cases, "configs": configs}, f, indent=1)
        f.write("\n")
    write_fuzz_seeds(args.seed)
    print(f"{len(cases)} images, {len(configs)} configurations in {OUT}; fuzz seeds written", file=sys.stderr)


if __name__ == "__main__":
    main()
