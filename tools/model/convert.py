#!/usr/bin/python3
"""Convert a Hugging Face CLIP or SigLIP checkpoint folder into clipdex's model folder and contract.

    /usr/bin/python3 tools/model/convert.py CKPT_DIR --out models/NAME [--id NAME] [--contract contracts/NAME.json]
        [--golden golden/NAME] [--version 1]
    /usr/bin/python3 tools/model/convert.py --random-init --size vit-b-32|vit-b-16|siglip-base --out models/bench-vit-b-32

CKPT_DIR has the layout of openai/clip-vit-base-patch32 or google/siglip-base-patch16-224:
config.json (model_type clip or siglip), preprocessor_config.json, the tokenizer files (vocab.json +
merges.txt + tokenizer.json, or spiece.model [+ tokenizer.json]), and model.safetensors (or
pytorch_model.bin). Every tensor must be one the architecture expects, with the shape config.json
implies; anything else is refused with the tensor's name. The output folder gets the checkpoint's
files plus onnx/vision_model.onnx and onnx/text_model.onnx (opset 17; outputs are the projected,
not normalized, embeddings; the batch axis is dynamic, CLIP's sequence axis too, SigLIP's is the
fixed context length), and the contract pins them all by sha256.

--random-init writes a full-size model with seeded random weights for performance work, with the
tokenizer of the matching tiny model (its ids fit any vocabulary size), its contract at
OUT/contract.json and a golden pack at OUT/golden (so `clipdex golden` runs on it too).
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch  # noqa: E402
import common  # noqa: E402
import safetensors_np  # noqa: E402

OPSET = 17
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "spiece.model", "tokenizer_config.json",
                   "special_tokens_map.json")
RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


class VisionTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.encode_image(pixel_values)


class ClipTextTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.encode_text(input_ids, attention_mask)


class SiglipTextTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model.encode_text(input_ids)


def load_weights(ckpt):
    st, pt = os.path.join(ckpt, "model.safetensors"), os.path.join(ckpt, "pytorch_model.bin")
    if os.path.exists(st):
        return safetensors_np.read(st)[0], st
    if os.path.exists(pt):
        sd = torch.load(pt, map_location="cpu")
        return {k: v.float().numpy() for k, v in sd.items()}, pt
    raise FileNotFoundError(f"{ckpt}: no model.safetensors (or pytorch_model.bin); nothing to convert")


def export_onnx(model, out_dir):
    os.makedirs(os.path.join(out_dir, "onnx"), exist_ok=True)
    model.eval()
    vc, tc = model.vision_cfg, model.text_cfg
    px = torch.zeros(2, 3, vc.image_size, vc.image_size)
    vpath, tpath = os.path.join(out_dir, "onnx", "vision_model.onnx"), os.path.join(out_dir, "onnx", "text_model.onnx")
    with torch.no_grad():
        torch.onnx.export(VisionTower(model), (px,), vpath, opset_version=OPSET, input_names=["pixel_values"],
                          output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                          do_constant_folding=True)
        L = tc.max_position_embeddings
        if model.family == "clip":
            ids = torch.full((2, 7), 1, dtype=torch.long)
            ids[:, -1] = tc.eos_token_id if tc.eos_token_id != 2 else tc.vocab_size - 1
            mask = torch.ones(2, 7, dtype=torch.long)
            torch.onnx.export(ClipTextTower(model), (ids, mask), tpath, opset_version=OPSET,
                              input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "attention_mask": {0: "batch", 1: "sequence"},
                                            "text_embeds": {0: "batch"}}, do_constant_folding=True)
        else:
            ids = torch.ones(2, L, dtype=torch.long)
            torch.onnx.export(SiglipTextTower(model), (ids,), tpath, opset_version=OPSET, input_names=["input_ids"],
                              output_names=["text_embeds"],
                              dynamic_axes={"input_ids": {0: "batch"}, "text_embeds": {0: "batch"}},
                              do_constant_folding=True)
    import onnx
    for p in (vpath, tpath):
        m = onnx.load(p)
        onnx.checker.check_model(m)
        m.producer_name, m.producer_version = "clipdex tools/model", "1"
        m.doc_string = ""
        onnx.save(m, p)
    return vpath, tpath


def image_section(pre, family):
    def hw(v):
        if isinstance(v, dict):
            if "height" in v:
                return [int(v["height"]), int(v["width"])]
            return [int(v["shortest_edge"])] * 2
        return [int(v), int(v)]

    resample = int(pre.get("resample", 3))
    if resample not in RESAMPLE:
        raise ValueError(f"preprocessor_config.json: resample {resample} is not nearest (0), bilinear (2) or bicubic (3)")
    mean = [float(x) for x in pre.get("image_mean", common.CLIP_MEAN if family == "clip" else common.SIGLIP_MEAN)]
    std = [float(x) for x in pre.get("image_std", common.CLIP_STD if family == "clip" else common.SIGLIP_STD)]
    sec = {"interpolation": RESAMPLE[resample], "rescale": float(pre.get("rescale_factor", common.RESCALE)),
           "mean": mean, "std": std, "colour": "rgb", "background": [255, 255, 255]}
    if family == "clip":
        size = hw(pre.get("crop_size", pre.get("size")))
        s = pre.get("size")
        resize_to = int(s["shortest_edge"]) if isinstance(s, dict) else int(s)
        if not pre.get("do_center_crop", True):
            raise ValueError("preprocessor_config.json: do_center_crop is false; clipdex's CLIP preprocessing crops")
        return {"size": size, "resize": "shortest_edge", "resize_to": resize_to, **sec, "crop": "center"}
    return {"size": hw(pre.get("size")), "resize": "exact", "resize_to": None, **sec, "crop": "none"}


def special_ids(out_dir, family):
    """(bos, eos, pad, unk) ids from the tokenizer files."""
    if family == "clip":
        vocab = common.read_json(os.path.join(out_dir, "vocab.json"))
        smap_path = os.path.join(out_dir, "special_tokens_map.json")
        smap = common.read_json(smap_path) if os.path.exists(smap_path) else {}
        name = lambda k, d: (smap.get(k) or {}).get("content", d) if isinstance(smap.get(k), dict) else smap.get(k, d)
        ids = [vocab[name(k, d)] for k, d in (("bos_token", "<|startoftext|>"), ("eos_token", "<|endoftext|>"),
                                             ("pad_token", "<|endoftext|>"), ("unk_token", "<|endoftext|>"))]
        return tuple(ids)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "spiece.model"))
    eos, unk = sp.piece_to_id("</s>"), sp.piece_to_id("<unk>")
    return None, eos, eos, unk


def write_contract(path, name, version, family, variant, model_dir, golden_dir, model, image, ids, vfile, tfile,
                   tower_files=None):
    cdir = os.path.dirname(os.path.abspath(path))
    rel = lambda p: os.path.relpath(os.path.abspath(p), cdir)
    tc, vc = model.text_cfg, model.vision_cfg
    roles = [("vision_model", vfile), ("text_model", tfile), ("tokenizer", "tokenizer.json")]
    roles += [("vocab", "vocab.json"), ("merges", "merges.txt")] if family == "clip" else [("spiece", "spiece.model")]
    roles += [("config", "config.json"), ("preprocessor_config", "preprocessor_config.json")]
    artifacts = [{"role": r, "path": f, "sha256": common.sha256(os.path.join(model_dir, f))} for r, f in roles]
    import onnx
    vm = onnx.load(os.path.join(model_dir, vfile), load_external_data=False)
    opset = next(o.version for o in vm.opset_import if o.domain in ("", "ai.onnx"))
    dim = model.projection_dim
    L = tc.max_position_embeddings
    H, W = image["size"]
    if family == "clip":
        text_in = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                   {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "sequence"]}]
        seq = [b for b in (16, 32) if b < L] + [L]
        text = {"tokenizer": "clip_bpe", "context_length": L, "lowercase": True, "bos_id": ids[0], "eos_id": ids[1],
                "pad_id": ids[2], "unk_id": ids[3], "padding": "bucket", "pooling": "eos_argmax"}
        scoring = {"logit_scale": math.exp(float(model.logit_scale.detach())), "logit_bias": None}
    else:
        text_in = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", L]}]
        seq = [L]
        text = {"tokenizer": "sentencepiece_unigram", "context_length": L, "lowercase": True, "bos_id": None,
                "eos_id": ids[1], "pad_id": ids[2], "unk_id": ids[3], "padding": "max_length", "pooling": "last"}
        scoring = {"logit_scale": math.exp(float(model.logit_scale.detach()[0])),
                   "logit_bias": float(model.logit_bias.detach()[0])}
    contract = {
        "schema": "clipdex.contract/1", "id": name, "version": str(version), "family": family, "variant": variant,
        "model_dir": rel(model_dir), "artifacts": artifacts,
        "onnx": {"opset": int(opset), "ir_version": int(vm.ir_version),
                 "vision": {"inputs": [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, H, W]}],
                            "outputs": [{"name": "image_embeds", "dtype": "float32", "shape": ["batch", dim]}]},
                 "text": {"inputs": text_in,
                          "outputs": [{"name": "text_embeds", "dtype": "float32", "shape": ["batch", dim]}]}},
        "image": image, "text": text, "embedding": {"dim": dim, "normalize": "l2"}, "scoring": scoring,
        "buckets": {"batch": [1, 8, 32], "sequence": seq},
        "golden": {"pack": rel(golden_dir), "image_min_cosine": 0.9995 if variant == "fp32" else 0.99,
                   "text_min_cosine": 0.9995 if variant == "fp32" else 0.99},
        "thresholds": {"max_fallback": 0.0, "min_speedup": 0.18, "max_cold_warm_ratio": 6.5, "max_drift": 0.2},
    }
    os.makedirs(cdir, exist_ok=True)
    common.write_json(path, contract)
    return contract


def load_checkpoint(ckpt):
    """(model with the checkpoint's weights, config dict)."""
    cfg_path = os.path.join(ckpt, "config.json")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{ckpt}: no config.json; expected a Hugging Face CLIP or SigLIP checkpoint folder")
    cfg = common.read_json(cfg_path)
    model = arch.build(cfg)
    tensors, wpath = load_weights(ckpt)
    arch.load_state(model, tensors, wpath)
    model.eval()
    return model, cfg


def convert(ckpt, out, name, contract_path, golden_dir, version="1"):
    model, cfg = load_checkpoint(ckpt)
    family = model.family
    for f in ("preprocessor_config.json",) + (("vocab.json", "merges.txt", "tokenizer.json") if family == "clip"
                                              else ("spiece.model",)):
        if not os.path.exists(os.path.join(ckpt, f)):
            raise FileNotFoundError(f"{ckpt}: {f} is missing; a {family} checkpoint folder needs it")
    os.makedirs(out, exist_ok=True)
    if os.path.abspath(ckpt) != os.path.abspath(out):
        for f in ("config.json", "preprocessor_config.json", "model.safetensors", "training.json") + TOKENIZER_FILES:
            if os.path.exists(os.path.join(ckpt, f)):
                shutil.copyfile(os.path.join(ckpt, f), os.path.join(out, f))
        if not os.path.exists(os.path.join(out, "model.safetensors")):
            safetensors_np.write(os.path.join(out, "model.safetensors"), arch.state_numpy(model), {"format": "pt"})
    if family == "siglip" and not os.path.exists(os.path.join(out, "tokenizer.json")):
        import siglip_spm
        common.write_json(os.path.join(out, "tokenizer.json"), siglip_spm.tokenizer_json(os.path.join(out, "spiece.model")))
    export_onnx(model, out)
    image = image_section(common.read_json(os.path.join(out, "preprocessor_config.json")), family)
    return write_contract(contract_path, name, version, family, "fp32", out, golden_dir, model, image,
                          special_ids(out, family), "onnx/vision_model.onnx", "onnx/text_model.onnx")


def random_init(size, out, seed):
    """A full-size checkpoint folder with random weights (then converted in place). The tokenizer is the
    tiny model's of the same family, trained again from the same captions (deterministic), so its ids
    fit any vocabulary size."""
    import shapes
    import train
    b = common.BENCH[size]
    os.makedirs(out, exist_ok=True)
    texts = train.tokenizer_texts(shapes.split_items(seed, 40000, 0)[0], seed)
    ctx = b["context_length"]
    if b["family"] == "clip":
        import clip_bpe
        clip_bpe.write_files(out, clip_bpe.train(texts, 4000), ctx)
    else:
        import siglip_spm
        siglip_spm.write_files(out, texts, 256, ctx)
    bos, eos, pad, unk = special_ids(out, b["family"])
    cfg = common.hf_config(b["family"], b["image_size"], b["patch_size"], b["vision_width"], b["vision_layers"],
                           b["vision_heads"], b["vision_mlp"], b["text_width"], b["text_layers"], b["text_heads"],
                           b["text_mlp"], b["projection_dim"], b["vocab_size"], ctx, bos, eos, pad)
    common.write_json(os.path.join(out, "config.json"), cfg)
    common.write_json(os.path.join(out, "preprocessor_config.json"), common.hf_preprocessor(b["family"], b["image_size"]))
    model = arch.build(cfg)
    arch.init_weights(model, seed)
    safetensors_np.write(os.path.join(out, "model.safetensors"), arch.state_numpy(model),
                         {"format": "pt", "random_init": size, "seed": str(seed)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", nargs="?")
    ap.add_argument("--out", required=True)
    ap.add_argument("--id")
    ap.add_argument("--contract")
    ap.add_argument("--golden")
    ap.add_argument("--version", default="1")
    ap.add_argument("--random-init", action="store_true")
    ap.add_argument("--size", choices=sorted(common.BENCH))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-golden-pack", action="store_true", help="--random-init: skip the golden pack")
    args = ap.parse_args()
    torch.set_num_threads(1)
    name = args.id or os.path.basename(os.path.normpath(args.out))
    try:
        if args.random_init:
            if not args.size:
                ap.error("--random-init needs --size")
            random_init(args.size, args.out, args.seed)
            contract = args.contract or os.path.join(args.out, "contract.json")
            golden = args.golden or os.path.join(args.out, "golden")
            convert(args.out, args.out, name, contract, golden)
            if not args.no_golden_pack:
                import golden as golden_mod
                golden_mod.make_pack(contract, golden, images_from=os.path.join(common.ROOT, "golden", "tiny-clip"))
        else:
            if not args.ckpt:
                ap.error("give a checkpoint folder (or --random-init --size S)")
            contract = args.contract or os.path.join(common.ROOT, "contracts", name + ".json")
            golden = args.golden or os.path.join(common.ROOT, "golden", name)
            convert(args.ckpt, args.out, name, contract, golden, args.version)
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"convert: {e}", file=sys.stderr)
        sys.exit(3)
    print(f"convert: {args.out} and {contract}", file=sys.stderr)


if __name__ == "__main__":
    main()
