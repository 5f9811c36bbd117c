#!/usr/bin/env bash
# End to end with the shipped reference model (the embedded default contract):
# the sample catalog samples/shapes (images the model never saw in training,
# with captions) is ingested with --captions; searching each caption finds its
# own image in the top 10 for at least 90% of the queries; an image query over
# the caption space finds its own caption in the top 10 for most images.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ingest_lib.sh"
M="$CDX_SOURCE_DIR/samples/shapes/manifest.jsonl"
if [ ! -f "$CDX_SOURCE_DIR/contracts/tiny-clip.json" ] || [ ! -f "$M" ]; then
    echo "SKIP: contracts/tiny-clip.json or samples/shapes not in this tree yet" >&2
    exit 77
fi
T="$(cdx_scratch ingest-e2e)"
D="$T/data"

"$CLIPDEX" ingest --data "$D" --captions --progress none --json "$M" >"$T/out.json" 2>"$T/err.txt"
expect_rc 0 $? "ingest samples/shapes: $(tail -2 "$T/err.txt")"
n="$(wc -l <"$M")"
got="$(json_get "$T/out.json" "'%d %d %d' % (j['outcomes']['embedded'] + j['outcomes']['reused'], j['captions'], j['outcomes']['failed'])")"
[ "$got" = "$n $n 0" ] || fail "ingest: (images, captions, failed) = $got, expected $n $n 0"

# Text -> image: every caption as a query, one process.
"$PY" -c 'import json,sys; [print(json.loads(l)["caption"]) for l in open(sys.argv[1])]' "$M" \
    | "$CLIPDEX" search --data "$D" --stdin -k 10 --json >"$T/hits.jsonl" 2>"$T/err.txt"
expect_rc 0 $? "search --stdin"
rate="$("$PY" - "$M" "$T/hits.jsonl" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hits = [json.loads(l) for l in open(sys.argv[2])]
base = os.path.dirname(os.path.abspath(sys.argv[1]))
found = sum(1 for r, h in zip(rows, hits)
            if os.path.normpath(os.path.join(base, r["uri"])) in [x.get("uri") for x in h["results"]])
print("%.4f" % (found / len(rows)) if len(rows) == len(hits) else "count mismatch %d %d" % (len(rows), len(hits)))
EOF
)"
echo "text -> image: own image in the top 10 for $rate of $n captions" >&2
"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.90 else 1)' "$rate" 2>/dev/null \
    || fail "text -> image recall@10 = $rate, expected >= 0.90"

# Image -> caption: a sample of images against the caption space.
found=0 total=0
for img in $(ls "$CDX_SOURCE_DIR"/samples/shapes/images/* | awk 'NR % 15 == 1'); do
    total=$((total + 1))
    "$CLIPDEX" search --data "$D" --image "$img" --space caption -k 10 --json >"$T/h.json" 2>/dev/null || continue
    json_get "$T/h.json" "'$img' in [x.get('uri') for x in j['results']]" | grep -q True && found=$((found + 1))
done
echo "image -> caption: own caption in the top 10 for $found of $total images" >&2
[ "$((found * 2))" -ge "$total" ] || fail "image -> caption recall@10 = $found/$total, expected at least half"
done_ok
