#!/usr/bin/env bash
# The search page of `clipdex serve` in headless Chromium (tests/browser/check_page.mjs)
# on the reference model and the sample catalog: typing "a red circle" shows
# thumbnails that all load, with scores best first, and the first five are red
# items; clicking one runs "more like this" (never that item itself); the
# upload form shows with a token; no console error, exception or failed load.
# Skipped (77) without node and chromium (tools/bootstrap --browser) or the model.
# ctest-labels: integration;browser
# ctest-timeout: 300
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
serve_need_reference_model
if ! command -v node >/dev/null || ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
    echo "skip: needs node and chromium (tools/bootstrap --browser)"
    exit 77
fi
T="$(cdx_scratch serve-browser)"
D="$T/data"
serve_ingest_samples "$D"
echo "browser-token-$$-$RANDOM" >"$T/token"
chmod 600 "$T/token"
serve_start "$T" "$D" --token-file "$T/token"

cat >"$T/check.js" <<'JS'
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (f) => { for (let i = 0; i < 200 && !f(); i++) await sleep(50); return f(); };
  await until(() => !document.getElementById('upload').hidden);
  document.getElementById('q').value = 'a red circle';
  document.getElementById('search-form').requestSubmit();
  await until(() => document.querySelectorAll('.card').length > 0);
  const imgs = [...document.querySelectorAll('.card img')];
  await until(() => imgs.every((i) => i.complete));
  const first = { ids: [...document.querySelectorAll('.card')].map((c) => +c.dataset.id),
    loaded: imgs.filter((i) => i.naturalWidth > 0).length, shown: imgs.length,
    scores: [...document.querySelectorAll('.card .score')].map((s) => +s.textContent) };
  imgs[0].click();
  await until(() => document.getElementById('status').textContent.includes('more like item'));
  await until(() => !document.getElementById('status').textContent.startsWith('searching'));
  return { first, more: [...document.querySelectorAll('.card')].map((c) => +c.dataset.id),
    upload: !document.getElementById('upload').hidden };
})()
JS
node --experimental-websocket "$CDX_SOURCE_DIR/tests/browser/check_page.mjs" "http://127.0.0.1:$SERVE_PORT/" \
    --expr "$(cat "$T/check.js")" --timeout-ms 90000 >"$T/page.json" 2>"$T/page.err"
expect_rc 0 $? "check_page: $(tail -5 "$T/page.err") $(head -c 600 "$T/page.json")"
"$PY" - "$T/page.json" "$SERVE_PORT" >"$T/verdict.txt" 2>&1 <<'EOF'
import json, sys, urllib.request
page = json.load(open(sys.argv[1]))
r, port = page["result"], sys.argv[2]
problems = []
if page["errors"]:
    problems.append("console/page errors: %s" % page["errors"])
first = r["first"]
if not first["ids"] or first["loaded"] != first["shown"]:
    problems.append("thumbnails: %d of %d loaded" % (first["loaded"], first["shown"]))
if first["scores"] != sorted(first["scores"], reverse=True):
    problems.append("scores not best first: %s" % first["scores"])
colours = []
for i in first["ids"][:5]:
    item = json.load(urllib.request.urlopen("http://127.0.0.1:%s/v1/items/%d" % (port, i)))
    colours.append(item["metadata"]["colour"])
if colours != ["red"] * 5:
    problems.append("'a red circle' showed colours %s first" % colours)
if not r["more"] or first["ids"][0] in r["more"]:
    problems.append("more like this: %s" % r["more"])
if not r["upload"]:
    problems.append("no upload form although the server has a token")
print("\n".join(problems) if problems else "ok")
EOF
[ "$(cat "$T/verdict.txt")" = ok ] || fail "search page: $(cat "$T/verdict.txt")"
done_ok
