#!/usr/bin/env bash
# The bench report in headless Chromium (Debian's, from tools/bootstrap
# --browser): it loads with no console error, exception or failed load, every
# chart drew the marks it announces (scatter, throughput vs threads,
# histograms), and every card is a table row. Skipped only where no chromium
# is installed; CI installs it (.ci/run).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1 || { echo "skip: no chromium (tools/bootstrap --browser)"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "skip: no node"; exit 77; }
dir="$(cdx_scratch bench-browser)"
clip="$CDX_SOURCE_DIR/tests/fixtures/contracts/fixture-clip.json"

"$CLIPDEX" --log-level warn bench --contract "$clip" --threads 1,2 --opt disabled,all --duration 0.05 --quiet \
    --json "$dir/cards.json" --report "$dir/report.html" >/dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "bench exit $rc: $(tail -3 "$dir/err")"
n_cards="$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cards"]))' "$dir/cards.json")"

check='(() => {
  const charts = [...document.querySelectorAll("svg.chart")];
  return {
    charts: charts.length,
    kinds: [...new Set(charts.map((s) => s.dataset.kind))].sort(),
    empty: charts.filter((s) => !(+s.dataset.marks > 0)).length,
    miscounted: charts.filter((s) => s.querySelectorAll(".mark").length !== +s.dataset.marks).length,
    undrawn: charts.filter((s) => { const r = s.getBoundingClientRect(); return !(r.width > 100 && r.height > 50); }).length,
    cards: document.querySelectorAll("tr.card").length,
    verdicts: document.querySelectorAll("table.verdicts tr").length - 1,
  };
})()'
out="$(node --experimental-websocket "$CDX_SOURCE_DIR/tests/browser/check_page.mjs" "file://$dir/report.html" \
      --expr "$check" --screenshot "$dir/report.png" 2>"$dir/browser.err")"; rc=$?
expect_rc 0 "$rc" "report in chromium (console errors or no browser): $out $(tail -5 "$dir/browser.err")"
verdict="$("$PY" - "$out" "$n_cards" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1]); r = d["result"]; n = int(sys.argv[2])
bad = []
if d["errors"]: bad.append("errors %s" % d["errors"])
# 2 scatter (one per tower) + 4 threads (2 opt levels x 2 towers) + 36 histograms
if r["charts"] != 42: bad.append("%d charts, expected 42" % r["charts"])
if r["kinds"] != ["histogram", "scatter", "threads"]: bad.append("kinds %s" % r["kinds"])
for k in ("empty", "miscounted", "undrawn"):
    if r[k]: bad.append("%d charts %s" % (r[k], k))
if r["cards"] != n: bad.append("%d card rows for %d cards" % (r["cards"], n))
if r["verdicts"] != 5: bad.append("%d verdict rows" % r["verdicts"])
print("; ".join(bad) or "ok")
PYEOF
)"
expect_rc ok "$verdict" "report content: $verdict"
# the checker itself sees errors: a page with a console error, an exception and a missing image fails
printf '<!doctype html><title>x</title><script>console.error("boom"); nope();</script><img src="gone.png">' \
    >"$dir/bad.html"
out="$(node --experimental-websocket "$CDX_SOURCE_DIR/tests/browser/check_page.mjs" "file://$dir/bad.html" 2>/dev/null)"
expect_rc 1 "$?" "checker on a broken page"
expect_contains "$out" "console.error: boom" "console error caught"
expect_contains "$out" "ReferenceError" "exception caught"
expect_contains "$out" "gone.png" "failed load caught"
[ "$(stat -c %s "$dir/report.png" 2>/dev/null || echo 0)" -gt 20000 ] || fail "screenshot missing or blank"
done_ok
