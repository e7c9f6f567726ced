// hfref.js: the parity reference for embed/tokenizer. It runs Hugging Face's own tokenizers
// library (its Rust core, through the Node binding that scripts/setup.sh installs) on a
// tokenizer.json and a list of texts, and prints what the library says.
//
//   node hfref.js REQUEST.json OUT.json
//
// REQUEST: {"mode": "encode" or "pretokenize", "modules": DIR (holding node_modules/tokenizers), "tokenizer": PATH,
//           "maxLength": truncation length (optional),
//           "sets": [{"texts": [...], "tokenDecode": bool}, ...]}
// OUT:     one object per set: {"special": ids with special tokens, "plain": ids without,
//           "offsets": offsets of the plain tokens (the binding gives them in Unicode code
//           points; a byte offset inside a character counts as that character's index), "decode": decode(plain, false),
//           "decodeSkip": decode(special, true), "tokenDecode": decode([id], false) for each
//           plain id (when asked)}; in mode "pretokenize": {"pieces": the strings the
//           pre-tokenizer cuts each text into}
"use strict";
const fs = require("fs");
const path = require("path");

const [reqPath, outPath] = process.argv.slice(2);
const req = JSON.parse(fs.readFileSync(reqPath, "utf8"));
const { Tokenizer } = require(path.join(req.modules, "node_modules", "tokenizers"));

async function run(tok, set) {
  const texts = set.texts;
  if (req.mode === "pretokenize") {
    const pre = tok.getPreTokenizer();
    return { pieces: texts.map((t) => pre.preTokenizeString(t).map(([s]) => s)) };
  }
  const withSpecial = await tok.encodeBatch(texts, { addSpecialTokens: true });
  const plain = await tok.encodeBatch(texts, { addSpecialTokens: false });
  const out = { special: [], plain: [], offsets: [], decode: [], decodeSkip: [] };
  for (let i = 0; i < texts.length; i++) {
    out.special.push(withSpecial[i].getIds());
    out.plain.push(plain[i].getIds());
    out.offsets.push(plain[i].getOffsets());
  }
  out.decode = await tok.decodeBatch(out.plain, false);
  out.decodeSkip = await tok.decodeBatch(out.special, true);
  if (set.tokenDecode) {
    out.tokenDecode = [];
    for (const ids of out.plain) {
      out.tokenDecode.push(await tok.decodeBatch(ids.map((id) => [id]), false));
    }
  }
  return out;
}

async function main() {
  const tok = Tokenizer.fromFile(req.tokenizer);
  if (req.maxLength) tok.setTruncation(req.maxLength);
  const outs = [];
  for (const set of req.sets) outs.push(await run(tok, set));
  fs.writeFileSync(outPath, JSON.stringify(outs));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
