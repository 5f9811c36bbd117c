#!/usr/bin/env bash
# The shipped models (models/tiny-clip, models/tiny-siglip) through the CLI: their contracts hold
# (sha256s, ONNX signatures), their golden packs pass, the default contract is tiny-clip, and
# `clipdex embed` really works: for sample images (samples/shapes, never seen in training) the
# image's own caption ranks first among the captions of the other chosen images, and the zero-shot
# label "a photo of a {colour} {shape}" beats the other colours and shapes.
# ctest-labels: integration
set -uo pipefail
. "$(dirname "$0")/lib.sh"

S="$CDX_SOURCE_DIR"
MODELS="tiny-clip"
for m in $MODELS; do
    c="$S/contracts/$m.json"
    [ -f "$c" ] || { fail "$c is missing (the models are part of the repository)"; continue; }
    out="$("$CLIPDEX" contract check "$c" 2>&1)"; rc=$?
    expect_rc 0 "$rc" "$m: contract check"
    expect_contains "$out" "artifacts match their sha256" "$m: contract check output"
    out="$("$CLIPDEX" --log-level warn golden --contract "$c" --providers 'cpu:threads=1,opt=all' 2>&1)"; rc=$?
    expect_rc 0 "$rc" "$m: golden"
    expect_contains "$out" "PASS" "$m: golden verdict"
done

# The embedded default is tiny-clip.
out="$(CDX_HOME="$S" "$CLIPDEX" contract show --json 2>&1)"; rc=$?
expect_rc 0 "$rc" "default contract"
expect_contains "$out" '"tiny-clip"' "default contract is tiny-clip"

# Ranking on sample images: pick one image per distinct (colour, shape) among the first items.
sel="$("$PY" - "$S/samples/shapes/manifest.jsonl" <<'PYEOF'
import json, sys
seen, out = set(), []
for line in open(sys.argv[1]):
    d = json.loads(line)
    key = (d["colour"], d["shape"])
    if d["count"] == 1 and d["colour"] not in {c for c, _ in seen} and d["shape"] not in {s for _, s in seen}:
        seen.add(key)
        out.append(d)
    if len(out) == 4:
        break
for d in out:
    print(d["uri"] + "\t" + d["caption"] + "\t" + d["colour"] + "\t" + d["shape"])
PYEOF
)"
[ "$(printf '%s\n' "$sel" | grep -c .)" -eq 4 ] || fail "could not pick 4 sample images from samples/shapes/manifest.jsonl"

for m in $MODELS; do
    args=()
    while IFS=$'\t' read -r uri cap colour shape; do
        args+=(--image "$S/samples/shapes/$uri" --text "$cap" --text "a photo of a $colour $shape")
    done <<< "$sel"
    json="$("$CLIPDEX" --log-level warn embed --contract "$S/contracts/$m.json" "${args[@]}" --json)"; rc=$?
    expect_rc 0 "$rc" "$m: embed"
    verdict="$("$PY" - "$json" <<'PYEOF'
import json, sys
items = json.loads(sys.argv[1])["items"]
imgs = [i["vector"] for i in items if i["kind"] == "image"]
caps = [i["vector"] for i in items if i["kind"] == "text"][0::2]
labels = [i["vector"] for i in items if i["kind"] == "text"][1::2]
dot = lambda a, b: sum(x * y for x, y in zip(a, b))
bad = []
for k, v in enumerate(imgs):
    if abs(dot(v, v) - 1) > 1e-4:
        bad.append(f"image {k} vector is not unit length")
    for name, texts in (("caption", caps), ("label", labels)):
        s = [dot(v, t) for t in texts]
        if max(range(len(s)), key=s.__getitem__) != k:
            bad.append(f"image {k}: its {name} is not the nearest ({[round(x, 3) for x in s]})")
print("; ".join(bad) or "ok")
PYEOF
)"
    [ "$verdict" = ok ] || fail "$m: ranking: $verdict"
done
done_ok
