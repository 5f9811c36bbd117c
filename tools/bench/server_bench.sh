#!/usr/bin/env bash
# The server benchmark (issue 7; docs/server.md "Benchmark"): clipdex serve
# with the reference model over a catalog of ITEMS items (the sample catalog
# ingested for real, the rest synthetic unit vectors written straight into
# the store by cdx_synth_store), driven by cdx_loadgen:
#
#   1. /healthz throughput (closed loop; wrk too when installed)
#   2. capacity of POST /v1/search with text queries: the highest open-loop
#      rate at which >= 99% are answered 200 and their p99 is within the
#      default deadline. The steps bracket the saturation goodput (completions
#      within the deadline per second of an open-loop run at 1.5x a closed-loop
#      estimate: what the server sustains, which a 4-connection closed loop
#      over- or underestimates by 20-30% on a shared machine), 0.8x to 1.1x of
#      it, stopping at the first step that fails
#   3. open loop at 2x and 10x capacity: max queue depth vs its bound (from
#      /metrics), refusal latency, completions within the deadline per second,
#      admitted p99, the server's RSS sampled every second
#   4. a batch flood saturating /v1/embed (closed loop, 32 images a request)
#      while interactive searches run at half capacity: their p99 vs the same
#      load without the flood, in the same run
#
# Every number is measured inside this one run; on a shared machine only the
# ratios within it mean much. Writes OUT/summary.json, OUT/summary.md and the
# raw loadgen outputs, and prints the summary. Exit 0 when it ran (a missed
# target is reported, not an error); non-zero when it could not run.
#
#   tools/bench/server_bench.sh [--build DIR] [--items N] [--out DIR] [--duration S] [--contract C]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
ITEMS=100000
DUR=15
OUT=
CONTRACT=$ROOT/contracts/tiny-clip.json   # the embedded default
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --items) ITEMS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --contract) CONTRACT=$2; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "server_bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$BUILD/bench-server}
CLIPDEX=$BUILD/clipdex
SYNTH=$BUILD/tools/bench/cdx_synth_store
LOADGEN=$BUILD/tools/bench/cdx_loadgen
SAMPLES=$ROOT/samples/shapes
for f in "$CLIPDEX" "$SYNTH" "$LOADGEN"; do
    [ -x "$f" ] || { echo "server_bench: $f is missing: run make build first" >&2; exit 2; }
done
CARGS=()
[ -n "$CONTRACT" ] && CARGS=(--contract "$CONTRACT")
mkdir -p "$OUT"
DATA=$OUT/data-$ITEMS
log() { echo "server_bench: $*" >&2; }

# ---- the catalog ---------------------------------------------------------------
if [ ! -f "$DATA/.complete" ]; then
    rm -rf "$DATA"
    log "ingesting the sample catalog into $DATA"
    "$CLIPDEX" --log-level warn ingest "${CARGS[@]}" --data "$DATA" --progress none "$SAMPLES/manifest.jsonl" >/dev/null
    n_real=$(grep -c . "$SAMPLES/manifest.jsonl")
    log "adding $((ITEMS - n_real)) synthetic items"
    "$SYNTH" "${CARGS[@]}" --data "$DATA" --items $((ITEMS - n_real)) >"$OUT/synth.json"
    touch "$DATA/.complete"
fi

