// purenet.mjs: read a purenet model file and run it, in any JavaScript engine (browsers, Node.js).
//
// No dependencies, no build step. The math follows purenet's own, step by step:
//   parseModel(json)            -> model (typed arrays of the stored dtype, every key checked)
//   preprocess(model, raw, n)   -> (n, sizes[0]) model input: the model's scale / standardize /
//                                  flatten steps, rounded to float32 after each operation for a
//                                  float32 model, as numpy does
//   forward(model, x, n)        -> (n, sizes[-1]) outputs (probabilities for softmax / sigmoid)
//   predict(model, raw, n)      -> {labels: Int32Array (class indices), outputs}
//   topK(model, outputs, row, k)-> [{index, label, score}], best first (the scores
//                                  `purenet predict` shows: p and 1 - p for one sigmoid unit)
//   toMnist(gray, h, w)         -> Uint8Array(784): purenet.data.images.to_mnist, the
//                                  MNIST-style centring `purenet predict` gives pictures
// Arrays are flat and row-major: sample i, feature j of an (n, d) array is at [i * d + j].
// In the file an array is {dtype, shape, data: [decimals]} or, in format version 2 (written
// with --compact), {dtype, shape, base64}: the values' little-endian bytes in base64.

export const FORMAT = "purenet.model";
export const FORMAT_VERSION = 2; // 2: arrays may be base64 of their little-endian bytes
export const LEAKY_SLOPE = 0.01;

const FLOAT_ARRAYS = { float32: Float32Array, float64: Float64Array };

function fail(path, message) {
  throw new Error(`${path}: ${message}`);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkKeys(value, keys, path, optional = []) {
  if (!isObject(value)) fail(path, "expected an object");
  for (const key of keys) if (!(key in value)) fail(path, `missing key '${key}'`);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key) && !optional.includes(key)) {
      fail(path, `unknown key '${key}'; expected: ${keys.concat(optional).join(", ")}`);
    }
  }
}

function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Bytes(text, path) {
  if (typeof text !== "string" || !BASE64.test(text)) fail(`${path}.base64`, "not base64 (RFC 4648, padded)");
  const binary = atob(text); // atob: browsers and Node.js >= 16
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// version: the file's format_version; base64 arrays need version 2.
function decodeArray(value, path, version) {
  const compact = isObject(value) && "base64" in value;
  if (compact && version < 2) fail(path, "a base64 array in a version-1 file (base64 needs format_version 2)");
  checkKeys(value, ["dtype", "shape", compact ? "base64" : "data"], path);
  const Type = FLOAT_ARRAYS[value.dtype];
  if (!Type) fail(`${path}.dtype`, `expected float32 or float64, found ${JSON.stringify(value.dtype)}`);
  const { shape, data } = value;
  if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
    fail(`${path}.shape`, "expected a list of non-negative integers");
  }
  const count = product(shape);
  if (compact) {
    const bytes = base64Bytes(value.base64, path);
    if (bytes.length !== count * Type.BYTES_PER_ELEMENT) {
      fail(`${path}.base64`, `shape [${shape}] of ${value.dtype} needs ${count * Type.BYTES_PER_ELEMENT} bytes, found ${bytes.length}`);
    }
    const view = new DataView(bytes.buffer);
    const out = new Type(count);
    for (let i = 0; i < count; i++) {
      const x = Type === Float32Array ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
      if (!Number.isFinite(x)) fail(`${path}.base64`, `value ${i} is NaN or Inf; expected finite numbers`);
      out[i] = x;
    }
    return { dtype: value.dtype, shape: shape.slice(), data: out };
  }
  if (!Array.isArray(data) || data.length !== count) {
    fail(path, `shape [${shape}] needs ${count} values, got ${Array.isArray(data) ? data.length : "no list"}`);
  }
  // Each number is the shortest decimal of the stored float: parsing it as a double and
  // rounding to the dtype (what Float32Array does) gives the exact stored value.
  const out = new Type(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (typeof x !== "number" || !Number.isFinite(x)) fail(`${path}.data[${i}]`, "expected a finite number");
    out[i] = x;
  }
  return { dtype: value.dtype, shape: shape.slice(), data: out };
}

