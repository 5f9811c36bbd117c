# Shared helpers for integration tests (sourced). ctest sets CLIPDEX,
# CDX_SOURCE_DIR and CDX_BUILD_DIR.
: "${CDX_SOURCE_DIR:?run through ctest}"
: "${CLIPDEX:?run through ctest}"
CDX_FAILURES=0
CDX_SCRATCH_DIRS=()
fail() { echo "FAIL: $*" >&2; CDX_FAILURES=$((CDX_FAILURES + 1)); }
expect_rc() { [ "$2" = "$1" ] || fail "$3: exit code $2, expected $1"; }
expect_contains() { case "$1" in *"$2"*) ;; *) fail "$3: output lacks '$2'; got: $1" ;; esac; }
cdx_scratch() {
    local d; d="$(mktemp -d "${TMPDIR:-/tmp}/cdx-it-$1.XXXXXX")"
    CDX_SCRATCH_DIRS+=("$d"); echo "$d"
}
cdx_cleanup() { for d in "${CDX_SCRATCH_DIRS[@]}"; do rm -rf "$d"; done; }
trap cdx_cleanup EXIT
# Python for JSON checks: the system interpreter, whatever is first on PATH.
PY=/usr/bin/python3
done_ok() {
    if [ "$CDX_FAILURES" -gt 0 ]; then echo "$CDX_FAILURES check(s) failed" >&2; exit 1; fi
    echo "ok"; exit 0
}
