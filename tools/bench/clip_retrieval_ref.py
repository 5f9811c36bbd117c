#!/usr/bin/python3
"""The Python pipeline clipdex ingest is measured against: what clip-retrieval's
`clip_inference` does for a folder of images, on the same architecture and weights.

    /usr/bin/python3 tools/bench/clip_retrieval_ref.py --model models/bench-vit-b-32 \
        --batch 32 --workers 1 --threads 2 [--limit N] [--out emb.npy] PATHS...

clip-retrieval reads files in a torch DataLoader (num_workers processes), each item
`Image.open(path)` and CLIP's preprocess (torchvision: Resize(224, bicubic) of the
shortest edge, CenterCrop(224), convert("RGB"), ToTensor, Normalize(OpenAI mean/std)),
then `model.encode_image(batch)` under no_grad, L2-normalizes and writes numpy arrays.
This script does exactly that with Pillow and PyTorch (torchvision is not in the
toolchain, so its Resize/CenterCrop arithmetic is written out: same sizes and offsets),
on the model built by tools/model/arch.py from the model folder's config.json and
model.safetensors (the checkpoint the ONNX towers were exported from).

Prints one JSON line: images, seconds (first batch to last, model load excluded),
images_per_s, failures, and the settings. Needs python3-torch, python3-pil,
python3-numpy (tools/bootstrap --toolchain)."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import arch  # noqa: E402
import safetensors_np  # noqa: E402

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif"}


def list_images(paths, limit):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if os.path.splitext(f)[1].lower() in EXTS:
                        out.append(os.path.join(root, f))
        else:
            out.append(p)
    return out[:limit] if limit else out


class Preprocess:
    """torchvision's Resize(size, BICUBIC) + CenterCrop(size) + ToTensor + Normalize, as CLIP builds it."""

    def __init__(self, pre):
        size = pre.get("crop_size", pre.get("size"))
        self.crop = size["height"] if isinstance(size, dict) else int(size)
        s = pre.get("size")
        self.short = int(s["shortest_edge"]) if isinstance(s, dict) and "shortest_edge" in s else self.crop
        self.mean = np.array(pre.get("image_mean", [0.48145466, 0.4578275, 0.40821073]), np.float32)
        self.std = np.array(pre.get("image_std", [0.26862954, 0.26130258, 0.27577711]), np.float32)

    def __call__(self, img):
        w, h = img.size
        if w <= h:  # torchvision Resize(int): the shorter edge to size, the other scaled (truncated)
            nw, nh = self.short, int(self.short * h / w)
        else:
            nw, nh = int(self.short * w / h), self.short
        img = img.resize((nw, nh), Image.BICUBIC)
        left, top = int(round((nw - self.crop) / 2.0)), int(round((nh - self.crop) / 2.0))
        img = img.crop((left, top, left + self.crop, top + self.crop)).convert("RGB")
        x = np.asarray(img, dtype=np.float32) / 255.0
        x = (x - self.mean) / self.std
        return torch.from_numpy(x.transpose(2, 0, 1).copy())


class Files(torch.utils.data.Dataset):
    def __init__(self, files, pre):
        self.files, self.pre = files, pre

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            with Image.open(self.files[i]) as img:
                return self.pre(img), True
        except Exception:  # clip-retrieval skips unreadable files
            return torch.zeros(3, self.pre.crop, self.pre.crop), False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--model", required=True, help="model folder: config.json, preprocessor_config.json, model.safetensors")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (decode + resize)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", help="write the embeddings here (.npy)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.model, "preprocessor_config.json")) as f:
        pre = Preprocess(json.load(f))
    model = arch.build(config)
    arch.load_state(model, safetensors_np.read(os.path.join(args.model, "model.safetensors"))[0], args.model)
    model.eval()

    files = list_images(args.paths, args.limit)
    loader = torch.utils.data.DataLoader(Files(files, pre), batch_size=args.batch, num_workers=args.workers,
                                         shuffle=False)
    chunks, failures, t0 = [], 0, time.monotonic()
    with torch.no_grad():
        for pixels, ok in loader:
            emb = model.encode_image(pixels)
            emb = emb / emb.norm(dim=-1, keepdim=True)
            chunks.append(emb[ok].numpy().astype(np.float32))
            failures += int((~ok).sum())
    seconds = time.monotonic() - t0
    n = sum(len(c) for c in chunks)
    if args.out:
        np.save(args.out, np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32))
    print(json.dumps({"pipeline": "python-clip-retrieval", "images": n, "failures": failures, "seconds": round(seconds, 3),
                      "images_per_s": round(n / seconds, 3) if seconds > 0 else 0, "batch": args.batch,
                      "workers": args.workers, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
