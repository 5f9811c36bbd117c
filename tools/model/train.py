#!/usr/bin/python3
"""Train tiny-clip (softmax contrastive loss) or tiny-siglip (sigmoid loss) on the shapes dataset.

    /usr/bin/python3 tools/model/train.py --model tiny-clip --out CKPT_DIR [--seed 1] [--steps N]

Writes a Hugging Face checkpoint folder (config.json, preprocessor_config.json, the tokenizer files,
model.safetensors) that tools/model/convert.py then turns into the shipped artifacts, the same path
a real checkpoint takes. Deterministic for a seed and thread count (the tokenizer, the data and the
initialisation are; PyTorch's CPU kernels are, for one thread count).
"""
import argparse
import json
import math
import os
import random
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch  # noqa: E402
import common  # noqa: E402
import safetensors_np  # noqa: E402
import shapes  # noqa: E402

DATA_CACHE = os.path.join(common.ROOT, ".cache", "model-data")


def dataset(seed, n_train, n_test, size):
    """(train items, test items, train uint8 images, test uint8 images), cached on disk by parameters."""
    train_items, test_items = shapes.split_items(seed, n_train, n_test)
    os.makedirs(DATA_CACHE, exist_ok=True)
    out = []
    for name, items in (("train", train_items), ("test", test_items)):
        path = os.path.join(DATA_CACHE, f"shapes-s{seed}-{name}-{len(items)}-{size}px-v2.npy")
        if os.path.exists(path):
            out.append(np.load(path))
        else:
            t = time.time()
            arr = shapes.render_array(items, size)
            np.save(path + ".tmp.npy", arr)
            os.replace(path + ".tmp.npy", path)
            print(f"rendered {len(items)} {name} images in {time.time() - t:.0f} s -> {path}", file=sys.stderr)
            out.append(arr)
    return train_items, test_items, out[0], out[1]


def tokenizer_texts(items, seed):
    rng = random.Random(seed + 17)
    return [shapes.caption(it, rng) for it in items] + [shapes.full_caption(it) for it in items[:5000]] + \
        [shapes.label_prompt(c, s) for c in shapes.COLOURS for s in shapes.SHAPES]


def write_checkpoint_files(out, name, family, seed, items):
    """Tokenizer files, config.json and preprocessor_config.json; returns (config, encoder)."""
    t = common.TINY[name]
    os.makedirs(out, exist_ok=True)
    texts = tokenizer_texts(items, seed)
    if family == "clip":
        import clip_bpe
        merges = clip_bpe.train(texts, 4000)
        vocab = clip_bpe.write_files(out, merges, t["context_length"])
        vocab_size, bos, eos, pad = len(vocab), vocab[clip_bpe.BOS], vocab[clip_bpe.EOS], vocab[clip_bpe.EOS]
    else:
        import siglip_spm
        siglip_spm.write_files(out, texts, 256, t["context_length"])
        enc = siglip_spm.Encoder(out)
        vocab_size, bos, eos, pad = enc.slow.sp.get_piece_size(), None, enc.eos, enc.pad
    cfg = common.hf_config(family, t["image_size"], t["patch_size"], t["width"], t["vision_layers"], t["heads"],
                           t["mlp"], t["width"], t["text_layers"], t["heads"], t["mlp"], t["projection_dim"],
                           vocab_size, t["context_length"], bos, eos, pad)
    common.write_json(os.path.join(out, "config.json"), cfg)
    common.write_json(os.path.join(out, "preprocessor_config.json"), common.hf_preprocessor(family, t["image_size"]))
    return cfg, common.text_encoder(family, out)


FACTORS = [("shape", shapes.SHAPES), ("colour", list(shapes.COLOURS)), ("size", list(shapes.SIZES)),
           ("background", list(shapes.BACKGROUNDS)), ("position", list(shapes.POSITIONS)), ("count", [1, 2, 3])]


