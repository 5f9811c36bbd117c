// Reference tokenizer: Hugging Face's tokenizers.js (@huggingface/tokenizers, pure JavaScript, pinned in
// package-lock.json) on a model folder's tokenizer.json and tokenizer_config.json, with the truncation and
// padding of the Rust tokenizers: content cut so that content + special tokens fits the context length,
// then padded with the pad token to the context length.
//
//   node ref_js.mjs MODEL_DIR CONTEXT_LENGTH [--rust-semantics] < texts.jsonl > ids.jsonl
//
// --rust-semantics corrects the two places where tokenizers.js departs from the Rust tokenizers crate
// (which Hugging Face's fast tokenizers are) on these models, and nothing else:
//   1. Lowercase: tokenizers.js calls String.toLowerCase, which applies the Final_Sigma context rule
//      (a word-final capital sigma becomes ς); Rust lowercases each code point on its own
//      (char::to_lowercase), and so does SiglipTokenizer (str.lower per character).
//   2. ByteLevel's GPT-2 regex: tokenizers.js hard-codes it with JavaScript's \s, which includes U+FEFF;
//      Oniguruma's \s (Rust) is Unicode White_Space, which does not. The same pattern with
//      \p{White_Space} is used instead.
// The test runs both ways: a line where clipdex differs from plain tokenizers.js but agrees with the
// corrected one is counted as explained by these two rules.
import fs from "node:fs";
import readline from "node:readline";
import { Tokenizer, LowercaseNormalizer, ByteLevelPreTokenizer } from "@huggingface/tokenizers";

const [dir, ctxArg, ...flags] = process.argv.slice(2);
const L = Number(ctxArg);
if (!dir || !(L >= 2)) {
  process.stderr.write("usage: node ref_js.mjs MODEL_DIR CONTEXT_LENGTH [--rust-semantics]\n");
  process.exit(2);
}
const rust = flags.includes("--rust-semantics");
if (rust) {
  LowercaseNormalizer.prototype.normalize = (text) => Array.from(text, (c) => c.toLowerCase()).join("");
}
const json = JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8"));
const config = JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
const tok = new Tokenizer(json, config);
const fixByteLevel = (p) => {
  if (!p) return;
  if (p instanceof ByteLevelPreTokenizer)
    p.pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;
  for (const q of p.tokenizers ?? []) fixByteLevel(q);
};
if (rust) fixByteLevel(tok.pre_tokenizer);
const padId = tok.token_to_id(config.pad_token?.content ?? config.pad_token ?? config.eos_token);
const nSpecial = tok.encode("", { add_special_tokens: true }).ids.length - tok.encode("", { add_special_tokens: false }).ids.length;

const out = [];
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  let text = JSON.parse(line);
  if (typeof text === "object") text = text.text;
  try {
    const content = tok.encode(text, { add_special_tokens: false }).ids;
    const kept = content.slice(0, Math.max(0, L - nSpecial));
    // The post-processor adds the special tokens around whatever content it is given.
    const withSpecials = tok.post_processor ? tok.post_processor(kept.map((i) => tok.id_to_token(i)), null, true).tokens : kept;
    const ids = withSpecials.map((t) => (typeof t === "number" ? t : tok.token_to_id(t)));
    const n = ids.length;
    while (ids.length < L) ids.push(padId);
    out.push(JSON.stringify({ ids, mask: ids.map((_, i) => (i < n ? 1 : 0)) }));
  } catch (e) {
    out.push(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  }
  if (out.length >= 1000) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
