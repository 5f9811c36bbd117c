# Helpers for the clipdex serve integration tests (sourced after lib.sh):
# the reference model and sample catalog, a data directory built from them,
# and a server on a free port that is always stopped (trap) when the test ends.

# Skips (77) unless the shipped tiny-clip and the sample catalog are in the tree.
serve_need_reference_model() {
    if [ ! -f "$CDX_SOURCE_DIR/contracts/tiny-clip.json" ] || [ ! -d "$CDX_SOURCE_DIR/models/tiny-clip" ] ||
        [ ! -f "$CDX_SOURCE_DIR/samples/shapes/manifest.jsonl" ]; then
        echo "skip: needs models/tiny-clip, contracts/tiny-clip.json and samples/shapes"
        exit 77
    fi
}

# serve_ingest_samples DATA: the sample catalog embedded with the default model.
serve_ingest_samples() {
    "$CLIPDEX" --log-level warn ingest --data "$1" --progress none "$CDX_SOURCE_DIR/samples/shapes/manifest.jsonl" \
        >/dev/null || fail "ingest samples/shapes"
}

SERVE_PID=
SERVE_PORT=
# serve_start DIR DATA [ARGS...]: clipdex serve on a free loopback port; output in DIR/serve.out and
# DIR/serve.err; returns once /readyz answers 200 (or fails the test).
serve_start() {
    local dir="$1" data="$2"
    shift 2
    "$CLIPDEX" serve --data "$data" --listen 127.0.0.1:0 "$@" >"$dir/serve.out" 2>"$dir/serve.err" &
    SERVE_PID=$!
    SERVE_PORT=
    for _ in $(seq 1 600); do
        [ -z "$SERVE_PORT" ] && SERVE_PORT="$(sed -n 's|^clipdex serve: http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/serve.out")"
        if [ -n "$SERVE_PORT" ] && curl -sf "http://127.0.0.1:$SERVE_PORT/readyz" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "clipdex serve did not become ready: $(tail -5 "$dir/serve.err")"
    serve_kill
    done_ok
}
# Stops the server if it still runs (the trap's part); SIGKILL after 10 s.
serve_kill() {
    [ -n "$SERVE_PID" ] || return 0
    kill "$SERVE_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=
}
trap 'serve_kill; cdx_cleanup' EXIT

# api METHOD PATH [BODY] [CURL ARGS...]: the answer's body on stdout; the status in $T/status.
api() {
    local method="$1" path="$2" body="${3:-}"
    shift 3 2>/dev/null || shift $#
    if [ -n "$body" ]; then
        curl -s -o "$T/body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' --data-binary "$body" \
            "$@" "http://127.0.0.1:$SERVE_PORT$path" >"$T/status"
    else
        curl -s -o "$T/body" -w '%{http_code}' -X "$method" "$@" "http://127.0.0.1:$SERVE_PORT$path" >"$T/status"
    fi
    cat "$T/body"
}
status() { cat "$T/status"; }
# jq-like checks with Python: py EXPR over the JSON in $T/body (as j).
py() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/body" "$1"; }