class AuxHeads(torch.nn.Module):
    """Linear classifiers of the image factors on the image tower's pooled features, used in training only
    (not part of the model, not saved). They give the image tower a direct signal for shape, which the
    contrastive loss alone delivers slowly: colour, size and background explain most captions, and
    a ViT this small, trained from scratch, otherwise plateaus before it tells a star from a cross."""

    def __init__(self, dim):
        super().__init__()
        self.heads = torch.nn.ModuleList([torch.nn.Linear(dim, len(v)) for _, v in FACTORS])

    def forward(self, feats, labels):
        return sum(F.cross_entropy(h(feats), labels[:, k]) for k, h in enumerate(self.heads)) / len(self.heads)


def factor_labels(items):
    return torch.tensor([[vals.index(getattr(it, name)) for name, vals in FACTORS] for it in items])


def pooled_and_embeds(model, px):
    """The image tower's pooled features (before any projection) and the image embeddings."""
    pooled = model.vision_model(px)
    if model.family == "clip":
        return pooled, model.visual_projection(pooled)
    return pooled, pooled


def loss_fn(model, img, txt):
    img = F.normalize(img, dim=-1)
    txt = F.normalize(txt, dim=-1)
    n = img.shape[0]
    if model.family == "clip":
        logits = model.logit_scale.clamp(max=math.log(100)).exp() * img @ txt.t()
        target = torch.arange(n)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    logits = model.logit_scale.exp() * img @ txt.t() + model.logit_bias
    labels = 2 * torch.eye(n) - 1
    return -F.logsigmoid(labels * logits).sum() / n


def zero_shot(model, family, enc, ctx, test_items, test_px, n=600):
    labels = [(c, s) for c in shapes.COLOURS for s in shapes.SHAPES]
    ids, mask = common.tokenize(enc, [shapes.label_prompt(c, s) for c, s in labels], ctx)
    if family == "clip":
        L = int(mask.sum(1).max())
        ids, mask = ids[:, :L], mask[:, :L]
    with torch.no_grad():
        t = F.normalize(model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask)), dim=-1)
        i = F.normalize(model.encode_image(torch.from_numpy(common.normalize_u8(test_px[:n], family))), dim=-1)
    pred = (i @ t.t()).argmax(1).numpy()
    truth = np.array([labels.index((it.colour, it.shape)) for it in test_items[:n]])
    return float((pred == truth).mean())


def init_vision_from_clip(model, ckpt):
    """Copies a CLIP image encoder into a SigLIP image tower of the same width, depth and patch size:
    the patch embedding (SigLIP's conv bias stays zero), the patch position embeddings (CLIP's class
    position dropped), the encoder layers and post_layernorm. CLIP's pre_layrnorm has no SigLIP
    counterpart and is left out; the attention-pooling head starts fresh."""
    src, _ = safetensors_np.read(os.path.join(ckpt, "model.safetensors"))
    sd = model.state_dict()
    n = 0
    with torch.no_grad():
        for k, v in sd.items():
            if not k.startswith("vision_model.") or k.startswith("vision_model.head."):
                continue
            a = src.get(k)
            if k == "vision_model.embeddings.position_embedding.weight" and a is not None:
                a = a[1:]
            if a is None or tuple(a.shape) != tuple(v.shape):
                continue
            v.copy_(torch.from_numpy(a))
            n += 1
    return n


