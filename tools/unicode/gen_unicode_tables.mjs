#!/usr/bin/env node
// Generates encoder/unicode_tables.c: the Unicode data the tokenizers need
// (general categories L and N, White_Space, Python's str.isspace, full
// per-code-point lowercase, canonical decomposition, canonical combining class
// order, canonical composition pairs, the NFC quick-check).
//
// The data come from the ICU inside the running node binary: the same tables
// tokenizers.js (the JavaScript reference the tokenizers are compared with)
// uses through String.prototype.normalize, toLowerCase and /\p{L}/u. The
// Unicode version is read from process.versions.unicode and written into the
// output. JavaScript exposes no canonical combining class, so the generator
// derives its order from canonical reordering itself (NFD of two marks swaps
// them exactly when ccc(a) > ccc(b) > 0); only that order matters to NFC.
//
// After building the tables the generator re-implements NFC and lowercase on
// them and checks the result against node on every code point and on random
// sequences of marks and bases; any difference aborts the generation.
//
//   node tools/unicode/gen_unicode_tables.mjs > encoder/unicode_tables.c
import process from "node:process";

const MAXCP = 0x110000;
const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;
const isHangulSyllable = (cp) => cp >= 0xac00 && cp <= 0xd7a3;
const S = (cp) => String.fromCodePoint(cp);
const cps = (s) => Array.from(s, (c) => c.codePointAt(0));
const fail = (msg) => {
  process.stderr.write(`gen_unicode_tables: ${msg}\n`);
  process.exit(1);
};

const reL = /^\p{L}$/u, reN = /^\p{N}$/u, reWS = /^\p{White_Space}$/u;
// Python's str.isspace(): bidirectional class WS, B or S, or category Zs. It
// equals White_Space plus U+001C..U+001F (checked against python3 when this
// generator was written; both sets have been stable since Unicode 6).
const pyExtraSpace = new Set([0x1c, 0x1d, 0x1e, 0x1f]);

const F_L = 1, F_N = 2, F_WS = 4, F_PYWS = 8, F_NFC_QC = 16, F_COMP2 = 32;

// ---- canonical combining class order -------------------------------------
const nfd = (s) => s.normalize("NFD");
const swaps = (a, b) => nfd(S(a) + S(b)) === S(b) + S(a);
const nonDecomposable = (cp) => !isSurrogate(cp) && nfd(S(cp)) === S(cp);
const IOTA = 0x345; // the only code point with ccc 240
const nonzeroCcc = [];
for (let cp = 0; cp < MAXCP; cp++) {
  if (!nonDecomposable(cp)) continue;
  if (cp === IOTA || swaps(IOTA, cp) || swaps(cp, IOTA)) nonzeroCcc.push(cp);
}
nonzeroCcc.sort((a, b) => (swaps(a, b) ? 1 : swaps(b, a) ? -1 : a - b));
const ccc = new Map();
let rank = 0;
for (let i = 0; i < nonzeroCcc.length; i++) {
  const cp = nonzeroCcc[i];
  if (i === 0 || swaps(cp, nonzeroCcc[i - 1])) rank++;
  ccc.set(cp, rank);
}
if (rank > 255) fail(`too many combining classes: ${rank}`);

// ---- decompositions, composition pairs -------------------------------------
const decomp = new Map(); // cp -> full canonical decomposition (array), Hangul excluded
for (let cp = 0; cp < MAXCP; cp++) {
  if (isSurrogate(cp) || isHangulSyllable(cp)) continue;
  const d = nfd(S(cp));
  if (d !== S(cp)) decomp.set(cp, cps(d));
}
const pairs = []; // [first, second, composite]
for (const [p, d] of decomp) {
  if (S(p).normalize("NFC") !== S(p) || d.length < 2) continue; // excluded or singleton
  const found = [];
  for (let k = 1; k < d.length; k++) {
    const rest = d.slice(0, k).concat(d.slice(k + 1));
    const x = cps(String.fromCodePoint(...rest).normalize("NFC"));
    if (x.length !== 1 || nfd(S(x[0])) !== String.fromCodePoint(...rest)) continue;
    if ((S(x[0]) + S(d[k])).normalize("NFC") === S(p)) found.push([x[0], d[k], p]);
  }
  // Composition consumes marks in canonical order, so when several splits
  // rebuild p (U+01EC: O-ogonek + macron, or O-macron + ogonek) the one whose
  // second character comes last is the one the algorithm meets.
  if (!found.length) fail(`U+${p.toString(16)}: no composition pair rebuilds it`);
  pairs.push(found[found.length - 1]);
}
pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
const seconds = new Set(pairs.map((p) => p[1]));

