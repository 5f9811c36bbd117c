#!/usr/bin/python3
"""Quality of a shipped model on the held-out shapes split, printed and written into its README.

    /usr/bin/python3 tools/model/quality.py --contract contracts/tiny-clip.json [--seed 1] [--readme]

  zero-shot top-1: each of the 2,000 held-out images against the 56 prompts "a photo of a {colour}
                   {shape}"; the (colour, shape, size) combinations of these images never occur in training
  recall@10:       text -> image over the first 1,000 held-out images: each image's full caption
                   ("a photo of a small red star in the top left on a grey background") must rank its
                   image among the 10 nearest of the 1,000

Embeddings come from the model folder's weights through tools/model/arch.py (the ONNX towers agree
with them to a cosine of 1.0000000, see `clipdex golden`). --readme rewrites models/<id>/README.md.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import convert  # noqa: E402
import shapes  # noqa: E402
import train  # noqa: E402


def embed_texts(model, enc, texts, L, family):
    ids, mask = common.tokenize(enc, texts, L)
    with torch.no_grad():
        out = [model.encode_text(torch.from_numpy(ids[i:i + 256]), torch.from_numpy(mask[i:i + 256]))
               for i in range(0, len(texts), 256)]
    return common.l2n(torch.cat(out).numpy())


def embed_images(model, arr, family):
    with torch.no_grad():
        out = [model.encode_image(torch.from_numpy(common.normalize_u8(arr[i:i + 200], family)))
               for i in range(0, len(arr), 200)]
    return common.l2n(torch.cat(out).numpy())


def evaluate(contract_path, seed=1):
    c = common.read_json(contract_path)
    model_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(contract_path)), c["model_dir"]))
    torch.set_num_threads(1)
    model, _ = convert.load_checkpoint(model_dir)
    family, L = c["family"], c["text"]["context_length"]
    enc = common.text_encoder(family, model_dir)
    _, test_items, _, test_px = train.dataset(seed, 40000, 2000, c["image"]["size"][0])
    img = embed_images(model, test_px, family)
    labels = [(col, s) for col in shapes.COLOURS for s in shapes.SHAPES]
    lab = embed_texts(model, enc, [shapes.label_prompt(col, s) for col, s in labels], L, family)
    truth = np.array([labels.index((it.colour, it.shape)) for it in test_items])
    pred = (img @ lab.T).argmax(1)
    zs = float((pred == truth).mean())
    colour_acc = float(np.mean([labels[p][0] == labels[t][0] for p, t in zip(pred, truth)]))
    shape_acc = float(np.mean([labels[p][1] == labels[t][1] for p, t in zip(pred, truth)]))
    n = 1000
    cap = embed_texts(model, enc, [shapes.full_caption(it) for it in test_items[:n]], L, family)
    sims = cap @ img[:n].T
    rank = (sims > sims[np.arange(n), np.arange(n)][:, None]).sum(1)
    return {"model": c["id"], "seed": seed, "heldout_images": len(test_items), "zero_shot_top1": round(zs, 4),
            "zero_shot_colour": round(colour_acc, 4), "zero_shot_shape": round(shape_acc, 4),
            "recall_at_1": round(float((rank < 1).mean()), 4), "recall_at_5": round(float((rank < 5).mean()), 4),
            "recall_at_10": round(float((rank < 10).mean()), 4), "retrieval_images": n}


def readme(c, q, model_dir):
    cfg = common.read_json(os.path.join(model_dir, "config.json"))
    tr_path = os.path.join(model_dir, "training.json")
    tr = common.read_json(tr_path) if os.path.exists(tr_path) else None
    tc, vc = cfg["text_config"], cfg["vision_config"]
    fam = c["family"]
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(model_dir) for f in fs)
    tok = ("CLIP byte-level BPE (`vocab.json`, `merges.txt`, `tokenizer.json`): lowercase, `</w>` word ends, "
           f"`<|startoftext|>` / `<|endoftext|>`, {tc['vocab_size']} tokens, trained on the captions"
           if fam == "clip" else
           f"SentencePiece unigram (`spiece.model`, `tokenizer.json`), {tc['vocab_size']} pieces, trained on the "
           "captions with python3-sentencepiece; `</s>` ends and pads, `<unk>` for everything else")
    loss = "softmax contrastive (CLIP)" if fam == "clip" else "sigmoid pairwise (SigLIP), learned logit bias"
    lines = [
        f"# {c['id']}",
        "",
        f"A small {'CLIP' if fam == 'clip' else 'SigLIP'} model trained by clipdex's toolchain (`tools/model/`) on "
        "a synthetic dataset of coloured shapes. It is clipdex's embedded default"
        + (" model" if fam == "clip" else "'s SigLIP counterpart") + " and the model the tests run: it really "
        "works on images like `samples/shapes/`, and on nothing else.",
        "",
        "Hugging Face layout (`model_type` "
        f"`{fam}`): `config.json`, `preprocessor_config.json`, the tokenizer files, `model.safetensors` "
        "(parameter names as transformers' "
        f"`{'CLIPModel' if fam == 'clip' else 'SiglipModel'}`), and `onnx/vision_model.onnx`, "
        "`onnx/text_model.onnx` (opset 17, projected, not normalized, embeddings). "
        f"Contract: `contracts/{c['id']}.json`; golden pack: `golden/{c['id']}/`. Total size {size / 1e6:.1f} MB.",
        "",
        "| | |",
        "|---|---|",
        f"| image tower | ViT, {vc['image_size']} px, patch {vc['patch_size']}, width {vc['hidden_size']}, "
        f"{vc['num_hidden_layers']} layers, {vc['num_attention_heads']} heads |",
        f"| text tower | width {tc['hidden_size']}, {tc['num_hidden_layers']} layers, {tc['num_attention_heads']} heads, "
        f"context {tc['max_position_embeddings']} |",
        f"| embedding | {c['embedding']['dim']} |",
        f"| tokenizer | {tok} |",
        f"| loss | {loss} |",
        f"| scoring | logit_scale {c['scoring']['logit_scale']:.4g}"
        + (f", logit_bias {c['scoring']['logit_bias']:.4g}" if c['scoring']['logit_bias'] is not None else "") + " |",
    ]
    if tr:
        lines.append(f"| training | {tr['steps']} steps of {tr['batch']} pairs, seed {tr['seed']}, {tr['threads']} "
                     f"thread(s): {tr['wall_s'] / 60:.1f} min wall, {tr['cpu_s'] / 60:.1f} min CPU on a shared "
                     "2-core machine |")
    lines += [
        "",
        "## Quality",
        "",
        f"Held-out split (seed {q['seed']}): {q['heldout_images']} images whose (colour, shape, size) combinations "
        "never occur in training.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| zero-shot top-1 over the 56 (colour, shape) labels | **{q['zero_shot_top1']:.3f}** "
        f"(colour {q['zero_shot_colour']:.3f}, shape {q['zero_shot_shape']:.3f}) |",
        f"| text -> image recall@1 / @5 / @10 over {q['retrieval_images']} images | {q['recall_at_1']:.3f} / "
        f"{q['recall_at_5']:.3f} / **{q['recall_at_10']:.3f}** |",
        "",
        "```sh",
        f"/usr/bin/python3 tools/model/quality.py --contract contracts/{c['id']}.json",
        "```",
        "",
        "Regenerate everything (data, tokenizer, training, export, contract, golden pack): "
        "`make models` (see `tools/model/README.md`).",
        "",
    ]
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--readme", action="store_true")
    ap.add_argument("--min-zero-shot", type=float, default=0.95)
    ap.add_argument("--min-recall", type=float, default=0.90)
    args = ap.parse_args()
    q = evaluate(args.contract, args.seed)
    print(json.dumps(q))
    if args.readme:
        c = common.read_json(args.contract)
        readme(c, q, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.contract)), c["model_dir"])))
    ok = q["zero_shot_top1"] >= args.min_zero_shot and q["recall_at_10"] >= args.min_recall
    print(f"quality {q['model']}: zero-shot top-1 {q['zero_shot_top1']:.3f} (need {args.min_zero_shot}), "
          f"recall@10 {q['recall_at_10']:.3f} (need {args.min_recall}): {'PASS' if ok else 'FAIL'}", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