const STEP_KEYS = {
  scale: ["kind", "low", "high", "max_value"],
  flatten: ["kind", "input_shape"],
  standardize: ["kind", "mean", "std", "per_feature"],
};

function parseStep(step, path, version) {
  if (!isObject(step) || !(step.kind in STEP_KEYS)) {
    fail(`${path}.kind`, `expected one of: ${Object.keys(STEP_KEYS).join(", ")}`);
  }
  checkKeys(step, STEP_KEYS[step.kind], path);
  if (step.kind === "standardize") {
    const std = decodeArray(step.std, `${path}.std`, version);
    const i = std.data.findIndex((s) => !(s > 0));
    if (i >= 0) fail(`${path}.std`, `value ${i} is ${std.data[i]}; a standard deviation must be > 0`);
    return { kind: "standardize", mean: decodeArray(step.mean, `${path}.mean`, version), std };
  }
  return { ...step };
}

export const HIDDEN = {
  identity: (z) => z,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  tanh: (z) => Math.tanh(z),
  relu: (z) => (z > 0 ? z : 0),
  leaky_relu: (z) => (z > 0 ? z : z * LEAKY_SLOPE),
  softplus: (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))),
  elu: (z) => (z > 0 ? z : Math.expm1(z)),
  silu: (z) => z / (1 + Math.exp(-z)),
  swish: (z) => z / (1 + Math.exp(-z)),
};

const OUTPUTS = ["softmax", "sigmoid", "identity"];

/** Parse a model file (its text or the parsed object); throws an Error naming the JSON path. */
export function parseModel(source) {
  const data = typeof source === "string" ? JSON.parse(source) : source;
  if (!isObject(data) || data.format !== FORMAT) fail("$.format", `expected '${FORMAT}'; not a purenet model file`);
  if (!Number.isInteger(data.format_version) || data.format_version < 1 || data.format_version > FORMAT_VERSION) {
    fail("$.format_version", `this reader reads version ${FORMAT_VERSION}, found ${data.format_version}`);
  }
  checkKeys(data, ["format", "format_version", "architecture", "layers", "preprocess", "labels", "meta"], "$", ["targets", "multilabel"]);
  const arch = data.architecture;
  // Training-only options (dropout, the Huber threshold) may be present; a reader ignores them.
  checkKeys(arch, ["sizes", "hidden", "output", "loss"], "$.architecture", ["bias", "dropout", "input_dropout", "huber_delta"]);
  if (!OUTPUTS.includes(arch.output)) fail("$.architecture.output", `unknown output '${arch.output}'`);
  const sizes = arch.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || !sizes.every((n) => Number.isInteger(n) && n >= 1)) {
    fail("$.architecture.sizes", "expected at least two positive layer widths");
  }
  // One activation for every hidden layer, or a list of one per hidden layer.
  const hidden = Array.isArray(arch.hidden) ? arch.hidden : new Array(sizes.length - 2).fill(arch.hidden);
  if (hidden.length !== sizes.length - 2) fail("$.architecture.hidden", `expected ${sizes.length - 2} activations`);
  hidden.forEach((name, i) => {
    if (!(name in HIDDEN)) fail(`$.architecture.hidden`, `unknown activation '${name}' (hidden layer ${i})`);
  });
  if (!Array.isArray(data.layers) || data.layers.length !== sizes.length - 1) {
    fail("$.layers", `expected ${sizes.length - 1} layers`);
  }
  const layers = data.layers.map((layer, i) => {
    checkKeys(layer, ["w", "b"], `$.layers[${i}]`);
    const w = decodeArray(layer.w, `$.layers[${i}].w`, data.format_version);
    const b = decodeArray(layer.b, `$.layers[${i}].b`, data.format_version);
    // A layer without bias holds b of shape [0].
    if (w.shape.join() !== `${sizes[i]},${sizes[i + 1]}` || ![`${sizes[i + 1]}`, "0"].includes(b.shape.join())) {
      fail(`$.layers[${i}]`, `shapes [${w.shape}] and [${b.shape}]; sizes need [${sizes[i]}, ${sizes[i + 1]}] and [${sizes[i + 1]}] (or [0])`);
    }
    const activation = i < sizes.length - 2 ? hidden[i] : arch.output;
    return { w: w.data, b: b.data, fanIn: sizes[i], fanOut: sizes[i + 1], activation };
  });
  const dtype = data.layers[0].w.dtype;
  const classes = sizes[sizes.length - 1] === 1 ? 2 : sizes[sizes.length - 1];
  if (!Array.isArray(data.labels) || data.labels.length !== classes || !data.labels.every((l) => typeof l === "string")) {
    fail("$.labels", `expected ${classes} names`);
  }
  if (!Array.isArray(data.preprocess)) fail("$.preprocess", "expected a list of steps");
  const preprocess = data.preprocess.map((step, i) => parseStep(step, `$.preprocess[${i}]`, data.format_version));
  // Standardized regression targets: outputs are scaled back as `z * std + mean` per unit.
  let targets = null;
  if (data.targets !== undefined && data.targets !== null) {
    const step = parseStep(data.targets, "$.targets", data.format_version);
    if (step.kind !== "standardize") fail("$.targets.kind", "expected 'standardize'");
    targets = { mean: step.mean.data, std: step.std.data };
  }
  if (data.multilabel !== undefined && typeof data.multilabel !== "boolean") fail("$.multilabel", "expected true or false");
  const multilabel = data.multilabel === true;
  return { sizes: sizes.slice(), hidden: hidden.slice(), output: arch.output, loss: arch.loss, dtype, layers, preprocess, labels: data.labels.slice(), meta: data.meta, targets, multilabel };
}

