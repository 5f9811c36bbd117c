#!/usr/bin/env bash
# The ingest benchmark (`make bench`; docs/ingest.md). On a corpus of generated
# photo-like images (1-12 MP; JPEG q75-95, some PNG and WebP) it measures, with
# the ViT-B/32-size bench model:
#   1. clipdex ingest images/s against the bare image tower on pre-decoded
#      tensors at the same batch and threads, in the same process (before and
#      after each round: the machine's load drifts);
#   2. the Python pipeline clip-retrieval runs (tools/bench/clip_retrieval_ref.py:
#      Pillow decode + resize, PyTorch forward, same weights) on the round's
#      files, with as many decode workers and threads, right after the round;
#   3. memory: all images in one process, peak RSS so far sampled along the way
#      (--progress json): peak RSS at N/2 images against N images.
# Results: build/bench/ingest/results.json and a markdown table on stdout.
#
#   CDX_BENCH_CONTRACT  model contract (default models/bench-vit-b-32/contract.json)
#   CDX_BENCH_CORPUS    image folder (default build/bench/corpus; generated when short)
#   CDX_BENCH_IMAGES    corpus size (default 2000)
#   CDX_BENCH_ROUND     images per round (default 500); CDX_BENCH_PY_ROUND Python's share (default 100)
#   CDX_BENCH_ROUNDS    how many rounds run (default: as many as the corpus fills)
#   CDX_BENCH_BASELINE_S seconds of bare-tower timing before and after each round (default 15)
#   CDX_BENCH_ARGS      extra clipdex ingest flags (e.g. "--threads ort=2,workers=1")
#   CDX_BENCH_PHASES    which parts run (default "rounds memory"); the report reads what the
#                       output folder holds, so the parts can run in separate (shorter) sittings
#   CDX_BENCH_OUT       output folder (default build/bench/ingest)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
CLIPDEX="$BUILD/clipdex"
MK="$BUILD/tests/cdx_mkimages"
CONTRACT="${CDX_BENCH_CONTRACT:-$ROOT/models/bench-vit-b-32/contract.json}"
CORPUS="${CDX_BENCH_CORPUS:-$BUILD/bench/corpus}"
N="${CDX_BENCH_IMAGES:-2000}"
OUT="${CDX_BENCH_OUT:-$BUILD/bench/ingest}"
PHASES=" ${CDX_BENCH_PHASES:-rounds memory} "
PY=/usr/bin/python3
read -r -a EXTRA <<<"${CDX_BENCH_ARGS:-}"

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$CLIPDEX" ] || die "$CLIPDEX missing: make build first"
[ -f "$CONTRACT" ] || die "$CONTRACT missing: make bench-models (or set CDX_BENCH_CONTRACT)"
MODEL_DIR="$(dirname "$CONTRACT")"
mkdir -p "$OUT"

have="$(find "$CORPUS" -maxdepth 1 -type f 2>/dev/null | wc -l)"
if [ "$have" -lt "$N" ]; then
    echo "bench: generating $N images (1-12 MP) into $CORPUS ..." >&2
    "$MK" --out "$CORPUS" --count "$N" --mp-min 1 --mp-max 12 --png 0.05 --webp 0.05 --seed 2026 --pool 12
fi
"$PY" - "$CORPUS" "$N" >"$OUT/corpus.json" <<'EOF'
import json, os, sys
d = sys.argv[1]; files = sorted(os.listdir(d))[:int(sys.argv[2])]; size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
kinds = {}
for f in files:
    k = os.path.splitext(f)[1][1:]; kinds[k] = kinds.get(k, 0) + 1
print(json.dumps({"images": len(files), "bytes": size, "formats": kinds}))
EOF
echo "bench: corpus $(cat "$OUT/corpus.json")" >&2

# The machine is shared and its speed drifts, so the comparisons are made in rounds of
# ROUND images, each against yardsticks measured right beside it: the bare tower in the
# same process just before and after the round's ingest, and the Python pipeline on
# PY_ROUND of the round's files right after.
ROUND="${CDX_BENCH_ROUND:-500}"
PY_ROUND="${CDX_BENCH_PY_ROUND:-100}"
BASELINE_S="${CDX_BENCH_BASELINE_S:-15}"
"$PY" -c 'import os,sys; d=sys.argv[1]; print("\n".join(sorted(os.path.join(d, f) for f in os.listdir(d))[:int(sys.argv[2])]))' \
    "$CORPUS" "$N" >"$OUT/all.txt"
