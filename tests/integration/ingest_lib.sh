# Helpers for the ingest integration tests (sourced after lib.sh).
: "${CDX_MKIMAGES:?run through ctest}"

# The contract the plumbing tests embed with: the shipped tiny-clip when it
# is in the tree, else the loadable fixture contract (tiny random towers).
cdx_ingest_contract() {
    if [ -f "$CDX_SOURCE_DIR/contracts/tiny-clip.json" ] && [ -d "$CDX_SOURCE_DIR/models/tiny-clip" ]; then
        echo "$CDX_SOURCE_DIR/contracts/tiny-clip.json"
    else
        echo "$CDX_SOURCE_DIR/tests/fixtures/contracts/fixture-clip.json"
    fi
}

# json_get FILE EXPR: evaluates a Python expression over the JSON in FILE (as j).
json_get() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# The last line of FILE that is a JSON summary.
summary_of() { grep '"type":"summary"' "$1" | tail -1; }

# catalog_snapshot DATA: "uri<TAB>item id<TAB>image vector seq" per item, sorted (uris hex-encoded).
catalog_snapshot() {
    "$PY" - "$1/catalog.sqlite" <<'EOF'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
c.text_factory = bytes
if not c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'vectors'").fetchone()[0]:
    sys.exit(0)
rows = c.execute("SELECT i.uri, i.id, v.seq FROM items i LEFT JOIN vectors v ON v.item_id = i.id AND v.space = 0 "
                 "ORDER BY i.uri").fetchall()
for uri, iid, seq in rows:
    print("%s\t%s\t%s" % (uri.hex(), iid, seq))
EOF
}