# ---- request bodies ---------------------------------------------------------------
python3 - "$SAMPLES" "$OUT" <<'EOF'
import base64, json, os, sys
samples, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(samples, "manifest.jsonl")) if l.strip()]
with open(os.path.join(out, "search.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps({"text": r["caption"], "k": 10}) + "\n")
imgs = [base64.b64encode(open(os.path.join(samples, r["uri"]), "rb").read()).decode() for r in rows]
with open(os.path.join(out, "embed.jsonl"), "w") as f:
    for i in range(0, len(imgs) - 32, 32):
        f.write(json.dumps({"images": imgs[i:i + 32]}) + "\n")
EOF

# ---- the server -----------------------------------------------------------------------
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; true; }
trap cleanup EXIT INT TERM
"$CLIPDEX" --log-level warn serve "${CARGS[@]}" --data "$DATA" --listen 127.0.0.1:0 >"$OUT/serve.out" 2>"$OUT/serve.err" &
SERVER_PID=$!
PORT=
for _ in $(seq 600); do
    PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$OUT/serve.out" | head -1)
    [ -n "$PORT" ] && curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/serve.err" >&2; exit 4; }
    sleep 0.1
done
[ -n "$PORT" ] || { log "the server did not become ready"; exit 4; }
T=127.0.0.1:$PORT
DEADLINE=$(curl -sf "http://$T/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["limits"]["interactive_deadline_ms"])' 2>/dev/null || echo 1000)
log "serving $ITEMS items on $T (pid $SERVER_PID, deadline $DEADLINE ms)"

metric() { # metric NAME{labels} -> value
    curl -sf "http://$T/metrics" | awk -v k="$1" 'index($0, k" ") == 1 { print $2 }'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }
# run NAME ARGS...: a loadgen run, its JSON in OUT/NAME.json, the server's RSS every second in OUT/NAME.rss
run() {
    local name=$1
    shift
    "$LOADGEN" --target "$T" --deadline-ms "$DEADLINE" "$@" >"$OUT/$name.json" &
    local lg=$!
    : >"$OUT/$name.rss"
    while kill -0 $lg 2>/dev/null; do
        rss_kb >>"$OUT/$name.rss"
        sleep 1
    done
    wait $lg
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$OUT/$1.json" "$2"; }

# 1. /healthz
log "healthz: closed loop, 64 connections"
run healthz --path /healthz --connections 64 --duration 6 --warmup 1
HEALTHZ_WRK=
if command -v wrk >/dev/null; then
    HEALTHZ_WRK=$(wrk -t1 -c64 -d5s "http://$T/healthz" | awk '/Requests\/sec/ { print $2 }')
fi

# 2. capacity
log "search: closed loop, 4 connections (capacity estimate)"
run search_closed --path /v1/search --bodies "$OUT/search.jsonl" --connections 4 --duration "$DUR" --warmup 2
EST=$(field search_closed 'ok_per_s')
R=$(python3 -c "print(round($EST * 1.5, 1))")
log "search: open loop at $R/s (1.5 x the closed-loop estimate: saturation goodput)"
run search_sat --path /v1/search --bodies "$OUT/search.jsonl" --rate "$R" --duration "$DUR" --warmup 2
SAT=$(field search_sat 'ok_within_deadline_per_s')
CAP=0
STEPS=()
for f in 0.8 0.9 0.95 1.0 1.05 1.1; do
    R=$(python3 -c "print(round($SAT * $f, 1))")
    log "search: open loop at $R/s ($f x the saturation goodput)"
    STEPS+=("$f")
    run "search_open_$f" --path /v1/search --bodies "$OUT/search.jsonl" --rate "$R" --duration "$DUR" --warmup 2
    ok=$(python3 - "$OUT/search_open_$f.json" "$DEADLINE" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = d["in_window"] or 1
good = d["status"].get("200", 0) / n >= 0.99 and d["latency_ms"]["ok_from_schedule"]["p99"] <= float(sys.argv[2])
print(1 if good else 0)
EOF
)
    # Capacity: the last rate before the first that fails (noise above it does not count).
    [ "$ok" = 1 ] || break
    CAP=$R
done
[ "$CAP" = 0 ] && CAP=$(python3 -c "print(round($SAT * 0.8, 1))")
log "capacity: $CAP/s"

# 3. overload
for m in 2 10; do
    R=$(python3 -c "print(round($CAP * $m, 1))")
    log "search: open loop at ${m}x capacity ($R/s)"
    run "overload_$m" --path /v1/search --bodies "$OUT/search.jsonl" --rate "$R" --duration "$DUR" --warmup 2 \
        --max-connections 1000
done
MAXDEPTH=$(metric 'cdx_queue_max_depth{queue="interactive"}')
QCAP=$(metric 'cdx_queue_capacity{queue="interactive"}')

# 4. batch flood
HALF=$(python3 -c "print(round($CAP * 0.5, 1))")
log "interactive at $HALF/s without, then with, a batch flood on /v1/embed"
run flood_idle --path /v1/search --bodies "$OUT/search.jsonl" --rate "$HALF" --duration "$DUR" --warmup 2
B0=$(metric 'cdx_encoder_busy_seconds_total{class="batch"}')
"$LOADGEN" --target "$T" --path /v1/embed --bodies "$OUT/embed.jsonl" --connections 4 --duration $((DUR + 6)) \
    --warmup 1 --deadline-ms 30000 >"$OUT/flood_batch.json" &
FLOOD=$!
sleep 2
W0=$(date +%s.%N)
run flood_busy --path /v1/search --bodies "$OUT/search.jsonl" --rate "$HALF" --duration "$DUR" --warmup 2
W1=$(date +%s.%N)
B1=$(metric 'cdx_encoder_busy_seconds_total{class="batch"}')
wait $FLOOD

# ---- summary ----------------------------------------------------------------------
python3 - "$OUT" "$ITEMS" "$DEADLINE" "$CAP" "$EST" "$MAXDEPTH" "$QCAP" "${HEALTHZ_WRK:-}" "$B0" "$B1" "$W0" "$W1" \
    "$(curl -sf "http://$T/v1/info")" "$SAT" "${STEPS[*]}" <<'EOF'
import json, os, sys
out, items, deadline, cap, est, maxdepth, qcap, hz_wrk, b0, b1, w0, w1, info, sat, steps = sys.argv[1:]
deadline, cap, est, sat = float(deadline), float(cap), float(est), float(sat)
L = lambda n: json.load(open(os.path.join(out, n + ".json")))
def rss(n):
    v = [int(x) for x in open(os.path.join(out, n + ".rss")).read().split()]
    return v
info = json.loads(info)
hz, sc = L("healthz"), L("search_closed")
s = {"items": int(items), "deadline_ms": deadline, "index": info.get("index", {}),
     "healthz_req_s": hz["ok_per_s"], "healthz_req_s_wrk": float(hz_wrk) if hz_wrk else None,
     "search_closed_4": {"req_s": sc["ok_per_s"], "p50_ms": sc["latency_ms"]["ok_from_send"]["p50"],
                         "p99_ms": sc["latency_ms"]["ok_from_send"]["p99"]},
     "saturation_goodput_req_s": sat, "capacity_req_s": cap, "capacity_steps": [], "overload": {}, "flood": {}}
for f in steps.split():
    d = L("search_open_" + f)
    s["capacity_steps"].append({"rate": d["rate"], "ok_share": d["status"].get("200", 0) / max(1, d["in_window"]),
                                "p99_ms": d["latency_ms"]["ok_from_schedule"]["p99"]})
for m in ("2", "10"):
    d, r = L("overload_" + m), rss("overload_" + m)
    lat = d["latency_ms"]
    s["overload"][m + "x"] = {
        "rate": d["rate"], "answered": d["in_window"], "status": d["status"],
        "ok_within_deadline_per_s": d["ok_within_deadline_per_s"],
        "ok_within_deadline_vs_capacity": d["ok_within_deadline_per_s"] / cap,
        "admitted_p99_ms": lat["ok_from_schedule"]["p99"], "admitted_p99_from_send_ms": lat["ok_from_send"]["p99"],
        "refused_p99_ms": lat["refused_from_send"]["p99"], "refused_max_ms": lat["refused_from_send"]["max"],
        "refused_p99_from_schedule_ms": lat["refused_from_schedule"]["p99"],
        "send_lag_p99_ms": lat["send_lag"]["p99"], "errors": d["errors"], "unanswered": d["unanswered"],
        "rss_kb_first": r[1] if len(r) > 1 else None, "rss_kb_last": r[-1] if r else None,
        "rss_kb_max": max(r) if r else None}
s["queue"] = {"max_depth": float(maxdepth), "capacity": float(qcap)}
fi, fb, fl = L("flood_idle"), L("flood_busy"), L("flood_batch")
busy_share = (float(b1) - float(b0)) / (float(w1) - float(w0)) if float(w1) > float(w0) else 0
s["flood"] = {"interactive_rate": fi["rate"], "idle_p99_ms": fi["latency_ms"]["ok_from_schedule"]["p99"],
              "flood_p99_ms": fb["latency_ms"]["ok_from_schedule"]["p99"],
              "idle_p50_ms": fi["latency_ms"]["ok_from_schedule"]["p50"],
              "flood_p50_ms": fb["latency_ms"]["ok_from_schedule"]["p50"],
              "flood_ok_share": fb["status"].get("200", 0) / max(1, fb["in_window"]),
              "embed_req_s": fl["ok_per_s"], "embed_images_s": fl["ok_per_s"] * 32,
              "embed_status": fl["status"], "encoder_batch_busy_share": busy_share}
s["flood"]["p99_ratio"] = s["flood"]["flood_p99_ms"] / max(1e-9, s["flood"]["idle_p99_ms"])
o2, o10 = s["overload"]["2x"], s["overload"]["10x"]
checks = [
    ("/healthz >= 20k req/s", s["healthz_req_s"] >= 20000, "%.0f req/s" % s["healthz_req_s"]),
    ("queue depth never above its bound", s["queue"]["max_depth"] <= s["queue"]["capacity"],
     "max %d of %d" % (s["queue"]["max_depth"], s["queue"]["capacity"])),
]
for m, o in (("2x", o2), ("10x", o10)):
    checks += [
        (m + ": refusals answered < 10 ms (p99)", o["refused_p99_ms"] < 10, "p99 %.2f ms, max %.2f ms" % (o["refused_p99_ms"], o["refused_max_ms"])),
        (m + ": completions within deadline >= 90% of capacity", o["ok_within_deadline_vs_capacity"] >= 0.9,
         "%.1f/s = %.0f%%" % (o["ok_within_deadline_per_s"], 100 * o["ok_within_deadline_vs_capacity"])),
        (m + ": admitted p99 within the deadline", o["admitted_p99_ms"] <= deadline, "%.1f ms" % o["admitted_p99_ms"]),
        (m + ": RSS flat (last/first <= 1.1)", o["rss_kb_first"] and o["rss_kb_last"] / o["rss_kb_first"] <= 1.1,
         "%s -> %s KiB (max %s)" % (o["rss_kb_first"], o["rss_kb_last"], o["rss_kb_max"])),
    ]
checks.append(("batch flood: interactive p99 <= 2x idle p99", s["flood"]["p99_ratio"] <= 2,
               "%.1f ms vs %.1f ms idle (x%.2f); encoder busy with batch %.0f%% of the time" %
               (s["flood"]["flood_p99_ms"], s["flood"]["idle_p99_ms"], s["flood"]["p99_ratio"], 100 * busy_share)))
s["checks"] = [{"check": c, "pass": bool(p), "measured": m} for c, p, m in checks]
json.dump(s, open(os.path.join(out, "summary.json"), "w"), indent=1)
lines = ["| check | result | measured |", "|---|---|---|"]
lines += ["| %s | %s | %s |" % (c, "pass" if p else "**MISS**", m) for c, p, m in checks]
lines += ["", "capacity %.1f req/s (saturation goodput %.1f req/s; closed loop, 4 connections: %.1f req/s, p50 %.1f ms, "
          "p99 %.1f ms); /healthz %.0f req/s%s" % (cap, sat, s["search_closed_4"]["req_s"], s["search_closed_4"]["p50_ms"],
                                     s["search_closed_4"]["p99_ms"], s["healthz_req_s"],
                                     " (wrk: %.0f)" % s["healthz_req_s_wrk"] if s["healthz_req_s_wrk"] else "")]
lines += ["capacity steps: " + ", ".join("%.1f/s: %.1f%% ok, p99 %.1f ms" % (x["rate"], 100 * x["ok_share"], x["p99_ms"])
                                        for x in s["capacity_steps"])]
for m, o in (("2x", o2), ("10x", o10)):
    lines.append("%s (%.1f req/s offered): %s; admitted p99 %.1f ms from schedule (%.1f from send); send lag p99 %.2f ms"
                 % (m, o["rate"], json.dumps(o["status"]), o["admitted_p99_ms"], o["admitted_p99_from_send_ms"],
                    o["send_lag_p99_ms"]))
lines.append("flood: embed %.1f req/s (%.0f images/s), interactive at %.1f/s: p50 %.1f -> %.1f ms, p99 %.1f -> %.1f ms"
             % (s["flood"]["embed_req_s"], s["flood"]["embed_images_s"], s["flood"]["interactive_rate"],
                s["flood"]["idle_p50_ms"], s["flood"]["flood_p50_ms"], s["flood"]["idle_p99_ms"], s["flood"]["flood_p99_ms"]))
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
