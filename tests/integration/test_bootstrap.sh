#!/usr/bin/env bash
# The bootstrap stops with a message that says what failed and what to do for:
# a wrong ONNXRUNTIME_ROOT, a failed download, a sha256 mismatch. It never
# touches the real cache (CDX_CACHE_DIR points at a scratch dir) and never
# reaches the network (the npm registry is an unroutable local port).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
B="$CDX_SOURCE_DIR/tools/bootstrap"
# The cases below that do not set ONNXRUNTIME_ROOT must not inherit one from
# the caller (HELPERS.md exports it for builds), or the bootstrap has nothing to do.
unset ONNXRUNTIME_ROOT CDX_ORT_TGZ
scratch="$(cdx_scratch bootstrap)"

out="$(ONNXRUNTIME_ROOT=/definitely/not/here "$B" 2>&1)"; rc=$?
expect_rc 1 "$rc" "wrong ONNXRUNTIME_ROOT"
expect_contains "$out" "ONNXRUNTIME_ROOT is not an ONNX Runtime release directory" "wrong root message"
expect_contains "$out" "unset ONNXRUNTIME_ROOT" "wrong root says what to do"

mkdir -p "$scratch/fake/include"
out="$(ONNXRUNTIME_ROOT="$scratch/fake" "$B" 2>&1)"; rc=$?
expect_rc 1 "$rc" "ONNXRUNTIME_ROOT without a header"
expect_contains "$out" "no include/onnxruntime_c_api.h" "missing header named"

echo "not a tarball" > "$scratch/bad.tgz"
out="$(CDX_CACHE_DIR="$scratch/cache" CDX_ORT_TGZ="$scratch/bad.tgz" "$B" 2>&1)"; rc=$?
expect_rc 1 "$rc" "sha256 mismatch"
expect_contains "$out" "sha256 mismatch" "mismatch named"
expect_contains "$out" "tools/ort.lock" "mismatch says what to do"
[ ! -e "$scratch/cache/onnxruntime-"* ] || fail "a rejected package was unpacked"

out="$(CDX_CACHE_DIR="$scratch/cache" npm_config_cache="$scratch/npmcache" npm_config_registry=http://127.0.0.1:9/ \
       npm_config_fetch_retries=0 npm_config_offline=false "$B" 2>&1)"; rc=$?
expect_rc 1 "$rc" "failed download"
expect_contains "$out" "download failed" "download failure named"
expect_contains "$out" "ONNXRUNTIME_ROOT" "download failure says what to do"

done_ok