def batch_indices(order, groups, keys, n, batch, group=8):
    """Half the batch at random; the other half in groups of `group` images sharing colour and background,
    so that in-batch negatives often differ only in shape, size, position or count (hard negatives:
    without them the contrastive loss is nearly satisfied by colour and background alone)."""
    idx = list(order.integers(0, n, batch // 2))
    while len(idx) < batch:
        members = groups[keys[int(order.integers(0, len(keys)))]]
        idx += [members[int(j)] for j in order.integers(0, len(members), min(group, batch - len(idx)))]
    return np.array(idx)


def save(model, args, wall0, cpu0, loss, steps_done):
    model.eval()
    meta = {"format": "pt", "trained_by": "clipdex tools/model/train.py", "seed": str(args.seed),
            "steps": str(steps_done), "batch": str(args.batch)}
    tmp = os.path.join(args.out, "model.safetensors.tmp")
    safetensors_np.write(tmp, arch.state_numpy(model), meta)
    os.replace(tmp, os.path.join(args.out, "model.safetensors"))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    stats = {"model": args.model, "seed": args.seed, "steps": steps_done, "batch": args.batch,
             "threads": args.threads, "wall_s": round(time.time() - wall0, 1),
             "cpu_s": round(time.process_time() - cpu0, 1), "max_rss_mb": round(ru.ru_maxrss / 1024),
             "final_loss": round(float(loss.item()), 4)}
    common.write_json(os.path.join(args.out, "training.json"), stats)
    print(json.dumps(stats), file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(common.TINY), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--n-train", type=int, default=40000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the training-only factor classifiers")
    ap.add_argument("--init-vision-from", help="a trained tiny-clip checkpoint folder: start SigLIP's image "
                    "tower from its image encoder (transfer; everything is then trained)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = common.TINY[args.model]
    family = t["family"]
    wall0, cpu0 = time.time(), time.process_time()
    train_items, test_items, train_px, test_px = dataset(args.seed, args.n_train, 2000, t["image_size"])
    cfg, enc = write_checkpoint_files(args.out, args.model, family, args.seed, train_items)
    ctx = t["context_length"]
    torch.manual_seed(args.seed)
    model = arch.build(cfg)
    arch.init_weights(model, args.seed)
    if args.init_vision_from:
        n = init_vision_from_clip(model, args.init_vision_from)
        print(f"{args.model}: {n} image-tower tensors from {args.init_vision_from}", file=sys.stderr)
    aux = AuxHeads(model.vision_cfg.hidden_size)
    params = list(model.named_parameters()) + [("aux." + n, p) for n, p in aux.named_parameters()]
    decay = [p for n, p in params if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in params if not (p.dim() >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    rng = random.Random(args.seed + 101)
    order = np.random.default_rng(args.seed)
    groups = {}
    for i, it in enumerate(train_items):
        groups.setdefault((it.colour, it.background), []).append(i)
    group_keys = sorted(groups)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"{len(train_items)} training images, {args.steps} steps of {args.batch}", file=sys.stderr)
    model.train()
    for step in range(args.steps):
        idx = batch_indices(order, groups, group_keys, len(train_items), args.batch)
        px = torch.from_numpy(common.normalize_u8(train_px[idx], family))
        ids, mask = common.tokenize(enc, [shapes.caption(train_items[i], rng) for i in idx], ctx)
        if family == "clip":  # causal mask + end-of-text pooling: trailing padding changes nothing
            L = int(mask.sum(1).max())
            ids, mask = ids[:, :L], mask[:, :L]
        pooled, img = pooled_and_embeds(model, px)
        loss = loss_fn(model, img, model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask)))
        loss = loss + args.aux_weight * aux(pooled, factor_labels([train_items[i] for i in idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {loss.item():.4f} scale {model.logit_scale.exp().item():.1f} "
                  f"lr {sched.get_last_lr()[0]:.2e} wall {time.time() - wall0:.0f} s", file=sys.stderr, flush=True)
        if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
            model.eval()
            print(f"step {step:5d} zero-shot (held-out, 600 images) {zero_shot(model, family, enc, ctx, test_items, test_px):.3f}",
                  file=sys.stderr, flush=True)
            if step < args.steps - 1:  # a snapshot, so an interrupted run leaves a usable checkpoint
                save(model, args, wall0, cpu0, loss, step + 1)
            model.train()
    save(model, args, wall0, cpu0, loss, args.steps)


if __name__ == "__main__":
    main()