rm -f "$OUT"/round-??
head -n "$(( ${CDX_BENCH_ROUNDS:-1000000} * ROUND ))" "$OUT/all.txt" | split -l "$ROUND" -d -a 2 - "$OUT/round-"
if [[ "$PHASES" == *" rounds "* ]]; then
    rm -rf "$OUT/data-rounds"
    : >"$OUT/rounds.jsonl"
    for m in "$OUT"/round-??; do
        r="$(basename "$m")"
        mv "$m" "$m.txt"
        "$CLIPDEX" --log-level warn ingest --data "$OUT/data-rounds" --contract "$CONTRACT" --json --progress none \
            --tower-baseline "$BASELINE_S" "${EXTRA[@]}" "$m.txt" >"$OUT/$r.json"
        head -n "$PY_ROUND" "$m.txt" >"$m.py.txt"
        read -r workers threads batch < <("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["decode_workers"], j["ort_threads"], j["batch"])' "$OUT/$r.json")
        "$PY" "$ROOT/tools/bench/clip_retrieval_ref.py" --model "$MODEL_DIR" --batch "$batch" --workers "$workers" \
            --threads "$threads" $(cat "$m.py.txt") >"$OUT/$r.python.json"
        "$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); a["python"]=b; print(json.dumps(a))' \
            "$OUT/$r.json" "$OUT/$r.python.json" >>"$OUT/rounds.jsonl"
        echo "bench: $r: $(tail -1 "$OUT/rounds.jsonl" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print("ingest %.2f img/s, tower %.2f/%.2f, python %.2f" % (j["images_per_s"], j["tower_baseline_before"], j["tower_baseline_after"], j["python"]["images_per_s"]))')" >&2
    done
fi

# Memory: all the images in one process, peak RSS so far sampled along the way.
if [[ "$PHASES" == *" memory "* ]]; then
    rm -rf "$OUT/data-full"
    "$CLIPDEX" --log-level warn ingest --data "$OUT/data-full" --contract "$CONTRACT" --json --progress json \
        --progress-interval 5 "${EXTRA[@]}" "$OUT/all.txt" >"$OUT/full.json" 2>"$OUT/full.progress"
    rm -rf "$OUT/data-full"
fi

"$PY" - "$OUT" <<'EOF2'
import json, os, statistics, sys
out = sys.argv[1]
path = lambda n: os.path.join(out, n)
corpus = json.load(open(path("corpus.json")))
res = {"corpus": corpus}
print("corpus: %d images, %.2f GB, %s" % (corpus["images"], corpus["bytes"] / 1e9, corpus["formats"]))
if os.path.exists(path("rounds.jsonl")) and os.path.getsize(path("rounds.jsonl")):
    rounds = [json.loads(l) for l in open(path("rounds.jsonl"))]
    res["rounds"] = [{"images": r["seen"], "ingest_images_per_s": r["images_per_s"],
                      "tower_before": r["tower_baseline_before"], "tower_after": r["tower_baseline_after"],
                      "ingest_over_tower": r["ingest_over_tower"], "python_images_per_s": r["python"]["images_per_s"],
                      "python_images": r["python"]["images"],
                      "ingest_over_python": r["images_per_s"] / r["python"]["images_per_s"],
                      "busy_pct": {s["name"]: round(s["busy_pct"], 1) for s in r["stages"]},
                      "queues": {q["name"]: [round(q["mean_depth"], 1), q["max_depth"], q["capacity"]]
                                 for q in r.get("queues", [])},
                      "decode_workers": r["decode_workers"], "ort_threads": r["ort_threads"], "batch": r["batch"]}
                     for r in rounds]
    res["ingest_over_tower_median"] = statistics.median(r["ingest_over_tower"] for r in res["rounds"])
    res["ingest_over_python_median"] = statistics.median(r["ingest_over_python"] for r in res["rounds"])
    print()
    print("| round | images | ingest img/s | bare tower img/s (before, after) | ingest/tower | Python img/s (images) | ingest/Python | busy % |")
    print("|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(res["rounds"]):
        print("| %d | %d | %.2f | %.2f, %.2f | %.3f | %.2f (%d) | %.2f | %s |" % (
            i, r["images"], r["ingest_images_per_s"], r["tower_before"], r["tower_after"], r["ingest_over_tower"],
            r["python_images_per_s"], r["python_images"], r["ingest_over_python"],
            ", ".join("%s %s" % kv for kv in r["busy_pct"].items())))
    print()
    print("median ingest/tower %.3f, median ingest/Python %.2f" % (res["ingest_over_tower_median"],
                                                                   res["ingest_over_python_median"]))
    print("queues (mean, max, capacity) per round:", [r["queues"] for r in res["rounds"]])
if os.path.exists(path("full.json")) and os.path.getsize(path("full.json")):
    full = json.load(open(path("full.json")))
    prog = [json.loads(l) for l in open(path("full.progress")) if l.startswith("{") and '"progress"' in l]
    half = full["seen"] // 2
    at_half = next((p for p in prog if p["done"] >= half), None)
    res["full_run"] = {"images": full["seen"], "images_per_s": full["images_per_s"], "wall_s": full["wall_s"],
                       "peak_rss_mib": full["peak_rss_bytes"] / 2**20,
                       "peak_rss_mib_at_half": at_half and at_half["peak_rss_bytes"] / 2**20,
                       "half_done": at_half and at_half["done"],
                       "rss_mib_along": [(p["done"], round(p["rss_bytes"] / 2**20, 1),
                                          round(p["peak_rss_bytes"] / 2**20, 1)) for p in prog]}
    f = res["full_run"]
    print()
    print("memory: %d images in one run, %.2f img/s; peak RSS %.0f MiB after %s images, %.0f MiB after %d" % (
        f["images"], f["images_per_s"], f["peak_rss_mib_at_half"] or 0, f["half_done"], f["peak_rss_mib"], f["images"]))
    print("(done, RSS MiB, peak so far MiB):", f["rss_mib_along"][:: max(1, len(prog) // 10)])
json.dump(res, open(path("results.json"), "w"), indent=1)
EOF2
