#!/usr/bin/env bash
# `clipdex bench` on the fixture contracts: a short matrix gives one card per
# cell with every field, a report and Markdown tables; verdicts set the exit
# code; --from re-judges saved cards; --compare finds a planted regression
# and none against itself; SIGINT keeps what was measured; bad input is
# refused with its documented exit code.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

dir="$(cdx_scratch bench)"
clip="$CDX_SOURCE_DIR/tests/fixtures/contracts/fixture-clip.json"
siglip="$CDX_SOURCE_DIR/tests/fixtures/contracts/fixture-siglip.json"
loose=(--max-cold-warm-ratio 1000000 --max-drift 1000)

# 1. the matrix: 2 threads x 2 opt levels x (3 vision + 6 text buckets) = 36 cells for CLIP,
#    and SigLIP's text tower pads to max_length: 3 + 3 = 6 cells per config
out="$("$CLIPDEX" --log-level warn bench --contract "$clip" --contract "$siglip" --threads 1,2 --opt disabled,all \
      --duration 0.05 --min-runs 6 --json "$dir/cards.json" --report "$dir/r.html" --markdown "$dir/h.md" \
      "${loose[@]}" 2>"$dir/err")"; rc=$?
expect_rc 0 "$rc" "bench (loose thresholds): $(tail -3 "$dir/err")"
expect_contains "$out" "verdict cold/warm  PASS" "verdict lines"
expect_contains "$out" "verdict speedup    n/a" "speedup without an accelerator"
expect_contains "$(cat "$dir/err")" "[60/60]" "progress reaches the last cell"
check="$("$PY" - "$dir/cards.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
cards = d["cards"]
problems = []
if d["schema"] != "clipdex.bench/1": problems.append("schema")
if len(cards) != 60: problems.append("%d cards, expected 60" % len(cards))
keys = set()
for c in cards:
    key = (c["contract"]["id"], c["tower"], c["providers"]["spec"], c["bucket"]["batch"], c["bucket"]["seq"])
    keys.add(key)
    for path in [("clipdex",), ("onnxruntime",), ("contract", "opset"), ("contract", "artifact_sha256"),
                 ("contract", "variant"), ("providers", "used"), ("cpu", "features"), ("cpu", "model"),
                 ("warm", "p95_ms"), ("cold_ms",), ("rss_peak_bytes",), ("fallback", "detected"), ("create_ms",)]:
        v = c
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if v is None or v == "": problems.append("missing " + ".".join(path))
    if c["runs"] < 6: problems.append("runs %d < min-runs" % c["runs"])
    if not (0 < c["warm"]["p50_ms"] <= c["warm"]["p95_ms"] <= c["warm"]["p99_ms"] <= c["warm"]["max_ms"]):
        problems.append("percentiles out of order")
    if sum(c["warm"]["histogram"]["bins"]) != c["runs"]: problems.append("histogram count")
    if c["cold_ms"] <= 0: problems.append("no cold time")
    if c["threads"] not in (1, 2) or c["opt"] not in ("disabled", "all"): problems.append("sweep")
    if len(c["contract"]["artifact_sha256"]) != 64: problems.append("artifact hash")
    if c["fallback"]["detected"] or c["fallback"]["providers"][0]["provider"] != "CPUExecutionProvider":
        problems.append("placement")
    if c["create_cached_ms"] <= 0: problems.append("no cached session creation time")
if len(keys) != len(cards): problems.append("duplicate cells")
seqs = {c["bucket"]["seq"] for c in cards if c["tower"] == "text" and c["contract"]["id"] == "fixture-clip"}
if seqs != {4, 8}: problems.append("clip text seq buckets %s" % seqs)
seqs = {c["bucket"]["seq"] for c in cards if c["tower"] == "text" and c["contract"]["id"] == "fixture-siglip"}
if seqs != {8}: problems.append("siglip text pads to max_length %s" % seqs)
if [v["rule"] for v in d["verdicts"]] != ["fallback", "cold/warm", "drift", "speedup", "int8"]: problems.append("verdicts")
print("; ".join(problems) or "ok")
PYEOF
)"
expect_rc ok "$check" "cards: $check"
html="$(cat "$dir/r.html")"
expect_contains "$html" 'data-kind="scatter"' "report: scatter"
expect_contains "$html" 'data-kind="threads"' "report: throughput vs threads"
expect_contains "$html" 'data-kind="histogram"' "report: histograms"
expect_contains "$(cat "$dir/h.md")" "| fixture-clip | vision | b1 | cpu | disabled | fp32 |" "markdown threads table"

