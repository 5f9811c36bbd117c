#!/usr/bin/python3
"""int8 towers: dynamic quantization of a model's ONNX towers by graph surgery with python3-onnx, a
per-layer error ledger against fp32, and the int8 contract.

    /usr/bin/python3 tools/model/quantize.py --contract contracts/tiny-clip.json [--id tiny-clip-int8]
        [--out-contract contracts/tiny-clip-int8.json]

Every MatMul and Gemm whose weight is a constant 2-D initializer becomes

    A --DynamicQuantizeLinear--> (A_u8, a_scale, a_zero) --MatMulInteger(A_u8, W_s8, a_zero)--> int32
      --Cast--> float --Mul(a_scale * w_scale[n])--> [--Add(bias)-->] Y

with W quantized symmetrically per output channel (int8, scale max|W[:, n]| / 127, zero point 0) and
the activation quantized per tensor, asymmetric uint8, at run time. This is the form ONNX Runtime's own
dynamic quantizer writes: its level-2 optimizer fuses it into MatMulIntegerToFloat /
DynamicQuantizeMatMul, which run on MLAS's u8s8 kernels (AVX-512 VNNI `vpdpbusd` on this CPU).
Convolutions (the patch embedding), embeddings, LayerNorm, Softmax and attention's activation-by-
activation MatMuls stay fp32.

The ledger (models/<name>/onnx/int8_ledger.json and printed) runs the fp32 PyTorch model on the golden
pack's inputs, captures each quantized layer's input, and reports per layer the weight quantization
error and the output error of the int8 computation emulated in numpy (relative L2 and cosine), plus the
end-to-end embedding cosine with every layer emulated. `clipdex golden --contract <int8 contract>` then
checks the real ONNX Runtime result against the fp32 golden pack (cosine >= 0.99 for every input).
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import convert  # noqa: E402


def quantize_weight(w):
    """w [K, N] float32 -> (int8 [K, N], scale [N])."""
    s = np.abs(w).max(axis=0) / 127.0
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / s), -127, 127).astype(np.int8)
    return q, s


def quantize_graph(model):
    """Rewrites the graph in place; returns [(node name, weight name, K, N)] of the quantized layers."""
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
        wq, ws = quantize_weight(np.ascontiguousarray(w))
        p = f"q{k}_{(node.name or w_name).strip('/').replace('/', '_')}"
        k += 1
        g.initializer.extend([numpy_helper.from_array(wq, f"{p}_W_int8"), numpy_helper.from_array(ws, f"{p}_W_scale")])
        a = node.input[0]
        out = node.output[0]
        y = f"{p}_Y" if bias else out
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [f"{p}_A_u8", f"{p}_A_scale", f"{p}_A_zero"], name=f"{p}_dql"),
            helper.make_node("MatMulInteger", [f"{p}_A_u8", f"{p}_W_int8", f"{p}_A_zero"], [f"{p}_Y_i32"],
                             name=f"{p}_mmi"),
            helper.make_node("Cast", [f"{p}_Y_i32"], [f"{p}_Y_f32"], to=TensorProto.FLOAT, name=f"{p}_cast"),
            helper.make_node("Mul", [f"{p}_A_scale", f"{p}_W_scale"], [f"{p}_scale"], name=f"{p}_scale_mul"),
            helper.make_node("Mul", [f"{p}_Y_f32", f"{p}_scale"], [y], name=f"{p}_mul"),
        ]
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
    return done


# ---- the error ledger: numpy emulation of the int8 arithmetic on captured activations ----------------
def dql(x):
    """DynamicQuantizeLinear: (uint8 values, scale, zero point) as ONNX defines it."""
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zero = np.clip(np.rint(-lo / scale), 0, 255)
    q = np.clip(np.rint(x / scale) + zero, 0, 255)
    return q, scale, zero


def int8_linear(x, w, b):
    """x [..., K], w [N, K] (torch layout) -> the int8 path's output."""
    q, s, z = dql(x)
    wq, ws = quantize_weight(np.ascontiguousarray(w.T))
    y = ((q - z).astype(np.float64) @ wq.astype(np.float64)).astype(np.float32) * (s * ws)
    return y + b if b is not None else y


