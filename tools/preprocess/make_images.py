#!/usr/bin/python3
"""Test images for clipdex's image preprocessing, one per case the encoder must get right.

    /usr/bin/python3 tools/preprocess/make_images.py OUTDIR [--set fixtures|measure|large] [--seed N]

The content is photo-like, not noise: smooth gradients and soft blobs (sky, skin), hard-edged
shapes (edges, text-like strokes), periodic and random texture (fabric, foliage) and a little
sensor noise, so JPEG quality, chroma subsampling and resampling all have something to bite on.
Every image is deterministic for a seed.

Sets:
  fixtures  small files committed under tests/fixtures/preprocess/images (every format and case)
  measure   the fixtures cases at camera sizes (0.3-3 MP) plus JPEG quality sweeps, for agreement
            measurements against the Pillow reference (tools/preprocess/compare.py)
  large     >= 12 MP JPEG/PNG/WebP photos (4000x3000 and up) for agreement and speed
  speed     1, 2, 4, 8 and 12 MP JPEGs (three each) for decode+preprocess images/s

Writes OUTDIR/<name>.<ext> and OUTDIR/cases.json (name, file, why). Needs python3-pil and numpy
(Debian packages); 16-bit RGB PNGs are written by a small PNG encoder here because Pillow cannot.
"""
import argparse
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112


