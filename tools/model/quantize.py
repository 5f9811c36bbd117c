#!/usr/bin/python3
"""int8 towers: dynamic quantization of a model's ONNX towers by graph surgery with python3-onnx, a
per-layer error ledger against fp32, and the int8 contract.

    /usr/bin/python3 tools/model/quantize.py --contract contracts/tiny-clip.json [--id tiny-clip-int8]
        [--out-contract contracts/tiny-clip-int8.json] [--out-dir DIR] [--form matmulinteger|nbits]
        [--weights s7|s8|u8] [--no-ledger]

Every MatMul and Gemm whose weight is a constant 2-D initializer becomes (the default form)

    A --DynamicQuantizeLinear--> (A_u8, a_scale, a_zero) --MatMulInteger(A_u8, W_s8, a_zero)--> int32
      --Cast--> float --Mul(a_scale * w_scale[n])--> [--Add(bias)-->] Y

with W quantized symmetrically per output channel (scale max|W[:, n]| / 63, zero point 0) and the
activation quantized per tensor, asymmetric uint8, at run time. ONNX Runtime's level-2 optimizer fuses
this into DynamicQuantizeMatMul, which runs on MLAS's u8s8 kernels. On this CPU (AMD EPYC, AVX2, no
AVX-512, no VNNI) those kernels multiply with vpmaddubsw, whose int16 pair sums saturate with full 8-bit
weights (255 * 127 * 2 > 32767): tiny-clip's text cosine to fp32 fell to 0.967. Weights in [-63, 63]
(7 bits, ONNX Runtime's "reduce_range") cannot saturate and keep the same speed; --weights s8 (full
range; exact on VNNI CPUs) and u8 (weights + 128, zero point 128: MLAS's exact but slower u8u8 kernels)
and --form nbits (com.microsoft MatMulNBits, bits 8, block-wise scales) are kept for the measurement in
docs/bench.md ("int8"). Convolutions (the patch embedding), embeddings, LayerNorm, Softmax and
attention's activation-by-activation MatMuls stay fp32.

The ledger (<model>/onnx/int8_ledger.json, worst layers printed) runs the fp32 PyTorch model on the golden
pack's inputs, captures each quantized layer's input, and reports per layer the weight quantization
error and the output error of the int8 computation emulated in numpy (relative L2 and cosine), plus the
end-to-end embedding cosine with every layer emulated. `clipdex golden --contract <int8 contract>` then
checks the real ONNX Runtime result against the fp32 golden pack (cosine >= 0.99 for every input), and
tools/model/int8_check.py the retrieval overlap with fp32 on the sample catalog.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


FORMS = ("matmulinteger", "nbits")


def quantize_weight(w, qmax=127):
    """w [K, N] float32 -> (int8 [K, N], scale [N]): symmetric per output channel, values in [-qmax, qmax]."""
    s = np.abs(w).max(axis=0) / float(qmax)
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / s), -qmax, qmax).astype(np.int8)
    return q, s


def quantize_weight_blocks(w, block):
    """w [K, N] float32 -> (int8 [N, n_blocks, block], scale [N, n_blocks]): symmetric per output channel
    and block of `block` rows of K (K padded with zeros to whole blocks), MatMulNBits' layout."""
    K, N = w.shape
    nb = (K + block - 1) // block
    wt = np.zeros((N, nb * block), np.float32)
    wt[:, :K] = w.T
    wt = wt.reshape(N, nb, block)
    s = np.abs(wt).max(axis=2) / 127.0
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    q = np.clip(np.rint(wt / s[:, :, None]), -127, 127).astype(np.int8)
    return q, s


def block_for(K, block):
    """MatMulNBits' block size: a power of two >= 16, at most `block`, not (much) beyond K."""
    b = 16
    while b * 2 <= min(block, K):
        b *= 2
    return b


WEIGHTS = {"s8": 127, "s7": 63, "u8": 127}