def ledger(model, pixels, ids, mask):
    """Per quantized layer: errors of the emulated int8 computation on the golden inputs."""
    rows, handles = [], []
    emulate = {"on": False}

    def hook(name):
        def fn(mod, inp, out):
            x = inp[0].detach().numpy()
            w = mod.weight.detach().numpy()
            b = mod.bias.detach().numpy() if mod.bias is not None else None
            yq = int8_linear(x, w, b)
            if emulate["on"]:
                return torch.from_numpy(yq.astype(np.float32))
            y = out.detach().numpy()
            wq, ws = quantize_weight(np.ascontiguousarray(w.T))
            werr = float(np.abs(wq.astype(np.float32) * ws - w.T).max())
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
    ap.add_argument("--id")
    ap.add_argument("--out-contract")
    ap.add_argument("--no-ledger", action="store_true")
    args = ap.parse_args()
    c = common.read_json(args.contract)
    cdir = os.path.dirname(os.path.abspath(args.contract))
    model_dir = os.path.normpath(os.path.join(cdir, c["model_dir"]))
    name = args.id or c["id"] + "-int8"
    out_contract = args.out_contract or os.path.join(cdir, name + ".json")
    files = {}
    summary = {}
    for role in ("vision_model", "text_model"):
        src = next(a["path"] for a in c["artifacts"] if a["role"] == role)
        m = onnx.load(os.path.join(model_dir, src))
        done = quantize_graph(m)
        onnx.checker.check_model(m)
        dst = src.replace(".onnx", "_int8.onnx")
        onnx.save(m, os.path.join(model_dir, dst))
        files[role] = dst
        summary[role] = {"file": dst, "quantized_layers": len(done),
                         "bytes_fp32": os.path.getsize(os.path.join(model_dir, src)),
                         "bytes_int8": os.path.getsize(os.path.join(model_dir, dst))}
        print(f"quantize: {dst}: {len(done)} MatMul/Gemm layers int8, "
              f"{summary[role]['bytes_fp32'] / 1e6:.1f} MB -> {summary[role]['bytes_int8'] / 1e6:.1f} MB", file=sys.stderr)
    if not args.no_ledger:
        import golden
        pack = os.path.normpath(os.path.join(cdir, c["golden"]["pack"]))
        idx = common.read_json(os.path.join(pack, "index.json"))
        t = idx["tensors"]
        rd = lambda k, dt: np.fromfile(os.path.join(pack, t[k]["file"]), dt).reshape(t[k]["shape"])
        torch.set_num_threads(1)
        model = golden.load_model(model_dir)
        rows, e2e = ledger(model, rd("pixel_values", np.float32), rd("input_ids", np.int64),
                           rd("attention_mask", np.int64))
        worst = sorted(rows, key=lambda r: -r["output_rel_l2"])[:5]
        for r in worst:
            print(f"quantize: ledger: {r['layer']}: output rel L2 {r['output_rel_l2']:.4f}, cosine "
                  f"{r['output_cosine']:.5f}", file=sys.stderr)
        print(f"quantize: emulated end-to-end cosine to fp32: image min {e2e['image_cosine_min']:.5f}, "
              f"text min {e2e['text_cosine_min']:.5f}", file=sys.stderr)
        common.write_json(os.path.join(model_dir, "onnx", "int8_ledger.json"),
                          {"model": c["id"], "scheme": "weights int8 symmetric per output channel; activations "
                           "uint8 asymmetric per tensor, dynamic", "towers": summary, "end_to_end_emulated": e2e,
                           "layers": rows}, indent=1)
    q = json.loads(json.dumps(c))
    q["id"], q["variant"] = name, "int8"
    for a in q["artifacts"]:
        if a["role"] in files:
            a["path"] = files[a["role"]]
        a["sha256"] = common.sha256(os.path.join(model_dir, a["path"]))
    q["model_dir"] = os.path.relpath(model_dir, os.path.dirname(os.path.abspath(out_contract)))
    q["golden"]["pack"] = os.path.relpath(os.path.normpath(os.path.join(cdir, c["golden"]["pack"])),
                                          os.path.dirname(os.path.abspath(out_contract)))
    q["golden"]["image_min_cosine"] = q["golden"]["text_min_cosine"] = 0.99
    common.write_json(out_contract, q)
    print(f"quantize: {out_contract}", file=sys.stderr)


if __name__ == "__main__":
    main()
