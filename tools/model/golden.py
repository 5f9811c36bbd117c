#!/usr/bin/python3
"""Golden packs (golden/README.md): inputs chosen to break preprocessing and tokenizers, the
reference tensors of the family's processor (Pillow, tools/preprocess/ref.py) and PyTorch's fp32
embeddings.

    /usr/bin/python3 tools/model/golden.py --contract contracts/tiny-clip.json [--pack golden/tiny-clip]
        [--images-from golden/tiny-clip]     copy that pack's images instead of generating them
        [--check]                            recompute from the committed images and weights and compare
                                             (token ids exactly, floats within --tol, default 1e-6)

The images are deterministic (seeded); the texts are listed below with why each is there. The
embeddings come from the model folder's model.safetensors through tools/model/arch.py on one thread,
texts from ids padded to the context length (as the model's authors run it).
"""
import argparse
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import convert  # noqa: E402
import shapes  # noqa: E402

sys.path.insert(0, os.path.join(common.ROOT, "tools", "preprocess"))
import make_images as mi  # noqa: E402
import ref  # noqa: E402

TEXTS = [
    ("empty", "", "empty string: only the special tokens"),
    ("caption", "a small red circle on a grey background", "a caption like the training data"),
    ("plural", "two blue squares", "plural noun phrase"),
    ("mixed_case", "A Photo Of A RED Circle", "mixed case: the tokenizers lowercase"),
    ("all_caps", "A LARGE GREEN TRIANGLE ON WHITE", "all capitals"),
    ("accents_nfc", "Café crème brûlée", "precomposed accents (NFC)"),
    ("accents_nfd", "Cafe\u0301 cre\u0300me bru\u0302le\u0301e", "decomposed accents: NFC must compose them"),
    ("german", "Straße über Äpfel und Öl", "sharp s and umlauts"),
    ("greek_sigma", "ΟΔΥΣΣΕΥΣ ΣΟΦΟΣ", "capital sigmas: per-code-point lowercase, no final-sigma rule"),
    ("turkish", "İstanbul ıŞık", "dotted capital I lowercases to two code points"),
    ("chinese", "一只红色的圆圈在灰色背景上", "CJK ideographs: byte-level BPE / unknown pieces"),
    ("japanese", "赤い丸と青い四角、カタカナ", "kanji, hiragana, katakana, ideographic comma"),
    ("korean", "빨간 원과 파란 사각형", "Hangul syllables"),
    ("emoji", "🐱 a cat 😀", "emoji outside the BMP"),
    ("emoji_zwj", "👩‍👩‍👧 family", "emoji joined by ZERO WIDTH JOINER"),
    ("emoji_skin", "👍🏽 thumbs up", "emoji with a skin-tone modifier"),
    ("flags", "🇫🇷🇯🇵 flags", "regional indicator pairs"),
    ("spaces_run", "a   red \t\t circle", "runs of spaces and tabs collapse"),
    ("newlines", "line one\nline two\r\nline three", "newlines and CRLF"),
    ("padded", "   padded on both sides   ", "leading and trailing whitespace"),
    ("only_space", " \t\n ", "whitespace only"),
    ("unicode_spaces", "a\u00a0red\u2003circle\u3000here", "NBSP, em space, ideographic space"),
    ("zero_width", "zero\u200bwidth\ufeffjoin", "ZERO WIDTH SPACE and BOM inside words"),
    ("punct_cluster", "!!!???...,,,;;;", "punctuation only"),
    ("brackets", "hello, world! (test) [x] {y} <z>", "brackets and punctuation next to words"),
    ("contractions", "it's, we're, they'll, I'd, don't", "CLIP's contraction rules"),
    ("contractions_caps", "IT'S WE'RE THEY'VE", "contractions in capitals"),
    ("digits", "1234567890", "digits split one by one (CLIP)"),
    ("numbers", "3.14159 and 2,718 and 1e-10", "decimals and separators"),
    ("arabic", "دائرة حمراء", "right-to-left Arabic"),
    ("hebrew", "עיגול אדום", "Hebrew"),
    ("hindi", "लाल वृत्त", "Devanagari with combining signs"),
    ("thai", "วงกลมสีแดง", "Thai, no spaces between words"),
    ("russian", "Красный КРУГ", "Cyrillic, mixed case"),
    ("mixed_scripts", "red 赤 красный أحمر", "four scripts in one text"),
    ("clip_specials", "<|startoftext|>hello<|endoftext|> world", "CLIP's special-token strings inside a text"),
    ("siglip_specials", "</s> end <unk> unknown", "SigLIP's special-token strings inside a text"),
    ("url", "https://example.com/a_b-c?x=1&y=2#frag", "URL"),
    ("email_tags", "someone@example.org #red @user", "e-mail address, hashtag, mention"),
    ("fullwidth", "ＡＢＣ１２３ ｆｕｌｌ", "fullwidth forms (NFKC changes them, NFC does not)"),
    ("combining_stack", "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307lgo", "stacks of combining marks"),
    ("controls", "tab\there\x01\x7f end", "C0 control and DEL"),
    ("math", "∑ x² ≤ ∞ → ∂", "math symbols and superscript two"),
    ("long_word", "supercalifragilisticexpialidocious", "one long word: many merges"),
    ("over_context", " ".join(["a small red circle next to a big blue square"] * 12), "longer than the context: truncated, end token kept"),
    ("repeated_char", "a" * 300, "one character repeated 300 times"),
    ("spiece_marker", "\u2581 under\u2581score", "SentencePiece's U+2581 in the input"),
    ("quotes", "“curly quotes” and ‘single’ — dash", "typographic quotes and em dash"),
]