def _mmi_nodes(p, a, y, K, N, w, g, weights):
    wq, ws = quantize_weight(np.ascontiguousarray(w), WEIGHTS[weights])
    mmi_in = [f"{p}_A_u8", f"{p}_W_int8", f"{p}_A_zero"]
    if weights == "u8":  # the same values stored unsigned, zero point 128 (MLAS's exact u8u8 kernels)
        wq = (wq.astype(np.int16) + 128).astype(np.uint8)
        g.initializer.append(numpy_helper.from_array(np.array(128, np.uint8), f"{p}_W_zero"))
        mmi_in.append(f"{p}_W_zero")
    g.initializer.extend([numpy_helper.from_array(wq, f"{p}_W_int8"), numpy_helper.from_array(ws, f"{p}_W_scale")])
    return [
        helper.make_node("DynamicQuantizeLinear", [a], [f"{p}_A_u8", f"{p}_A_scale", f"{p}_A_zero"], name=f"{p}_dql"),
        helper.make_node("MatMulInteger", mmi_in, [f"{p}_Y_i32"], name=f"{p}_mmi"),
        helper.make_node("Cast", [f"{p}_Y_i32"], [f"{p}_Y_f32"], to=TensorProto.FLOAT, name=f"{p}_cast"),
        helper.make_node("Mul", [f"{p}_A_scale", f"{p}_W_scale"], [f"{p}_scale"], name=f"{p}_scale_mul"),
        helper.make_node("Mul", [f"{p}_Y_f32", f"{p}_scale"], [y], name=f"{p}_mul"),
    ]


def _nbits_nodes(p, a, y, K, N, w, g, block, accuracy_level):
    b = block_for(K, block)
    wq, ws = quantize_weight_blocks(np.ascontiguousarray(w), b)
    # 8-bit MatMulNBits stores unsigned values; with no zero_points input the zero point is 128.
    packed = (wq.astype(np.int16) + 128).astype(np.uint8)
    g.initializer.extend([numpy_helper.from_array(packed, f"{p}_W_u8"), numpy_helper.from_array(ws, f"{p}_W_scale")])
    return [helper.make_node("MatMulNBits", [a, f"{p}_W_u8", f"{p}_W_scale"], [y], name=f"{p}_mmnb",
                             domain="com.microsoft", K=int(K), N=int(N), bits=8, block_size=b,
                             accuracy_level=int(accuracy_level))]


def quantize_graph(model, form="matmulinteger", block=128, accuracy_level=4, weights="s7"):
    """Rewrites the graph in place; returns [(node name, weight name, K, N)] of the quantized layers.

    form "matmulinteger" (the default, measured fastest here; see docs/bench.md "int8"; weights as above):
        A --DynamicQuantizeLinear--> (A_u8, a_scale, a_zero) --MatMulInteger(A_u8, W_s8, a_zero)--> int32
          --Cast--> float --Mul(a_scale * w_scale[n])--> [--Add(bias)-->] Y
    form "nbits": com.microsoft MatMulNBits, bits 8, per output channel and block of K scales, activations
        quantized by the kernel (accuracy_level 4: int8 per block) -- kept for the measurement."""
    if form not in FORMS:
        raise ValueError(f"form {form!r}: expected one of {', '.join(FORMS)}")
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for x in n.input:
            consumers[x] = consumers.get(x, 0) + 1
    new_nodes, done, k = [], [], 0
    drop = set()
    for node in g.node:
        w_name, bias, trans_b = None, None, False
        if node.op_type == "MatMul" and node.input[1] in inits:
            w_name = node.input[1]
        elif node.op_type == "Gemm" and node.input[1] in inits:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0):
                w_name, trans_b = node.input[1], bool(attrs.get("transB", 0))
                bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        w = numpy_helper.to_array(inits[w_name]) if w_name else None
        if w is None or w.ndim != 2 or w.dtype != np.float32:
            new_nodes.append(node)
            continue
        if trans_b:
            w = w.T
        K, N = w.shape
        p = f"q{k}_{(node.name or w_name).strip('/').replace('/', '_')}"
        k += 1
        out = node.output[0]
        y = f"{p}_Y" if bias else out
        if form == "matmulinteger":
            new_nodes += _mmi_nodes(p, node.input[0], y, K, N, w, g, weights)
        else:
            new_nodes += _nbits_nodes(p, node.input[0], y, K, N, w, g, block, accuracy_level)
        if bias:
            new_nodes.append(helper.make_node("Add", [y, bias], [out], name=f"{p}_bias"))
        consumers[w_name] -= 1
        if consumers[w_name] == 0:
            drop.add(w_name)
        done.append((node.name, w_name, int(K), int(N)))
    del g.node[:]
    g.node.extend(new_nodes)
    keep = [i for i in g.initializer if i.name not in drop]
    del g.initializer[:]
    g.initializer.extend(keep)
    if form == "nbits" and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return done


# ---- the error ledger: numpy emulation of the int8 arithmetic on captured activations ----------------
def dql(x):
    """DynamicQuantizeLinear: (uint8 values, scale, zero point) as ONNX defines it."""
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zero = np.clip(np.rint(-lo / scale), 0, 255)
    q = np.clip(np.rint(x / scale) + zero, 0, 255)
    return q, scale, zero


