#!/usr/bin/env bash
# `clipdex contract check|show` and `clipdex doctor --contract` on the fixture
# contracts (tests/fixtures/): outputs, JSON shapes and exit codes for a good
# contract and for each kind of bad one (missing, not JSON, schema error,
# sha256 mismatch, missing artifact, ONNX signature mismatch), plus the
# default contract found through CDX_HOME.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
FX="$CDX_SOURCE_DIR/tests/fixtures"
CLIP="$FX/contracts/fixture-clip.json"
SIGLIP="$FX/contracts/fixture-siglip.json"
want_hash="$(awk '$1 == "fixture-clip" {print $2}' "$FX/space_hashes.txt")"

# A private copy of the fixtures, so files can be broken without touching the tree.
work="$(cdx_scratch contract)"
cp -r "$FX/contracts" "$FX/models" "$work/"

# --- good contracts ---
out="$("$CLIPDEX" contract check "$CLIP" 2>&1)"; rc=$?
expect_rc 0 "$rc" "check clip"
expect_contains "$out" "ok: $CLIP: fixture-clip version 1 (clip); 7 artifacts match their sha256" "check text"
expect_contains "$out" "space hash $want_hash" "check prints the space hash"
out="$("$CLIPDEX" contract check "$SIGLIP" 2>&1)"; rc=$?
expect_rc 0 "$rc" "check siglip"

json="$("$CLIPDEX" contract check --json "$CLIP")"; rc=$?
expect_rc 0 "$rc" "check --json"
check="$("$PY" - "$json" "$want_hash" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
ok = (d["ok"] is True and d["id"] == "fixture-clip" and d["family"] == "clip" and d["space_hash"] == sys.argv[2]
      and d["artifacts_verified"] is True and d["onnx_checked"] is True)
print("ok" if ok else "unexpected: %r" % d)
PYEOF
)"
[ "$check" = ok ] || fail "check --json: $check"

out="$("$CLIPDEX" contract show "$SIGLIP")"; rc=$?
expect_rc 0 "$rc" "show text"
expect_contains "$out" "fixture-siglip version 1 (siglip, fp32)" "show names the contract"
expect_contains "$out" "sequence [8]" "show lists buckets"
expect_contains "$out" "input_ids int64 [\"batch\", 8]" "show lists tower inputs"

json="$("$CLIPDEX" contract show "$CLIP" --json)"; rc=$?
expect_rc 0 "$rc" "show --json (flag after FILE)"
check="$("$PY" - "$json" "$CLIP" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
src = json.load(open(sys.argv[2]))
problems = []
for key in ("id", "version", "family", "variant"):
    if d[key] != src[key]:
        problems.append(key)
for section in ("onnx", "text", "embedding", "buckets", "thresholds"):
    if d[section] != src[section]:
        problems.append(section)
for key in ("size", "resize", "resize_to", "interpolation", "crop", "rescale", "colour", "background"):
    if d["image"][key] != src["image"][key]:
        problems.append("image." + key)
for a, b in zip(d["artifacts"], src["artifacts"]):
    if a["role"] != b["role"] or a["sha256"] != b["sha256"] or not a["path"].endswith(b["path"]):
        problems.append("artifact " + b["role"])
if d["verified"] != {"artifacts": True, "onnx": True}:
    problems.append("verified")
print("ok" if not problems else "differs from the contract file: " + ", ".join(problems))
PYEOF
)"
[ "$check" = ok ] || fail "show --json: $check"

# --no-hash skips the sha256s but still reads the ONNX signatures.
sed 's/"sha256": "45943e/"sha256": "00000e/' "$CLIP" > "$work/contracts/stale_hash.json"
out="$("$CLIPDEX" contract check --no-hash "$work/contracts/stale_hash.json")"; rc=$?
expect_rc 0 "$rc" "check --no-hash"
expect_contains "$out" "7 artifacts not hashed (--no-hash); ONNX opset 17, IR 8 and tower signatures match" "--no-hash says what it skipped"
sed 's/"opset": 17/"opset": 16/' "$work/contracts/stale_hash.json" > "$work/contracts/stale_opset.json"
out="$("$CLIPDEX" contract check --no-hash "$work/contracts/stale_opset.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "--no-hash still checks ONNX"
expect_contains "$out" "onnx.opset: contract says 16" "--no-hash ONNX mismatch"