/** The per-sample shape of raw inputs the model's steps fix ([28, 28]), else [sizes[0]]. */
export function inputShape(model) {
  for (const step of model.preprocess) {
    if (step.kind === "flatten" && step.input_shape) return step.input_shape.slice();
    if (step.kind === "standardize" && step.mean.shape.length) return step.mean.shape.slice();
  }
  return [model.sizes[0]];
}

function rounder(dtype) {
  return dtype === "float32" ? Math.fround : (x) => x;
}

/** Raw inputs (n samples, flat row-major, any numeric array) -> model input, the model's dtype. */
export function preprocess(model, raw, n) {
  const r = rounder(model.dtype);
  const width = raw.length / n;
  const x = new FLOAT_ARRAYS[model.dtype](raw.length);
  for (let i = 0; i < raw.length; i++) x[i] = raw[i];
  for (const step of model.preprocess) {
    if (step.kind === "scale") {
      // purenet.pipeline.transforms.scale: x * factor + low, each rounded to the dtype.
      const factor = r((step.high - step.low) / step.max_value);
      const low = r(step.low);
      for (let i = 0; i < x.length; i++) x[i] = r(r(x[i] * factor) + low);
    } else if (step.kind === "standardize") {
      const mean = step.mean.data;
      const std = step.std.data;
      const perFeature = mean.length !== 1 || step.mean.shape.length > 0;
      for (let i = 0; i < x.length; i++) {
        const j = perFeature ? i % width : 0;
        x[i] = r(r(x[i] - mean[j]) / std[j]);
      }
    } else if (step.input_shape && product(step.input_shape) !== width) {
      throw new Error(`flatten expects samples of shape [${step.input_shape}], found ${width} values`);
    }
  }
  if (width !== model.sizes[0]) throw new Error(`inputs give ${width} features; the model expects ${model.sizes[0]}`);
  return x;
}