def int8_linear(x, w, b, form="matmulinteger", block=128, weights="s7"):
    """x [..., K], w [N, K] (torch layout) -> the int8 path's output, as the chosen operator form computes it."""
    if form == "matmulinteger":
        q, s, z = dql(x)
        wq, ws = quantize_weight(np.ascontiguousarray(w.T), WEIGHTS[weights])
        y = ((q - z).astype(np.float64) @ wq.astype(np.float64)).astype(np.float32) * (s * ws)
    else:  # MatMulNBits, accuracy level 4: A int8 symmetric per row and block of K, W per channel and block
        N, K = w.shape
        bs = block_for(K, block)
        wq, ws = quantize_weight_blocks(np.ascontiguousarray(w.T), bs)
        nb = wq.shape[1]
        xa = np.zeros(x.shape[:-1] + (nb * bs,), np.float32)
        xa[..., :K] = x
        xa = xa.reshape(x.shape[:-1] + (nb, bs))
        sa = np.abs(xa).max(axis=-1) / 127.0
        sa = np.where(sa > 0, sa, 1.0)
        qa = np.clip(np.rint(xa / sa[..., None]), -127, 127)
        y = np.einsum("...bk,nbk,...b,nb->...n", qa.astype(np.float64), wq.astype(np.float64), sa, ws)
        y = y.astype(np.float32)
    return y + b if b is not None else y