# --- bad contracts: exit 3 and a message naming file, field, expected and actual ---
out="$("$CLIPDEX" contract check "$work/contracts/missing.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "missing contract"
expect_contains "$out" "$work/contracts/missing.json: cannot open the contract: No such file or directory" "missing named"

json="$("$CLIPDEX" contract check --json "$work/contracts/missing.json")"; rc=$?
expect_rc 3 "$rc" "missing contract --json"
check="$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("ok" if d["ok"] is False and d["error"]["code"] == "NOTFOUND" and d["error"]["exit_code"] == 3 else d)' "$json")"
[ "$check" = ok ] || fail "missing --json: $check"

printf '{"schema": "clipdex.contract/1",\n "id": }\n' > "$work/contracts/notjson.json"
out="$("$CLIPDEX" contract check "$work/contracts/notjson.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "not JSON"
expect_contains "$out" "$work/contracts/notjson.json: not valid JSON: " "not JSON named"
expect_contains "$out" "(line 2, column" "not JSON gives the place"

# bad_copy NAME SED EXPECT: fixture-clip edited by SED fails with exit 3 and
# "<its path>: EXPECT" in the message.
bad_copy() {
    sed "$2" "$CLIP" > "$work/contracts/$1.json"
    out="$("$CLIPDEX" contract check "$work/contracts/$1.json" 2>&1)"; rc=$?
    expect_rc 3 "$rc" "$1"
    expect_contains "$out" "$work/contracts/$1.json: $3" "$1 message"
}
bad_copy badtype 's/0.4578275/"0.4578275"/' 'image.mean[1]: expected a number, got "0.4578275"'
bad_copy buckets 's/"batch": \[/"batch": [8, /' \
    'buckets.batch[1]: buckets must be strictly ascending: expected more than 8, got 1'
bad_copy unknown 's/"crop": "center"/"crop": "center", "gamma": 2.2/' \
    'image: unknown field "gamma" (fields here: size, resize, resize_to,'
bad_copy roles 's/"role": "merges"/"role": "spiece"/' \
    'artifacts[4].role: family clip does not use a "spiece" artifact'
bad_copy missing_field '/"lowercase"/d' 'text.lowercase: missing field'
bad_copy enum 's/"bicubic"/"lanczos"/' 'image.interpolation: expected "bicubic", "bilinear" or "nearest", got "lanczos"'

# sha256: change one byte of a copied artifact.
printf '#version: 0.2\na c\n' > "$work/models/fixture-clip/merges.txt"
out="$("$CLIPDEX" contract check "$work/contracts/fixture-clip.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "sha256 mismatch"
expect_contains "$out" "$work/contracts/fixture-clip.json: artifacts[4].sha256: contract says 45943e2370ccbc1bbf4f34860ef8f9b82740bdcf32115a28f48828c1b71d40b7, $work/contracts/../models/fixture-clip/merges.txt has " "sha256 message"
cp "$FX/models/fixture-clip/merges.txt" "$work/models/fixture-clip/merges.txt"

mv "$work/models/fixture-clip/vocab.json" "$work/vocab.json"
out="$("$CLIPDEX" contract check "$work/contracts/fixture-clip.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "missing artifact"
expect_contains "$out" "artifacts[3].path: the vocab file $work/contracts/../models/fixture-clip/vocab.json does not exist" "missing artifact message"
mv "$work/vocab.json" "$work/models/fixture-clip/vocab.json"

