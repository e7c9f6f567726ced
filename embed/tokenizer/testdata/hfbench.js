// hfbench.js: Hugging Face tokenizers' encoding speed on texts, for BenchmarkPassagesVsHF.
//
//   node hfbench.js MODULES_DIR TOKENIZER_JSON TEXTS_JSON SECONDS
//
// Prints {"sequential": passages/s encoding one text at a time (awaiting each), "batch":
// passages/s with encodeBatch (the library's own thread pool)}.
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, tokPath, textsPath, seconds] = process.argv.slice(2);
const { Tokenizer } = require(path.join(modules, "node_modules", "tokenizers"));

async function rate(fn, texts, budgetMs) {
  await fn(texts.slice(0, 50)); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    await fn(texts);
    n += texts.length;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n * 1000) / elapsed;
}

async function main() {
  const tok = Tokenizer.fromFile(tokPath);
  const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
  const budget = Number(seconds) * 1000;
  const sequential = await rate(async (ts) => {
    for (const t of ts) await tok.encode(t, null, { addSpecialTokens: true });
  }, texts, budget);
  const batch = await rate((ts) => tok.encodeBatch(ts, { addSpecialTokens: true }), texts, budget);
  console.log(JSON.stringify({ sequential, batch }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