// ---- per-code-point records ------------------------------------------------
const seqPool = [0]; // index 0 = no mapping; else [len, cp...]
const seqIndex = new Map();
const addSeq = (arr) => {
  const key = arr.join(",");
  if (seqIndex.has(key)) return seqIndex.get(key);
  const at = seqPool.length;
  seqPool.push(arr.length, ...arr);
  seqIndex.set(key, at);
  return at;
};
const records = [];
const recordIndex = new Map();
const cpRecord = new Uint16Array(MAXCP);
const lowerOf = (cp) => {
  const l = S(cp).toLowerCase();
  return l === S(cp) ? null : cps(l);
};
for (let cp = 0; cp < MAXCP; cp++) {
  let flags = 0, c = 0, lo = 0, de = 0;
  if (!isSurrogate(cp)) {
    const s = S(cp);
    if (reL.test(s)) flags |= F_L;
    if (reN.test(s)) flags |= F_N;
    if (reWS.test(s)) flags |= F_WS;
    if (reWS.test(s) || pyExtraSpace.has(cp)) flags |= F_PYWS;
    c = ccc.get(cp) ?? 0;
    const l = lowerOf(cp);
    if (l) lo = addSeq(l);
    if (decomp.has(cp)) de = addSeq(decomp.get(cp));
    const isJamoVT = (cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11a8 && cp <= 0x11c2);
    if (seconds.has(cp) || isJamoVT) flags |= F_COMP2;
    if (c === 0 && s.normalize("NFC") === s && !(flags & F_COMP2)) flags |= F_NFC_QC;
  }
  const key = `${flags},${c},${lo},${de}`;
  let r = recordIndex.get(key);
  if (r === undefined) {
    r = records.length;
    records.push([flags, c, lo, de]);
    recordIndex.set(key, r);
  }
  cpRecord[cp] = r;
}
if (records.length > 65535 || seqPool.length > 65535) fail("table too large for 16-bit indexes");

// Two-stage table: stage1[cp >> 7] -> block, stage2[block * 128 + (cp & 127)] -> record.
const SHIFT = 7, BLOCK = 1 << SHIFT;
const blocks = [], blockIndex = new Map(), stage1 = [];
for (let b = 0; b < MAXCP / BLOCK; b++) {
  const slice = Array.from(cpRecord.subarray(b * BLOCK, (b + 1) * BLOCK));
  const key = slice.join(",");
  let i = blockIndex.get(key);
  if (i === undefined) {
    i = blocks.length;
    blocks.push(slice);
    blockIndex.set(key, i);
  }
  stage1.push(i);
}

