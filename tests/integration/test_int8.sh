#!/usr/bin/env bash
# int8 towers (tools/model/quantize.py) on both shipped models, made fresh into a scratch folder from the
# committed fp32 models (so a retrained model is checked as it is, never against stale int8 files):
# - the graphs hold MatMulInteger / DynamicQuantizeLinear and no MatMul with a constant weight left;
# - the per-layer ledger is beside the model, one row per quantized layer, emulated cosine >= 0.99;
# - the contract names the variant and `clipdex golden` passes it against the fp32 golden pack (cosine
#   >= 0.99 for every image and text), and a stricter pass mark on the same contract fails;
# - retrieval on the held-out sample catalog keeps overlap@10 with fp32 >= 0.9 (tools/model/int8_check.py).
# Needs Debian's python3-torch and python3-onnx (tools/bootstrap --toolchain); skipped (77) without them.
# ctest-labels: integration
# ctest-timeout: 900
set -uo pipefail
. "$(dirname "$0")/lib.sh"

TPY=/usr/bin/python3
"$TPY" -c 'import torch, onnx, numpy' 2>/dev/null \
    || { echo "SKIP: the model toolchain's Python packages are absent (tools/bootstrap --toolchain)" >&2; exit 77; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
S="$CDX_SOURCE_DIR"
work="$(cdx_scratch int8)"

for m in tiny-clip tiny-siglip; do
    q="$work/contracts/$m-int8.json"
    "$TPY" "$S/tools/model/quantize.py" --contract "$S/contracts/$m.json" --out-dir "$work/$m-int8" \
        --out-contract "$q" 2>"$work/$m.log" || { fail "$m: quantize: $(tail -3 "$work/$m.log")"; continue; }

    out="$("$TPY" - "$q" "$work/$m-int8" <<'PYEOF'
import json, os, sys
import onnx
from onnx import numpy_helper
c = json.load(open(sys.argv[1]))
bad = []
if c["variant"] != "int8" or c["golden"]["image_min_cosine"] != 0.99 or c["golden"]["text_min_cosine"] != 0.99:
    bad.append("contract: variant/pass marks wrong")
led = json.load(open(os.path.join(sys.argv[2], "onnx", "int8_ledger.json")))
n_layers = 0
for a in c["artifacts"]:
    if a["role"] not in ("vision_model", "text_model"):
        continue
    m = onnx.load(os.path.join(sys.argv[2], a["path"]))
    inits = {i.name for i in m.graph.initializer}
    ops = [n.op_type for n in m.graph.node]
    left = [n.name for n in m.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in inits]
    if left:
        bad.append(f"{a['path']}: {len(left)} MatMul/Gemm with a constant weight left, e.g. {left[0]}")
    k = ops.count("MatMulInteger")
    if k == 0 or k != ops.count("DynamicQuantizeLinear"):
        bad.append(f"{a['path']}: {k} MatMulInteger, {ops.count('DynamicQuantizeLinear')} DynamicQuantizeLinear")
    if led["towers"][a["role"]]["quantized_layers"] != k:
        bad.append(f"{a['path']}: ledger says {led['towers'][a['role']]['quantized_layers']} layers, graph {k}")
    n_layers += k
e = led["end_to_end_emulated"]
if min(e["image_cosine_min"], e["text_cosine_min"]) < 0.99:
    bad.append(f"ledger: emulated end-to-end cosine {e}")
if not led["layers"] or any(not (0 <= r["output_rel_l2"] < 0.2) for r in led["layers"]):
    bad.append("ledger: empty or a layer with relative error >= 0.2")
print("; ".join(bad) or f"ok {n_layers}")
PYEOF
)"
    case "$out" in ok*) ;; *) fail "$m: int8 files: $out" ;; esac

    out="$("$CLIPDEX" --log-level warn golden --contract "$q" 2>&1)"; rc=$?
    expect_rc 0 "$rc" "$m-int8: clipdex golden against the fp32 pack ($out)"
    expect_contains "$out" "pass when image cosine >= 0.99 and text cosine >= 0.99" "$m-int8: golden pass marks"

    # The check can fail: demand near-identity and the int8 towers must miss it.
    sed 's/"image_min_cosine": 0.99,/"image_min_cosine": 0.999999,/' "$q" > "$work/contracts/$m-strict.json"
    out="$("$CLIPDEX" --log-level warn golden --contract "$work/contracts/$m-strict.json" 2>&1)"; rc=$?
    expect_rc 1 "$rc" "$m-int8 with image cosine >= 0.999999: golden must fail"
    expect_contains "$out" "FAIL" "$m-int8 strict: verdict"

    out="$("$TPY" "$S/tools/model/int8_check.py" --fp32 "$S/contracts/$m.json" --int8 "$q" --clipdex "$CLIPDEX" \
        --samples "$S/samples/shapes" --json "$work/$m-check.json" 2>&1)"; rc=$?
    expect_rc 0 "$rc" "$m-int8: retrieval overlap@10 with fp32 >= 0.9 ($out)"
    echo "$out" >&2
done
done_ok
