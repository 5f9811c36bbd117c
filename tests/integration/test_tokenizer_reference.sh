#!/usr/bin/env bash
# Tokenizer identity: clipdex's token ids and attention masks against independent references on a seeded
# random corpus (tests/tokenizers/corpus.py: many scripts, combining marks, emoji, whitespace runs,
# punctuation clusters, special-token strings, empty and over-length texts).
#   tiny-clip:   tokenizers.js (Hugging Face's JavaScript tokenizers, pinned in tests/tokenizers) with the
#                Rust crate's lowercase and \s (required: every line identical); plain tokenizers.js is
#                reported, and its differences must all be explained by those two rules.
#   tiny-siglip: python3-sentencepiece inside a port of HF's slow SiglipTokenizer (required); tokenizers.js
#                on tokenizer.json is reported only (its Precompiled normalizer approximates the charsmap
#                with NFKC, and its fast-tokenizer pipeline has no "add </s> unless present" rule).
# CDX_TOKENIZER_N (default 12000) and CDX_TOKENIZER_SEED (default 1) change the corpus;
# CDX_MODELS_DIR (default $CDX_SOURCE_DIR/models) says where tiny-clip/ and tiny-siglip/ are.
# ctest-labels: integration
# ctest-timeout: 900
set -uo pipefail
. "$(dirname "$0")/lib.sh"

REFS="$CDX_SOURCE_DIR/tests/tokenizers"
MODELS="${CDX_MODELS_DIR:-$CDX_SOURCE_DIR/models}"
N="${CDX_TOKENIZER_N:-12000}"
SEED="${CDX_TOKENIZER_SEED:-1}"
[ -f "$REFS/node_modules/@huggingface/tokenizers/package.json" ] \
    || { echo "FAIL: tokenizers.js is not installed in tests/tokenizers/node_modules: run tools/bootstrap" >&2; exit 1; }
"$PY" -c "import sentencepiece" 2>/dev/null \
    || { echo "FAIL: python3-sentencepiece is missing: run tools/bootstrap" >&2; exit 1; }
for m in tiny-clip tiny-siglip; do
    # The reference models come from the model toolchain; until they are in the tree this test is skipped.
    [ -d "$MODELS/$m" ] || { echo "SKIP: $MODELS/$m does not exist (set CDX_MODELS_DIR)" >&2; exit 77; }
done

dir="$(cdx_scratch tokref)"
"$PY" "$REFS/corpus.py" --n "$N" --seed "$SEED" --meta > "$dir/corpus.jsonl" || fail "corpus generator"
"$PY" -c 'import json,sys
for l in sys.stdin: print(json.dumps(json.loads(l)["text"]))' < "$dir/corpus.jsonl" > "$dir/texts.jsonl"
[ "$(wc -l < "$dir/texts.jsonl")" -eq "$N" ] || fail "corpus has $(wc -l < "$dir/texts.jsonl") lines, expected $N"

run_model() {  # $1 = model, $2 = context length
    local m="$1" L="$2"
    "$CLIPDEX" tokenize --model "$MODELS/$m" --stdin < "$dir/texts.jsonl" > "$dir/$m.clipdex.jsonl" \
        || fail "$m: clipdex tokenize --stdin exited $? (an input it refused?)"
    node "$REFS/ref_js.mjs" "$MODELS/$m" "$L" < "$dir/texts.jsonl" > "$dir/$m.js.jsonl" \
        || fail "$m: tokenizers.js"
    node "$REFS/ref_js.mjs" "$MODELS/$m" "$L" --rust-semantics < "$dir/texts.jsonl" > "$dir/$m.js_rust.jsonl" \
        || fail "$m: tokenizers.js --rust-semantics"
}
run_model tiny-clip 77
run_model tiny-siglip 64
"$PY" "$REFS/ref_siglip.py" "$MODELS/tiny-siglip" --context-length 64 < "$dir/texts.jsonl" \
    > "$dir/tiny-siglip.sentencepiece.jsonl" || fail "tiny-siglip: sentencepiece reference"

"$PY" "$REFS/compare.py" --label "tiny-clip (seed $SEED)" --corpus "$dir/corpus.jsonl" \
    --clipdex "$dir/tiny-clip.clipdex.jsonl" \
    --ref "tokenizers.js=$dir/tiny-clip.js.jsonl:required" \
    --ref "tokenizers.js+rust=$dir/tiny-clip.js_rust.jsonl:required" \
    --explain "tokenizers.js=tokenizers.js+rust" \
    || fail "tiny-clip: clipdex differs from tokenizers.js"
"$PY" "$REFS/compare.py" --label "tiny-siglip (seed $SEED)" --corpus "$dir/corpus.jsonl" \
    --clipdex "$dir/tiny-siglip.clipdex.jsonl" \
    --ref "sentencepiece=$dir/tiny-siglip.sentencepiece.jsonl:required" --skip-non-u14 sentencepiece \
    --ref "tokenizers.js=$dir/tiny-siglip.js.jsonl" --show 3 \
    || fail "tiny-siglip: clipdex differs from SentencePiece"
done_ok
