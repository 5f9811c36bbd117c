#!/usr/bin/env bash
# The ingest benchmark (`make bench`; docs/ingest.md). On a corpus of generated
# photo-like images (1-12 MP; JPEG q75-95, some PNG and WebP) it measures, with
# the ViT-B/32-size bench model:
#   1. clipdex ingest images/s against the bare image tower on pre-decoded
#      tensors at the same batch and threads, in the same process (before and
#      after the job: the machine's load drifts);
#   2. peak RSS: a short run against the full run, and RSS along the run
#      (from --progress json);
#   3. the Python pipeline clip-retrieval runs (tools/bench/clip_retrieval_ref.py:
#      Pillow decode + resize, PyTorch forward, same weights) on the same files,
#      with as many decode workers and threads.
# Results: build/bench/ingest/results.json and a markdown table on stdout.
#
#   CDX_BENCH_CONTRACT  model contract (default models/bench-vit-b-32/contract.json)
#   CDX_BENCH_CORPUS    image folder (default build/bench/corpus; generated when short)
#   CDX_BENCH_IMAGES    corpus size (default 2000)
#   CDX_BENCH_PY_LIMIT  images the Python pipeline runs on (default 400; it is a rate)
#   CDX_BENCH_ARGS      extra clipdex ingest flags (e.g. "--threads ort=2,workers=1")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
CLIPDEX="$BUILD/clipdex"
MK="$BUILD/tests/cdx_mkimages"
CONTRACT="${CDX_BENCH_CONTRACT:-$ROOT/models/bench-vit-b-32/contract.json}"
CORPUS="${CDX_BENCH_CORPUS:-$BUILD/bench/corpus}"
N="${CDX_BENCH_IMAGES:-2000}"
PY_LIMIT="${CDX_BENCH_PY_LIMIT:-400}"
OUT="$BUILD/bench/ingest"
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
"$PY" - "$CORPUS" >"$OUT/corpus.json" <<'EOF'
import json, os, sys
d = sys.argv[1]; files = sorted(os.listdir(d)); size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
kinds = {}
for f in files:
    k = os.path.splitext(f)[1][1:]; kinds[k] = kinds.get(k, 0) + 1
print(json.dumps({"images": len(files), "bytes": size, "formats": kinds}))
EOF
echo "bench: corpus $(cat "$OUT/corpus.json")" >&2

run_ingest() { # run_ingest NAME ARGS...
    local name="$1"; shift
    rm -rf "$OUT/data-$name"
    "$CLIPDEX" --log-level warn ingest --data "$OUT/data-$name" --contract "$CONTRACT" --json --progress json \
        --progress-interval 2 "${EXTRA[@]}" "$@" >"$OUT/$name.json" 2>"$OUT/$name.progress"
}

# 1 + 2: the full corpus with the tower baseline before and after; a short run for RSS.
run_ingest full --tower-baseline 20 "$CORPUS"
run_ingest short --limit 200 "$CORPUS"

# 3: the Python pipeline with the decode workers and threads ingest ended with.
workers="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["decode_workers"])' "$OUT/full.json")"
threads="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ort_threads"])' "$OUT/full.json")"
batch="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["batch"])' "$OUT/full.json")"
"$PY" "$ROOT/tools/bench/clip_retrieval_ref.py" --model "$MODEL_DIR" --batch "$batch" --workers "$workers" \
    --threads "$threads" --limit "$PY_LIMIT" "$CORPUS" >"$OUT/python.json"

"$PY" - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
load = lambda n: json.load(open(os.path.join(out, n)))
full, short, py, corpus = load("full.json"), load("short.json"), load("python.json"), load("corpus.json")
rss = []
for line in open(os.path.join(out, "full.progress")):
    if line.startswith("{") and '"progress"' in line:
        p = json.loads(line); rss.append((p["done"], p["rss_bytes"]))
base = (full["tower_baseline_before"] + full["tower_baseline_after"]) / 2
res = {
    "corpus": corpus,
    "ingest_images_per_s": full["images_per_s"],
    "tower_baseline_images_per_s": [full["tower_baseline_before"], full["tower_baseline_after"]],
    "ingest_over_tower": full["images_per_s"] / base,
    "python_images_per_s": py["images_per_s"],
    "ingest_over_python": full["images_per_s"] / py["images_per_s"],
    "peak_rss_mib": {"200 images": short["peak_rss_bytes"] / 2**20, "%d images" % full["seen"]: full["peak_rss_bytes"] / 2**20},
    "rss_mib_along_run": [(d, round(r / 2**20, 1)) for d, r in rss[:: max(1, len(rss) // 8)]],
    "settings": {"batch": full["batch"], "decode_workers": full["decode_workers"], "ort_threads": full["ort_threads"],
                 "python": {k: py[k] for k in ("batch", "workers", "threads", "images", "torch")}},
    "ingest_summary": full,
}
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=1)
print("| measure | value |\n|---|---|")
print("| corpus | %d images, %.2f GB (%s) |" % (corpus["images"], corpus["bytes"] / 1e9, corpus["formats"]))
print("| clipdex ingest | %.2f images/s (%d embedded, wall %.1f s) |" % (full["images_per_s"], full["outcomes"]["embedded"], full["wall_s"]))
print("| bare image tower, pre-decoded, same batch/threads | %.2f before, %.2f after images/s |" % tuple(res["tower_baseline_images_per_s"]))
print("| ingest / tower | %.3f |" % res["ingest_over_tower"])
print("| Python (Pillow + PyTorch, clip-retrieval style) | %.2f images/s on %d images |" % (py["images_per_s"], py["images"]))
print("| ingest / Python | %.2f |" % res["ingest_over_python"])
print("| peak RSS | %s |" % ", ".join("%s: %.0f MiB" % kv for kv in res["peak_rss_mib"].items()))
print("| RSS along the run (done, MiB) | %s |" % res["rss_mib_along_run"])
print("| busy %% | %s |" % ", ".join("%s %.0f%%" % (s["name"], s["busy_pct"]) for s in full["stages"]))
print("| settings | batch %d, decode workers %d, ORT threads %d |" % (full["batch"], full["decode_workers"], full["ort_threads"]))
EOF
