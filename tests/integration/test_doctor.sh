#!/usr/bin/env bash
# `clipdex doctor`: text and JSON reports, the fields the experiment card needs.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

out="$("$CLIPDEX" doctor 2>&1)"; rc=$?
expect_rc 0 "$rc" "doctor"
expect_contains "$out" "onnxruntime" "text report"
expect_contains "$out" "CPUExecutionProvider" "text report lists providers"

json="$("$CLIPDEX" doctor --json)"; rc=$?
expect_rc 0 "$rc" "doctor --json"
check="$("$PY" - "$json" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
need = [("version",), ("onnxruntime", "version"), ("onnxruntime", "providers"), ("cpu", "features"),
        ("libs", "vips"), ("libs", "faiss"), ("libs", "sqlite"), ("libs", "libevent"),
        ("libs", "jansson"), ("libs", "protobuf_c"), ("cpu", "model"), ("cpu", "cores_online"), ("os", "name"),
        ("git_revision",)]
for path in need:
    v = d
    for k in path:
        if not isinstance(v, dict) or k not in v:
            print("missing", ".".join(path)); sys.exit(0)
        v = v[k]
    if v in ("", None):
        print("empty", ".".join(path)); sys.exit(0)
if "CPUExecutionProvider" not in d["onnxruntime"]["providers"]:
    print("no CPU provider"); sys.exit(0)
if not d["onnxruntime"]["version"].startswith("1."):
    print("odd ORT version", d["onnxruntime"]["version"]); sys.exit(0)
if not isinstance(d["cpu"]["features"], list):
    print("features not a list"); sys.exit(0)
print("ok")
PYEOF
)"
[ "$check" = ok ] || fail "doctor --json: $check"

out="$("$CLIPDEX" doctor --bogus 2>&1)"; rc=$?
expect_rc 2 "$rc" "unknown flag"
out="$("$CLIPDEX" nosuchcommand 2>&1)"; rc=$?
expect_rc 2 "$rc" "unknown command"
expect_contains "$out" "unknown command 'nosuchcommand'" "unknown command message"
done_ok
