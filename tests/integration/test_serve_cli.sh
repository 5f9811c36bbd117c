#!/usr/bin/env bash
# clipdex serve end to end on the reference model (models/tiny-clip, the
# embedded default contract) over the sample catalog (samples/shapes):
# readiness, info and metrics; search by text (the right colour comes back),
# image (finds itself), vector (the same as the text it came from), item id
# (more like this, without itself), filters; rerank; embed; item reads and
# thumbnails; uploads through ingest (token, searchable afterwards, a bad
# image is a 422 with its reason and a dead letter); SIGINT stops it cleanly
# (exit 0, the index checkpointed and verified).
# ctest-timeout: 300
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
serve_need_reference_model
T="$(cdx_scratch serve-cli)"
D="$T/data"
SAMPLES="$CDX_SOURCE_DIR/samples/shapes"
serve_ingest_samples "$D"
N="$(grep -c . "$SAMPLES/manifest.jsonl")"
# One catalog image to query with: the manifest's 42nd.
QIMG="$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[41])["uri"])' "$SAMPLES/manifest.jsonl")"
echo "test-token-$$-$RANDOM" >"$T/token"
chmod 600 "$T/token"
AUTH="Authorization: Bearer $(cat "$T/token")"
serve_start "$T" "$D" --token-file "$T/token"
expect_contains "$(cat "$T/serve.out")" "curl -s http://127.0.0.1:$SERVE_PORT/v1/search" "serve prints a curl example"

# 1. Service routes.
api GET /healthz >/dev/null; [ "$(status)" = 200 ] || fail "healthz: $(status)"
api GET /v1/info >/dev/null
DIM="$(py "j['index']['dim']")"
[ "$(py "j['contract']['id'] + ' ' + str(j['index']['items']) + ' ' + str(j['index']['dim'] > 0)")" = "tiny-clip $N True" ] ||
    fail "info: $(cat "$T/body" | head -c 400)"
api GET /metrics >/dev/null
expect_contains "$(cat "$T/body")" $'\n'"cdx_catalog_items $N"$'\n' "metrics: catalog items"

# 2. Search by text: the reference model gets the colour right (the shape is
#    model quality, measured by the models' own tests).
api POST /v1/search '{"text": "a red circle", "k": 5}' >/dev/null
[ "$(status)" = 200 ] || fail "text search: $(status) $(cat "$T/body")"
[ "$(py "[r['metadata']['colour'] for r in j['results']]")" = "['red', 'red', 'red', 'red', 'red']" ] ||
    fail "a red circle: not all red: $(py "[(r['metadata']['colour'], r['metadata']['shape']) for r in j['results']]")"
[ "$(py "sorted(j['timings_ms'].keys())")" = "['encode', 'fetch', 'queue', 'search', 'total']" ] ||
    fail "timings: $(py "j['timings_ms']")"
text_ids="$(py "[r['id'] for r in j['results']]")"
first_id="$(py "j['results'][0]['id']")"

# 3. Search by image: a catalog image finds itself first, cosine 1.
b64="$(base64 -w0 "$SAMPLES/$QIMG")"
api POST /v1/search "{\"image\": \"$b64\", \"k\": 3}" >/dev/null
[ "$(py "j['results'][0]['uri'].endswith('$QIMG') and abs(j['results'][0]['score'] - 1) < 1e-3")" = True ] ||
    fail "image search: $(head -c 400 "$T/body")"

# 4. Embed a text, search by that vector: the same results as the text.
api POST /v1/embed '{"texts": ["a red circle"]}' >/dev/null
[ "$(status)" = 200 ] || fail "embed: $(status)"
[ "$(py "j['dim'] == $DIM and abs(sum(x * x for x in j['vectors'][0]['vector']) - 1) < 1e-4")" = True ] || fail "embed: not unit vectors"
vec="$(py "json.dumps(j['vectors'][0]['vector'])")"
api POST /v1/search "{\"vector\": $vec, \"k\": 5}" >/dev/null
[ "$(py "[r['id'] for r in j['results']]")" = "$text_ids" ] || fail "vector search differs from text: $(cat "$T/body" | head -c 300)"

# 5. More like this: never the item itself; a filter holds for every hit.
api POST /v1/search "{\"item_id\": $first_id, \"k\": 5}" >/dev/null
[ "$(py "len(j['results']) == 5 and all(r['id'] != $first_id for r in j['results'])")" = True ] ||
    fail "more like this: $(head -c 300 "$T/body")"