def _save(img, path, **kw):
    img.save(path, **kw)
    return os.path.basename(path)


def shape_scene(w, h, seed, shape="star", colour="red", background="grey"):
    """A flat-colour shapes image at any size (compresses well even at 12 MP)."""
    it = shapes.Item(shape, colour, "medium", "center", background, 1, seed)
    side = max(w, h)
    img = shapes.render(it, size=min(side, 512), supersample=2).resize((side, side), Image.BICUBIC)
    left, top = (side - w) // 2, (side - h) // 2
    return img.crop((left, top, left + w, top + h))


def make_images(d, seed=77):
    """Writes the images into d; returns [(name, file, why)]."""
    os.makedirs(d, exist_ok=True)
    out = []

    def add(name, fn, why):
        out.append((name, fn(), why))

    P = lambda w, h, k: Image.fromarray(mi.photo(w, h, seed + k))
    add("jpeg_shape", lambda: _save(shape_scene(224, 224, seed + 1, "circle", "blue", "white"), f"{d}/jpeg_shape.jpg",
                                    quality=90), "baseline JPEG of a blue circle (a scene the model knows)")
    add("jpeg_q75_420", lambda: _save(P(320, 240, 2), f"{d}/jpeg_q75_420.jpg", quality=75, subsampling=2),
        "photo-like JPEG, 4:2:0 chroma subsampling")
    add("jpeg_progressive", lambda: _save(shape_scene(240, 180, seed + 3, "triangle", "green", "beige"),
                                          f"{d}/jpeg_progressive.jpg", quality=85, progressive=True),
        "progressive JPEG, 4:3")
    add("jpeg_grey", lambda: _save(P(200, 150, 4).convert("L"), f"{d}/jpeg_grey.jpg", quality=88),
        "greyscale JPEG (one band)")
    add("jpeg_cmyk", lambda: _save(P(160, 120, 5).convert("CMYK"), f"{d}/jpeg_cmyk.jpg", quality=90),
        "CMYK JPEG (Adobe marker, inverted)")
    add("jpeg_exif_6", lambda: _save(shape_scene(180, 120, seed + 6, "square", "yellow", "black"),
                                     f"{d}/jpeg_exif_6.jpg", quality=90, exif=mi.exif_bytes(6)),
        "EXIF orientation 6 (rotate 90) on a non-square JPEG")
    add("jpeg_exif_3", lambda: _save(P(150, 100, 7), f"{d}/jpeg_exif_3.jpg", quality=90, exif=mi.exif_bytes(3)),
        "EXIF orientation 3 (rotate 180)")
    add("png_shape", lambda: _save(shape_scene(200, 200, seed + 8, "star", "purple", "white"), f"{d}/png_shape.png"),
        "8-bit RGB PNG of a purple star")

    def rgba():
        w, h = 180, 140
        a = mi.alpha_mask(w, h, seed + 9)
        rgb = mi.garbage_under_transparency(mi.photo(w, h, seed + 9), a, seed + 9)
        return _save(Image.fromarray(np.dstack([rgb, a]), "RGBA"), f"{d}/png_rgba.png")
    add("png_rgba", rgba, "RGBA PNG: alpha gradient, a transparent hole hiding random colours")
    add("png_la", lambda: _save(Image.fromarray(np.dstack([np.asarray(P(150, 120, 10).convert("L")),
                                                            mi.alpha_mask(150, 120, seed + 10)]), "LA"),
                                f"{d}/png_la.png"), "greyscale + alpha PNG")
    add("png_palette", lambda: _save(P(190, 140, 11).quantize(200), f"{d}/png_palette.png"), "palette PNG")
    add("png_palette_trns", lambda: _save(P(160, 120, 12).quantize(64), f"{d}/png_palette_trns.png",
                                          transparency=bytes((i * 37) % 256 if i % 3 else 0 for i in range(64))),
        "palette PNG with transparent entries (tRNS)")

    def png16_rgb():
        mi.png16(f"{d}/png16_rgb.png", mi.to16(mi.photo(110, 80, seed + 13), seed + 13))
        return "png16_rgb.png"
    add("png16_rgb", png16_rgb, "16-bit RGB PNG: scaled by 1/257, not truncated")

    def png16_grey():
        g = np.asarray(P(120, 90, 14).convert("L"))
        mi.png16(f"{d}/png16_grey.png", mi.to16(g, seed + 14))
        return "png16_grey.png"
    add("png16_grey", png16_grey, "16-bit greyscale PNG: scaled, not clipped at 255")
    add("png_1bit", lambda: _save(P(120, 100, 15).convert("1"), f"{d}/png_1bit.png"), "1-bit bilevel PNG")
    add("webp_shape", lambda: _save(shape_scene(240, 160, seed + 16, "cross", "orange", "grey"),
                                    f"{d}/webp_shape.webp", quality=80), "lossy WebP of an orange cross")

    def webp_alpha():
        w, h = 160, 120
        return _save(Image.fromarray(np.dstack([mi.photo(w, h, seed + 17), mi.alpha_mask(w, h, seed + 17)]), "RGBA"),
                     f"{d}/webp_alpha.webp", quality=85)
    add("webp_alpha", webp_alpha, "lossy WebP with alpha")
    add("webp_lossless", lambda: _save(P(160, 120, 18), f"{d}/webp_lossless.webp", lossless=True), "lossless WebP")

    def gif_anim():
        f0, f1 = P(140, 100, 19).quantize(100), P(140, 100, 20).quantize(100)
        f0.save(f"{d}/gif_anim.gif", save_all=True, append_images=[f1], duration=100, loop=0)
        return "gif_anim.gif"
    add("gif_anim", gif_anim, "animated GIF: only the first frame counts")
    add("tiny_3x3", lambda: _save(Image.fromarray(mi.photo(3, 3, seed + 21)), f"{d}/tiny_3x3.png"),
        "3x3 PNG: upscaled by bicubic")
    add("wide", lambda: _save(P(1200, 40, 22), f"{d}/wide.jpg", quality=90), "very wide JPEG (30:1)")
    add("tall", lambda: _save(P(36, 900, 23), f"{d}/tall.png"), "very tall PNG (1:25)")
    add("odd_sizes", lambda: _save(shape_scene(231, 157, seed + 24, "diamond", "white", "black"), f"{d}/odd_sizes.png"),
        "odd dimensions: crop offsets round down")
    add("large_12mp", lambda: _save(shape_scene(4000, 3000, seed + 25, "ring", "green", "white"),
                                    f"{d}/large_12mp.jpg", quality=85),
        "4000x3000 JPEG (12 MP): shrink-on-load territory")
    return out


