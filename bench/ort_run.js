#!/usr/bin/env node
// Runs an ONNX model once under ONNX Runtime (onnxruntime-node, CPU) on .npy inputs and writes every
// output as OUTDIR/<name>.npy: the reference the engine's outputs are compared with.
//   ORT_NODE_MODULES=DIR/node_modules node ort_run.js MODEL.onnx OUTDIR NAME=FILE.npy ...
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.ORT_NODE_MODULES || path.join(__dirname, 'node_modules'), 'onnxruntime-node'));

const types = { '<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array] };

function readNpy(file) {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8);
  const header = b.toString('latin1', 10, 10 + hlen);
  const descr = /'descr': '([^']+)'/.exec(header)[1];
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const [type, Arr] = types[descr];
  const data = b.subarray(10 + hlen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new ort.Tensor(type, new Arr(copy.buffer), shape);
}

function writeNpy(file, t) {
  const descr = { float32: '<f4', int64: '<i8', int32: '<i4', bool: '|b1' }[t.type];
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${t.dims.join(', ')}${t.dims.length === 1 ? ',' : ''}), }`;
  while ((10 + h.length + 1) % 64) h += ' ';
  h += '\n';
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
  pre.writeUInt16LE(h.length, 8);
  const data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(h, 'latin1'), data]));
}

(async () => {
  const [model, outDir, ...binds] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 2,
    graphOptimizationLevel: 'all' });
  const feeds = {};
  for (const b of binds) {
    const i = b.indexOf('=');
    feeds[b.slice(0, i)] = readNpy(b.slice(i + 1));
  }
  const out = await s.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, t] of Object.entries(out)) writeNpy(path.join(outDir, name.replace(/[\/\\]/g, '_') + '.npy'), t);
})().catch((e) => { console.error(String(e)); process.exit(1); });