def ledger(model, pixels, ids, mask, form="matmulinteger", block=128, weights="s7"):
    """Per quantized layer: errors of the emulated int8 computation on the golden inputs."""
    rows, handles = [], []
    emulate = {"on": False}

    def hook(name):
        def fn(mod, inp, out):
            x = inp[0].detach().numpy()
            w = mod.weight.detach().numpy()
            b = mod.bias.detach().numpy() if mod.bias is not None else None
            yq = int8_linear(x, w, b, form, block, weights)
            if emulate["on"]:
                return torch.from_numpy(yq.astype(np.float32))
            y = out.detach().numpy()
            wq, ws = quantize_weight(np.ascontiguousarray(w.T), WEIGHTS[weights])
            werr = float(np.abs(wq.astype(np.float32) * ws - w.T).max())  # per channel
            rel = float(np.linalg.norm(yq - y) / max(np.linalg.norm(y), 1e-12))
            cos = float((yq * y).sum() / max(np.linalg.norm(yq) * np.linalg.norm(y), 1e-12))
            rows.append({"layer": name, "shape": list(w.shape), "weight_max_abs_err": werr,
                         "output_rel_l2": rel, "output_cosine": cos})
        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            handles.append(mod.register_forward_hook(hook(name)))
    with torch.no_grad():
        img = model.encode_image(torch.from_numpy(pixels)).numpy()
        txt = model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        emulate["on"] = True
        img_q = model.encode_image(torch.from_numpy(pixels)).numpy()
        txt_q = model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    for h in handles:
        h.remove()
    cos = lambda a, b: (common.l2n(a) * common.l2n(b)).sum(1)
    return rows, {"image_cosine_min": float(cos(img, img_q).min()), "image_cosine_mean": float(cos(img, img_q).mean()),
                  "text_cosine_min": float(cos(txt, txt_q).min()), "text_cosine_mean": float(cos(txt, txt_q).mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contract", required=True, help="the fp32 contract")
    ap.add_argument("--id", help="the int8 contract's id (default: the fp32 id + '-int8')")
    ap.add_argument("--out-contract", help="default: contracts/<id>.json beside the fp32 contract")
    ap.add_argument("--out-dir", help="model folder of the int8 variant (default: the fp32 model's own; "
                    "another folder gets copies of the tokenizer and config files)")
    ap.add_argument("--form", choices=FORMS, default="matmulinteger", help="operator form (default matmulinteger)")
    ap.add_argument("--block", type=int, default=128, help="--form nbits: largest block of K per scale")
    ap.add_argument("--accuracy-level", type=int, default=4, help="--form nbits: MatMulNBits accuracy_level")
    ap.add_argument("--weights", choices=sorted(WEIGHTS), default="s7",
                    help="--form matmulinteger: weight storage (s8; s7 = 7-bit range; u8 = s8 values + 128, zero point 128)")
    ap.add_argument("--no-ledger", action="store_true")
    args = ap.parse_args()
    c = common.read_json(args.contract)
    cdir = os.path.dirname(os.path.abspath(args.contract))
    model_dir = os.path.normpath(os.path.join(cdir, c["model_dir"]))
    out_dir = os.path.abspath(args.out_dir) if args.out_dir else model_dir
    name = args.id or c["id"] + "-int8"
    out_contract = args.out_contract or os.path.join(cdir, name + ".json")
    os.makedirs(os.path.join(out_dir, "onnx"), exist_ok=True)
    files = {}
    summary = {}
    for a in c["artifacts"]:
        if a["role"] not in ("vision_model", "text_model") and out_dir != model_dir:
            dst = os.path.join(out_dir, a["path"])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(model_dir, a["path"]), dst)
    for role in ("vision_model", "text_model"):
        src = next(a["path"] for a in c["artifacts"] if a["role"] == role)
        m = onnx.load(os.path.join(model_dir, src))
        done = quantize_graph(m, args.form, args.block, args.accuracy_level, args.weights)
        onnx.checker.check_model(m)
        dst = src.replace(".onnx", "_int8.onnx")
        onnx.save(m, os.path.join(out_dir, dst))
        files[role] = dst
        summary[role] = {"file": dst, "quantized_layers": len(done),
                         "bytes_fp32": os.path.getsize(os.path.join(model_dir, src)),
                         "bytes_int8": os.path.getsize(os.path.join(out_dir, dst))}
        print(f"quantize: {dst}: {len(done)} MatMul/Gemm layers int8 ({args.form}), "
              f"{summary[role]['bytes_fp32'] / 1e6:.1f} MB -> {summary[role]['bytes_int8'] / 1e6:.1f} MB", file=sys.stderr)
    scheme = (f"weights int8 ({args.weights}) symmetric per output channel; activations uint8 asymmetric per "
              "tensor, dynamic (DynamicQuantizeLinear + MatMulInteger)" if args.form == "matmulinteger" else
              f"weights int8 symmetric per output channel and block of <= {args.block} rows of K; activations "
              f"quantized by MatMulNBits (bits 8, accuracy_level {args.accuracy_level})")
    ledger_path = os.path.join(out_dir, "onnx", "int8_ledger.json")
    if not args.no_ledger:
        import golden
        pack = os.path.normpath(os.path.join(cdir, c["golden"]["pack"]))
        idx = common.read_json(os.path.join(pack, "index.json"))
        t = idx["tensors"]
        rd = lambda k, dt: np.fromfile(os.path.join(pack, t[k]["file"]), dt).reshape(t[k]["shape"])
        torch.set_num_threads(1)
        model = golden.load_model(model_dir)
        rows, e2e = ledger(model, rd("pixel_values", np.float32), rd("input_ids", np.int64),
                           rd("attention_mask", np.int64), args.form, args.block, args.weights)
        worst = sorted(rows, key=lambda r: -r["output_rel_l2"])[:5]
        for r in worst:
            print(f"quantize: ledger: {r['layer']}: output rel L2 {r['output_rel_l2']:.4f}, cosine "
                  f"{r['output_cosine']:.5f}", file=sys.stderr)
        print(f"quantize: emulated end-to-end cosine to fp32: image min {e2e['image_cosine_min']:.5f}, "
              f"text min {e2e['text_cosine_min']:.5f}", file=sys.stderr)
        common.write_json(ledger_path, {"model": c["id"], "int8_model": name, "form": args.form, "weights": args.weights, "scheme": scheme,
                                        "towers": summary, "end_to_end_emulated": e2e, "layers": rows}, indent=1)
        print(f"quantize: {ledger_path}", file=sys.stderr)
    q = json.loads(json.dumps(c))
    q["id"], q["variant"] = name, "int8"
    for a in q["artifacts"]:
        if a["role"] in files:
            a["path"] = files[a["role"]]
        a["sha256"] = common.sha256(os.path.join(out_dir, a["path"]))
    out_cdir = os.path.dirname(os.path.abspath(out_contract))
    q["model_dir"] = os.path.relpath(out_dir, out_cdir)
    q["golden"]["pack"] = os.path.relpath(os.path.normpath(os.path.join(cdir, c["golden"]["pack"])), out_cdir)
    q["golden"]["image_min_cosine"] = q["golden"]["text_min_cosine"] = 0.99
    os.makedirs(out_cdir, exist_ok=True)
    common.write_json(out_contract, q)
    print(f"quantize: {out_contract}", file=sys.stderr)


if __name__ == "__main__":
    main()
