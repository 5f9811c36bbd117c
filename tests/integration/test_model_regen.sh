#!/usr/bin/env bash
# The model toolchain reproduces what is committed: from the committed weights (models/*/model.safetensors)
# and golden images, tools/model/golden.py --check recomputes every golden tensor (token ids exactly, floats
# within 1e-6); tools/model/convert.py re-exports both towers byte for byte (every artifact sha256 in the
# committed contract); and the converter refuses checkpoints it does not understand, naming the tensor.
# Needs Debian's python3-torch, python3-onnx, python3-sentencepiece, python3-pil (tools/bootstrap --toolchain);
# skipped (77) only when those are absent.
# ctest-labels: integration
# ctest-timeout: 900
set -uo pipefail
. "$(dirname "$0")/lib.sh"

TPY=/usr/bin/python3
"$TPY" -c 'import torch, onnx, sentencepiece, PIL, numpy' 2>/dev/null \
    || { echo "SKIP: the model toolchain's Python packages are absent (tools/bootstrap --toolchain)" >&2; exit 77; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
S="$CDX_SOURCE_DIR"
MODELS="tiny-clip"
work="$(cdx_scratch regen)"

for m in $MODELS; do
    out="$("$TPY" "$S/tools/model/golden.py" --contract "$S/contracts/$m.json" --check 2>&1)"; rc=$?
    expect_rc 0 "$rc" "$m: golden --check ($out)"
    expect_contains "$out" "reproduced" "$m: golden --check verdict"

    # Convert the committed checkpoint again: every artifact's sha256 must match the committed contract.
    "$TPY" "$S/tools/model/convert.py" "$S/models/$m" --out "$work/$m" --id "$m" \
        --contract "$work/contracts/$m.json" --golden "$work/golden/$m" 2>"$work/$m.log" \
        || fail "$m: convert from the committed weights: $(tail -3 "$work/$m.log")"
    diff="$("$TPY" - "$S/contracts/$m.json" "$work/contracts/$m.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = [f"{x['role']}: {x['sha256'][:12]} committed, {y['sha256'][:12]} regenerated"
       for x, y in zip(a["artifacts"], b["artifacts"]) if x != y]
for k in ("onnx", "image", "text", "embedding", "scoring", "buckets", "family", "variant"):
    if a[k] != b[k]:
        bad.append(f"{k} differs")
print("; ".join(bad) or "same")
PYEOF
)"
    [ "$diff" = same ] || fail "$m: regenerated contract differs: $diff"
done

# Refusals: a renamed tensor, a wrong shape, a missing tensor -- each named in the message, exit 3.
ck="$work/bad"
mkdir -p "$ck"
cp "$S/models/tiny-clip/"{config.json,preprocessor_config.json,vocab.json,merges.txt,tokenizer.json} "$ck/"
for case in rename shape missing; do
    "$TPY" -c "
import sys; sys.path.insert(0, '$S/tools/model')
import safetensors_np as st, numpy as np
t, meta = st.read('$S/models/tiny-clip/model.safetensors')
case = '$case'
if case == 'rename':
    t['text_model.encoder.layers.0.mlp.fc9.weight'] = t.pop('text_model.encoder.layers.0.mlp.fc1.weight')
elif case == 'shape':
    t['visual_projection.weight'] = np.zeros((7, 5), np.float32)
else:
    del t['vision_model.post_layernorm.bias']
st.write('$ck/model.safetensors', t, meta)
" || { fail "could not write the $case checkpoint"; continue; }
    out="$("$TPY" "$S/tools/model/convert.py" "$ck" --out "$work/bad-out" --contract "$work/bad.json" 2>&1)"; rc=$?
    expect_rc 3 "$rc" "convert refuses the $case checkpoint"
    case "$case" in
        rename) expect_contains "$out" "unexpected tensor text_model.encoder.layers.0.mlp.fc9.weight" "rename: named"
                expect_contains "$out" "missing tensor text_model.encoder.layers.0.mlp.fc1.weight" "rename: missing named" ;;
        shape) expect_contains "$out" "tensor visual_projection.weight has shape [7, 5]" "shape: named" ;;
        missing) expect_contains "$out" "missing tensor vision_model.post_layernorm.bias" "missing: named" ;;
    esac
done
done_ok
