// The reference process for the live path's whole-process figures: it reads a replay file as
// `tickline stream --source replay` does (a read stream, line by line) and only JSON.parses each
// message, counting the trades. Nothing is validated, aggregated or stored.
//   node bench/parse-only.mjs <file.ndjson>
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

let trades = 0;
const lines = createInterface({
  input: createReadStream(process.argv[2], 'utf8'),
  crlfDelay: Infinity,
});
for await (const line of lines) {
  if (line !== '') trades += JSON.parse(line).data.length;
}
console.log(JSON.stringify({ trades }));
