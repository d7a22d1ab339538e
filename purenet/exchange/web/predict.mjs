// Node.js: predict with a purenet model on an IDX file of raw inputs (e.g. MNIST's test images).
//
//   node js/predict.mjs model.json t10k-images-idx3-ubyte.gz [--first N] [--out predictions.json]
//
// Writes {"labels": [...], "outputs": [[...], ...], "seconds": ...} (to --out, else a summary to
// stdout). `seconds` times preprocessing and the forward pass, not reading the files.
import { readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { parseModel, predict } from "./purenet.mjs";

function readIdx(path) {
  let bytes = readFileSync(path);
  if (path.endsWith(".gz")) bytes = gunzipSync(bytes);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) throw new Error(`${path}: not an IDX file of uint8`);
  const dims = bytes[3];
  const shape = [];
  for (let i = 0; i < dims; i++) shape.push(bytes.readUInt32BE(4 + 4 * i));
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + 4 + 4 * dims, shape.reduce((a, b) => a * b, 1)) };
}

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const first = option("--first");
const out = option("--out");
if (args.length !== 2) {
  console.error("usage: node predict.mjs MODEL.json IMAGES.idx[.gz] [--first N] [--out FILE]");
  process.exit(2);
}
const model = parseModel(readFileSync(args[0], "utf8"));
const images = readIdx(args[1]);
const n = Math.min(images.shape[0], first === undefined ? Infinity : Number(first));
const width = images.data.length / images.shape[0];
const raw = images.data.subarray(0, n * width);
const start = process.hrtime.bigint();
const { labels, outputs } = predict(model, raw, n);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const k = outputs.length / n;
if (out) {
  const rows = [];
  for (let s = 0; s < n; s++) rows.push(Array.from(outputs.subarray(s * k, (s + 1) * k)));
  writeFileSync(out, JSON.stringify({ labels: Array.from(labels), outputs: rows, seconds }));
}
console.log(`${n} inputs in ${seconds.toFixed(3)} s`);
