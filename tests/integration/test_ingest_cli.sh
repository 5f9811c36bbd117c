#!/usr/bin/env bash
# clipdex ingest end to end on generated images: directory trees, manifests
# (CSV with metadata, standard input), webdataset shards through a brace
# range; re-runs skip what is unchanged, re-embed what changed, embed the
# same bytes under two paths once; --retry-failed; a clean stop on SIGINT;
# progress as JSON; search over the result; the index agrees with the catalog.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ingest_lib.sh"
C="$(cdx_ingest_contract)"
T="$(cdx_scratch ingest-cli)"
D="$T/data"

"$CDX_MKIMAGES" --out "$T/src/a" --count 12 --seed 1 --manifest "$T/a.csv" || fail "mkimages a"
"$CDX_MKIMAGES" --out "$T/src/b/deep" --count 8 --seed 2 --start 100 || fail "mkimages b"
cp "$T/src/a/img000000.jpg" "$T/src/b/copy.jpg"
echo "not an image" >"$T/src/b/bad.jpg"
echo "ignored: not an image extension" >"$T/src/b/notes.txt"

run() { # run DATA ARGS...: summary JSON in $T/out.json, stderr in $T/err.txt
    local data="$1"; shift
    "$CLIPDEX" ingest --data "$data" --contract "$C" --progress none --json "$@" >"$T/out.json" 2>"$T/err.txt"
}
outcome() { json_get "$T/out.json" "j['outcomes']['$1']"; }
check_counts() { # check_counts LABEL embedded reused unchanged known_failure failed
    local got
    got="$(json_get "$T/out.json" "' '.join(str(j['outcomes'][k]) for k in ['embedded','reused','unchanged','known_failure','failed'])")"
    [ "$got" = "$2 $3 $4 $5 $6" ] || fail "$1: outcomes (embedded reused unchanged known_failure failed) = $got, expected $2 $3 $4 $5 $6; $(tail -3 "$T/err.txt")"
}
index_agrees() { # index_agrees DATA ITEMS
    "$CLIPDEX" index info --data "$1" --json >"$T/info.json" 2>/dev/null || { fail "index info $1"; return; }
    local got
    got="$(json_get "$T/info.json" "'%d %d %d' % (j['items'], j['spaces']['image']['vectors'], j['spaces']['image']['indexed'])")"
    [ "$got" = "$2 $2 $2" ] || fail "index info: items/vectors/indexed = $got, expected $2 each"
}

# 1. A tree: 20 images, one copy (the same bytes: reused, not embedded), one bad file.
run "$D" "$T/src"; expect_rc 0 $? "first run"
check_counts "first run" 20 1 0 0 1
expect_contains "$(cat "$T/out.json")" '"decode":1' "failed by stage"
index_agrees "$D" 21
"$CLIPDEX" failures list --data "$D" --json >"$T/f.json" 2>/dev/null
[ "$(json_get "$T/f.json" "[(f['stage'], f['code']) for f in j['failures']]")" = "[('decode', 'UNSUPPORTED')]" ] \
    || fail "failures: $(cat "$T/f.json")"

# 2. The same command again: nothing decoded, nothing embedded.
run "$D" "$T/src"; expect_rc 0 $? "re-run"
check_counts "re-run" 0 0 21 1 0
[ "$(json_get "$T/out.json" "j['batches']")" = 0 ] || fail "re-run ran the image tower"

# 3. A changed file is re-embedded and replaces its vector; a touched one is not.
before="$(catalog_snapshot "$D")"
cp "$T/src/b/deep/img000101.jpg" "$T/src/a/img000005.jpg"
touch "$T/src/a/img000006.jpg"
run "$D" "$T/src"; expect_rc 0 $? "changed file"
# img000005 now holds img000101's bytes: its vector is copied, not computed.
check_counts "changed file" 0 1 20 1 0
index_agrees "$D" 21
after="$(catalog_snapshot "$D")"
changed="$(diff <(echo "$before") <(echo "$after") | grep -c '^>')"
[ "$changed" = 1 ] || fail "changed file: $changed catalog rows changed, expected 1"

# 4. --retry-failed without sources retries the recorded failures; fixed, it goes in.
run "$D" --retry-failed; expect_rc 0 $? "retry, still bad"
check_counts "retry, still bad" 0 0 0 0 1
"$CDX_MKIMAGES" --out "$T/fix" --count 1 --seed 99 || fail "mkimages fix"
cp "$T/fix/img000000.jpg" "$T/src/b/bad.jpg"
run "$D" --retry-failed; expect_rc 0 $? "retry, fixed"
check_counts "retry, fixed" 1 0 0 0 0
"$CLIPDEX" failures list --data "$D" --json >"$T/f.json" 2>/dev/null
[ "$(json_get "$T/f.json" "j['count']")" = 0 ] || fail "a fixed item's failure was not cleared"
index_agrees "$D" 22