def photo(w, h, seed):
    """A photo-like RGB uint8 array of shape (h, w, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / max(w - 1, 1), yy / max(h - 1, 1)
    # Sky-like vertical gradient with a warm horizon.
    img = np.empty((h, w, 3), np.float32)
    top, bottom = rng.uniform(0.2, 0.9, 3), rng.uniform(0.2, 0.9, 3)
    for c in range(3):
        img[..., c] = top[c] * (1 - v) + bottom[c] * v
    # Soft blobs (out-of-focus objects, skin tones).
    for _ in range(6):
        cx, cy = rng.uniform(0, 1, 2)
        r = rng.uniform(0.05, 0.3)
        col = rng.uniform(0, 1, 3)
        wgt = np.exp(-(((u - cx) ** 2 + ((v - cy) * h / max(w, 1)) ** 2) / (2 * r * r)))
        img += (col - img) * wgt[..., None] * rng.uniform(0.4, 0.9)
    # Texture band: a grating plus filtered noise (fabric, foliage).
    band = (v > 0.55) & (v < 0.85)
    freq = rng.uniform(20, 60)
    grating = 0.08 * np.sin(2 * np.pi * freq * (u + 0.3 * v))
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))) / 4
    img += (band * (grating + 0.06 * noise))[..., None]
    # Hard-edged shapes: rectangles, a disc and thin strokes.
    for _ in range(4):
        x0, x1 = sorted(rng.uniform(0, 1, 2))
        y0, y1 = sorted(rng.uniform(0, 1, 2))
        m = (u >= x0) & (u < x0 + (x1 - x0) * 0.5) & (v >= y0) & (v < y0 + (y1 - y0) * 0.5)
        img[m] = rng.uniform(0, 1, 3)
    cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
    img[(u - cx) ** 2 + ((v - cy) * h / max(w, 1)) ** 2 < r * r] = rng.uniform(0, 1, 3)
    for k in range(5):
        x = int(rng.uniform(0.1, 0.9) * w)
        img[:, max(0, x):x + max(1, w // 300)] = (k % 2, k % 2, k % 2)
    # Sensor noise.
    img += rng.normal(0, 1.5 / 255, img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def alpha_mask(w, h, seed):
    """Alpha with every kind of value: a gradient, a fully transparent hole, a fully opaque block."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    a = (xx * 255 // max(w - 1, 1)).astype(np.uint8)
    a[: h // 3, : w // 3] = 0
    a[h // 2:, w // 2:] = 255
    a[(yy + xx) % 17 == 0] = rng.integers(0, 256)
    return a


def garbage_under_transparency(rgb, a, seed):
    """Transparent pixels carry random colours: a processor that drops alpha shows them."""
    rng = np.random.default_rng(seed)
    out = rgb.copy()
    hole = a == 0
    out[hole] = rng.integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    return out


def exif_bytes(orientation):
    ex = Image.Exif()
    ex[ORIENTATION_TAG] = orientation
    return ex.tobytes()


def png16(path, arr16):
    """A 16-bit PNG (colour type by channel count) from a uint16 array (h, w[, c])."""
    if arr16.ndim == 2:
        arr16 = arr16[..., None]
    h, w, c = arr16.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = arr16.astype(">u2").tobytes()
    stride = w * c * 2
    rows = b"".join(b"\x00" + raw[i * stride:(i + 1) * stride] for i in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def to16(rgb8, seed):
    """Genuine 16-bit data: 8-bit content times 257 plus low-order detail."""
    rng = np.random.default_rng(seed)
    return (rgb8.astype(np.uint32) * 257 + rng.integers(-200, 200, rgb8.shape)).clip(0, 65535).astype(np.uint16)


# Each case: name -> (writer(outdir, scale, seed) -> filename, why)
def case_list(scale):
    """Cases at a size multiplier: fixtures use scale 1 (a few hundred pixels), measure uses more."""
    S = lambda n: max(1, int(round(n * scale)))
    cases = []

    def add(name, why):
        def deco(fn):
            cases.append((name, fn, why))
            return fn
        return deco

    for q, sub, prog, w, h in [(75, 2, False, 320, 240), (85, 2, False, 240, 320), (90, 0, False, 300, 200),
                               (95, 1, True, 256, 320)]:
        name = f"jpeg_q{q}_{['444', '422', '420'][sub]}{'_prog' if prog else ''}"

        @add(name, f"photo-like JPEG, quality {q}, subsampling {['4:4:4', '4:2:2', '4:2:0'][sub]}"
                   f"{', progressive' if prog else ''}")
        def _(d, seed, q=q, sub=sub, prog=prog, w=w, h=h, name=name):
            Image.fromarray(photo(S(w), S(h), seed)).save(f"{d}/{name}.jpg", quality=q, subsampling=sub,
                                                          progressive=prog)
            return f"{name}.jpg"

    for o in range(1, 9):
        @add(f"jpeg_exif_{o}", f"EXIF orientation {o} on a non-square JPEG")
        def _(d, seed, o=o):
            Image.fromarray(photo(S(150), S(90), seed)).save(f"{d}/jpeg_exif_{o}.jpg", quality=90,
                                                              exif=exif_bytes(o))
            return f"jpeg_exif_{o}.jpg"

    @add("png_rgba", "RGBA PNG: alpha gradient, a transparent hole hiding random colours")
    def _(d, seed):
        w, h = S(180), S(140)
        a = alpha_mask(w, h, seed)
        rgb = garbage_under_transparency(photo(w, h, seed), a, seed)
        Image.fromarray(np.dstack([rgb, a]), "RGBA").save(f"{d}/png_rgba.png")
        return "png_rgba.png"

    @add("png_la", "greyscale + alpha PNG")
    def _(d, seed):
        w, h = S(150), S(120)
        g = np.asarray(Image.fromarray(photo(w, h, seed)).convert("L"))
        Image.fromarray(np.dstack([g, alpha_mask(w, h, seed)]), "LA").save(f"{d}/png_la.png")
        return "png_la.png"

    @add("png_palette_trns", "palette PNG with a tRNS chunk (transparent entries)")
    def _(d, seed):
        p = Image.fromarray(photo(S(160), S(120), seed)).quantize(64)
        trns = bytes((i * 37) % 256 if i % 3 else 0 for i in range(64))
        p.save(f"{d}/png_palette_trns.png", transparency=trns)
        return "png_palette_trns.png"

    @add("png_rgb_trns", "RGB PNG with a single transparent colour (tRNS)")
    def _(d, seed):
        rgb = photo(S(140), S(100), seed)
        rgb[: rgb.shape[0] // 2, : rgb.shape[1] // 2] = (10, 200, 30)
        Image.fromarray(rgb).save(f"{d}/png_rgb_trns.png", transparency=(10, 200, 30))
        return "png_rgb_trns.png"

    @add("png16_grey", "16-bit greyscale PNG (scaled to 8 bits by 1/257, not clipped)")
    def _(d, seed):
        g = np.asarray(Image.fromarray(photo(S(120), S(90), seed)).convert("L"))
        png16(f"{d}/png16_grey.png", to16(g, seed))
        return "png16_grey.png"

    @add("png16_rgb", "16-bit RGB PNG")
    def _(d, seed):
        png16(f"{d}/png16_rgb.png", to16(photo(S(110), S(80), seed), seed))
        return "png16_rgb.png"

    @add("png16_rgba", "16-bit RGBA PNG: 16-bit alpha")
    def _(d, seed):
        w, h = S(100), S(76)
        a = alpha_mask(w, h, seed)
        rgb = garbage_under_transparency(photo(w, h, seed), a, seed)
        png16(f"{d}/png16_rgba.png", to16(np.dstack([rgb, a]), seed))
        return "png16_rgba.png"

    @add("png_exif_6", "PNG with an eXIf chunk, orientation 6")
    def _(d, seed):
        Image.fromarray(photo(S(130), S(80), seed)).save(f"{d}/png_exif_6.png", exif=exif_bytes(6))
        return "png_exif_6.png"

    @add("webp_alpha", "lossy WebP with alpha")
    def _(d, seed):
        w, h = S(160), S(120)
        a = alpha_mask(w, h, seed)
        Image.fromarray(np.dstack([photo(w, h, seed), a]), "RGBA").save(f"{d}/webp_alpha.webp", quality=85)
        return "webp_alpha.webp"

    @add("webp_exif_8", "lossy WebP with EXIF orientation 8")
    def _(d, seed):
        Image.fromarray(photo(S(150), S(100), seed)).save(f"{d}/webp_exif_8.webp", quality=85,
                                                           exif=exif_bytes(8))
        return "webp_exif_8.webp"

    @add("gif_anim_trns", "animated GIF: only the first frame counts; it has a transparent colour")
    def _(d, seed):
        w, h = S(140), S(100)
        f0 = Image.fromarray(photo(w, h, seed)).quantize(100)
        px = np.asarray(f0).copy()
        px[: h // 3, : w // 2] = 100  # a palette entry used only as transparency
        f0 = Image.fromarray(px, "P")
        f0.putpalette(Image.fromarray(photo(w, h, seed)).quantize(100).getpalette()[:300] + [7, 250, 9])
        f1 = Image.fromarray(photo(w, h, seed + 1)).quantize(100)
        f0.save(f"{d}/gif_anim_trns.gif", save_all=True, append_images=[f1], transparency=100, duration=100,
                optimize=False,
                loop=0, disposal=2)
        return "gif_anim_trns.gif"

    @add("tiff_grey16", "16-bit greyscale TIFF")
    def _(d, seed):
        g = np.asarray(Image.fromarray(photo(S(120), S(90), seed)).convert("L"))
        Image.fromarray(to16(g, seed), "I;16").save(f"{d}/tiff_grey16.tif")
        return "tiff_grey16.tif"

    @add("one_1x1", "1x1 PNG")
    def _(d, seed):
        Image.new("RGB", (1, 1), (200, 30, 90)).save(f"{d}/one_1x1.png")
        return "one_1x1.png"

    # Plain cases: a photo of w x h, converted to a mode, saved with options.
    for name, w, h, mode, ext, opts, why in [
        ("jpeg_grey", 200, 150, "L", "jpg", dict(quality=88), "greyscale JPEG (1 band)"),
        ("jpeg_cmyk", 160, 120, "CMYK", "jpg", dict(quality=90),
         "CMYK JPEG with an Adobe marker (inverted), converted with Pillow's formula, not ICC"),
        ("png_rgb", 200, 130, "RGB", "png", {}, "8-bit RGB PNG"),
        ("png_grey", 170, 110, "L", "png", {}, "8-bit greyscale PNG"),
        ("png_1bit", 120, 100, "1", "png", {}, "1-bit bilevel PNG"),
        ("png_palette", 190, 140, "P200", "png", {}, "palette PNG (adaptive palette)"),
        ("webp_lossy", 240, 160, "RGB", "webp", dict(quality=80), "lossy WebP"),
        ("webp_lossless", 160, 120, "RGB", "webp", dict(lossless=True), "lossless WebP"),
        ("gif", 160, 120, "P128", "gif", {}, "static GIF (palette)"),
        ("tiff_rgb", 180, 120, "RGB", "tif", dict(compression="tiff_lzw"), "LZW-compressed RGB TIFF"),
        ("tiff_cmyk", 120, 90, "CMYK", "tif", dict(compression="tiff_lzw"), "CMYK TIFF (not inverted)"),
        ("tiny_3x3", 3, 3, "RGB", "png", {}, "3x3 RGB PNG: upscaled 75x by bicubic"),
        ("wide", 1200, 40, "RGB", "jpg", dict(quality=90), "very wide JPEG (30:1): most columns are cropped away"),
        ("tall", 36, 900, "RGB", "png", {}, "very tall PNG (1:25)"),
        ("upscale", 100, 60, "RGB", "jpg", dict(quality=92), "small JPEG, upscaled"),
        ("odd_sizes", 231, 157, "RGB", "png", {}, "odd dimensions: crop offsets round down"),
        ("jpeg_medium", 1024, 768, "RGB", "jpg", dict(quality=85), "1024x768 JPEG q85: a large downscale factor"),
    ]:
        @add(name, why)
        def _(d, seed, name=name, w=w, h=h, mode=mode, ext=ext, opts=opts):
            im = Image.fromarray(photo(S(w) if w > 3 else w, S(h) if h > 3 else h, seed))
            im = im.quantize(int(mode[1:])) if mode.startswith("P") else im.convert(mode)
            im.save(f"{d}/{name}.{ext}", **opts)
            return f"{name}.{ext}"

    return cases


def large_cases():
    """>= 12 MP photos for agreement with shrink-on-load and for speed."""
    out = []
    for name, w, h, fmt, kw in [("large_jpeg_12mp", 4000, 3000, "jpg", dict(quality=90)),
                                ("large_jpeg_16mp_q75", 4608, 3456, "jpg", dict(quality=75)),
                                ("large_jpeg_12mp_portrait", 3000, 4000, "jpg", dict(quality=95)),
                                ("large_png_12mp", 4000, 3000, "png", dict(compress_level=1)),
                                ("large_webp_12mp", 4000, 3000, "webp", dict(quality=85))]:
        def fn(d, seed, name=name, w=w, h=h, fmt=fmt, kw=kw):
            Image.fromarray(photo(w, h, seed)).save(f"{d}/{name}.{fmt}", **kw)
            return f"{name}.{fmt}"
        out.append((name, fn, f"{w}x{h} {fmt} ({w * h / 1e6:.0f} MP)"))
    return out


def speed_cases():
    """Photo-like JPEGs of 1 to 12 MP (q85, 4:2:0), three of each size, for decode+preprocess speed."""
    out = []
    for mp, (w, h) in [(1, (1155, 866)), (2, (1633, 1225)), (4, (2309, 1732)), (8, (3266, 2449)),
                       (12, (4000, 3000))]:
        for k in range(3):
            def fn(d, seed, w=w, h=h, mp=mp, k=k):
                n = f"speed_{mp:02d}mp_{k}.jpg"
                Image.fromarray(photo(w, h, seed)).save(f"{d}/{n}", quality=85)
                return n
            out.append((f"speed_{mp:02d}mp_{k}", fn, f"{w}x{h} JPEG q85 ({mp} MP)"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--set", choices=["fixtures", "measure", "large", "speed"], default="fixtures")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    if args.set == "fixtures":
        cases = case_list(1.0)
    elif args.set == "measure":
        cases = [(n + "_m", fn, w) for n, fn, w in case_list(4.0) if n not in ("tiny_3x3", "one_1x1")]
        for q in (75, 80, 85, 90, 95):
            for i, (w, h) in enumerate([(1600, 1200), (1200, 1600), (2048, 1365)]):
                def fn(d, seed, q=q, w=w, h=h, i=i):
                    n = f"sweep_q{q}_{i}.jpg"
                    Image.fromarray(photo(w, h, seed)).save(f"{d}/{n}", quality=q)
                    return n
                cases.append((f"sweep_q{q}_{i}", fn, f"{w}x{h} JPEG q{q}"))
    elif args.set == "speed":
        cases = speed_cases()
    else:
        cases = large_cases()
    index = []
    for i, (name, fn, why) in enumerate(cases):
        f = fn(args.outdir, args.seed + i * 7919)
        if name.endswith("_m"):  # measure-set files keep their case name apart from the fixtures'
            base, ext = os.path.splitext(f)
            if not base.endswith("_m"):
                os.replace(f"{args.outdir}/{f}", f"{args.outdir}/{base}_m{ext}")
                f = f"{base}_m{ext}"
        index.append({"name": name, "file": f, "why": why})
    with open(os.path.join(args.outdir, "cases.json"), "w") as fh:
        json.dump({"seed": args.seed, "set": args.set, "images": index}, fh, indent=1)
        fh.write("\n")
    print(f"{len(index)} images in {args.outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
