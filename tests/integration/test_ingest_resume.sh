#!/usr/bin/env bash
# Resume after SIGKILL: an ingest is killed at random moments (during start-up,
# mid-batch, while writing) CDX_RESUME_ITERATIONS times (default 20), with new
# images arriving between kills. After every kill nothing acknowledged is lost
# or redone: each item already in the catalog keeps its vector row (nothing
# re-embedded), each item has exactly one image vector. A last run to the end
# leaves every item present exactly once and the index count equal to the
# catalog's rows. test_ingest_resume_slow.sh runs it longer.
# ctest-timeout: 900
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ingest_lib.sh"
C="$(cdx_ingest_contract)"
T="$(cdx_scratch ingest-resume)"
S="$T/src"
D="$T/data"
ITER="${CDX_RESUME_ITERATIONS:-20}"
RANDOM=${CDX_RESUME_SEED:-4242}

"$CDX_MKIMAGES" --out "$S/base" --count 160 --seed 11 --mp-min 0.02 --mp-max 0.08 || fail "mkimages"
for k in 3 17 42; do cp "$S/base/$(ls "$S/base" | sed -n "${k}p")" "$S/copy_$k.img.jpg"; done
echo "text" >"$S/bad1.jpg"; : >"$S/bad2.jpg"

catalog_check() { # catalog_check LABEL: one image vector per item, no vector without an item
    local got
    got="$("$PY" - "$D/catalog.sqlite" <<'EOF'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
if not c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'vectors'").fetchone()[0]:
    print(0, 0, 0)  # killed before the schema was committed: nothing acknowledged yet
    sys.exit(0)
missing = c.execute("SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM vectors WHERE space = 0)").fetchone()[0]
multi = c.execute("SELECT count(*) FROM (SELECT item_id FROM vectors WHERE space = 0 GROUP BY item_id, contract_id HAVING count(*) > 1)").fetchone()[0]
orphans = c.execute("SELECT count(*) FROM vectors WHERE item_id NOT IN (SELECT id FROM items)").fetchone()[0]
print(missing, multi, orphans)
EOF
)"
    [ "$got" = "0 0 0" ] || fail "$1: items without a vector / with several / orphan vectors: $got"
}

mid=0 early=0 finished=0
for i in $(seq 1 "$ITER"); do
    # New images arrive between runs, so every run has work to be killed in.
    "$CDX_MKIMAGES" --out "$S/new$i" --count 15 --seed $((1000 + i)) --mp-min 0.02 --mp-max 0.08 || fail "mkimages $i"
    before=""
    [ -f "$D/catalog.sqlite" ] && before="$(catalog_snapshot "$D")"
    "$CLIPDEX" ingest --data "$D" --contract "$C" --progress json --progress-interval 0.05 --batch 4 \
        --threads ort=1,workers=1 "$S" >/dev/null 2>"$T/err.txt" &
    pid=$!
    if [ $((i % 4)) = 1 ]; then
        sleep "0.$(printf '%03d' $((RANDOM % 900)))"          # anywhere in start-up
    else
        for _ in $(seq 1 400); do grep -q '"done":[1-9]' "$T/err.txt" 2>/dev/null && break; sleep 0.02; done
        sleep "0.$(printf '%03d' $((RANDOM % 150)))"          # somewhere mid-run
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        grep -q '"done":[1-9]' "$T/err.txt" 2>/dev/null && mid=$((mid + 1)) || early=$((early + 1))
    else
        finished=$((finished + 1))
    fi
    wait "$pid" 2>/dev/null
    [ -f "$D/catalog.sqlite" ] || continue
    after="$(catalog_snapshot "$D")"
    # Nothing acknowledged is lost or redone: every row from before is still there, same vector.
    lost="$(comm -23 <(echo "$before" | sed '/^$/d' | sort) <(echo "$after" | sort) | wc -l)"
    [ "$lost" = 0 ] || fail "iteration $i: $lost item(s) lost or re-embedded after SIGKILL"
    catalog_check "iteration $i"
done
echo "kills: $mid mid-run, $early in start-up; $finished runs finished before the kill" >&2
[ "$mid" -ge $((ITER / 4)) ] || fail "only $mid of $ITER kills landed mid-run: the test did not test much"

# The last run goes to the end.
files="$(find "$S" -name '*.jpg' -o -name '*.png' -o -name '*.webp' | wc -l)"
expected=$((files - 2))
before="$(catalog_snapshot "$D")"
items_before="$(echo "$before" | sed '/^$/d' | wc -l)"
"$CLIPDEX" ingest --data "$D" --contract "$C" --progress none --json "$S" >"$T/out.json" 2>"$T/err.txt"
expect_rc 0 $? "final run"
got="$(json_get "$T/out.json" "'%d %d' % (j['outcomes']['embedded'] + j['outcomes']['reused'], j['outcomes']['unchanged'])")"
[ "$got" = "$((expected - items_before)) $items_before" ] \
    || fail "final run: (embedded+reused, unchanged) = $got, expected $((expected - items_before)) $items_before"
after="$(catalog_snapshot "$D")"
[ "$(comm -23 <(echo "$before" | sort) <(echo "$after" | sort) | wc -l)" = 0 ] || fail "final run redid acknowledged items"
catalog_check "final"
n="$("$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), count(distinct uri) from items").fetchone())' "$D/catalog.sqlite")"
[ "$n" = "($expected, $expected)" ] || fail "catalog (rows, distinct uris) = $n, expected $expected each"
"$CLIPDEX" index info --data "$D" --json >"$T/info.json" 2>/dev/null
got="$(json_get "$T/info.json" "'%d %d %d' % (j['items'], j['spaces']['image']['vectors'], j['spaces']['image']['indexed'])")"
[ "$got" = "$expected $expected $expected" ] || fail "index info items/vectors/indexed = $got, expected $expected"
"$CLIPDEX" index verify --data "$D" >"$T/verify.txt" 2>&1; expect_rc 0 $? "index verify: $(cat "$T/verify.txt")"
done_ok
