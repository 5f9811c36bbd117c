#!/usr/bin/env bash
# `clipdex preprocess`: per-image info (text and JSON), tensors in the golden
# pack's layout, exit codes for bad images and bad flags, the speed mode.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

fx="$CDX_SOURCE_DIR/tests/fixtures/preprocess/images"
tmp="$(cdx_scratch preprocess)"
printf 'not an image\n' > "$tmp/notes.jpg"

out="$("$CLIPDEX" preprocess "$fx/jpeg_exif_6.jpg" "$fx/png16_rgba.png" 2>&1)"; rc=$?
expect_rc 0 "$rc" "two good images"
expect_contains "$out" "jpeg 150x90 orient=6" "text line names format, size, orientation"
expect_contains "$out" "bits=16 rgb+alpha" "text line names depth and alpha"

json="$("$CLIPDEX" preprocess --json --family siglip --size 64 --out "$tmp/t.f32" --rgb-out "$tmp/t.u8" \
        "$fx/jpeg_cmyk.jpg" "$fx/gif_anim_trns.gif" "$tmp/notes.jpg")"; rc=$?
expect_rc 3 "$rc" "a bad image among good ones exits 3"
check="$("$PY" - "$json" "$tmp" <<'PYEOF'
import json, os, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
tmp = sys.argv[2]
assert len(rows) == 3, rows
assert rows[0]["ok"] and rows[0]["colour"] == "cmyk" and rows[0]["resized"] == [64, 64], rows[0]
assert rows[1]["ok"] and rows[1]["pages"] == 2 and rows[1]["alpha"], rows[1]
assert not rows[2]["ok"] and rows[2]["error"] == "UNSUPPORTED" and "notes.jpg" in rows[2]["message"], rows[2]
assert os.path.getsize(f"{tmp}/t.f32") == 3 * 3 * 64 * 64 * 4
assert os.path.getsize(f"{tmp}/t.u8") == 3 * 64 * 64 * 3
print("ok")
PYEOF
)"
expect_contains "$check" "ok" "JSON rows and tensor files"

out="$("$CLIPDEX" preprocess --repeat 2 --threads 2 "$fx/upscale.jpg" "$fx/png_rgb.png" 2>&1)"; rc=$?
expect_rc 0 "$rc" "speed mode"
expect_contains "$out" "4 images in" "speed mode counts images"

out="$("$CLIPDEX" preprocess --family vit "$fx/upscale.jpg" 2>&1)"; rc=$?
expect_rc 2 "$rc" "unknown family"
expect_contains "$out" "expected one of clip siglip" "unknown family lists the choices"
out="$("$CLIPDEX" preprocess 2>&1)"; rc=$?
expect_rc 2 "$rc" "no images"
out="$("$CLIPDEX" preprocess --max-pixels 1000 "$fx/upscale.jpg" 2>&1)"; rc=$?
expect_rc 3 "$rc" "pixel limit"
expect_contains "$out" "TOOBIG" "pixel limit names the code"
done_ok