# 5. A CSV manifest: captions and the other columns kept as metadata.
run "$T/data2" "$T/a.csv"; expect_rc 0 $? "csv manifest"
check_counts "csv manifest" 12 0 0 0 0
meta="$("$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select caption, meta_json from items order by uri limit 1").fetchone())' "$T/data2/catalog.sqlite")"
expect_contains "$meta" "a photo of" "manifest caption"
expect_contains "$meta" '"megapixels"' "manifest metadata"
expect_contains "$meta" '"id":"0"' "manifest id kept in metadata"

# 6. Webdataset shards through a brace range; stdin as a manifest.
"$PY" - "$T" <<'EOF'
import io, os, sys, tarfile
t = sys.argv[1]
imgs = sorted(os.listdir(t + "/src/b/deep"))
for s in range(2):
    with tarfile.open("%s/shard-%02d.tar" % (t, s), "w") as tar:
        for k, name in enumerate(imgs[s * 4:(s + 1) * 4]):
            key = "sample%02d%02d" % (s, k)
            tar.add(t + "/src/b/deep/" + name, arcname=key + os.path.splitext(name)[1])
            cap = ("caption of " + key).encode()
            info = tarfile.TarInfo(key + ".txt"); info.size = len(cap)
            tar.addfile(info, io.BytesIO(cap))
EOF
run "$T/data3" "$T/shard-{00..01}.tar"; expect_rc 0 $? "shards"
check_counts "shards" 8 0 0 0 0
n="$("$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*) from items where uri like \"%.tar#sample%\" and caption like \"caption of %\"").fetchone()[0])' "$T/data3/catalog.sqlite")"
[ "$n" = 8 ] || fail "shard items with captions: $n"
ls "$T"/src/a/*.jpg | head -3 | "$CLIPDEX" ingest --data "$T/data4" --contract "$C" --progress none --json - >"$T/out.json" 2>"$T/err.txt"
expect_rc 0 $? "stdin manifest"
check_counts "stdin manifest" 3 0 0 0 0

# 7. Progress as JSON lines on stderr, and a clean stop on SIGINT: what was
#    written stays, a re-run finishes the rest without redoing it.
"$CDX_MKIMAGES" --out "$T/many" --count 150 --seed 5 --mp-min 0.01 --mp-max 0.04 || fail "mkimages many"
"$CLIPDEX" ingest --data "$T/data5" --contract "$C" --progress json --progress-interval 0.1 --json --batch 4 \
    --threads workers=1 "$T/many" >"$T/out.json" 2>"$T/err.txt" &
pid=$!
for _ in $(seq 1 200); do grep -q '"type":"progress".*"done":[1-9]' "$T/err.txt" 2>/dev/null && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"; rc=$?
expect_contains "$(cat "$T/err.txt")" '"type":"progress"' "progress JSON"
if [ "$rc" = 4 ]; then
    [ "$(json_get "$T/out.json" "j['interrupted']")" = True ] || fail "SIGINT: summary not marked interrupted"
    done1="$(json_get "$T/out.json" "j['outcomes']['embedded']")"
    [ "$done1" -lt 150 ] || fail "SIGINT: embedded everything ($done1)"
    run "$T/data5" "$T/many"; expect_rc 0 $? "after SIGINT"
    check_counts "after SIGINT" "$((150 - done1))" 0 "$done1" 0 0
else
    expect_rc 0 "$rc" "SIGINT run (finished before the signal)"
fi
index_agrees "$T/data5" 150

# 8. Search finds an item; an image query finds itself first.
"$CLIPDEX" search --data "$D" --contract "$C" --image "$T/src/a/img000003.jpg" -k 3 --json >"$T/s.json" 2>"$T/err.txt"
expect_rc 0 $? "search"
[ "$(json_get "$T/s.json" "len(j['results'])")" = 3 ] || fail "search: $(cat "$T/s.json")"
expect_contains "$(json_get "$T/s.json" "j['results'][0]['uri']")" "img000003.jpg" "image query finds itself"

# 9. Usage errors.
"$CLIPDEX" ingest --data "$D" >/dev/null 2>&1; expect_rc 2 $? "no source"
"$CLIPDEX" ingest --data "$D" --contract "$C" "$T/nonexistent" >/dev/null 2>"$T/err.txt"; expect_rc 3 $? "missing source"
expect_contains "$(cat "$T/err.txt")" "nonexistent" "missing source is named"
done_ok