def load_model(model_dir):
    model, _ = convert.load_checkpoint(model_dir)
    return model


def compute(contract_path, image_files):
    """Reference tensors for the images (paths) and TEXTS under a contract."""
    c = common.read_json(contract_path)
    cdir = os.path.dirname(os.path.abspath(contract_path))
    model_dir = os.path.normpath(os.path.join(cdir, c["model_dir"]))
    spec = ref.Spec.from_contract(contract_path)
    pixels = np.stack([ref.normalize(ref.crop8(p, spec), spec) for p in image_files]).astype(np.float32)
    enc = common.text_encoder(c["family"], model_dir)
    L = c["text"]["context_length"]
    ids, mask = common.tokenize(enc, [t for _, t, _ in TEXTS], L)
    torch.set_num_threads(1)
    model = load_model(model_dir)
    with torch.no_grad():
        img = torch.cat([model.encode_image(torch.from_numpy(pixels[i:i + 8])) for i in range(0, len(pixels), 8)])
        txt = model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask))
    return c, pixels, ids, mask, img.numpy().astype(np.float32), txt.numpy().astype(np.float32)


def make_pack(contract_path, pack, images_from=None, seed=77):
    img_dir = os.path.join(pack, "images")
    if os.path.isdir(img_dir):
        shutil.rmtree(img_dir)
    if images_from:
        src = common.read_json(os.path.join(images_from, "index.json"))["images"]
        os.makedirs(img_dir)
        images = []
        for e in src:
            shutil.copyfile(os.path.join(images_from, e["file"]), os.path.join(img_dir, os.path.basename(e["file"])))
            images.append((e["name"], os.path.basename(e["file"]), e["why"]))
    else:
        images = make_images(img_dir, seed)
    c, pixels, ids, mask, img, txt = compute(contract_path, [os.path.join(img_dir, f) for _, f, _ in images])
    files = {"pixel_values": pixels, "image_embeds": img, "input_ids": ids, "attention_mask": mask, "text_embeds": txt}
    for k, a in files.items():
        a.astype(a.dtype.newbyteorder("<")).tofile(os.path.join(pack, f"{k}.{'i64' if a.dtype == np.int64 else 'f32'}"))
    index = {
        "schema": "clipdex.golden/1", "model": c["id"], "family": c["family"], "image_size": c["image"]["size"],
        "dim": int(img.shape[1]), "context_length": int(ids.shape[1]),
        "images": [{"name": n, "file": f"images/{f}", "why": w} for n, f, w in images],
        "texts": [{"name": n, "text": t, "n_tokens": int(mask[j].sum()), "why": w} for j, (n, t, w) in enumerate(TEXTS)],
        "tensors": {k: {"file": f"{k}.{'i64' if a.dtype == np.int64 else 'f32'}",
                        "dtype": "int64" if a.dtype == np.int64 else "float32", "shape": list(a.shape)}
                    for k, a in files.items()},
    }
    common.write_json(os.path.join(pack, "index.json"), index, indent=1)
    print(f"golden: {pack}: {len(images)} images, {len(TEXTS)} texts", file=sys.stderr)


