// hfref.js: the parity reference for embed/tokenizer. It runs Hugging Face's own tokenizers
// library (its Rust core, through the Node binding that scripts/setup.sh installs) on a
// tokenizer.json and a list of texts, and prints what the library says.
//
//   node hfref.js REQUEST.json OUT.json
//
// REQUEST: {"modules": DIR (holding node_modules/tokenizers), "tokenizer": PATH, "texts": [...],
//           "tokenDecode": bool, "maxLength": truncation length (optional)}
// OUT:     {"special": ids with special tokens, "plain": ids without, "offsets": byte offsets
//           of the plain tokens, "decode": decode(plain, false), "decodeSkip": decode(special,
//           true), "tokenDecode": decode([id], false) for each plain id (when asked)}
"use strict";
const fs = require("fs");
const path = require("path");

const [reqPath, outPath] = process.argv.slice(2);
const req = JSON.parse(fs.readFileSync(reqPath, "utf8"));
const { Tokenizer } = require(path.join(req.modules, "node_modules", "tokenizers"));

// charToByte maps the binding's offsets (in Unicode code points) to UTF-8 byte offsets.
function charToByte(text) {
  const map = [0];
  let b = 0;
  for (const ch of text) {
    b += Buffer.byteLength(ch, "utf8");
    map.push(b);
  }
  return map;
}

async function main() {
  const tok = Tokenizer.fromFile(req.tokenizer);
  if (req.maxLength) tok.setTruncation(req.maxLength);
  const texts = req.texts;
  const withSpecial = await tok.encodeBatch(texts, { addSpecialTokens: true });
  const plain = await tok.encodeBatch(texts, { addSpecialTokens: false });
  const out = { special: [], plain: [], offsets: [], decode: [], decodeSkip: [] };
  for (let i = 0; i < texts.length; i++) {
    out.special.push(withSpecial[i].getIds());
    out.plain.push(plain[i].getIds());
    const m = charToByte(texts[i]);
    out.offsets.push(plain[i].getOffsets().map(([s, e]) => [m[s], m[e]]));
  }
  out.decode = await tok.decodeBatch(out.plain, false);
  out.decodeSkip = await tok.decodeBatch(out.special, true);
  if (req.tokenDecode) {
    out.tokenDecode = [];
    for (const ids of out.plain) {
      out.tokenDecode.push(await tok.decodeBatch(ids.map((id) => [id]), false));
    }
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
