// Reads a Parquet file with hyparquet (+ hyparquet-compressors for zstd) and an Arrow IPC
// file with apache-arrow, and prints both as JSON: file metadata, column names and rows with
// list columns as plain arrays. Used by independent_readers_test.go; imports resolve through
// a node_modules link next to this script's copy.
import { readFileSync } from 'node:fs'
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { tableFromIPC } from 'apache-arrow'

const [parquetPath, arrowPath] = process.argv.slice(2)

const buf = readFileSync(parquetPath)
const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const meta = parquetMetadata(file)
const pqRows = await parquetReadObjects({ file, compressors })
const pq = {
  metadata: Object.fromEntries((meta.key_value_metadata || []).map(kv => [kv.key, kv.value])),
  columns: parquetSchema(meta).children.map(c => c.element.name),
  codecs: [...new Set(meta.row_groups.flatMap(rg => rg.columns.map(c => c.meta_data.codec)))],
  rowGroups: meta.row_groups.length,
  rows: pqRows,
}

const table = tableFromIPC(readFileSync(arrowPath))
const plain = v => (v === null || v === undefined) ? null
  : (typeof v === 'object' && typeof v.toArray === 'function') ? Array.from(v.toArray()).map(plain)
  : (typeof v === 'bigint') ? Number(v) : v
const arrowRows = []
for (let i = 0; i < table.numRows; i++) {
  const row = {}
  for (const f of table.schema.fields) row[f.name] = plain(table.getChild(f.name).get(i))
  arrowRows.push(row)
}
const arrow = {
  metadata: Object.fromEntries(table.schema.metadata),
  columns: table.schema.fields.map(f => f.name),
  rows: arrowRows,
}
process.stdout.write(JSON.stringify({ parquet: pq, arrow }, (k, v) => typeof v === 'bigint' ? Number(v) : v))