/** Model input (n, sizes[0]) -> outputs (n, sizes[-1]), layer by layer in the model's dtype. */
export function forward(model, x, n) {
  const r = rounder(model.dtype);
  const Type = FLOAT_ARRAYS[model.dtype];
  let a = x;
  model.layers.forEach((layer, index) => {
    const { w, b, fanIn, fanOut } = layer;
    const last = index === model.layers.length - 1;
    const hidden = HIDDEN[layer.activation];
    const z = new Type(n * fanOut);
    const acc = new Float64Array(fanOut);
    for (let s = 0; s < n; s++) {
      if (b.length) acc.set(b);
      else acc.fill(0);
      for (let i = 0; i < fanIn; i++) {
        const ai = a[s * fanIn + i];
        if (ai === 0) continue;
        const row = i * fanOut;
        for (let j = 0; j < fanOut; j++) acc[j] += ai * w[row + j];
      }
      for (let j = 0; j < fanOut; j++) z[s * fanOut + j] = last ? acc[j] : r(hidden(r(acc[j])));
    }
    a = last ? outputActivation(model.output, z, n, fanOut, r) : z;
  });
  if (model.targets) {
    const { mean, std } = model.targets;
    const k = model.sizes[model.sizes.length - 1];
    const values = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) values[i] = a[i] * std[i % k] + mean[i % k];
    return values;
  }
  return a;
}

function outputActivation(name, z, n, k, r) {
  if (name === "sigmoid") {
    for (let i = 0; i < z.length; i++) z[i] = r(1 / (1 + Math.exp(-z[i])));
  } else if (name === "softmax") {
    for (let s = 0; s < n; s++) {
      let top = -Infinity;
      for (let j = 0; j < k; j++) top = Math.max(top, z[s * k + j]);
      let total = 0;
      for (let j = 0; j < k; j++) total += Math.exp(z[s * k + j] - top);
      for (let j = 0; j < k; j++) z[s * k + j] = r(Math.exp(z[s * k + j] - top) / total);
    }
  }
  return z;
}

/** Raw inputs -> {labels: predicted class indices, outputs}; argmax, or p > 0.5 for one unit;
 * for a multi-label model, one 0/1 label per unit (n * k values, row-major). */
export function predict(model, raw, n) {
  const outputs = forward(model, preprocess(model, raw, n), n);
  const k = model.sizes[model.sizes.length - 1];
  if (model.multilabel) return { labels: Int32Array.from(outputs, (p) => (p > 0.5 ? 1 : 0)), outputs };
  const labels = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    if (k === 1) {
      labels[s] = outputs[s] > 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let j = 1; j < k; j++) if (outputs[s * k + j] > outputs[s * k + best]) best = j;
    labels[s] = best;
  }
  return { labels, outputs };
}

/** The k most likely classes of sample `row`, best first, ties to the lower class. */
export function topK(model, outputs, row, k = 3) {
  const units = model.sizes[model.sizes.length - 1];
  let scores = Array.from(outputs.subarray(row * units, (row + 1) * units));
  if (units === 1) scores = [1 - scores[0], scores[0]];
  const order = scores.map((score, index) => ({ index, label: model.labels[index], score }));
  order.sort((p, q) => q.score - p.score || p.index - q.index);
  return order.slice(0, k);
}

// ------------------------------------------------------------------------------------------
// MNIST-style centring: a faithful port of purenet.data.images.to_mnist (same constants,
// same order of operations, Python's round-half-to-even).

export const SIZE = 28;
export const BOX = 20;
export const CENTRE = SIZE / 2;
export const INK_THRESHOLD = 0.1;
export const SPECK_FRACTION = 0.05;

/** Python's round() and numpy's rint: halves go to the even neighbour. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

function areaWeights(source, target) {
  // (target, source): the share of each source cell each target cell covers (a box filter).
  const step = source / target;
  const weights = new Float64Array(target * source);
  for (let t = 0; t < target; t++) {
    const low = t * step;
    for (let s = 0; s < source; s++) {
      const overlap = Math.min(low + step, s + 1) - Math.max(low, s);
      weights[t * source + s] = Math.max(overlap, 0) / step;
    }
  }
  return weights;
}

function labelBlobs(mask, h, w) {
  // 8-connected components, as scipy.ndimage.label with a 3x3 structure: sizes by label.
  const labels = new Int32Array(h * w);
  const sizes = [0];
  const stack = [];
  for (let start = 0; start < h * w; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = sizes.length;
    let size = 0;
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop();
      size++;
      const y = (p / w) | 0;
      const x = p % w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (mask[q] && !labels[q]) {
            labels[q] = id;
            stack.push(q);
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/** One grayscale picture (h * w values, 0 = black, row-major) -> Uint8Array(784), light ink
 * on black, cropped to the ink, scaled into 20x20, centred by mass in 28x28. */