def check_pack(contract_path, pack, tol):
    """Recomputes everything from the committed images and weights; returns a list of differences."""
    idx = common.read_json(os.path.join(pack, "index.json"))
    c, pixels, ids, mask, img, txt = compute(contract_path, [os.path.join(pack, e["file"]) for e in idx["images"]])
    new = {"pixel_values": pixels, "image_embeds": img, "input_ids": ids, "attention_mask": mask, "text_embeds": txt}
    problems = []
    if [t["text"] for t in idx["texts"]] != [t for _, t, _ in TEXTS]:
        problems.append("the pack's texts differ from tools/model/golden.py's TEXTS")
    for k, t in idx["tensors"].items():
        old = np.fromfile(os.path.join(pack, t["file"]), np.int64 if t["dtype"] == "int64" else np.float32)
        old = old.reshape(t["shape"])
        if old.shape != new[k].shape:
            problems.append(f"{k}: shape {list(old.shape)} in the pack, {list(new[k].shape)} recomputed")
        elif t["dtype"] == "int64":
            bad = np.argwhere(old != new[k])
            if len(bad):
                problems.append(f"{k}: {len(bad)} ids differ, first at {bad[0].tolist()}")
        else:
            d = float(np.abs(old - new[k]).max()) if old.size else 0.0
            if d > tol:
                problems.append(f"{k}: max abs difference {d:.3g} > {tol}")
            else:
                print(f"golden check: {pack}: {k}: max abs difference {d:.3g}", file=sys.stderr)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--pack")
    ap.add_argument("--images-from")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args()
    c = common.read_json(args.contract)
    pack = args.pack or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.contract)), c["golden"]["pack"]))
    if args.check:
        problems = check_pack(args.contract, pack, args.tol)
        for p in problems:
            print(f"golden check: {pack}: {p}", file=sys.stderr)
        if problems:
            sys.exit(1)
        print(f"golden check: {pack}: reproduced (ids exact, floats within {args.tol})", file=sys.stderr)
        return
    os.makedirs(pack, exist_ok=True)
    make_pack(args.contract, pack, args.images_from)


if __name__ == "__main__":
    main()