// ---- self-check: NFC and lowercase on the tables against node --------------
const rec = (cp) => records[cpRecord[cp]];
const SBase = 0xac00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11a7, NCount = 588, TCount = 28;
const pairMap = new Map(pairs.map((p) => [`${p[0]},${p[1]}`, p[2]]));
const seqAt = (i) => seqPool.slice(i + 1, i + 1 + seqPool[i]);
function tableNfc(input) {
  const d = [];
  for (const cp of input) {
    if (isHangulSyllable(cp)) {
      const s = cp - SBase;
      d.push(LBase + Math.floor(s / NCount), VBase + Math.floor((s % NCount) / TCount));
      if (s % TCount) d.push(TBase + (s % TCount));
    } else if (rec(cp)[3]) d.push(...seqAt(rec(cp)[3]));
    else d.push(cp);
  }
  for (let i = 1; i < d.length; i++) { // stable insertion sort of runs of non-starters
    const c = rec(d[i])[1];
    if (!c) continue;
    let j = i;
    while (j > 0 && rec(d[j - 1])[1] > c) { [d[j - 1], d[j]] = [d[j], d[j - 1]]; j--; }
  }
  // Canonical composition: a character composes with the last starter unless
  // something between them blocks it (in canonical order, the last character
  // appended has the highest class among them).
  const out = [];
  let starter = -1, lastCcc = 0;
  for (const cp of d) {
    const c = rec(cp)[1];
    const adjacent = starter >= 0 && out.length - 1 === starter;
    if (starter >= 0 && (adjacent || (lastCcc !== 0 && lastCcc < c))) {
      const f = out[starter];
      let comp;
      if (f >= LBase && f < LBase + 19 && cp >= VBase && cp < VBase + 21)
        comp = SBase + ((f - LBase) * 21 + (cp - VBase)) * TCount;
      else if (isHangulSyllable(f) && (f - SBase) % TCount === 0 && cp > TBase && cp < TBase + TCount)
        comp = f + (cp - TBase);
      else comp = pairMap.get(`${f},${cp}`);
      if (comp !== undefined) {
        out[starter] = comp;
        continue;
      }
    }
    if (c === 0) starter = out.length;
    lastCcc = c;
    out.push(cp);
  }
  return out;
}
const check = (arr, what) => {
  const s = String.fromCodePoint(...arr);
  const want = cps(s.normalize("NFC")).join(",");
  const got = tableNfc(arr).join(",");
  if (want !== got) fail(`NFC self-check failed on ${what} [${arr.map((c) => c.toString(16))}]: want ${want} got ${got}`);
};
for (let cp = 0; cp < MAXCP; cp++) {
  if (isSurrogate(cp)) continue;
  check([cp], "single code point");
  const l = lowerOf(cp), t = rec(cp)[2];
  if ((l ? l.join(",") : "") !== (t ? seqAt(t).join(",") : "")) fail(`lowercase self-check U+${cp.toString(16)}`);
}
for (const [a, b] of pairs) check([a, b], "pair");
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const pool = [...nonzeroCcc, ...pairs.map((p) => p[0]), ...pairs.map((p) => p[2]), 0x41, 0x61, 0x1100, 0x1161, 0x11a8, 0xac00, 0xac01];
for (let i = 0; i < 200000; i++) {
  const n = 1 + rnd(6), arr = [];
  for (let k = 0; k < n; k++) arr.push(pool[rnd(pool.length)]);
  check(arr, "random sequence");
}

// ---- emit -----------------------------------------------------------------
const out = [];
const emitArray = (type, name, arr, perLine = 16) => {
  out.push(`const ${type} ${name}[${arr.length}] = {`);
  for (let i = 0; i < arr.length; i += perLine) out.push("    " + arr.slice(i, i + perLine).join(", ") + ",");
  out.push("};");
};
out.push(`/* Generated by tools/unicode/gen_unicode_tables.mjs from the ICU in node ${process.version}`);
out.push(` * (ICU ${process.versions.icu}, Unicode ${process.versions.unicode}). Do not edit: rerun the generator. */`);
out.push(`#include "encoder/unicode_tables.h"`);
out.push("");
out.push(`const char cdx_uc_version_string[] = "${process.versions.unicode}";`);
out.push(`const cdx_uc_record cdx_uc_records[${records.length}] = {`);
for (const r of records) out.push(`    {${r[0]}, ${r[1]}, ${r[2]}, ${r[3]}},`);
out.push("};");
emitArray("uint16_t", "cdx_uc_stage1", stage1);
emitArray("uint16_t", "cdx_uc_stage2", blocks.flat());
emitArray("uint32_t", "cdx_uc_seq", seqPool, 12);
out.push(`const cdx_uc_pair cdx_uc_pairs[${pairs.length}] = {`);
for (const p of pairs) out.push(`    {0x${p[0].toString(16)}, 0x${p[1].toString(16)}, 0x${p[2].toString(16)}},`);
out.push("};");
out.push(`const uint32_t cdx_uc_n_pairs = ${pairs.length};`);
process.stdout.write(out.join("\n") + "\n");
process.stderr.write(
  `gen_unicode_tables: Unicode ${process.versions.unicode}: ${records.length} records, ${blocks.length} blocks, ` +
    `${seqPool.length} sequence words, ${pairs.length} composition pairs, ${rank} combining classes; self-check passed\n`);