export function toMnist(gray, h, w) {
  let image = Float64Array.from(gray);
  if (h < 1 || w < 1 || image.length !== h * w) throw new Error(`expected ${h} x ${w} values`);
  const border = [];
  for (let x = 0; x < w; x++) border.push(image[x]);
  for (let x = 0; x < w; x++) border.push(image[(h - 1) * w + x]);
  for (let y = 0; y < h; y++) border.push(image[y * w]);
  for (let y = 0; y < h; y++) border.push(image[y * w + w - 1]);
  let background = median(border);
  let top = -Infinity;
  let bottom = Infinity;
  for (const v of image) {
    top = Math.max(top, v);
    bottom = Math.min(bottom, v);
  }
  if (background > (bottom + top) / 2) {
    image = image.map((v) => top - v);
    background = top - background;
  }
  const ink = image.map((v) => Math.max(v - background, 0));
  let peak = 0;
  for (const v of ink) peak = Math.max(peak, v);
  if (!(peak > 0)) throw new Error("no ink found (the picture is one flat shade)");
  const mask = ink.map((v) => (v > INK_THRESHOLD * peak ? 1 : 0));
  const { labels, sizes } = labelBlobs(mask, h, w);
  if (sizes.length > 2) {
    const largest = Math.max(...sizes.slice(1));
    for (let p = 0; p < h * w; p++) {
      if (labels[p] && sizes[labels[p]] < SPECK_FRACTION * largest) {
        ink[p] = 0;
        mask[p] = 0;
      }
    }
  }
  let r0 = h;
  let r1 = -1;
  let c0 = w;
  let c1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) {
        r0 = Math.min(r0, y);
        r1 = Math.max(r1, y);
        c0 = Math.min(c0, x);
        c1 = Math.max(c1, x);
      }
    }
  }
  const height = r1 - r0 + 1;
  const width = c1 - c0 + 1;
  const scale = BOX / Math.max(height, width);
  const bh = Math.max(1, roundHalfEven(height * scale));
  const bw = Math.max(1, roundHalfEven(width * scale));
  const rows = areaWeights(height, bh);
  const cols = areaWeights(width, bw);
  // box = rows @ crop @ cols.T, left to right as numpy evaluates it.
  const tmp = new Float64Array(bh * width);
  for (let t = 0; t < bh; t++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let s = 0; s < height; s++) sum += rows[t * height + s] * ink[(r0 + s) * w + c0 + x];
      tmp[t * width + x] = sum;
    }
  }
  const box = new Float64Array(bh * bw);
  for (let t = 0; t < bh; t++) {
    for (let u = 0; u < bw; u++) {
      let sum = 0;
      for (let x = 0; x < width; x++) sum += tmp[t * width + x] * cols[u * width + x];
      box[t * bw + u] = sum;
    }
  }
  let total = 0;
  let rowMoment = 0;
  let colMoment = 0;
  for (let t = 0; t < bh; t++) {
    for (let u = 0; u < bw; u++) {
      total += box[t * bw + u];
      rowMoment += t * box[t * bw + u];
      colMoment += u * box[t * bw + u];
    }
  }
  const topEdge = roundHalfEven(CENTRE - rowMoment / total);
  const leftEdge = roundHalfEven(CENTRE - colMoment / total);
  const field = new Float64Array(SIZE * SIZE);
  for (let t = 0; t < bh; t++) {
    for (let u = 0; u < bw; u++) {
      const y = t + topEdge;
      const x = u + leftEdge;
      if (y >= 0 && y < SIZE && x >= 0 && x < SIZE) field[y * SIZE + x] = box[t * bw + u];
    }
  }
  let brightest = 0;
  for (const v of field) brightest = Math.max(brightest, v);
  const out = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < field.length; i++) out[i] = roundHalfEven(field[i] * (255 / brightest));
  return out;
}