# ONNX: a different tower file, with its sha256 updated so only the signature check objects.
odd="$FX/onnx/vision_everything_differs.onnx"
cp "$odd" "$work/models/fixture-clip/onnx/vision_model.onnx"
old="$(sha256sum "$FX/models/fixture-clip/onnx/vision_model.onnx" | cut -d' ' -f1)"
new="$(sha256sum "$odd" | cut -d' ' -f1)"
sed "s/$old/$new/" "$CLIP" > "$work/contracts/odd.json"
vm="$work/contracts/../models/fixture-clip/onnx/vision_model.onnx"
out="$("$CLIPDEX" contract check "$work/contracts/odd.json" 2>&1)"; rc=$?
expect_rc 3 "$rc" "ONNX signature mismatch"
for line in "onnx.opset: contract says 17, $vm has 13" \
            "onnx.ir_version: contract says 8, $vm has 7" \
            "onnx.vision.inputs[0].name: contract says \"pixel_values\", $vm has \"input\"" \
            "onnx.vision.inputs[0].dtype: contract says \"float32\", $vm has \"float64\"" \
            "onnx.vision.inputs[0].shape: contract says rank 4 [\"batch\", 3, 16, 16], $vm has rank 3"; do
    expect_contains "$out" "$work/contracts/odd.json: $line" "ONNX mismatch lists: $line"
done
cp "$FX/models/fixture-clip/onnx/vision_model.onnx" "$work/models/fixture-clip/onnx/vision_model.onnx"

# --- usage ---
out="$("$CLIPDEX" contract 2>&1)"; rc=$?
expect_rc 2 "$rc" "no action"
expect_contains "$out" "usage: clipdex contract check|show" "usage shown"
out="$("$CLIPDEX" contract frobnicate "$CLIP" 2>&1)"; rc=$?
expect_rc 2 "$rc" "unknown action"
out="$("$CLIPDEX" contract check "$CLIP" "$SIGLIP" 2>&1)"; rc=$?
expect_rc 2 "$rc" "two files"
out="$("$CLIPDEX" contract --help)"; rc=$?
expect_rc 0 "$rc" "--help"

# --- the default contract: $CDX_HOME/contracts/tiny-clip.json ---
home="$(cdx_scratch home)"
out="$(CDX_HOME="$home" "$CLIPDEX" contract check 2>&1)"; rc=$?
expect_rc 3 "$rc" "no default contract"
expect_contains "$out" "no default contract: $home/contracts/tiny-clip.json does not exist (CDX_HOME is set)" "places tried"
mkdir -p "$home/contracts" && cp -r "$work/models" "$home/"
cp "$CLIP" "$home/contracts/tiny-clip.json"
out="$(CDX_HOME="$home" "$CLIPDEX" contract check 2>&1)"; rc=$?
expect_rc 0 "$rc" "default contract through CDX_HOME"
expect_contains "$out" "ok: $home/contracts/tiny-clip.json: fixture-clip" "default contract used"

# --- doctor --contract ---
json="$("$CLIPDEX" doctor --json --contract "$CLIP")"; rc=$?
expect_rc 0 "$rc" "doctor --contract"
check="$("$PY" - "$json" "$want_hash" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
m = d.get("model", {})
want = {"id": "fixture-clip", "version": "1", "family": "clip", "variant": "fp32", "opset": 17, "ir_version": 8,
        "dim": 8, "buckets": {"batch": [1, 2, 4], "sequence": [4, 8]}, "space_hash": sys.argv[2],
        "artifacts_verified": True, "onnx_checked": True}
bad = [k for k in want if m.get(k) != want[k]]
print("ok" if not bad and "onnxruntime" in d else "model differs: %s in %r" % (bad, m))
PYEOF
)"
[ "$check" = ok ] || fail "doctor --json --contract: $check"
out="$("$CLIPDEX" doctor --contract "$CLIP")"; rc=$?
expect_rc 0 "$rc" "doctor text --contract"
expect_contains "$out" "artifacts_verified   yes" "doctor text shows verification"
expect_contains "$out" "batch              1 2 4" "doctor text shows buckets"
out="$("$CLIPDEX" doctor --json --contract "$work/contracts/odd.json")"; rc=$?
expect_rc 3 "$rc" "doctor with a failing contract"
expect_contains "$out" "\"error_code\": \"MISMATCH\"" "doctor reports the contract error"
expect_contains "$out" "\"onnxruntime\"" "doctor still reports the environment"
done_ok