api POST /v1/search '{"text": "a red circle", "k": 10, "filter": {"shape": "ring"}}' >/dev/null
[ "$(py "len(j['results']) > 0 and all(r['metadata']['shape'] == 'ring' for r in j['results'])")" = True ] ||
    fail "filter: $(head -c 300 "$T/body")"
api POST /v1/search '{"text": "a red circle", "k": 100000}' >/dev/null
[ "$(status) $(py "j['error']['code']")" = "400 k_out_of_range" ] || fail "k out of range: $(status)"

# 6. Rerank: a red item above a blue one for "a red circle", probabilities summing to 1 (CLIP softmax).
blue_id="$("$PY" -c 'import json,sys
for n, l in enumerate(open(sys.argv[1]), 1):
    if json.loads(l)["colour"] == "blue": print(n); break' "$SAMPLES/manifest.jsonl")"
api POST /v1/rerank "{\"text\": \"a red circle\", \"candidates\": {\"ids\": [$blue_id, $first_id]}}" >/dev/null
[ "$(py "j['results'][0]['id'] == $first_id and abs(sum(r['probability'] for r in j['results']) - 1) < 1e-4")" = True ] ||
    fail "rerank: $(cat "$T/body")"

# 7. Items and thumbnails.
api GET "/v1/items/$first_id" >/dev/null
[ "$(status) $(py "'caption' in j and j['metadata']['colour']")" = "200 red" ] || fail "item: $(cat "$T/body")"
curl -s -o "$T/thumb.jpg" -w '%{http_code} %{content_type}' "http://127.0.0.1:$SERVE_PORT/v1/items/$first_id/thumbnail" >"$T/status"
[ "$(status)" = "200 image/jpeg" ] || fail "thumbnail: $(status)"
[ "$(head -c 2 "$T/thumb.jpg" | od -An -tx1 | tr -d ' ')" = ffd8 ] || fail "thumbnail is not a JPEG"
api GET /v1/items/999999 >/dev/null; [ "$(status)" = 404 ] || fail "unknown item: $(status)"

# 8. Uploads: the token is required; the new image is searchable afterwards.
"$CDX_MKIMAGES" --out "$T/new" --count 1 --seed 77 --mp-min 0.01 --mp-max 0.02 >/dev/null || fail "mkimages"
newimg="$(ls "$T"/new/*.jpg | head -1)"
up="{\"image\": \"$(base64 -w0 "$newimg")\", \"caption\": \"an uploaded photo\", \"metadata\": {\"shape\": \"upload\"}}"
api POST /v1/items "$up" >/dev/null; [ "$(status)" = 401 ] || fail "upload without the token: $(status)"
api POST /v1/items "$up" -H "$AUTH" >/dev/null
[ "$(status)" = 201 ] || fail "upload: $(status) $(cat "$T/body")"
new_id="$(py "j['id']")"
api POST /v1/search "{\"image\": \"$(base64 -w0 "$newimg")\", \"k\": 1}" >/dev/null
[ "$(py "j['results'][0]['id'] == $new_id and j['results'][0]['caption'] == 'an uploaded photo'")" = True ] ||
    fail "the upload is not searchable: $(cat "$T/body" | head -c 300)"
api POST /v1/items '{"image": "bm90IGFuIGltYWdlIGF0IGFsbA=="}' -H "$AUTH" >/dev/null
[ "$(status) $(py "j['error']['code']")" = "422 image_decode_failed" ] || fail "bad upload: $(status) $(cat "$T/body")"
[ "$(py "len(j['error']['message']) > 10")" = True ] || fail "bad upload has no reason"
"$CLIPDEX" failures list --data "$D" --json >"$T/body" 2>/dev/null
[ "$(py "[(f['stage'], f['uri'].startswith('upload:')) for f in j['failures']]")" = "[('decode', True)]" ] ||
    fail "the bad upload left no dead letter: $(cat "$T/body")"

# 9. Ctrl-C: a clean stop (exit 0), the index checkpointed, the upload kept.
kill -INT "$SERVE_PID"
for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SERVE_PID"; rc=$?
SERVE_PID=
expect_rc 0 "$rc" "serve after SIGINT"
expect_contains "$(cat "$T/serve.out")" "stopped; $D closed" "clean-stop line"
"$CLIPDEX" index verify --data "$D" >"$T/verify.txt" 2>&1; expect_rc 0 $? "index verify after the stop: $(cat "$T/verify.txt")"
"$CLIPDEX" index info --data "$D" --json >"$T/body" 2>/dev/null
[ "$(py "'%d %d' % (j['items'], j['spaces']['image']['indexed'])")" = "$((N + 1)) $((N + 1))" ] || fail "after restart: $(cat "$T/body" | head -c 300)"
done_ok
