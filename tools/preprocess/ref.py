#!/usr/bin/python3
"""The reference image processor of golden/README.md, in Pillow + numpy.

    /usr/bin/python3 tools/preprocess/ref.py (--contract C.json | --family clip|siglip [--size N])
        [--resize-to N] [--out pixel_values.f32] [--rgb-out crops.u8] IMAGE...

Follows the model family's Hugging Face image processor (CLIPImageProcessor,
SiglipImageProcessor) with the decisions clipdex's contract makes explicit:

 1. open with Pillow, EXIF orientation applied (ImageOps.exif_transpose);
 2. first frame only;
 3. 16-bit samples scaled to 8 bits as round(v / 257) (Pillow itself truncates 16-bit RGB PNGs to
    their high byte and clips 16-bit greyscale at 255, so 16-bit PNGs are decoded here with zlib);
    greyscale, palette and CMYK converted to RGB with Pillow's convert;
 4. alpha flattened onto image.background with Pillow's paste(mask=alpha)
    (round((bg * (255 - a) + c * a) / 255));
 5. resize with Pillow's filter (BICUBIC for "bicubic") on 8-bit RGB, rounded to 8 bits: CLIP's
    shortest edge to resize_to, the other edge int(resize_to * long / short); SigLIP straight to size;
 6. centre crop with HF's offsets, zero padding where the image is smaller than the crop;
 7. float64(x) * rescale cast to float32, then (x - mean) / std in float32, NCHW.

Writes float32 [N, 3, H, W] (the golden pack's pixel_values layout) and/or the 8-bit crops
[N, H, W, 3]. Used by tools/preprocess/compare.py and to make the test fixtures' references.
"""
import argparse
import json
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
TRANSPOSE = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
             6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90}


class Spec:
    def __init__(self, height, width, resize, resize_to, interpolation, crop, rescale, mean, std, background):
        self.height, self.width = height, width
        self.resize, self.resize_to = resize, resize_to
        self.interpolation, self.crop = interpolation, crop
        self.rescale = rescale
        self.mean, self.std = tuple(mean), tuple(std)
        self.background = tuple(background)

    @staticmethod
    def preset(family, size, resize_to=None):
        if family == "clip":
            return Spec(size, size, "shortest_edge", resize_to or size, "bicubic", "center", 1 / 255, CLIP_MEAN,
                        CLIP_STD, (255, 255, 255))
        return Spec(size, size, "exact", None, "bicubic", "none", 1 / 255, (0.5,) * 3, (0.5,) * 3, (255, 255, 255))

    @staticmethod
    def from_contract(path):
        with open(path) as f:
            im = json.load(f)["image"]
        return Spec(im["size"][0], im["size"][1], im["resize"], im["resize_to"], im["interpolation"], im["crop"],
                    im["rescale"], im["mean"], im["std"], im["background"])


def read_png16(path):
    """Samples of a 16-bit, non-interlaced PNG as uint16 (h, w, c), or None for any other file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + n
    if not hdr or hdr[2] != 16:
        return None
    w, h, _, ctype, _, _, interlace = hdr
    if interlace:
        raise ValueError(f"{path}: interlaced 16-bit PNG not supported by the reference")
    c = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp, stride = 2 * c, w * 2 * c
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)].astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for i in range(stride):  # PNG filters are sequential within a line
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            cc = prev[i - bpp] if i >= bpp else 0
            if ft == 0:
                p = 0
            elif ft == 1:
                p = a
            elif ft == 2:
                p = b
            elif ft == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
            cur[i] = (line[i] + p) & 0xFF
        out[y] = cur
        prev = cur
    return (out[:, 0::2] * 256 + out[:, 1::2]).reshape(h, w, c).astype(np.uint16)


def to8(a16):
    return ((a16.astype(np.int64) + 128) // 257).clip(0, 255).astype(np.uint8)


def flatten(rgba, background):
    """Pillow's paste(rgb, mask=alpha) onto a background of one colour."""
    bg = Image.new("RGB", rgba.size, tuple(int(v) for v in background))
    bg.paste(rgba.convert("RGB"), (0, 0), rgba.getchannel("A"))
    return bg


def load_rgb8(path, background):
    """Steps 1-4: the oriented, flattened 8-bit RGB image."""
    im = Image.open(path)
    im.seek(0)
    orientation = im.getexif().get(0x0112, 1)
    a16 = read_png16(path)
    if a16 is not None:
        a8 = to8(a16)
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a8.shape[2]]
        im = Image.fromarray(a8[..., 0] if mode == "L" else a8, mode)
        if orientation in TRANSPOSE:
            im = im.transpose(TRANSPOSE[orientation])
    else:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        im = Image.fromarray(to8(np.asarray(im)), "L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return flatten(im.convert("RGBA"), background)
    return im.convert("RGB")


def resize_target(w, h, spec):
    if spec.resize == "exact":
        return spec.width, spec.height
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = spec.resize_to, int(spec.resize_to * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def center_crop(arr, ch, cw):
    """transformers.image_transforms.center_crop on an HWC array, zero padding included."""
    h, w = arr.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return arr[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    out = np.zeros((nh, nw) + arr.shape[2:], arr.dtype)
    tp, lp = -(-(nh - h) // 2), -(-(nw - w) // 2)
    out[tp:tp + h, lp:lp + w] = arr
    top, left = top + tp, left + lp
    return out[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def crop8(path, spec):
    """Steps 1-6: the model's view as uint8 (H, W, 3)."""
    img = load_rgb8(path, spec.background)
    size = resize_target(img.size[0], img.size[1], spec)
    if size != img.size:
        img = img.resize(size, resample=FILTERS[spec.interpolation])
    arr = np.asarray(img)
    if spec.crop == "center":
        arr = center_crop(arr, spec.height, spec.width)
    return np.ascontiguousarray(arr)


def normalize(arr, spec):
    """Step 7: uint8 HWC -> float32 CHW, as HF's rescale and normalize compute it."""
    x = (arr.astype(np.float64) * spec.rescale).astype(np.float32)
    x = (x - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--contract")
    ap.add_argument("--family", choices=["clip", "siglip"], default="clip")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--resize-to", type=int)
    ap.add_argument("--interpolation", choices=sorted(FILTERS))
    ap.add_argument("--out")
    ap.add_argument("--rgb-out")
    args = ap.parse_args()
    spec = Spec.from_contract(args.contract) if args.contract else Spec.preset(args.family, args.size,
                                                                                args.resize_to)
    if args.interpolation:
        spec.interpolation = args.interpolation
    fo = open(args.out, "wb") if args.out else None
    fr = open(args.rgb_out, "wb") if args.rgb_out else None
    for path in args.images:
        arr = crop8(path, spec)
        if fo:
            fo.write(normalize(arr, spec).tobytes())
        if fr:
            fr.write(arr.tobytes())
    for f in (fo, fr):
        if f:
            f.close()


if __name__ == "__main__":
    sys.exit(main())