# 2. verdicts decide the exit code; --from re-judges the saved cards with new limits
out="$("$CLIPDEX" bench --from "$dir/cards.json" --max-cold-warm-ratio 0.000001 "${loose[@]:2}")"; rc=$?
expect_rc 1 "$rc" "a failing verdict exits 1"
expect_contains "$out" "verdict cold/warm  FAIL" "failing verdict printed with numbers"
"$CLIPDEX" bench --from "$dir/cards.json" "${loose[@]}" --report "$dir/again.html" >/dev/null; rc=$?
expect_rc 0 "$rc" "--from with loose limits"
[ -s "$dir/again.html" ] || fail "--from --report wrote nothing"

# 3. compare: a file against itself has no regression; a planted 2x slowdown is found
out="$("$CLIPDEX" bench --compare "$dir/cards.json" "$dir/cards.json")"; rc=$?
expect_rc 0 "$rc" "compare with itself"
expect_contains "$out" "60 cells compared, 0 on one side only, 0 regressions" "self compare summary"
# (the fixture cells are microseconds long, so their own noise can be large on a busy machine:
#  pin the planted cell's noise to 1% on both sides)
"$PY" - "$dir/cards.json" "$dir/quiet.json" "$dir/slow.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["cards"][0]
c["warm"]["noise_p50"] = c["warm"]["noise_p95"] = 0.01
json.dump(d, open(sys.argv[2], "w"))
for k in ("p50_ms", "p95_ms", "p99_ms"): c["warm"][k] *= 2
json.dump(d, open(sys.argv[3], "w"))
PYEOF
out="$("$CLIPDEX" bench --compare "$dir/quiet.json" "$dir/slow.json")"; rc=$?
expect_rc 1 "$rc" "compare finds the regression"
expect_contains "$out" "REGRESSION" "regression flagged"
expect_contains "$out" "1 regression beyond noise" "one regression"

# 4. SIGINT: the run stops after the current run and still writes its outputs
"$CLIPDEX" --log-level info bench --contract "$clip" --towers vision --duration 30 --quiet --json "$dir/int.json" \
    --report "$dir/int.html" >/dev/null 2>"$dir/int.err" &
pid=$!
# interrupt once the tower is open and warm (its compile log line), a second into the steady state
for _ in $(seq 600); do grep -q "first run (compile)" "$dir/int.err" 2>/dev/null && break; sleep 0.1; done
sleep 1
kill -INT "$pid"
wait "$pid"; rc=$?
expect_rc 130 "$rc" "interrupted bench exit code"
check="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["cards"]; print("ok" if d["interrupted"] and len(c)==1 and c[0]["interrupted"] and c[0]["runs"]>0 else "bad %s" % d)' "$dir/int.json" 2>&1)"
expect_rc ok "$check" "interrupted cards: $check"
[ -s "$dir/int.html" ] || fail "interrupted run wrote no report"

# 5. --overhead: clipdex's tower against a bare ORT loop, as a ratio; the limit decides the exit code
out="$("$CLIPDEX" --log-level warn bench --overhead --contract "$clip" --batch 4 --threads 1 --duration 0.1 --rounds 2 \
      --min-overhead-ratio 0 --json "$dir/o.json")"; rc=$?
expect_rc 0 "$rc" "overhead with no limit"
expect_contains "$out" "bare ORT loop" "overhead output"
check="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("ok" if 0.2 < d["ratio"] < 5 and d["batch"] == 4 and d["threads"] == 1 else d)' "$dir/o.json")"
expect_rc ok "$check" "overhead json: $check"
"$CLIPDEX" --log-level warn bench --overhead --contract "$clip" --batch 4 --duration 0.05 --rounds 1 \
    --min-overhead-ratio 100 >/dev/null; expect_rc 1 $? "overhead under its limit exits 1"

# 6. bad input
"$CLIPDEX" bench --contract "$clip" --seq 100 >/dev/null 2>"$dir/e1"; rc=$?
expect_rc 2 "$rc" "--seq over the context"
expect_contains "$(cat "$dir/e1")" "--seq 100: fixture-clip takes sequences of 2..8 tokens" "seq message"
"$CLIPDEX" bench --contract "$clip" --opt fastest >/dev/null 2>&1; expect_rc 2 $? "unknown --opt"
"$CLIPDEX" bench --contract "$dir/nope.json" >/dev/null 2>&1; expect_rc 3 $? "missing contract"
echo '{"schema": "clipdex.bench/1", "cards": [{"tower": 1}]}' >"$dir/bad.json"
"$CLIPDEX" bench --from "$dir/bad.json" >/dev/null 2>"$dir/e2"; rc=$?
expect_rc 3 "$rc" "bad card file"
expect_contains "$(cat "$dir/e2")" "card 0: missing field contract.id" "card file message"
"$CLIPDEX" bench --contract "$clip" --providers 'coreml:units=all' --threads 2 >/dev/null 2>"$dir/e3"; rc=$?
expect_rc 2 "$rc" "threads sweep on a spec without cpu"
expect_contains "$(cat "$dir/e3")" "has no cpu entry" "no cpu entry message"
done_ok
